"""Protocols over gRPC between three processes on loopback, against the same protocols in one
process (bench_protocols.py) measured in the same run.

Issue target: per-round latency over gRPC on loopback <= 1 ms. Each case starts three party
processes (benchmarks/grpc_reference.py) and records party 0's time per call; the run's summary
prints them as ``<op> [grpc]`` beside the in-process numbers.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.conftest import MEASURED
from benchmarks.grpc_reference import grpc_run

CASES = [
    ("round", 1, 200),
    ("open", 10_000, 5),
    ("mul", 10_000, 5),
    ("lt", 10_000, 3),
    pytest.param("lt", 100_000, 1, marks=pytest.mark.slow),
    pytest.param("mul", 100_000, 3, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("op", "size", "repeats"), CASES)
def test_grpc_protocol(benchmark: Any, op: str, size: int, repeats: int) -> None:
    run = benchmark.pedantic(lambda: grpc_run(op, size, repeats), rounds=1, iterations=1)
    assert run["correct"], f"{op} over gRPC gave a wrong result"
    MEASURED["mpcstats"][(f"{op} [grpc]", size)] = run["seconds"]
    benchmark.extra_info.update(
        seconds_per_call=run["seconds"],
        rounds_per_call=run["rounds"],
        bytes_sent_per_call=run["bytes_sent"],
        elements_per_second=round(size / run["seconds"]),
    )
    if op == "round":
        benchmark.extra_info["round_latency_ms"] = round(1000 * run["seconds"] / run["rounds"], 3)
