"""mpcstats.datasets: seeded synthetic hospitals that fit their declared schema."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats import datasets

Generator = Callable[..., tuple[dict[str, pd.DataFrame], mpcstats.Schema]]

# generator: (the columns documented as having missing values, a number to describe, a
# crosstab's two columns)
CASES: dict[Generator, tuple[set[str], str, tuple[str, str]]] = {
    datasets.hospitals: ({"bmi", "smoker", "crp", "tumour"}, "los", ("sex", "district")),
    datasets.pneumonia: ({"pct", "wbc"}, "crp", ("age_band", "season")),
    datasets.tumours: ({"stage"}, "age", ("tumour", "district")),
    datasets.elderly: ({"bmi"}, "bmi", ("district", "sex")),
    datasets.jaundice: ({"meter"}, "meter", ("gestation", "sex")),
    datasets.waiting_times: ({"distance_km"}, "wait_days", ("specialty", "urgent")),
}
generators = pytest.mark.parametrize("generate", list(CASES), ids=lambda g: g.__name__)


@generators
def test_a_seed_gives_the_same_data_and_another_seed_other_data(generate: Generator) -> None:
    first, schema = generate(seed=3)
    again, schema_again = generate(seed=3)
    other, _ = generate(seed=4)
    assert list(first) == list(again) == list(other)
    assert schema == schema_again
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
        assert not first[name].equals(other[name])


@generators
def test_data_fit_the_schema_with_missing_values_where_documented(generate: Generator) -> None:
    frames, schema = generate(n_hospitals=4, rows=300, seed=0)
    assert list(frames) == ["hospital_a", "hospital_b", "hospital_c", "hospital_d"]
    for name, frame in frames.items():
        assert list(frame.columns) == list(schema.columns) and len(frame) == 300
        schema.check(frame, name)  # refuses any value outside the declared ranges and codes
    pooled = pd.concat(frames.values(), ignore_index=True)
    missing, _, _ = CASES[generate]
    assert set(pooled.columns[pooled.isna().any()]) == missing


@generators
def test_a_simulated_study_over_the_data_agrees_with_pandas(generate: Generator) -> None:
    frames, schema = generate(rows=[150, 250, 100], seed=1)
    pooled = pd.concat(frames.values(), ignore_index=True)
    _, column, (row, col) = CASES[generate]
    study = mpcstats.LocalSimulator(frames, schema=schema, policy=mpcstats.Policy(k=1))
    described = study.describe(column)
    assert described.n == pooled[column].count()
    assert described.mean == pytest.approx(pooled[column].mean(), rel=1e-12)
    table = study.crosstab(row, col).table.to_numpy()
    expected = (
        pd.crosstab(pooled[row], pooled[col])
        .reindex(index=schema[row].levels, columns=schema[col].levels, fill_value=0)
        .to_numpy()
    )
    released = ~np.isnan(table)  # empty cells are below k = 1, and suppressed with a partner
    assert not released[expected == 0].any() and released.sum() > expected.size / 2
    np.testing.assert_array_equal(table[released], expected[released])


def test_hospitals_differ_in_case_mix() -> None:
    """Each hospital draws most of its patients from its own district."""
    frames, _ = datasets.hospitals(n_hospitals=4, rows=1000, seed=0)
    home = [frame.district.value_counts().idxmax() for frame in frames.values()]
    assert home == list(datasets.DISTRICTS)


@pytest.mark.parametrize(
    ("n_hospitals", "rows"), [(1, 100), (27, 100), (3, [100, 200]), (2, [100, 0])]
)
def test_impossible_sizes_are_refused(n_hospitals: int, rows: int | list[int]) -> None:
    with pytest.raises(mpcstats.ConfigurationError, match="hospital"):
        datasets.hospitals(n_hospitals=n_hospitals, rows=rows)
