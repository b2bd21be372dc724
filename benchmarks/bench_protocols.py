"""Protocol throughput, 3 parties in one process, against plaintext numpy on the same data.

Each benchmark times one protocol call on already-shared inputs and records in extra_info the
elements per second, rounds, bytes sent per party and the ratio to numpy. MPyC's times for the
same operations are measured in ``bench_mpyc.py`` in the same run; the summary at the end of the
run prints both ratios. Sizes of 1e5 and up are marked slow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks.conftest import MEASURED, Cluster, best_seconds
from mpcstats import protocols as P
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.linalg import solve_spd
from mpcstats.protocols.session import Session

SIZES = [
    1_000,
    10_000,
    pytest.param(100_000, marks=pytest.mark.slow),
]
BIG = [*SIZES, pytest.param(1_000_000, marks=pytest.mark.slow)]


def _shared_pair(cluster: Cluster, size: int, bits: int = 32, frac: int = 0) -> list[Any]:
    rng = np.random.default_rng(size)
    x: np.ndarray
    y: np.ndarray
    if frac:
        x, y = rng.uniform(0.5, 100, size), rng.uniform(0.5, 100, size)
    else:
        x, y = (rng.integers(-(2 ** (bits - 1)) + 1, 2 ** (bits - 1), size) for _ in range(2))

    async def share(s: Session) -> tuple[P.Shared, P.Shared, np.ndarray, np.ndarray]:
        a = await P.input(s, x if s.party == 0 else None, owner=0, bits=bits + frac, frac=frac)
        b = await P.input(s, y if s.party == 1 else None, owner=1, bits=bits + frac, frac=frac)
        return a, b, x, y

    return cluster.run(share)


def _bench(
    benchmark: Any,
    cluster: Cluster,
    operation: Callable[[Session, Any, Any], Any],
    pairs: list[Any],
    size: int,
    plain: Callable[[], Any],
    name: str,
) -> None:
    def program(s: Session) -> Any:
        a, b, _, _ = pairs[s.party]
        return operation(s, a, b)

    cost = cluster.measure(program)
    benchmark.pedantic(lambda: cluster.run(program), rounds=3, iterations=1, warmup_rounds=0)
    seconds = benchmark.stats.stats.min
    plain_seconds = best_seconds(plain)
    MEASURED["mpcstats"][(name, size)] = seconds
    MEASURED["numpy"][(name, size)] = plain_seconds
    benchmark.extra_info.update(cost)
    benchmark.extra_info["elements_per_s"] = round(size / seconds)
    benchmark.extra_info["ratio_vs_numpy"] = round(seconds / plain_seconds, 1)


@pytest.mark.parametrize("size", BIG)
def test_open(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory()
    pairs = _shared_pair(cluster, size)
    x = pairs[0][2]
    _bench(benchmark, cluster, lambda s, a, b: P.open(s, a), pairs, size, lambda: x.copy(), "open")


@pytest.mark.parametrize("size", BIG)
def test_mul(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory()
    pairs = _shared_pair(cluster, size)
    x, y = pairs[0][2], pairs[0][3]
    _bench(benchmark, cluster, P.mul, pairs, size, lambda: x * y, "mul")


@pytest.mark.parametrize("size", BIG)
def test_inner_product(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory()
    pairs = _shared_pair(cluster, size, bits=24)
    x, y = pairs[0][2], pairs[0][3]
    _bench(benchmark, cluster, P.dot, pairs, size, lambda: np.dot(x, y), "inner")


@pytest.mark.parametrize("size", SIZES)
def test_comparison(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory()
    pairs = _shared_pair(cluster, size)
    x, y = pairs[0][2], pairs[0][3]
    _bench(benchmark, cluster, P.lt, pairs, size, lambda: x < y, "lt")


@pytest.mark.parametrize("size", SIZES)
def test_truncation(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory()
    pairs = _shared_pair(cluster, size, bits=8, frac=32)
    x, y = pairs[0][2], pairs[0][3]
    _bench(benchmark, cluster, fx.mul, pairs, size, lambda: x * y, "trunc")


@pytest.mark.parametrize("size", [1_000, pytest.param(10_000, marks=pytest.mark.slow)])
def test_reciprocal(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory(modulus_bits=256)
    pairs = _shared_pair(cluster, size, bits=8, frac=32)
    x = pairs[0][2]
    _bench(
        benchmark,
        cluster,
        lambda s, a, b: fx.reciprocal(s, a),
        pairs,
        size,
        lambda: 1 / x,
        "reciprocal",
    )


@pytest.mark.parametrize("size", [1_000, pytest.param(10_000, marks=pytest.mark.slow)])
def test_sqrt(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory(modulus_bits=256)
    pairs = _shared_pair(cluster, size, bits=8, frac=32)
    x = pairs[0][2]
    _bench(
        benchmark, cluster, lambda s, a, b: fx.sqrt(s, a), pairs, size, lambda: np.sqrt(x), "sqrt"
    )


@pytest.mark.parametrize("size", [1_000])
def test_exp_log(benchmark: Any, cluster_factory: Callable[..., Cluster], size: int) -> None:
    cluster = cluster_factory(modulus_bits=256)
    pairs = _shared_pair(cluster, size, bits=8, frac=32)
    x = pairs[0][2]

    async def both(s: Session, a: P.Shared, b: P.Shared) -> Any:
        return await fx.exp(s, await fx.log(s, a))

    _bench(benchmark, cluster, both, pairs, size, lambda: np.exp(np.log(x)), "exp_log")


def test_spd_solve_11(benchmark: Any, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(modulus_bits=320)
    rng = np.random.default_rng(11)
    design = rng.normal(size=(300, 11)) * rng.uniform(0.1, 30, size=11)
    a_plain, b_plain = design.T @ design, rng.normal(size=11)

    async def share(s: Session) -> tuple[P.Shared, P.Shared, None, None]:
        a = await P.input(s, a_plain if s.party == 0 else None, owner=0, bits=64, frac=40)
        b = await P.input(s, b_plain if s.party == 1 else None, owner=1, bits=50, frac=40)
        return a, b, None, None

    pairs = cluster.run(share)
    _bench(
        benchmark, cluster, solve_spd, pairs, 1, lambda: np.linalg.solve(a_plain, b_plain), "solve"
    )
