"""What query-set overlap control costs: a describe over 3 simulated hospitals whose analyst
already ran 50 analyses of distinct cohorts (100 recorded record sets, each checked against the
new analysis' two), against the same describe as the analyst's first analysis, in one run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats.stats.schema import Column, Schema

SCHEMA = Schema({"value": Column("value", "float", 0, 1000, precision=0.01)})
ROWS = 10_000
EARLIER = 50


def _hospitals() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    return {
        f"h{i}": pd.DataFrame({"value": np.round(rng.uniform(0, 1000, ROWS), 2)}) for i in range(3)
    }


@pytest.mark.parametrize("recorded", ["first analysis", f"after {EARLIER} cohorts"])
def test_describe_with_overlap_check(benchmark: Any, recorded: str) -> None:
    frames = _hospitals()
    study = mpcstats.LocalSimulator(frames, schema=SCHEMA)
    for threshold in range(EARLIER if recorded != "first analysis" else 0):
        study.describe("value", where=f"value >= {10 * threshold}")  # 300+ records apart

    def describe() -> Any:
        if recorded == "first analysis":
            study.cohorts = [type(record)() for record in study.cohorts]  # nothing recorded
        return study.describe("value", where="value >= 995")

    result = benchmark.pedantic(describe, rounds=5, iterations=1, warmup_rounds=1)
    pooled = pd.concat(frames.values()).value
    assert result.n == (pooled >= 995).sum()
    assert study.last_run is not None
    benchmark.extra_info["rounds"] = study.last_run.rounds
