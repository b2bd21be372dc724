"""Distributions across hospitals: the first products of a health data space.

Three synthetic scenarios, each computed over the union of all hospitals' records with nothing
but the approved output revealed (cells below k = 5 suppressed inside the computation):

1. tumour types by district, across four hospitals (a crosstab);
2. C-reactive protein in children with pneumonia (describe and quartiles);
3. BMI of elderly residents (a histogram, and the mean by sex).

Run: python examples/distributions.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import mpcstats
from mpcstats.stats.schema import Column, Schema

rng = np.random.default_rng(42)
DISTRICTS = ("north", "south", "east", "west")
TUMOURS = ("lung", "breast", "colorectal", "prostate", "melanoma", "sarcoma")

SCHEMA = Schema(
    {
        "age": Column("age", "int", 0, 110, unit="years"),
        "sex": Column("sex", "category", codes=("F", "M")),
        "district": Column("district", "category", codes=DISTRICTS),
        "tumour": Column("tumour", "category", codes=TUMOURS),
        "pneumonia": Column("pneumonia", "bool"),
        "crp": Column("crp", "float", 0, 400, precision=0.1, unit="mg/L"),
        "bmi": Column("bmi", "float", 10, 60, precision=0.1, unit="kg/m2"),
    }
)


def hospital(size: int, district_weights: list[float]) -> pd.DataFrame:
    age = rng.integers(0, 100, size)
    child = age < 16
    pneumonia = rng.random(size) < np.where(child, 0.3, 0.05)
    crp = np.where(pneumonia, rng.gamma(2.0, 30.0, size), rng.gamma(1.2, 4.0, size))
    return pd.DataFrame(
        {
            "age": age,
            "sex": rng.choice(["F", "M"], size),
            "district": rng.choice(DISTRICTS, size, p=district_weights),
            "tumour": rng.choice(TUMOURS, size, p=[0.3, 0.25, 0.2, 0.17, 0.075, 0.005]),
            "pneumonia": pneumonia.astype(int),
            "crp": np.round(np.clip(crp, 0, 400), 1),
            "bmi": np.round(np.clip(rng.normal(27, 4.5, size), 10, 60), 1),
        }
    )


HOSPITALS = {
    "st_anna": hospital(2500, [0.55, 0.15, 0.15, 0.15]),
    "university": hospital(6000, [0.25, 0.25, 0.25, 0.25]),
    "west_clinic": hospital(1200, [0.05, 0.05, 0.1, 0.8]),
    "childrens": hospital(900, [0.3, 0.3, 0.2, 0.2]),
}


def main() -> None:
    pooled = pd.concat(HOSPITALS.values(), ignore_index=True)
    with mpcstats.LocalSimulator(HOSPITALS, schema=SCHEMA) as study:
        tumours = study.crosstab("tumour", "district")
        print(tumours.summary(), "\n")

        children = "age < 16 and pneumonia == 1"
        crp = study.describe("crp", where=children)
        print(crp.summary(), "\n")
        quartiles = study.quantiles("crp", [0.25, 0.5, 0.75], where=children)
        print(quartiles.summary(), "\n")
        plain = pooled.query("age < 16 and pneumonia == 1").crp
        print(f"CRP mean  secure {crp.mean:.6f}   plaintext {plain.mean():.6f}")
        print(f"CRP median secure {quartiles.values[0.5]:.6f}   plaintext {plain.median():.6f}")

        elderly = study.histogram("bmi", bins=[10, 18.5, 25, 30, 35, 40, 60], where="age >= 75")
        print(elderly.summary(), "\n")
        by_sex = study.describe("bmi", where="age >= 75", by="sex")
        print(by_sex.summary())
        old = pooled[pooled.age >= 75]
        for sex in ("F", "M"):
            secure, plain = by_sex.frame.loc[sex, "mean"], old[old.sex == sex].bmi.mean()
            print(f"BMI {sex} mean secure {secure:.6f}   plaintext {plain:.6f}")


if __name__ == "__main__":
    main()
