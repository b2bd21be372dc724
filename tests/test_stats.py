"""Statistics against pandas/numpy on the pooled data, with disclosure control inspected."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats import ConfigurationError, FilterError, Policy, PolicyError, SchemaError
from mpcstats.stats.filters import parse
from mpcstats.stats.schema import Column, Schema
from tests.conftest import StudyFactory

TUMOURS = ["breast", "colon", "lung", "skin"]


def _hospital(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.integers(20, 95, n),
            "bmi": np.round(rng.normal(26 + shift, 4, n), 1),
            "sex": rng.choice(["F", "M"], n),
            "tumour": rng.choice(TUMOURS, n, p=[0.4, 0.3, 0.296, 0.004]),
            "crp": np.round(rng.gamma(2, 10, n), 1),
        }
    )


SCHEMA = Schema(
    {
        "age": Column("age", "int", 0, 120),
        "bmi": Column("bmi", "float", 5, 60, precision=0.1),
        "sex": Column("sex", "category", codes=("F", "M")),
        "tumour": Column("tumour", "category", codes=tuple(TUMOURS)),
        "crp": Column("crp", "float", 0, 500, precision=0.1),
    }
)


@pytest.fixture(params=[3, 5], ids=["3 hospitals", "5 hospitals"])
def hospitals(request: pytest.FixtureRequest) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(request.param)
    sizes = [40, 400, 120, 7, 250][: request.param]
    frames = {f"h{i}": _hospital(rng, size, i - 1) for i, size in enumerate(sizes)}
    frames["h1"].loc[frames["h1"].index[:30], "crp"] = np.nan  # some missing values
    frames["h0"]["crp"] = np.nan  # a hospital with the column entirely missing
    frames["h0"]["tumour"] = "lung"  # a hospital with 0 rows in most groups
    return frames


def _pooled(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames.values(), ignore_index=True)


def test_counts_and_frequencies_match_pandas(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    pooled = _pooled(hospitals)
    assert study.count().counts.iloc[0] == len(pooled)
    assert study.count(where="age >= 65 and sex == 'F'").counts.iloc[0] == len(
        pooled[(pooled.age >= 65) & (pooled.sex == "F")]
    )
    expected = pooled.tumour.value_counts().reindex(TUMOURS, fill_value=0)
    assert study.frequencies("tumour").counts.tolist() == expected.tolist()


def test_describe_matches_pandas_per_group(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    pooled = _pooled(hospitals)
    result = study.describe("crp", by="sex")
    plain = pooled.groupby("sex").crp
    np.testing.assert_allclose(result.frame["n"], plain.count(), rtol=0)
    np.testing.assert_allclose(result.frame["mean"], plain.mean(), rtol=1e-9)
    np.testing.assert_allclose(result.frame["var"], plain.var(), rtol=1e-9)
    np.testing.assert_allclose(result.frame["std"], plain.std(), rtol=1e-9)
    assert result.excluded == pooled.crp.isna().sum()
    assert "excluded" in result.summary()


def test_constant_column_has_zero_variance(make_study: StudyFactory) -> None:
    frames = {name: pd.DataFrame({"age": [50] * size}) for name, size in [("a", 6), ("b", 9)]}
    study = make_study(frames, schema=Schema({"age": Column("age", "int", 0, 120)}))
    result = study.describe("age")
    assert (result.n, result.mean, result.var) == (15.0, 50.0, 0.0)
    assert 0 <= result.std <= 2.0**-40  # sqrt(0) within the fixed-point resolution


@pytest.mark.parametrize("q", [[0.5], [0.1, 0.25, 0.75, 0.9]])
def test_quantiles_are_exact_as_numpy_linear(
    hospitals: dict[str, pd.DataFrame], q: list[float], make_study: StudyFactory
) -> None:
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    pooled = _pooled(hospitals)
    for column in ("age", "bmi"):
        got = study.quantiles(column, q).values.to_numpy()
        np.testing.assert_allclose(got, np.quantile(pooled[column], q), rtol=1e-12)
    assert study.median("crp") == pytest.approx(np.nanmedian(pooled.crp), rel=1e-12)


def test_histogram_and_crosstab_match_numpy_and_pandas(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    pooled = _pooled(hospitals)
    histogram = study.histogram("bmi", bins=[5, 20, 25, 30, 60])
    assert histogram.counts.tolist() == np.histogram(pooled.bmi, [5, 20, 25, 30, 60])[0].tolist()
    crosstab = study.crosstab("sex", "tumour")
    expected = pd.crosstab(pooled.sex, pooled.tumour).reindex(columns=TUMOURS, fill_value=0)
    assert crosstab.table.to_numpy().tolist() == expected.to_numpy().tolist()
    assert len(crosstab.plot().patches) == crosstab.table.size  # a bar per cell


def test_every_result_counts_the_records_a_missing_value_excluded(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    missing = int(_pooled(hospitals).crp.isna().sum())
    assert missing > 0
    histogram = study.histogram("crp", bins=[0, 10, 500])
    quantiles = study.quantiles("crp", [0.5])
    assert histogram.excluded == quantiles.excluded == study.describe("crp").excluded == missing
    assert f"excluded for a missing value: {missing}" in histogram.summary()
    assert study.count(by="sex").excluded == study.crosstab("sex", "tumour").excluded == 0


def test_histograms_by_group_match_numpy_and_are_suppressed_as_one_table(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    edges = [5, 20, 25, 30, 60]
    pooled = _pooled(hospitals)
    exact = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1)).histogram(
        "bmi", bins=edges, by="sex"
    )
    for level, counts in zip(exact.levels, exact.counts, strict=True):
        expected = np.histogram(pooled.bmi[pooled.sex == level], edges)[0]
        assert counts.tolist() == expected.tolist(), level
    assert list(exact.to_frame().columns) == ["left", "right", "F", "M"]
    assert len(exact.plot().get_legend().get_texts()) == 2
    strict = make_study(hospitals, schema=SCHEMA, policy=Policy(k=40)).histogram(
        "bmi", bins=edges, by="sex"
    )
    hidden = np.isnan(strict.counts)
    assert hidden.any() and not (hidden.sum(axis=0) == 1).any()
    assert not (hidden.sum(axis=1) == 1).any()


def test_small_cells_are_suppressed_with_a_complement_and_never_opened() -> None:
    rng = np.random.default_rng(9)
    frames = {f"h{i}": _hospital(rng, 300, 0) for i in range(3)}
    study = mpcstats.LocalSimulator(frames, schema=SCHEMA, record_openings=True)
    pooled = _pooled(frames)
    counts = study.frequencies("tumour").counts
    true = pooled.tumour.value_counts().reindex(TUMOURS, fill_value=0)
    assert true["skin"] < 5 and np.isnan(counts["skin"])
    # exactly one small cell: the smallest other cell is suppressed too, the rest are exact
    smallest_other = true.drop("skin").idxmin()
    assert np.isnan(counts[smallest_other])
    released = counts.dropna()
    assert released.tolist() == true[released.index].tolist()
    # nothing was opened to the parties but masked values and conversion bits
    assert study.last_run is not None
    labels = {o.label for stats in study.last_run.stats for o in stats.openings}
    assert labels <= {"masked value (comparison)", "bit xor daBit (field conversion)"}


@pytest.mark.parametrize("k", [1, 5, 6])
def test_a_single_count_passes_a_product_gate_and_nothing_is_opened(k: int) -> None:
    """One cell has no complement: it is released iff it has k records, and the parties open
    nothing (the gate's output goes to the analyst only)."""
    rng = np.random.default_rng(4)
    frames = {f"h{i}": _hospital(rng, 60, 0) for i in range(3)}
    pooled = _pooled(frames)
    where = "age >= 89 and sex == 'F'"
    true = int(((pooled.age >= 89) & (pooled.sex == "F")).sum())
    assert true == 5  # the design: one side of the boundary for each k
    study = mpcstats.LocalSimulator(frames, schema=SCHEMA, policy=Policy(k=k), record_openings=True)
    result = study.count(where=where)
    if k <= true:
        assert result.counts.iloc[0] == true and not result.notes
    else:
        assert np.isnan(result.counts.iloc[0]) and "suppressed" in result.notes[0]
    assert study.last_run is not None
    assert not [o for stats in study.last_run.stats for o in stats.openings]
    one_bin = study.histogram("age", bins=[0, 120], where=where).counts
    assert one_bin.shape == (1,) and (one_bin[0] == true) == (k <= true)


def test_crosstab_suppression_leaves_no_row_or_column_with_a_single_hidden_cell(
    make_study: StudyFactory,
) -> None:
    rng = np.random.default_rng(4)
    frames = {f"h{i}": _hospital(rng, 200, 0) for i in range(3)}
    table = make_study(frames, schema=SCHEMA).crosstab("sex", "tumour").table
    hidden = table.isna().to_numpy()
    assert hidden.any()
    assert all(row.sum() != 1 for row in hidden) and all(col.sum() != 1 for col in hidden.T)


def test_three_way_crosstab_matches_pandas_and_protects_every_line(
    make_study: StudyFactory,
) -> None:
    """Layers stack 2-way tables; suppression covers rows, columns and the lines across the
    layers, so a 2-way table of the same cells cannot recover a hidden one."""
    rng = np.random.default_rng(12)
    schema = Schema(
        {
            "ward": Column("ward", "category", codes=("a", "b", "c")),
            "tumour": Column("tumour", "category", codes=tuple(TUMOURS)),
            "sex": Column("sex", "category", codes=("F", "M")),
        }
    )
    frames = {
        f"h{i}": pd.DataFrame(
            {
                "ward": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
                "tumour": rng.choice(TUMOURS, n, p=[0.4, 0.3, 0.2, 0.1]),
                "sex": rng.choice(["F", "M"], n),
            }
        )
        for i, n in enumerate([600, 400, 300])
    }
    pooled = _pooled(frames)
    expected = (
        pd.crosstab([pooled.sex, pooled.ward], pooled.tumour)
        .reindex(pd.MultiIndex.from_product([["F", "M"], ["a", "b", "c"]]), fill_value=0)
        .reindex(columns=TUMOURS, fill_value=0)
    )
    assert expected.to_numpy().min() >= 1  # the design: k = 1 hides nothing
    exact = make_study(frames, schema=schema, policy=Policy(k=1))
    table = exact.crosstab("ward", "tumour", layer="sex").table
    assert table.to_numpy().tolist() == expected.to_numpy().tolist()
    strict = make_study(frames, schema=schema, policy=Policy(k=12))
    hidden = strict.crosstab("ward", "tumour", layer="sex").table
    cube = hidden.isna().to_numpy().reshape(2, 3, 4)
    assert cube.any() and not cube.all()
    for axis in range(3):
        assert not (cube.sum(axis=axis) == 1).any()
    shown = ~cube
    np.testing.assert_array_equal(
        hidden.to_numpy().reshape(2, 3, 4)[shown], expected.to_numpy().reshape(2, 3, 4)[shown]
    )


def test_small_groups_get_no_statistics(make_study: StudyFactory) -> None:
    frames = {
        "a": pd.DataFrame({"age": [30, 40], "sex": ["F", "F"]}),
        "b": pd.DataFrame({"age": [50] * 8 + [60], "sex": ["M"] * 8 + ["F"]}),
    }
    schema = Schema(
        {"age": Column("age", "int", 0, 120), "sex": Column("sex", "category", codes=("F", "M"))}
    )
    result = make_study(frames, schema=schema).describe("age", by="sex")
    assert result.frame.loc["F"].isna().all()  # 3 records < k = 5
    # the other group is withheld too: the overall describe minus it would give F's
    assert result.frame.loc["M"].isna().all()
    frames["c"] = pd.DataFrame({"age": [70] * 6, "sex": ["X"] * 6})
    schema.columns["sex"] = Column("sex", "category", codes=("F", "M", "X"))
    result = make_study(frames, schema=schema).describe("age", by="sex")
    assert result.frame.loc["F"].isna().all() and result.frame.loc["X"].isna().all()
    assert result.frame.loc["M", "n"] == 8 and result.frame.loc["M", "mean"] == 50


def test_quantiles_by_group_match_numpy_and_hide_a_small_group_with_a_complement(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    pooled = _pooled(hospitals)
    study = make_study(hospitals, schema=SCHEMA)
    result = study.quantiles("bmi", [0.25, 0.5], by="sex", where="age >= 30")
    chosen = pooled[pooled.age >= 30]
    for sex, group in chosen.groupby("sex"):
        np.testing.assert_allclose(
            result.values.loc[sex].to_numpy(), np.quantile(group.bmi, [0.25, 0.5]), rtol=1e-12
        )
        assert result.n[sex] == len(group)
    assert "n" in result.to_frame().columns and "Quantiles of bmi" in result.summary()
    medians = study.median("bmi", by="sex")
    for sex, group in pooled.groupby("sex"):
        assert medians[sex] == pytest.approx(group.bmi.median(), rel=1e-12)
    # skin tumours are rare (< k): their group and the smallest other are withheld
    by_tumour = study.quantiles("bmi", [0.5], by="tumour")
    counts = pooled.tumour.value_counts().reindex(TUMOURS, fill_value=0)
    assert counts["skin"] < 5 and by_tumour.values.loc["skin"].isna().all()
    assert by_tumour.values.isna().all(axis=1).sum() == 2
    shown = by_tumour.values.dropna().index
    for tumour in shown:
        expected = np.median(pooled.bmi[pooled.tumour == tumour])
        assert by_tumour.values.loc[tumour, 0.5] == pytest.approx(expected, rel=1e-12)


def test_describe_adds_quartiles_when_asked(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    pooled = _pooled(hospitals)
    study = make_study(hospitals, schema=SCHEMA)
    overall = study.describe("bmi", quartiles=True).frame
    np.testing.assert_allclose(
        overall.loc["all", ["25%", "50%", "75%"]].to_numpy(float),
        np.quantile(pooled.bmi, [0.25, 0.5, 0.75]),
        rtol=1e-12,
    )
    grouped = study.describe("bmi", by="sex", quartiles=True).frame
    for sex, group in pooled.groupby("sex"):
        assert grouped.loc[sex, "50%"] == pytest.approx(group.bmi.median(), rel=1e-12)
        assert grouped.loc[sex, "n"] == len(group)


def test_a_simulation_without_a_schema_infers_one_from_the_data() -> None:
    rng = np.random.default_rng(13)
    frames = {f"h{i}": _hospital(rng, 100, 0).drop(columns="crp") for i in range(3)}
    pooled = _pooled(frames)
    study = mpcstats.LocalSimulator(frames)  # simulation only: a federation needs the dictionary
    assert study.schema["sex"].kind == "category" and study.schema["age"].kind == "int"
    assert study.describe("bmi").mean == pytest.approx(pooled.bmi.mean(), rel=1e-9)
    assert study.count(by="sex").counts.tolist() == pooled.sex.value_counts().sort_index().tolist()


def test_a_float_score_with_missing_values_is_a_level_like_an_integer_column() -> None:
    """pandas stores a 0-3 score with missing values as float; inferred as int, it can be
    crosstabbed and counted by, as pandas does on the pooled data."""
    rng = np.random.default_rng(22)
    frames = {}
    for i, size in enumerate([120, 200, 80]):
        score = rng.integers(0, 4, size).astype(float)
        score[rng.random(size) < 0.15] = np.nan
        frames[f"h{i}"] = pd.DataFrame({"sex": rng.choice(["F", "M"], size), "ph_ecog": score})
    pooled = _pooled(frames)
    study = mpcstats.LocalSimulator(frames)
    assert study.schema["ph_ecog"] == Column("ph_ecog", "int", 0, 3)
    crosstab = study.crosstab("sex", "ph_ecog")
    expected = pd.crosstab(pooled.sex, pooled.ph_ecog)
    np.testing.assert_array_equal(crosstab.table.to_numpy(), expected.to_numpy())
    assert crosstab.excluded == pooled.ph_ecog.isna().sum()
    counts = study.count(by="ph_ecog")
    assert counts.counts.tolist() == pooled.ph_ecog.value_counts().sort_index().tolist()
    mean = study.describe("ph_ecog", by="sex").frame["mean"]
    np.testing.assert_allclose(mean, pooled.groupby("sex").ph_ecog.mean(), rtol=1e-12)


@pytest.mark.parametrize(
    ("values", "precision"),
    [
        ([12.5, 3.5, 7.0], 0.5),
        ([12.5, 3.25], 0.25),
        ([0.3, 0.7, 36.6], 0.1),
        ([1.1, 2.25], 0.05),
        ([0.125, 4.0], 0.025),
        ([98.76, 0.01], 0.01),
        ([2.5e-6, 1.0], 2.5e-6),  # six decimals: its grid has fewer than 2^20 steps
    ],
)
def test_an_inferred_precision_is_the_coarsest_grid_holding_every_value(
    values: list[float], precision: float
) -> None:
    frames = [pd.DataFrame({"x": values[:1]}), pd.DataFrame({"x": [*values[1:], np.nan]})]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # values on the grid: nothing is rounded, nor warned of
        column = Schema.infer(frames)["x"]
    assert (column.kind, column.precision) == ("float", precision)
    assert (column.lo, column.hi) == (min(values), max(values))


def test_unrounded_values_get_a_precision_that_keeps_the_fast_path_and_a_warning() -> None:
    rng = np.random.default_rng(5)
    frames = {f"h{i}": pd.DataFrame({"bmi": rng.normal(27, 4, 500)}) for i in range(3)}
    pooled = _pooled(frames).bmi
    with pytest.warns(UserWarning, match=r"'bmi'.*precision 5e-05 rounds them"):
        study = mpcstats.LocalSimulator(frames)
    column = study.schema["bmi"]
    assert column.grid_bits <= 20  # within the float64 moments' 21 bits
    assert column.lo <= pooled.min() and column.hi >= pooled.max()
    assert abs(study.describe("bmi").mean - pooled.mean()) <= column.precision / 2


def test_a_schema_prints_as_the_json_a_federation_declares() -> None:
    schema = Schema(
        {
            "age": Column("age", "int", 0.0, 110.0, unit="years"),
            "bmi": Column("bmi", "float", 10, 60, precision=0.1, unit="kg/m2"),
            "sex": Column("sex", "category", codes=("F", "M")),
            "smoker": Column("smoker", "bool"),
            "dose": Column("dose", "int", 0, 10, precision=0.5),  # an unusual field is kept
        }
    )
    assert str(schema) == (
        '{"columns": {\n'
        '  "age": {"kind": "int", "lo": 0, "hi": 110, "unit": "years"},\n'
        '  "bmi": {"kind": "float", "lo": 10, "hi": 60, "precision": 0.1, "unit": "kg/m2"},\n'
        '  "sex": {"kind": "category", "codes": ["F", "M"]},\n'
        '  "smoker": {"kind": "bool"},\n'
        '  "dose": {"kind": "int", "lo": 0, "hi": 10, "precision": 0.5}\n'
        "}}"
    )
    assert Schema.from_json(schema.to_json()) == schema


def test_describe_by_a_group_that_a_hospital_lacks_and_quantiles_below_k(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    """h0 holds only lung tumours (0 rows in every other group); fewer than k records in all
    suppress every quantile, with a note."""
    pooled = _pooled(hospitals)
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    frame = study.describe("bmi", by="tumour").frame
    for tumour, group in pooled.groupby("tumour"):
        assert frame.loc[tumour, "n"] == len(group)
        assert frame.loc[tumour, "mean"] == pytest.approx(group.bmi.mean(), rel=1e-9)
    strict = make_study(hospitals, schema=SCHEMA, policy=Policy(k=len(pooled) + 1))
    few = strict.quantiles("bmi", [0.5])
    assert few.values.isna().all() and "below k" in few.notes[0]


def test_statistics_of_values_up_to_1e9_stay_within_1e_9(make_study: StudyFactory) -> None:
    """Values of magnitude up to 1e9 on a 1e-3 grid (40 bits): describe against numpy on the
    pooled data; quantiles search at most 2^20 grid values (every party inputs a count per
    value, so nothing about the search path is opened): on this grid they are refused, and on
    a 1e4 grid (2e5 values, 18 bits) exact."""
    rng = np.random.default_rng(14)
    frames = {
        f"h{i}": pd.DataFrame({"x": np.round(rng.uniform(-1e9, 1e9, n), 3)})
        for i, n in enumerate((4000, 50, 2500))
    }
    pooled = _pooled(frames).x
    schema = Schema({"x": Column("x", "float", -1e9, 1e9, precision=0.001)})
    study = make_study(frames, schema=schema)
    result = study.describe("x")
    assert result.mean == pytest.approx(pooled.mean(), rel=1e-9)
    assert result.var == pytest.approx(pooled.var(), rel=1e-9)
    with pytest.raises(ConfigurationError, match="coarser precision"):
        study.quantiles("x", [0.1, 0.5, 0.9])
    coarse = {name: frame.assign(x=np.round(frame.x, -4)) for name, frame in frames.items()}
    schema = Schema({"x": Column("x", "float", -1e9, 1e9, precision=1e4)})
    np.testing.assert_allclose(
        make_study(coarse, schema=schema).quantiles("x", [0.1, 0.5, 0.9]).values,
        np.quantile(_pooled(coarse).x, [0.1, 0.5, 0.9]),
        rtol=1e-9,
    )


def test_quantiles_need_k_records_on_each_side(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=5))
    values = study.quantiles("age", [0.0, 0.5, 1.0]).values
    assert np.isnan(values[0.0]) and np.isnan(values[1.0]) and not np.isnan(values[0.5])


def test_no_quantile_level_still_releases_n(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    result = make_study(hospitals, schema=SCHEMA).quantiles("age", [])
    assert result.values.empty and result.n == len(_pooled(hospitals))


def test_extremes_follow_the_policy(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    with pytest.raises(PolicyError, match="allow_extremes"):
        make_study(hospitals, schema=SCHEMA).max("age")
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(allow_extremes=True))
    pooled = _pooled(hospitals)
    assert study.max("bmi") == pytest.approx(pooled.bmi.max())
    assert study.min("age", where="sex == 'M'") == pooled[pooled.sex == "M"].age.min()


def test_two_hospitals_work_with_a_helper_party(make_study: StudyFactory) -> None:
    rng = np.random.default_rng(2)
    frames = {"a": _hospital(rng, 50, 0), "b": _hospital(rng, 80, 0)}
    study = make_study(frames, schema=SCHEMA)
    assert study.n == 3
    assert study.count().counts.iloc[0] == 130


def test_files_are_accepted_as_sources(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    rng = np.random.default_rng(3)
    paths = {}
    for name in ("a", "b", "c"):
        path = folder / f"{name}.{'parquet' if name == 'c' else 'csv'}"
        frame = _hospital(rng, 30, 0)
        frame.to_parquet(path, index=False) if name == "c" else frame.to_csv(path, index=False)
        paths[name] = path
    study = mpcstats.LocalSimulator(paths, schema=SCHEMA)
    assert study.count().counts.iloc[0] == 90


def test_data_outside_the_schema_is_refused_by_column_and_row() -> None:
    frames = {"a": pd.DataFrame({"age": [30, 300]}), "b": pd.DataFrame({"age": [40]})}
    with pytest.raises(SchemaError, match=r"a: column 'age' .* \(first at row 1\)"):
        mpcstats.LocalSimulator(frames, schema=Schema({"age": Column("age", "int", 0, 120)}))


def test_schema_differences_are_listed_column_by_column() -> None:
    other = Schema({"age": Column("age", "int", 0, 110), "weight": Column("weight", "int", 0, 300)})
    problems = SCHEMA.differences(other, "hospital b")
    assert any("'age'" in p and "hospital b declares" in p for p in problems)
    assert any("'weight'" in p and "only hospital b" in p for p in problems)
    assert any("'bmi'" in p and "does not have it" in p for p in problems)


@pytest.mark.parametrize(
    "text",
    [
        "age > 3; DROP TABLE patients",
        "age > 3 or 1=1 --",
        "__import__('os').system('x')",
        "age >",
        "(age > 3",
        "age in ()",
    ],
)
def test_filters_reject_injection_and_malformed_text(text: str) -> None:
    with pytest.raises(FilterError):
        parse(text, SCHEMA)


def test_filters_reject_unknown_columns_by_name() -> None:
    with pytest.raises(FilterError, match="unknown column 'weight'"):
        parse("weight > 80", SCHEMA)


def test_filters_translate_to_parameterised_sql() -> None:
    condition = parse(
        "(age between 65 and 80 or tumour in ('lung', 'skin')) and not crp is missing "
        "and sex != \"x' OR '1'='1\"",
        SCHEMA,
    )
    assert condition is not None
    sql, parameters = condition.sql()
    assert "'1'='1" not in sql and ":p0" in sql
    assert parameters["p4"] == "x' OR '1'='1"
    frame = pd.DataFrame(
        {
            "age": [70, 30, 30],
            "tumour": ["colon", "skin", "lung"],
            "crp": [1.0, np.nan, 2.0],
            "sex": ["F", "M", "F"],
        }
    )
    assert condition.mask(frame).tolist() == [True, False, True]


def test_results_have_summaries_frames_and_plots(
    hospitals: dict[str, pd.DataFrame], make_study: StudyFactory
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    study = make_study(hospitals, schema=SCHEMA, policy=Policy(k=1))
    histogram = study.histogram("age", bins=5)
    assert "Histogram of age" in histogram.summary()
    assert list(histogram.to_frame().columns) == ["left", "right", "count"]
    axes = histogram.plot()
    assert len(axes.patches) == 5
    counts = study.count(by="sex")
    assert "Count" in counts.summary() and len(counts.plot().patches) == 2


def test_local_moments_are_exact_for_wide_values() -> None:
    from mpcstats.stats.local import moments

    rng = np.random.default_rng(1)
    for top in (2**20, 2**31 - 1, 2**40):
        grid = rng.integers(-top, top, 50_000)
        exact = grid.astype(object)
        bits = top.bit_length()
        assert moments(grid, None, bits) == [len(grid), exact.sum(), (exact * exact).sum()]


def test_local_moments_of_float_grids_are_exact_beyond_float64_sums() -> None:
    """The float64 path adds in blocks: one BLAS dot over the first grid would round (its sum
    of squares is near 2^59), and values too wide for exact float64 squares take the int64
    path."""
    from mpcstats.stats.local import moments

    rng = np.random.default_rng(2)
    for low, top, rows in ((2**20, 2**21 - 1, 200_000), (-(2**26), 2**26, 20_000), (0, 2**40, 9)):
        grid = rng.integers(low, top + 1, rows)
        exact = grid.astype(object)
        expected = [rows, exact.sum(), (exact * exact).sum()]
        assert moments(grid.astype(np.float64), None, top.bit_length()) == expected
    wide = rng.integers(2**20, 2**21, 200_000).astype(np.float64)
    assert int(np.dot(wide, wide)) != (wide.astype(np.int64).astype(object) ** 2).sum()


def test_local_moments_of_raw_values_put_them_on_the_grid() -> None:
    """Raw values with a step are rounded to the grid block by block (several blocks here),
    the same as the grid computed first; weighted rows (a database's value counts) too."""
    from mpcstats.stats.local import moments

    rng = np.random.default_rng(3)
    raw = np.round(rng.uniform(-1000, 1000, 300_000), 2)
    grid = np.rint(raw / 0.01).astype(np.int64)
    exact = grid.astype(object)
    expected = [len(raw), exact.sum(), (exact * exact).sum()]
    assert moments(raw, None, 17, step=0.01) == expected
    assert moments(raw, np.ones(len(raw), np.int64), 17, step=0.01) == expected


def test_a_grid_wider_than_float64_is_refused_before_anything_runs() -> None:
    frames = {f"h{i}": pd.DataFrame({"x": [1.5, 2.25, -3.0]}) for i in range(3)}
    fine = Schema({"x": Column("x", "float", -1e9, 1e9, precision=1e-6)})  # 50 bits
    study = mpcstats.LocalSimulator(frames, schema=fine, policy=Policy(k=1))
    assert study.describe("x").mean == pytest.approx(0.25, rel=1e-12)
    wide = Schema({"x": Column("x", "float", -1e9, 1e9, precision=1e-12)})  # 70 bits
    study = mpcstats.LocalSimulator(frames, schema=wide, policy=Policy(k=1))
    for analysis in (lambda: study.describe("x"), lambda: study.median("x")):
        with pytest.raises(mpcstats.HeadroomError, match=r"column 'x'.*70-bit.*coarser"):
            analysis()
    assert study.last_run is None  # refused before any session ran


def test_missing_values_are_found_in_float_columns_but_infinities_are_not_missing() -> None:
    from mpcstats.stats.local import has_missing

    assert has_missing(pd.Series([1.0, np.nan, 3.0]))
    assert not has_missing(pd.Series([1.0, np.inf, -np.inf, 1e200]))  # squares overflow to inf
    assert has_missing(pd.Series([np.inf, np.nan], dtype=np.float32))
    assert not has_missing(pd.Series([1, 2, 3]))
    assert has_missing(pd.Series([1, None], dtype="Int64"))
