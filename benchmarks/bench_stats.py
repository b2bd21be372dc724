"""End-to-end statistics over 3 hospitals, against plaintext on the pooled data measured in the
same run: simulated in one process (``simulator``), or as three party daemons on loopback over
gRPC with mutual TLS (``grpc``).

Issue targets: describe on 3 x 1e6 rows <= 3x numpy; exact median of ints in [0, 65535] on
3 x 1e5 rows <= 50 ms; crosstab 20 x 5 over 3 x 1e6 rows <= 3x pandas.crosstab.

Each benchmark makes one untimed call first (a federation's first call links its daemons) and
reports the fastest of five.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks.conftest import MEASURED, TRANSPORTS, Studies, best_seconds
from mpcstats.stats.schema import Column, Schema

SCHEMA = Schema(
    {
        "value": Column("value", "float", 0, 1000, precision=0.01),
        "code": Column("code", "int", 0, 65535),
        "row": Column("row", "int", 0, 19),
        "col": Column("col", "int", 0, 4),
    }
)


def _hospitals(rows: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(rows)
    return {
        f"h{i}": pd.DataFrame(
            {
                "value": np.round(rng.uniform(0, 1000, rows), 2),
                "code": rng.integers(0, 65536, rows),
                "row": rng.integers(0, 20, rows),
                "col": rng.integers(0, 5, rows),
            }
        )
        for i in range(3)
    }


def _record(benchmark: Any, name: str, transport: str, rows: int, plain: Callable[[], Any]) -> None:
    seconds = benchmark.stats.stats.min
    plain_seconds = best_seconds(plain)
    MEASURED["mpcstats"][(f"{name} [{transport}]", 3 * rows)] = seconds
    MEASURED["numpy"][(f"{name} [{transport}]", 3 * rows)] = plain_seconds
    benchmark.extra_info["ratio_vs_plaintext"] = round(seconds / plain_seconds, 2)


@pytest.mark.parametrize("rows", [10_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_describe(benchmark: Any, rows: int, transport: str, studies: Studies) -> None:
    frames = _hospitals(rows)
    study = studies.get(str(rows), frames, SCHEMA, transport)
    pooled = pd.concat(frames.values()).value.to_numpy()
    result = benchmark.pedantic(
        lambda: study.describe("value"), rounds=5, iterations=1, warmup_rounds=1
    )
    assert result.mean == pytest.approx(pooled.mean(), rel=1e-9)
    _record(benchmark, "describe", transport, rows, lambda: (pooled.mean(), pooled.var(ddof=1)))


@pytest.mark.parametrize("rows", [10_000, pytest.param(100_000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_median(benchmark: Any, rows: int, transport: str, studies: Studies) -> None:
    frames = _hospitals(rows)
    study = studies.get(str(rows), frames, SCHEMA, transport)
    pooled = pd.concat(frames.values()).code.to_numpy()
    result = benchmark.pedantic(
        lambda: study.median("code"), rounds=5, iterations=1, warmup_rounds=1
    )
    assert result == np.median(pooled)
    _record(benchmark, "median", transport, rows, lambda: np.median(pooled))


@pytest.mark.parametrize("rows", [10_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_crosstab_20x5(benchmark: Any, rows: int, transport: str, studies: Studies) -> None:
    frames = _hospitals(rows)
    study = studies.get(str(rows), frames, SCHEMA, transport)
    pooled = pd.concat(frames.values())
    result = benchmark.pedantic(
        lambda: study.crosstab("row", "col"), rounds=5, iterations=1, warmup_rounds=1
    )
    expected = pd.crosstab(pooled.row, pooled.col)
    assert result.table.to_numpy().tolist() == expected.to_numpy().tolist()
    _record(benchmark, "crosstab", transport, rows, lambda: pd.crosstab(pooled.row, pooled.col))
