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


def _frames(target_crp: float = math.nan, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The hospitals with the target; another ``seed`` gives other data, so other daemons,
    whose overlap record of the analyst starts empty."""
    names = ["hosp_a", "hosp_b", "hosp_c"]
    frames = {name: _hospital(seed + index) for index, name in enumerate(names)}
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
    assert math.isnan(study.quantiles("crp", [0.5], where=TARGET).excluded)


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
    assert study.quantiles("crp", [0.5]).excluded == missing
    assert study.describe("age").excluded == 0  # no missing value: 0 is released
    assert study.count(by="sex").excluded == 0


# extremes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "seed"), [(TARGET, 10), ("age > 105", 20)], ids=["one-record", "no-record"]
)
def test_extremes_of_fewer_than_k_records_are_refused(
    make_study: StudyFactory, where: str, seed: int
) -> None:
    # data of its own: the two cohorts differ by one record, which the overlap control refuses
    study = make_study(_frames(seed=seed), schema=SCHEMA, policy=POLICY)
    for extreme in (study.min, study.max):
        with pytest.raises(PolicyError, match="fewer than k = 5 records"):
            extreme("los", where=where)


def test_extremes_of_a_large_cohort_equal_numpys(make_study: StudyFactory) -> None:
    frames = _frames()
    pooled = _pooled(frames)
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    assert study.min("crp") == pytest.approx(np.nanmin(pooled.crp))
    assert study.max("los", where="age >= 50") == pooled.los[pooled.age >= 50].max()


# models: every design column as coded ----------------------------------------------------------
MODELS = [("ols", "los"), ("logit", "readmit"), ("poisson", "los")]


@pytest.mark.parametrize(("model", "response"), MODELS, ids=[m for m, _ in MODELS])
def test_a_column_non_zero_on_one_record_is_refused_by_name(
    make_study: StudyFactory, model: str, response: str
) -> None:
    """hiv:age is non-zero on the target alone: its coefficient (with the intercept) would be
    the target's outcome over its age. Its column is not 0/1, so the level guard missed it."""
    study = make_study(_frames(), schema=SCHEMA, policy=POLICY)
    with pytest.raises(PolicyError, match=r"\['hiv:age'\] are non-zero on fewer than k = 5"):
        getattr(study, model)(f"{response} ~ hiv:age")


@pytest.mark.parametrize(("model", "response"), MODELS, ids=[m for m, _ in MODELS])
def test_a_level_coded_column_zero_on_one_record_is_refused_by_name(
    make_study: StudyFactory, model: str, response: str
) -> None:
    """The mirror image: hiv:age with every patient but the target HIV-positive is zero on the
    target alone, and age - hiv:age would single it out."""
    frames = _frames()
    for frame in frames.values():
        frame["hiv"] = 1 - frame["hiv"]
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    with pytest.raises(PolicyError, match=r"\['hiv:age'\] are zero on 1 to 4 records"):
        getattr(study, model)(f"{response} ~ age + hiv:age")


@pytest.mark.parametrize(("model", "response"), MODELS, ids=[m for m, _ in MODELS])
def test_a_well_populated_interaction_passes(
    make_study: StudyFactory, model: str, response: str
) -> None:
    import statsmodels.formula.api as smf

    frames = _frames()
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    formula = f"{response} ~ age + smoker:age + C(sex)"
    ours = getattr(study, model)(formula)
    fit = getattr(smf, model)(formula, _pooled(frames))
    theirs = fit.fit() if model == "ols" else fit.fit(disp=0)
    assert np.allclose(ours.params, theirs.params[ours.params.index], rtol=1e-6, atol=1e-8)


# models: iterates opened to the parties ------------------------------------------------------
@pytest.mark.parametrize("fit", ["logit", "poisson", "hc1"])
def test_iterates_are_not_opened_with_two_hospitals_and_a_helper(
    make_study: StudyFactory, fit: str
) -> None:
    """The first Newton step of readmit ~ 1 is the pooled prevalence's logit: with a helper
    and two hospitals, each hospital would learn the other's count of events."""
    frames = _frames()
    two = {name: frames[name] for name in ("hosp_a", "hosp_b")}
    study = make_study(two, schema=SCHEMA, policy=POLICY)
    run = {
        "logit": lambda: study.logit("readmit ~ 1"),
        "poisson": lambda: study.poisson("los ~ age"),
        "hc1": lambda: study.ols("los ~ age", cov_type="HC1"),
    }[fit]
    with pytest.raises(PolicyError, match=r"at least t \+ 2 = 3 parties hold at least k = 5"):
        run()
    assert study.ols("los ~ age").nobs == 120  # exact OLS opens nothing to the parties


def test_iterates_are_not_opened_when_a_filter_leaves_one_other_hospital(
    make_study: StudyFactory,
) -> None:
    """Three hospitals, but a filter that keeps one hospital's records (all but a few): the
    'pooled' iterate would be that hospital's own, given to the other two."""
    frames = _frames()
    for frame, low in zip(frames.values(), (20, 20, 80), strict=True):
        frame["age"] = np.clip(frame["age"], low, 110)
    study = make_study(frames, schema=SCHEMA, policy=POLICY)
    with pytest.raises(PolicyError, match="at least t \\+ 2 = 3 parties"):
        study.logit("readmit ~ age", where="age < 80")
    assert study.logit("readmit ~ age").converged
