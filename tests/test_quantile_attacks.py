"""Quantiles under attack (issue 18, item 3): a hostile analyst asking for many or nearby
levels, and parties reading what a quantile call opens to them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpcstats import ConfigurationError, Policy
from mpcstats.stats.quantiles import MAX_QUANTILE_LEVELS
from mpcstats.stats.schema import Column, Schema
from tests.conftest import StudyFactory

SCHEMA = Schema(
    {
        "bmi": Column("bmi", "float", 10, 60, precision=0.1),
        "age": Column("age", "int", 0, 120),
    }
)


def _frames(seed: int = 18, sizes: tuple[int, ...] = (35, 60, 45)) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return {
        f"h{i}": pd.DataFrame(
            {"bmi": np.round(rng.normal(27, 4, n).clip(10, 60), 1), "age": rng.integers(20, 95, n)}
        )
        for i, n in enumerate(sizes)
    }


def _pooled(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames.values(), ignore_index=True)


def test_a_call_with_75_levels_is_refused(make_study: StudyFactory) -> None:
    study = make_study(_frames(), schema=SCHEMA, policy=Policy(k=1))
    with pytest.raises(ConfigurationError, match="MAX_QUANTILE_LEVELS"):
        study.quantiles("bmi", np.linspace(0.01, 0.99, 75).tolist())
    allowed = np.linspace(0.1, 0.9, MAX_QUANTILE_LEVELS).tolist()
    result = study.quantiles("bmi", allowed)
    np.testing.assert_allclose(
        result.values.to_numpy(), np.quantile(_pooled(_frames()).bmi, allowed), rtol=1e-12
    )


def test_of_two_nearby_levels_only_the_lower_is_released(make_study: StudyFactory) -> None:
    frames = _frames()
    pooled = _pooled(frames).bmi
    n, k = len(pooled), 3
    study = make_study(frames, schema=SCHEMA, policy=Policy(k=k))
    # 0.5 and one rank above it: together they would give three adjacent order statistics
    near = [0.5, 0.5 + 1 / (n - 1), 0.5 + (k + 2) / (n - 1)]
    values = study.quantiles("bmi", near).values
    assert values.iloc[0] == pytest.approx(np.quantile(pooled, 0.5), rel=1e-12)
    assert np.isnan(values.iloc[1])
    assert values.iloc[2] == pytest.approx(np.quantile(pooled, near[2]), rel=1e-12)
    # the same level twice is one level
    twice = study.quantiles("bmi", [0.25, 0.25]).values
    assert twice.iloc[0] == pytest.approx(np.quantile(pooled, 0.25), rel=1e-12)
    assert np.isnan(twice.iloc[1])
