"""Distributions across hospitals: the first products of a health data space.

Three synthetic scenarios from :mod:`mpcstats.datasets`, each computed over the union of all
hospitals' records with nothing but the approved output revealed (cells below k = 5 suppressed
inside the computation):

1. tumour types by district, across four hospitals (a crosstab);
2. C-reactive protein in children with pneumonia (describe and quartiles);
3. BMI of elderly residents (a histogram, and the mean by sex).

Run: python examples/distributions.py
"""

from __future__ import annotations

import pandas as pd

import mpcstats
from mpcstats import datasets


def pooled(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All hospitals' rows in one table: what only a simulation can show, for comparison."""
    return pd.concat(frames.values(), ignore_index=True)


def main() -> None:
    frames, schema = datasets.tumours(n_hospitals=4, rows=[2500, 6000, 1200, 900], seed=42)
    with mpcstats.LocalSimulator(frames, schema=schema) as study:
        tumours = study.crosstab("tumour", "district")
        print(tumours.summary(), "\n")

    frames, schema = datasets.pneumonia(n_hospitals=4, seed=42)
    with mpcstats.LocalSimulator(frames, schema=schema) as study:
        crp = study.describe("crp")
        print(crp.summary(), "\n")
        quartiles = study.quantiles("crp", [0.25, 0.5, 0.75])
        print(quartiles.summary(), "\n")
        plain = pooled(frames).crp
        print(f"CRP mean  secure {crp.mean:.6f}   plaintext {plain.mean():.6f}")
        print(f"CRP median secure {quartiles.values[0.5]:.6f}   plaintext {plain.median():.6f}")

    frames, schema = datasets.elderly(n_hospitals=4, seed=42)
    with mpcstats.LocalSimulator(frames, schema=schema) as study:
        elderly = study.histogram("bmi", bins=[10, 18.5, 25, 30, 35, 40, 60], where="age >= 75")
        print(elderly.summary(), "\n")
        by_sex = study.describe("bmi", where="age >= 75", by="sex")
        print(by_sex.summary())
        old = pooled(frames).query("age >= 75")
        for sex in ("F", "M"):
            secure, plain = by_sex.frame.loc[sex, "mean"], old[old.sex == sex].bmi.mean()
            print(f"BMI {sex} mean secure {secure:.6f}   plaintext {plain:.6f}")


if __name__ == "__main__":
    main()
