"""Regression models end to end over 3 hospitals, against statsmodels on the pooled data in
the same run: simulated in one process (``simulator``), or as three party daemons on loopback
over gRPC with mutual TLS (``grpc``).

Issue targets: OLS d = 10 on 3 x 1e5 rows <= 0.15 s; logistic d = 10 on 3 x 1e4 rows to
convergence <= 0.5 s. One untimed call first (a federation's first call links its daemons), then
the fastest of five.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from benchmarks.conftest import MEASURED, TRANSPORTS, Studies, best_seconds
from mpcstats import Column, Schema

COVARIATES = [f"x{i}" for i in range(1, 10)]  # with the intercept, d = 10
SCHEMA = Schema(
    {
        **{name: Column(name, "float", -10, 10, precision=0.01) for name in COVARIATES},
        "y": Column("y", "float", -1000, 1000, precision=0.01),
        "event": Column("event", "bool"),
    }
)
FORMULA = " + ".join(COVARIATES)


def _hospitals(rows: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(rows)
    frames = {}
    for i in range(3):
        x = np.round(rng.uniform(-10, 10, (rows, 9)), 2)
        eta = x @ np.linspace(-0.3, 0.3, 9)
        frame = pd.DataFrame(x, columns=COVARIATES)
        frame["y"] = np.round(np.clip(5 + eta * 3 + rng.normal(0, 2, rows), -1000, 1000), 2)
        frame["event"] = (rng.random(rows) < 1 / (1 + np.exp(-eta * 0.5))).astype(int)
        frames[f"h{i}"] = frame
    return frames


def _record(benchmark: Any, name: str, transport: str, rows: int, plain: Any) -> None:
    seconds = benchmark.stats.stats.min
    plain_seconds = best_seconds(plain, repeat=3)
    MEASURED["mpcstats"][(f"{name} [{transport}]", 3 * rows)] = seconds
    MEASURED["numpy"][(f"{name} [{transport}]", 3 * rows)] = plain_seconds
    benchmark.extra_info["ratio_vs_statsmodels"] = round(seconds / plain_seconds, 2)


@pytest.mark.parametrize("rows", [10_000, pytest.param(100_000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ols_d10(benchmark: Any, rows: int, transport: str, studies: Studies) -> None:
    frames = _hospitals(rows)
    study = studies.get(str(rows), frames, SCHEMA, transport)
    pooled = pd.concat(frames.values(), ignore_index=True)
    result = benchmark.pedantic(
        lambda: study.ols(f"y ~ {FORMULA}"), rounds=5, iterations=1, warmup_rounds=1
    )
    reference = smf.ols(f"y ~ {FORMULA}", pooled).fit()
    np.testing.assert_allclose(result.params, reference.params[result.params.index], rtol=1e-6)
    _record(
        benchmark,
        "ols d=10 (vs statsmodels)",
        transport,
        rows,
        lambda: smf.ols(f"y ~ {FORMULA}", pooled).fit(),
    )


@pytest.mark.parametrize("rows", [10_000])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logit_d10(benchmark: Any, rows: int, transport: str, studies: Studies) -> None:
    frames = _hospitals(rows)
    study = studies.get(str(rows), frames, SCHEMA, transport)
    pooled = pd.concat(frames.values(), ignore_index=True)
    result = benchmark.pedantic(
        lambda: study.logit(f"event ~ {FORMULA}"), rounds=5, iterations=1, warmup_rounds=1
    )
    reference = smf.logit(f"event ~ {FORMULA}", pooled).fit(disp=0)
    np.testing.assert_allclose(result.params, reference.params[result.params.index], rtol=1e-6)
    _record(
        benchmark,
        "logit d=10 (vs statsmodels)",
        transport,
        rows,
        lambda: smf.logit(f"event ~ {FORMULA}", pooled).fit(disp=0),
    )
