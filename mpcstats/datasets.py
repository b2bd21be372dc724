"""Synthetic hospital data with its data dictionary, so a first study needs no data of its own.

Each generator returns ``(frames, schema)``: one DataFrame per hospital, keyed by name
(``hospital_a``, ``hospital_b``, ...), and the :class:`~mpcstats.Schema` the federation would
declare for them. The same seed gives the same data. Values lie within realistic clinical
ranges, hospitals differ in case mix, and some columns have missing values, as real extracts
do; each generator's docstring lists them.

>>> frames, schema = mpcstats.datasets.hospitals(n_hospitals=3, rows=2000, seed=0)
>>> study = mpcstats.LocalSimulator(frames, schema=schema)
>>> study.describe("bmi", where="age >= 65", by="sex").summary()

``rows`` is each hospital's number of records, or a list of ``n_hospitals`` sizes, one each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from mpcstats._errors import ConfigurationError
from mpcstats.stats.schema import Column, Schema

__all__ = ["elderly", "hospitals", "jaundice", "pneumonia", "tumours", "waiting_times"]

Frames = dict[str, pd.DataFrame]
Rows = int | Sequence[int]

SEXES = ("F", "M")
DISTRICTS = ("north", "south", "east", "west")
TUMOURS = ("lung", "breast", "colorectal", "prostate", "melanoma", "sarcoma")
TUMOUR_SHARES = (0.3, 0.25, 0.2, 0.17, 0.075, 0.005)  # sarcoma is rare: small cells
AGE_BANDS = ("<1", "1-4", "5-9", "10-15")
SEASONS = ("winter", "spring", "summer", "autumn")
SPECIALTIES = ("cardiology", "dermatology", "neurology", "ophthalmology", "orthopaedics")


def hospitals(n_hospitals: int = 3, rows: Rows = 2000, seed: int = 0) -> tuple[Frames, Schema]:
    """A general inpatient cohort: one row per admission.

    Columns: ``age`` (years), ``sex``, ``district`` (each hospital draws mostly from its own),
    ``comorbidities`` (count), ``los`` (length of stay in days, longer with age, male sex and
    comorbidities), ``bmi`` (kg/m2), ``smoker`` (0/1), ``crp`` (C-reactive protein, mg/L) and
    ``tumour`` (the primary site of the patients admitted with cancer).

    Missing: ``bmi`` (about 10 %), ``smoker`` (8 %) and ``crp`` (20 %, not ordered); ``tumour``
    is missing for the patients without cancer (about 88 %).
    """
    schema = Schema(
        {
            "age": Column("age", "int", 0, 110, unit="years"),
            "sex": Column("sex", "category", codes=SEXES),
            "district": Column("district", "category", codes=DISTRICTS),
            "comorbidities": Column("comorbidities", "int", 0, 10),
            "los": Column("los", "int", 0, 365, unit="days"),
            "bmi": Column("bmi", "float", 10, 60, precision=0.1, unit="kg/m2"),
            "smoker": Column("smoker", "bool"),
            "crp": Column("crp", "float", 0, 500, precision=0.1, unit="mg/L"),
            "tumour": Column("tumour", "category", codes=TUMOURS),
        }
    )

    def admissions(rng: np.random.Generator, index: int, n: int) -> pd.DataFrame:
        age = _clipped(rng.normal(55 + 4 * index, 19, n), 0, 104, 0)
        male = rng.random(n) < 0.48
        comorbidities = np.minimum(rng.poisson(0.3 + age / 40), 10)
        los = np.minimum(rng.poisson(1 + 0.05 * age + 0.8 * male + 1.2 * comorbidities), 365)
        cancer = rng.random(n) < 0.12
        return pd.DataFrame(
            {
                "age": age.astype(np.int64),
                "sex": np.where(male, "M", "F"),
                "district": rng.choice(DISTRICTS, n, p=_home_weights(index)),
                "comorbidities": comorbidities,
                "los": los,
                "bmi": _missing(rng, _clipped(rng.normal(27, 4.5, n), 10, 60, 1), 0.10),
                "smoker": _missing(rng, (rng.random(n) < 0.22).astype(float), 0.08),
                "crp": _missing(rng, _clipped(rng.gamma(1.2, 15, n), 0, 500, 1), 0.20),
                "tumour": _category(rng.choice(TUMOURS, n, p=TUMOUR_SHARES), cancer),
            }
        )

    return _generate(admissions, n_hospitals, rows, seed), schema


def pneumonia(n_hospitals: int = 3, rows: Rows = 400, seed: int = 0) -> tuple[Frames, Schema]:
    """Children (0-15 years) admitted with community-acquired pneumonia: infection markers by
    age band and season.

    Columns: ``age_band`` ("<1", "1-4", "5-9", "10-15"), ``season``, ``sex``, ``crp``
    (C-reactive protein, mg/L), ``pct`` (procalcitonin, ng/mL) and ``wbc`` (white cells,
    10^9/L). Over a third of the cases are bacterial (more in winter), with markedly higher
    markers; infants have higher white cell counts.

    Missing: ``pct`` (about 30 %: not every hospital orders it) and ``wbc`` (5 %).
    """
    schema = Schema(
        {
            "age_band": Column("age_band", "category", codes=AGE_BANDS, unit="years"),
            "season": Column("season", "category", codes=SEASONS),
            "sex": Column("sex", "category", codes=SEXES),
            "crp": Column("crp", "float", 0, 500, precision=0.1, unit="mg/L"),
            "pct": Column("pct", "float", 0, 200, precision=0.01, unit="ng/mL"),
            "wbc": Column("wbc", "float", 0, 80, precision=0.1, unit="10^9/L"),
        }
    )

    def children(rng: np.random.Generator, index: int, n: int) -> pd.DataFrame:
        band = rng.choice(len(AGE_BANDS), n, p=[0.2, 0.45, 0.22, 0.13])
        season = rng.choice(len(SEASONS), n, p=[0.4, 0.25, 0.1, 0.25])
        bacterial = rng.random(n) < np.array([0.45, 0.33, 0.25, 0.35])[season]
        crp = np.where(bacterial, rng.gamma(2.5, 40, n), rng.gamma(1.5, 12, n))
        pct = np.where(bacterial, rng.lognormal(1.0, 1.0, n), rng.lognormal(-1.6, 0.8, n))
        wbc = np.where(bacterial, rng.normal(17, 5, n), rng.normal(10, 3.5, n)) + 3 * (band == 0)
        return pd.DataFrame(
            {
                "age_band": np.asarray(AGE_BANDS)[band],
                "season": np.asarray(SEASONS)[season],
                "sex": rng.choice(SEXES, n, p=[0.45, 0.55]),
                "crp": _clipped(crp, 0, 500, 1),
                "pct": _missing(rng, _clipped(pct, 0, 200, 2), 0.30),
                "wbc": _missing(rng, _clipped(wbc, 1, 80, 1), 0.05),
            }
        )

    return _generate(children, n_hospitals, rows, seed), schema


def tumours(n_hospitals: int = 3, rows: Rows = 1500, seed: int = 0) -> tuple[Frames, Schema]:
    """A cancer registry: one row per newly diagnosed tumour, for the distribution of tumour
    types across hospitals and districts.

    Columns: ``tumour`` (lung, breast, colorectal, prostate, melanoma, and sarcoma, which is
    rare, so its cells are small), ``district`` (each hospital draws mostly from its own),
    ``sex`` (breast tumours are nearly all in women, prostate in men), ``age`` (years) and
    ``stage`` (1-4).

    Missing: ``stage`` (about 12 %, not yet staged).
    """
    schema = Schema(
        {
            "tumour": Column("tumour", "category", codes=TUMOURS),
            "district": Column("district", "category", codes=DISTRICTS),
            "sex": Column("sex", "category", codes=SEXES),
            "age": Column("age", "int", 0, 110, unit="years"),
            "stage": Column("stage", "int", 1, 4),
        }
    )
    share_male = np.array([0.55, 0.01, 0.55, 1.0, 0.55, 0.55])  # in the order of TUMOURS

    def registry(rng: np.random.Generator, index: int, n: int) -> pd.DataFrame:
        site = rng.choice(len(TUMOURS), n, p=TUMOUR_SHARES)
        male = rng.random(n) < share_male[site]
        return pd.DataFrame(
            {
                "tumour": np.asarray(TUMOURS)[site],
                "district": rng.choice(DISTRICTS, n, p=_home_weights(index)),
                "sex": np.where(male, "M", "F"),
                "age": _clipped(rng.normal(67, 12, n), 18, 100, 0).astype(np.int64),
                "stage": _missing(rng, rng.choice(4, n, p=[0.3, 0.25, 0.25, 0.2]) + 1.0, 0.12),
            }
        )

    return _generate(registry, n_hospitals, rows, seed), schema


def elderly(n_hospitals: int = 3, rows: Rows = 1500, seed: int = 0) -> tuple[Frames, Schema]:
    """Residents aged 65 and over: BMI by district, sex and age.

    Columns: ``age`` (65-105 years), ``sex`` (more women at older ages), ``district`` (each
    hospital draws mostly from its own) and ``bmi`` (kg/m2, falling with age, a little higher
    in the east and lower in the north).

    Missing: ``bmi`` (about 8 %, not measured).
    """
    schema = Schema(
        {
            "age": Column("age", "int", 65, 110, unit="years"),
            "sex": Column("sex", "category", codes=SEXES),
            "district": Column("district", "category", codes=DISTRICTS),
            "bmi": Column("bmi", "float", 10, 60, precision=0.1, unit="kg/m2"),
        }
    )
    district_shift = np.array([-1.0, 0.0, 1.2, 0.3])  # north, south, east, west

    def residents(rng: np.random.Generator, index: int, n: int) -> pd.DataFrame:
        age = np.minimum(65 + rng.gamma(2.0, 6.0, n), 105).astype(np.int64)
        district = rng.choice(len(DISTRICTS), n, p=_home_weights(index))
        bmi = rng.normal(28 - 0.08 * (age - 65) + district_shift[district], 4.5)
        return pd.DataFrame(
            {
                "age": age,
                "sex": np.where(rng.random(n) < 0.5 + 0.005 * (age - 65), "F", "M"),
                "district": np.asarray(DISTRICTS)[district],
                "bmi": _missing(rng, _clipped(bmi, 10, 60, 1), 0.08),
            }
        )

    return _generate(residents, n_hospitals, rows, seed), schema


def jaundice(n_hospitals: int = 3, rows: Rows = 500, seed: int = 0) -> tuple[Frames, Schema]:
    """Neonatal jaundice: a bedside bilirubin meter against the laboratory, for device
    agreement (Bland-Altman, a paired t test).

    Columns: ``gestation`` (weeks, 34-42), ``sex``, ``lab`` (serum bilirubin, umol/L) and
    ``meter`` (the bedside reading of the same baby: about 3 % above the laboratory, plus
    4 umol/L, with a spread of 12 umol/L).

    Missing: ``meter`` (about 5 %, no bedside reading).
    """
    schema = Schema(
        {
            "gestation": Column("gestation", "int", 34, 42, unit="weeks"),
            "sex": Column("sex", "category", codes=SEXES),
            "lab": Column("lab", "float", 0, 500, precision=0.1, unit="umol/L"),
            "meter": Column("meter", "float", 0, 500, precision=0.1, unit="umol/L"),
        }
    )

    def neonates(rng: np.random.Generator, index: int, n: int) -> pd.DataFrame:
        lab = _clipped(rng.gamma(6, 25, n), 10, 480, 1)
        meter = _clipped(lab * 1.03 + rng.normal(4, 12, n), 0, 500, 1)
        return pd.DataFrame(
            {
                "gestation": rng.choice(np.arange(34, 43), n, p=_gestation_weights()),
                "sex": rng.choice(SEXES, n, p=[0.49, 0.51]),
                "lab": lab,
                "meter": _missing(rng, meter, 0.05),
            }
        )

    return _generate(neonates, n_hospitals, rows, seed), schema


def waiting_times(n_hospitals: int = 3, rows: Rows = 2000, seed: int = 0) -> tuple[Frames, Schema]:
    """Outpatient referrals: days from referral to the first appointment.

    Columns: ``specialty``, ``urgent`` (0/1, about 15 %: seen within days), ``age`` (years),
    ``sex``, ``distance_km`` (home to clinic) and ``wait_days`` (routine waits differ by
    specialty, from about 35 days in dermatology to 90 in orthopaedics, and by hospital).

    Missing: ``distance_km`` (about 10 %, no usable address).
    """
    schema = Schema(
        {
            "specialty": Column("specialty", "category", codes=SPECIALTIES),
            "urgent": Column("urgent", "bool"),
            "age": Column("age", "int", 0, 110, unit="years"),
            "sex": Column("sex", "category", codes=SEXES),
            "distance_km": Column("distance_km", "float", 0, 300, precision=0.1, unit="km"),
            "wait_days": Column("wait_days", "int", 0, 365, unit="days"),
        }
    )
    routine = np.array([60.0, 35.0, 50.0, 70.0, 90.0])  # in the order of SPECIALTIES

    def referrals(rng: np.random.Generator, index: int, n: int) -> pd.DataFrame:
        specialty = rng.choice(len(SPECIALTIES), n)
        urgent = rng.random(n) < 0.15
        mean = np.where(urgent, 7.0, routine[specialty] * (0.8 + 0.15 * index))
        waits = rng.negative_binomial(4, 4 / (4 + mean))  # overdispersed counts of days
        return pd.DataFrame(
            {
                "specialty": np.asarray(SPECIALTIES)[specialty],
                "urgent": urgent.astype(np.int64),
                "age": _clipped(rng.normal(52, 20, n), 0, 100, 0).astype(np.int64),
                "sex": rng.choice(SEXES, n),
                "distance_km": _missing(rng, _clipped(rng.gamma(2, 8, n), 0, 300, 1), 0.10),
                "wait_days": np.minimum(waits, 365),
            }
        )

    return _generate(referrals, n_hospitals, rows, seed), schema


Hospital = Callable[[np.random.Generator, int, int], pd.DataFrame]


def _generate(hospital: Hospital, n_hospitals: int, rows: Rows, seed: int) -> Frames:
    """``hospital(rng, index, size)`` for each hospital, in order, from one seeded stream."""
    sizes = _sizes(n_hospitals, rows)
    rng = np.random.default_rng(seed)
    return {_name(i): hospital(rng, i, size) for i, size in enumerate(sizes)}


def _sizes(n_hospitals: int, rows: Rows) -> list[int]:
    sizes = [rows] * n_hospitals if isinstance(rows, int) else [int(r) for r in rows]
    if not 2 <= n_hospitals <= 26 or len(sizes) != n_hospitals:
        raise ConfigurationError(
            f"between 2 and 26 hospitals, with one size each: not {n_hospitals} hospitals "
            f"of rows={rows!r}"
        )
    if min(sizes) < 1:
        raise ConfigurationError(f"every hospital has at least one row, not rows={rows!r}")
    return sizes


def _name(index: int) -> str:
    return f"hospital_{chr(ord('a') + index)}"


def _home_weights(index: int) -> list[float]:
    """District weights of a hospital: most of its patients live in its own district."""
    weights = [0.15] * len(DISTRICTS)
    weights[index % len(DISTRICTS)] = 0.55
    return weights


def _gestation_weights() -> np.ndarray:
    """Weeks 34-42: most babies are born at term (37-41 weeks)."""
    weights = np.array([2, 3, 5, 10, 18, 25, 22, 12, 3], dtype=float)
    return weights / weights.sum()


def _clipped(values: np.ndarray, lo: float, hi: float, decimals: int) -> np.ndarray:
    """Values within a column's declared range, rounded to its precision."""
    return np.round(np.clip(values, lo, hi), decimals)


def _missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """Values with about ``share`` of them missing (NaN), at random."""
    return np.where(rng.random(len(values)) < share, np.nan, values)


def _category(codes: np.ndarray, present: np.ndarray) -> pd.Series:
    """Codes where ``present``, missing elsewhere."""
    return pd.Series(codes).where(present)
