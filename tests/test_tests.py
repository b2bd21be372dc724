"""Hypothesis tests and correlation against scipy on the pooled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mpcstats import Column, ConfigurationError, Schema
from mpcstats.stats.study import Study
from tests.conftest import StudyFactory

SCHEMA = Schema(
    {
        "sex": Column("sex", "category", codes=("F", "M")),
        "smoker": Column("smoker", "category", codes=("no", "yes")),
        "cancer": Column("cancer", "category", codes=("no", "yes")),
        "lab": Column("lab", "float", 0, 300, precision=0.1),
        "meter": Column("meter", "float", 0, 300, precision=0.1),
        "age": Column("age", "int", 0, 110),
        "pain": Column("pain", "int", 0, 10),
    }
)


def _hospital(rng: np.random.Generator, n: int) -> pd.DataFrame:
    lab = np.round(rng.normal(100, 15, n), 1)
    return pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "smoker": rng.choice(["no", "yes"], n),
            "cancer": rng.choice(["no", "yes"], n, p=[0.8, 0.2]),
            "lab": lab,
            "meter": np.round(lab + rng.normal(1.5, 4, n), 1),
            "age": (age := rng.integers(20, 90, n)),
            "pain": np.clip(np.rint(age / 10 + rng.normal(0, 2, n)), 0, 10).astype(int),
        }
    )


@pytest.fixture(params=[(300, 120, 700), (50, 400, 90, 600, 210)], ids=["3 sites", "5 sites"])
def study_and_pooled(
    request: pytest.FixtureRequest, make_study: StudyFactory
) -> tuple[Study, pd.DataFrame]:
    rng = np.random.default_rng(len(request.param))
    frames = {f"h{i}": _hospital(rng, n) for i, n in enumerate(request.param)}
    return make_study(frames, schema=SCHEMA), pd.concat(frames.values())


def test_two_sample_t_tests_match_scipy(study_and_pooled: tuple) -> None:  # type: ignore[type-arg]
    study, pooled = study_and_pooled
    women, men = pooled[pooled.sex == "F"].lab, pooled[pooled.sex == "M"].lab
    for equal_var in (False, True):
        ours = study.ttest("lab", by="sex", equal_var=equal_var)
        ref = stats.ttest_ind(women, men, equal_var=equal_var)
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-6)
        assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-6)


def test_paired_t_test_and_bland_altman_match_scipy(study_and_pooled: tuple) -> None:  # type: ignore[type-arg]
    study, pooled = study_and_pooled
    ours = study.ttest("lab", "meter")
    ref = stats.ttest_rel(pooled.lab, pooled.meter)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-6)
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-6)
    agreement = study.bland_altman("lab", "meter")
    differences = pooled.lab - pooled.meter
    assert agreement.bias == pytest.approx(differences.mean(), rel=1e-9)
    assert agreement.limits[1] == pytest.approx(differences.mean() + 1.96 * differences.std())


@pytest.mark.parametrize("correction", [True, False])
def test_chi_square_matches_scipy_without_opening_the_table(
    study_and_pooled: tuple,  # type: ignore[type-arg]
    correction: bool,
) -> None:
    study, pooled = study_and_pooled
    ours = study.chi2("smoker", "cancer", correction=correction)
    table = pd.crosstab(pooled.smoker, pooled.cancer)
    ref = stats.chi2_contingency(table, correction=correction)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-6)
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-6)
    assert ours.dof == ref.dof
    assert any("Yates" in note for note in ours.notes) == correction


def test_chi_square_of_a_larger_table_matches_scipy_and_opens_no_cell(
    study_and_pooled: tuple,  # type: ignore[type-arg]
) -> None:
    """An R x C table (pain scores 0-10 by sex): the statistic is computed inside MPC, and
    the parties open nothing but masked values and conversion bits."""
    import warnings

    import mpcstats

    study, pooled = study_and_pooled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sparse high pain scores
        ours = study.chi2("pain", "sex")
    table = pd.crosstab(pooled.pain, pooled.sex)
    ref = stats.chi2_contingency(table)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-6)
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-6)
    assert ours.dof == ref.dof
    frames = {f"h{i}": pooled.iloc[i::3] for i in range(3)}
    sim = mpcstats.LocalSimulator(frames, schema=SCHEMA, record_openings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sim.chi2("pain", "sex")
    assert sim.last_run is not None
    opened = {o.label for stats in sim.last_run.stats for o in stats.openings}
    masked = {"masked value (comparison)", "bit xor daBit (field conversion)"}
    assert opened <= masked | {"masked value (truncation)", "an empty margin"}


def test_yates_correction_reaches_zero_as_scipy(make_study: StudyFactory) -> None:
    """0 < |ad - bc| < n/2: the corrected statistic is exactly 0 and the p-value 1, where the
    uncorrected one is not."""
    cells = [("no", "no")] * 12 + [("no", "yes"), ("yes", "no"), ("yes", "yes")] * 10
    frame = pd.DataFrame(cells, columns=["smoker", "cancer"])  # ad - bc = 20 < n/2 = 21
    frames = {"h0": frame.iloc[:15], "h1": frame.iloc[15:25], "h2": frame.iloc[25:]}
    schema = Schema({"smoker": SCHEMA["smoker"], "cancer": SCHEMA["cancer"]})
    study = make_study(frames, schema=schema)
    table = pd.crosstab(frame.smoker, frame.cancer)
    assert stats.chi2_contingency(table).statistic == 0.0
    assert stats.chi2_contingency(table, correction=False).statistic > 0.08
    ours = study.chi2("smoker", "cancer")
    assert ours.statistic == pytest.approx(0.0, abs=1e-9)
    assert ours.pvalue == pytest.approx(1.0, abs=1e-6)
    assert study.chi2("smoker", "cancer", correction=False).statistic > 0.08


def test_chi_square_warns_about_small_expected_counts(make_study: StudyFactory) -> None:
    rng = np.random.default_rng(0)
    frames = {f"h{i}": _hospital(rng, 8) for i in range(3)}
    with pytest.warns(RuntimeWarning, match="expected count below 5"):
        result = make_study(frames, schema=SCHEMA).chi2("smoker", "cancer")
    assert result.notes


def test_spearman_correlations_match_scipy_with_ties(study_and_pooled: tuple) -> None:  # type: ignore[type-arg]
    study, pooled = study_and_pooled
    ours = study.corr(["age", "pain"], method="spearman")
    ref = stats.spearmanr(pooled.age, pooled.pain)  # both have many ties: mid-ranks
    assert ours.matrix.loc["age", "pain"] == pytest.approx(ref.statistic, rel=1e-6)
    assert ours.pvalues.loc["age", "pain"] == pytest.approx(ref.pvalue, abs=1e-6)
    assert ours.method == "spearman" and "Spearman" in ours.summary()
    assert ours.n == len(pooled)


def test_spearman_refuses_grids_too_fine_for_level_tables(study_and_pooled: tuple) -> None:  # type: ignore[type-arg]
    study, _ = study_and_pooled
    with pytest.raises(ConfigurationError, match=r"'age' has 111 levels.*coarser precision"):
        study.corr(["age", "lab"], method="spearman")
    with pytest.raises(ConfigurationError, match="'pearson' or 'spearman'"):
        study.corr(["lab", "meter"], method="kendall")


def test_pearson_correlations_match_pandas_and_scipy(study_and_pooled: tuple) -> None:  # type: ignore[type-arg]
    study, pooled = study_and_pooled
    ours = study.corr(["lab", "meter", "age"])
    np.testing.assert_allclose(ours.matrix, pooled[["lab", "meter", "age"]].corr(), atol=1e-9)
    ref = stats.pearsonr(pooled.lab, pooled.age)
    assert ours.pvalues.loc["lab", "age"] == pytest.approx(ref.pvalue, abs=1e-6)
    assert ours.n == len(pooled)


def test_mann_whitney_and_auc_match_scipy(study_and_pooled: tuple) -> None:  # type: ignore[type-arg]
    study, pooled = study_and_pooled
    for column in ("lab", "age"):  # many distinct values, and many ties
        ours = study.mann_whitney(column, by="sex")
        women, men = pooled[pooled.sex == "F"][column], pooled[pooled.sex == "M"][column]
        ref = stats.mannwhitneyu(women, men, method="asymptotic")
        assert ours.statistic == ref.statistic
        assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-9)
        assert ours.auc == pytest.approx(ref.statistic / (len(women) * len(men)), rel=1e-12)


def _cities(rng: np.random.Generator, n: int) -> pd.DataFrame:
    city = rng.choice(["north", "south", "east", "west"], n)
    smoker = rng.random(n) < np.where(city == "north", 0.4, 0.25)
    base = np.where(city == "east", 0.05, 0.1)
    odds = base / (1 - base) * np.where(smoker, 2.5, 1.0)
    cancer = rng.random(n) < odds / (1 + odds)
    return pd.DataFrame(
        {
            "city": city,
            "smoker": np.where(smoker, "yes", "no"),
            "cancer": np.where(cancer, "yes", "no"),
        }
    )


CITY_SCHEMA = Schema(
    {
        "city": Column("city", "category", codes=("east", "north", "south", "west")),
        "smoker": Column("smoker", "category", codes=("no", "yes")),
        "cancer": Column("cancer", "category", codes=("no", "yes")),
    }
)


@pytest.mark.parametrize("sizes", [(900, 300, 1500), (200, 700, 60, 400, 1100)])
def test_mantel_haenszel_matches_statsmodels(
    sizes: tuple[int, ...], make_study: StudyFactory
) -> None:
    from statsmodels.stats.contingency_tables import StratifiedTable

    rng = np.random.default_rng(len(sizes))
    frames = {f"h{i}": _cities(rng, n) for i, n in enumerate(sizes)}
    pooled = pd.concat(frames.values())
    ours = make_study(frames, schema=CITY_SCHEMA).mantel_haenszel("smoker", "cancer", "city")
    tables = [
        pd.crosstab(part.smoker, part.cancer)
        .reindex(index=["yes", "no"], columns=["yes", "no"])
        .to_numpy()
        for _, part in pooled.groupby("city")
    ]
    reference = StratifiedTable(tables)
    assert ours.oddsratio_pooled == pytest.approx(reference.oddsratio_pooled, rel=1e-6)
    assert ours.logodds_pooled_se == pytest.approx(reference.logodds_pooled_se, rel=1e-6)
    np.testing.assert_allclose(ours.conf_int(), reference.oddsratio_pooled_confint(), rtol=1e-6)
    test = reference.test_null_odds(correction=False)
    assert ours.statistic == pytest.approx(test.statistic, rel=1e-6)
    assert ours.pvalue == pytest.approx(test.pvalue, abs=1e-6)
    assert ours.n == len(pooled) and ours.strata == 4
    assert "pooled odds ratio" in ours.summary()


def test_mantel_haenszel_needs_binary_columns_and_k_records() -> None:
    import mpcstats

    rng = np.random.default_rng(1)
    frames = {f"h{i}": _cities(rng, 2) for i in range(3)}
    study = mpcstats.LocalSimulator(frames, schema=CITY_SCHEMA, policy=mpcstats.Policy(k=10))
    with pytest.raises(mpcstats.ConfigurationError, match="'city' must have two levels"):
        study.mantel_haenszel("city", "cancer", "smoker")
    with pytest.raises(mpcstats.PolicyError, match="at least k = 10 records"):
        study.mantel_haenszel("smoker", "cancer", "city")
