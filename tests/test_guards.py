"""Disclosure controls of issue 18, each tested as the attack it stops, through the simulator
and the daemons (``make_study``), beside an honest analysis that still passes.

The cohort: three hospitals of 60 patients each; one patient, the target, is the only one
aged 97 and the only one who is HIV-positive. An analyst who knows that much about the
target tries to learn more (its length of stay, whether its CRP was measured).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mpcstats._errors import PolicyError
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Column, Schema
from tests.conftest import StudyFactory

SCHEMA = Schema(
    {
        "age": Column("age", "int", 0, 110),
        "sex": Column("sex", "category", codes=("F", "M")),
        "hiv": Column("hiv", "bool"),
        "smoker": Column("smoker", "bool"),
        "readmit": Column("readmit", "bool"),
        "crp": Column("crp", "float", 0.0, 300.0, precision=0.1),
        "los": Column("los", "int", 0, 60),
    }
)
POLICY = Policy(k=5, allow_extremes=True)
TARGET = "age == 97"  # the filter that selects the target alone


def _hospital(seed: int, rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 90, rows)
    smoker = rng.integers(0, 2, rows)
    crp = np.round(rng.gamma(2.0, 20.0, rows), 1)
    crp[rng.random(rows) < 0.3] = np.nan
    eta = -3 + 0.03 * age + 0.5 * smoker
    return pd.DataFrame(
        {
            "age": age,
            "sex": rng.choice(["F", "M"], rows),
            "hiv": np.zeros(rows, dtype=int),
            "smoker": smoker,
            "readmit": (rng.random(rows) < 1 / (1 + np.exp(-eta))).astype(int),
            "crp": crp,
            "los": rng.poisson(np.exp(0.5 + 0.02 * age + 0.3 * smoker)).clip(0, 60),
        }
    )


def _frames(target_crp: float = math.nan) -> dict[str, pd.DataFrame]:
    frames = {name: _hospital(seed) for seed, name in enumerate(["hosp_a", "hosp_b", "hosp_c"])}
    target = frames["hosp_b"].index[0]
    frames["hosp_b"].loc[target, ["age", "hiv", "los", "crp"]] = [97, 1, 41, target_crp]
    return frames


def _pooled(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames.values(), ignore_index=True)


# excluded -----------------------------------------------------------------------------------
@pytest.mark.parametrize("target_crp", [math.nan, 12.5], ids=["missing", "present"])
def test_excluded_does_not_reveal_one_patients_missing_value(
    make_study: StudyFactory, target_crp: float
) -> None:
    """With a filter selecting the target alone, excluded would be 1 (CRP missing) or 0
    (present): both are suppressed, in describe, describe by group and a histogram."""
    study = make_study(_frames(target_crp), schema=SCHEMA, policy=POLICY)
    described = study.describe("crp", where=TARGET)
    assert math.isnan(described.excluded) and math.isnan(described.frame["n"].iloc[0])
    assert any("excluded for a missing value is suppressed" in note for note in described.notes)
    assert "excluded for missing crp: suppressed" in described.summary()
    by_sex = study.describe("crp", where=TARGET, by="sex")
    assert math.isnan(by_sex.excluded)
    assert math.isnan(study.histogram("crp", bins=4, where=TARGET).excluded)


def test_a_few_excluded_records_withhold_the_line_they_could_be_differenced_from(
    make_study: StudyFactory,
) -> None:
    """Where 1 to k - 1 of many records are missing, n (and the table) would give them as the
    filter's count minus n: the whole line is withheld, not just excluded."""
    frames = _frames(target_crp=12.5)
    for frame in frames.values():
        frame["crp"] = frame["crp"].fillna(30.0)
    frames["hosp_a"].loc[frames["hosp_a"].index[:2], "crp"] = np.nan  # 2 < k missing
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    described = study.describe("crp")
    assert math.isnan(described.excluded) and math.isnan(described.n)
    histogram = study.histogram("crp", bins=[0, 20, 40, 300])
    assert math.isnan(histogram.excluded) and np.isnan(histogram.counts).all()


def test_honest_results_still_report_excluded(make_study: StudyFactory) -> None:
    frames = _frames()
    pooled = _pooled(frames)
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    missing = int(pooled.crp.isna().sum())
    assert missing >= 5
    described = study.describe("crp")
    assert described.excluded == missing and described.n == len(pooled) - missing
    assert study.describe("crp", by="sex").excluded == missing
    histogram = study.histogram("crp", bins=[0, 20, 40, 300])
    assert histogram.excluded == missing
    assert np.nansum(histogram.counts) == len(pooled) - missing
    assert study.describe("age").excluded == 0  # no missing value: 0 is released
    assert study.count(by="sex").excluded == 0


# extremes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("where", [TARGET, "age > 105"], ids=["one-record", "no-record"])
def test_extremes_of_fewer_than_k_records_are_refused(make_study: StudyFactory, where: str) -> None:
    study = make_study(_frames(), schema=SCHEMA, policy=POLICY)
    for extreme in (study.min, study.max):
        with pytest.raises(PolicyError, match="fewer than k = 5 records"):
            extreme("los", where=where)


def test_extremes_of_a_large_cohort_equal_numpys(make_study: StudyFactory) -> None:
    frames = _frames()
    pooled = _pooled(frames)
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    assert study.min("crp") == pytest.approx(np.nanmin(pooled.crp))
    assert study.max("los", where="age >= 50") == pooled.los[pooled.age >= 50].max()
