"""Quantiles under attack (issue 18, item 3): a hostile analyst asking for many or nearby
levels, and parties reading what a quantile call opens to them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import mpcstats
from mpcstats import Policy, PolicyError
from mpcstats.stats.local import select
from mpcstats.stats.quantiles import _numerators, _release_thresholds
from mpcstats.stats.schema import Column, Schema
from mpcstats.stats.tables import WEIGHT, SqlTable
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
    with pytest.raises(PolicyError, match="max_quantile_levels = 9"):
        study.quantiles("bmi", np.linspace(0.01, 0.99, 75).tolist())
    allowed = np.linspace(0.1, 0.9, Policy().max_quantile_levels).tolist()
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
    near = [0.5, 0.5 + 1 / (n - 1), 0.5 + (k + 2.5) / (n - 1)]
    values = study.quantiles("bmi", near).values
    assert values.iloc[0] == pytest.approx(np.quantile(pooled, 0.5), rel=1e-12)
    assert np.isnan(values.iloc[1])
    assert values.iloc[2] == pytest.approx(np.quantile(pooled, near[2]), rel=1e-12)
    # the same level twice is one level
    twice = study.quantiles("bmi", [0.25, 0.25]).values
    assert twice.iloc[0] == pytest.approx(np.quantile(pooled, 0.25), rel=1e-12)
    assert np.isnan(twice.iloc[1])


def _transcript(study: mpcstats.LocalSimulator) -> list[list[tuple[object, ...]]]:
    """Per party, what the quantile call opened to it: (label, field, count, receiver)."""
    assert study.last_run is not None
    return [
        [(o.label, o.field, o.count, o.receiver) for o in stats.openings]
        for stats in study.last_run.stats
    ]


def test_a_quantile_call_opens_nothing_that_depends_on_the_data() -> None:
    """Issue 18: the comparisons of the search used to be opened, so hospital A inferred
    most of hospital B's values from one query. Now every party sees the same openings,
    whatever the data and whatever n: masked values and bits XOR uniform daBits only."""
    transcripts, rounds = [], []
    for seed, sizes in [(1, (35, 60, 45)), (2, (5, 200, 90)), (3, (35, 0, 1))]:
        frames = _frames(seed, sizes)
        study = mpcstats.LocalSimulator(
            frames, schema=SCHEMA, policy=Policy(k=5), record_openings=True
        )
        result = study.quantiles("bmi", [0.1, 0.5, 0.9])
        if sum(sizes) > 100:
            expected = np.quantile(_pooled(frames).bmi, [0.1, 0.5, 0.9])
            np.testing.assert_allclose(result.values.to_numpy(), expected, rtol=1e-12)
        else:  # 36 records: 0.1 and 0.9 have fewer than k = 5 records on one side
            assert result.values.isna().tolist() == [True, False, True]
        transcripts.append(_transcript(study))
        assert study.last_run is not None
        rounds.append([stats.rounds for stats in study.last_run.stats])
        labels = {entry[0] for party in transcripts[-1] for entry in party}
        assert labels == {"masked value (comparison)", "bit xor daBit (field conversion)"}
    assert transcripts[0] == transcripts[1] == transcripts[2]
    assert rounds[0] == rounds[1] == rounds[2]


def test_below_k_nothing_is_released_and_the_parties_cannot_tell(make_study: StudyFactory) -> None:
    frames = _frames(4, (2, 1, 1))
    result = make_study(frames, schema=SCHEMA, policy=Policy(k=5)).quantiles("bmi", [0.5])
    assert result.values.isna().all() and np.isnan(result.n) and "below k" in result.notes[0]


@pytest.mark.parametrize(
    ("column", "lo", "hi", "precision"),
    [("age", 0, 120, 1), ("bmi", 10, 60, 0.1), ("value", 0, 1000, 0.01)],
    ids=["1 level", "2 levels", "3 levels"],
)
def test_quantiles_equal_numpy_linear_with_ties_on_small_and_large_grids(
    column: str, lo: float, hi: float, precision: float
) -> None:
    rng = np.random.default_rng(7)
    frames = {
        f"h{i}": pd.DataFrame(
            {column: np.round(rng.uniform(lo, lo + (hi - lo) / 7, n) / precision) * precision}
        )
        for i, n in enumerate((50, 300, 7))
    }
    frames["h1"].loc[frames["h1"].index[:40], column] = lo + 3 * precision  # many ties
    schema = Schema({column: Column(column, "float", lo, hi, precision=precision)})
    study = mpcstats.LocalSimulator(frames, schema=schema, policy=Policy(k=1))
    q = [0.05, 0.1, 0.25, 0.5, 0.7, 0.9, 0.95]
    got = study.quantiles(column, q).values.to_numpy()
    np.testing.assert_allclose(got, np.quantile(_pooled(frames)[column], q), rtol=1e-12)


def test_collapsed_rows_of_a_sql_source_count_their_weights(tmp_path: Path) -> None:
    """A SQL source returns distinct (value, count) rows; the search counts the weights."""
    frames = _frames(5)
    url = f"sqlite:///{tmp_path / 'hospitals.db'}"
    engine = sa.create_engine(url)
    for name, frame in frames.items():
        frame.to_sql(name, engine, index=False)
    engine.dispose()
    tables = {name: SqlTable(url, name) for name in frames}
    rows, _ = select(tables["h0"], SCHEMA, None, ["bmi"], collapse=True)
    assert WEIGHT in rows.columns and len(rows) < len(frames["h0"])  # ties collapsed
    study = mpcstats.LocalSimulator(tables, schema=SCHEMA, policy=Policy(k=1))
    q = [0.1, 0.5, 0.75]
    result = study.quantiles("bmi", q)
    np.testing.assert_allclose(
        result.values.to_numpy(), np.quantile(_pooled(frames).bmi, q), rtol=1e-12
    )
    assert result.n == len(_pooled(frames))


def test_the_release_thresholds_are_the_rules_on_n() -> None:
    """Each level's public threshold on n against the rules evaluated with n known: the k
    records on each side exactly, and released levels' order statistics at least k ranks
    above those of the next lower requested level."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        k = int(rng.integers(1, 8))
        levels = sorted(np.round(rng.uniform(0, 1, int(rng.integers(1, 6))), 3).tolist())
        numerators, bits = _numerators(levels)
        assert [a / 2**bits for a in numerators] == levels
        thresholds = _release_thresholds(numerators, bits, k)
        for n in range(1, 400):
            released = [n >= threshold for threshold in thresholds]
            below = [int(np.floor((n - 1) * Fraction(a, 2**bits))) for a in numerators]
            above = [min(r + 1, n - 1) for r in below]
            for i, ok in enumerate(released):
                sides = n >= k and below[i] >= k and n - 1 - above[i] >= k
                assert ok <= sides
                spaced = i == 0 or below[i] - above[i - 1] >= k
                assert ok <= spaced
                near = i > 0 and (n - 1) * Fraction(numerators[i] - numerators[i - 1], 2**bits)
                if sides and (i == 0 or near >= k + 1):
                    assert ok, (levels, k, n, i)
