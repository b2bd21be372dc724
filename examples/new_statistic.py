"""A new statistic in one module: the prevalence of a 0/1 column with its Wilson interval.

docs/architecture.md walks through this file. An analysis is a frozen dataclass of JSON
values, registered by its ``name``; ``_plan`` checks the request (it runs at the analyst and at
every party), says what each party aggregates, the secure finish, and how the analyst builds
the result. Run it: ``python examples/new_statistic.py``.

A daemon runs only the analyses of the mpcstats it has installed: a new statistic reaches a
federation as a module of the package (imported by ``mpcstats/stats/study.py``), never as code
sent by an analyst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import mpcstats
from mpcstats._errors import ConfigurationError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, GATE_MARGIN, field_bits
from mpcstats.stats.local import row_count, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import gate_at_least, open_gate, pool


@dataclass(frozen=True)
class PrevalenceResult:
    """The share of records with ``column`` = 1, with a Wilson 95 % interval."""

    column: str
    n: float
    cases: float
    notes: list[str]

    @property
    def prevalence(self) -> float:
        return self.cases / self.n

    def conf_int(self, alpha: float = 0.05) -> tuple[float, float]:
        from scipy import stats

        z = stats.norm.ppf(1 - alpha / 2)
        p, n = self.prevalence, self.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half


@dataclass(frozen=True)
class Prevalence(Analysis):
    """The prevalence of a 0/1 column among the records passing ``where``."""

    name = "example_prevalence"
    leakage = Leakage(analyst="n and the number of cases, if n is at least k")

    column: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        # 0. the records it uses: those passing the filter, complete in the column
        return Cohort(self.where, (self.column,))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[PrevalenceResult]:
        # 1. check: the analyst and every party refuse the same requests
        spec = schema[self.column]
        if spec.kind != "bool" and (spec.lo, spec.hi) != (0, 1):
            raise ConfigurationError(f"prevalence: {self.column!r} is not a 0/1 column")
        filters.parse(self.where, schema)
        modulus = field_bits(2 * COUNT_BITS + GATE_MARGIN)

        # 2. each party aggregates its own rows: [records, cases], exactly
        def local(frame: Table) -> np.ndarray:
            rows, _ = select(frame, schema, self.where, [self.column])
            return np.array([row_count(rows), int(rows[self.column].sum())], dtype=np.int64)

        # 3. the secure finish: pool in one round, release both only if n >= k
        async def program(session: Session, frame: Table) -> dict[str, Any]:
            pooled = await pool(session, local(frame), COUNT_BITS)
            n, cases = pooled[0:1], pooled[1:2]
            return await gate_at_least(session, n, [n, cases], policy.k)

        # 4. the analyst's result from what was released
        def result(out: dict[str, Any]) -> PrevalenceResult:
            passed, (n, cases) = open_gate(PrimeField.with_bits(modulus), out, 2)
            if not passed[0]:
                return PrevalenceResult(self.column, math.nan, math.nan, ["n is below k"])
            return PrevalenceResult(self.column, float(n[0]), float(cases[0]), [])

        return Plan(program, modulus, result)


def main() -> None:
    rng = np.random.default_rng(7)
    hospitals = {
        name: pd.DataFrame({"age": rng.integers(20, 90, size), "smoker": rng.integers(0, 2, size)})
        for name, size in [("hosp_a", 400), ("hosp_b", 250), ("hosp_c", 600)]
    }
    study = mpcstats.LocalSimulator(hospitals)
    found = study.run_analysis(Prevalence("smoker", where="age >= 65"))
    pooled = pd.concat(hospitals.values())
    expected = pooled.loc[pooled.age >= 65, "smoker"].mean()
    low, high = found.conf_int()
    print(f"smokers aged 65+  secure {found.prevalence:.6f}  plaintext {expected:.6f}")
    print(f"Wilson 95% interval: {low:.4f} to {high:.4f} (n = {found.n:g})")


if __name__ == "__main__":
    main()
