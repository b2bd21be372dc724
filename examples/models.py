"""Models across hospitals, with nothing but the approved outputs revealed.

1. Device agreement: a bedside jaundice meter against the laboratory bilirubin (Bland-Altman
   and a paired t test), on :func:`mpcstats.datasets.jaundice`.
2. Length of stay against age, sex and comorbidity (OLS with robust standard errors), on
   :func:`mpcstats.datasets.hospitals`.
3. Smoking and lung cancer across three cities (logistic regression adjusted for city, a
   chi-square test of independence, and the Mantel-Haenszel odds ratio stratified by city).

Each secure result is printed beside statsmodels/scipy on the pooled data.
Run: python examples/models.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

import mpcstats
from mpcstats import Column, Schema, datasets

rng = np.random.default_rng(7)

CITIES = Schema(
    {
        "city": Column("city", "category", codes=("north", "harbour", "valley")),
        "smoker": Column("smoker", "bool"),
        "cancer": Column("cancer", "bool"),
        "age": Column("age", "int", 0, 110),
    }
)


def cities(n: int, city: str, baseline: float) -> pd.DataFrame:
    smoker = rng.integers(0, 2, n)
    age = rng.integers(35, 90, n)
    eta = baseline + 1.3 * smoker + 0.04 * (age - 60)
    return pd.DataFrame(
        {
            "city": city,
            "smoker": smoker,
            "age": age,
            "cancer": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int),
        }
    )


def line(name: str, secure: float, plain: float) -> None:
    print(f"{name:<34} secure {secure:14.8f}   plaintext {plain:14.8f}")


def main() -> None:
    frames, schema = datasets.jaundice(rows=[400, 650, 220], seed=7)
    # pairs with both readings: a baby without a bedside reading is left out, as in the study
    pooled = pd.concat(frames.values()).dropna(subset=["meter", "lab"])
    study = mpcstats.LocalSimulator(frames, schema=schema)
    agreement = study.bland_altman("meter", "lab")
    print(agreement.summary())
    difference = pooled.meter - pooled.lab
    line("bias meter - lab", agreement.bias, difference.mean())
    line(
        "upper limit of agreement", agreement.limits[1], difference.mean() + 1.96 * difference.std()
    )
    paired = study.ttest("meter", "lab")
    line("paired t", paired.statistic, stats.ttest_rel(pooled.meter, pooled.lab).statistic)
    print()

    frames, schema = datasets.hospitals(rows=[1500, 2500, 600], seed=7)
    pooled = pd.concat(frames.values(), ignore_index=True)
    formula = "los ~ age + C(sex) + comorbidities"
    fit = mpcstats.LocalSimulator(frames, schema=schema).ols(formula, cov_type="HC1")
    print(fit.summary())
    reference = smf.ols(formula, pooled).fit(cov_type="HC1")
    for name in fit.params.index:
        line(f"coef {name}", fit.params[name], reference.params[name])
        line(f"robust se {name}", fit.bse[name], reference.bse[name])
    print()

    frames = {
        "north": cities(900, "north", -3.2),
        "harbour": cities(1200, "harbour", -2.7),
        "valley": cities(700, "valley", -3.5),
    }
    pooled = pd.concat(frames.values(), ignore_index=True)
    study = mpcstats.LocalSimulator(frames, schema=CITIES)
    formula = "cancer ~ smoker + age + C(city)"
    logit = study.logit(formula)
    print(logit.summary())
    reference = smf.logit(formula, pooled).fit(disp=0)
    line(
        "odds ratio of smoking",
        float(np.exp(logit.params["smoker"])),
        float(np.exp(reference.params["smoker"])),
    )
    chi2 = study.chi2("smoker", "cancer")
    table = pd.crosstab(pooled.smoker, pooled.cancer)
    line(
        "chi-square smoking x cancer",
        chi2.statistic,
        stats.chi2_contingency(table).statistic,  # both with Yates' correction (2 x 2)
    )
    pooled_or = study.mantel_haenszel("smoker", "cancer", "city")
    print(pooled_or.summary())
    by_city = [  # exposed first, cases first: [[a, b], [c, d]] per city
        pd.crosstab(part.smoker, part.cancer).reindex(index=[1, 0], columns=[1, 0]).to_numpy()
        for _, part in pooled.groupby("city")
    ]
    stratified = StratifiedTable(by_city)
    line("Mantel-Haenszel odds ratio", pooled_or.oddsratio_pooled, stratified.oddsratio_pooled)
    line(
        "CMH chi-square",
        pooled_or.statistic,
        stratified.test_null_odds(correction=False).statistic,
    )


if __name__ == "__main__":
    main()
