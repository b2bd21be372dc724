"""MPyC 0.11 on the operations of bench_protocols.py, measured in the same run.

Each case runs MPyC with 3 local parties as separate processes (benchmarks/mpyc_reference.py)
and records its time; the run's summary prints MPyC / mpcstats for every operation measured by
both. MPyC takes minutes beyond these sizes (its comparisons run at about 2.5k/s here).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.conftest import MEASURED
from benchmarks.mpyc_reference import mpyc_seconds

CASES = [
    *[(op, 1_000) for op in ("open", "mul", "inner", "lt", "trunc", "reciprocal")],
    ("solve", 1),  # one 11 x 11 system, MPyC by Gaussian elimination (it has no solver)
    pytest.param("sqrt", 1_000, marks=pytest.mark.slow),  # about 30 s in MPyC
    *[
        pytest.param(op, 10_000, marks=pytest.mark.slow)
        for op in ("open", "mul", "inner", "lt", "trunc")
    ],
    *[pytest.param(op, 100_000, marks=pytest.mark.slow) for op in ("open", "mul", "inner")],
]


@pytest.mark.parametrize(("op", "size"), CASES)
def test_mpyc(benchmark: Any, op: str, size: int) -> None:
    seconds = benchmark.pedantic(lambda: mpyc_seconds(op, size), rounds=1, iterations=1)
    MEASURED["mpyc"][(op, size)] = seconds
    benchmark.extra_info["mpyc_seconds_measured_by_party_0"] = seconds
