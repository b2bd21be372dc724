"""Pearson's chi-square test of independence: ``chi2``, computed inside MPC.

Each party counts its records per cell of the two-way table; the tables are pooled, and the
statistic chi2 = n sum O^2 / (R C) - n is computed from the secret pooled table. As scipy's
``chi2_contingency``, a 2 x 2 table gets Yates' continuity correction unless
``correction=False``: chi2 = n max(|ad - bc| - n/2, 0)^2 / (R1 R2 C1 C2). The table itself is
never released.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, DIVISION_MARGIN, FRAC, field_bits
from mpcstats.stats.local import cell_counts, level_codes, row_weights, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import Chi2Result
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import at_least_public, pool, release

__all__ = ["Chi2"]


@dataclass(frozen=True)
class Chi2(Analysis):
    """Pearson's chi-square test of independence of two category columns."""

    name = "chi2"
    leakage = Leakage(
        analyst="the statistic, the degrees of freedom, n, and how many cells have an expected "
        "count below 5 (for the usual warning); not the table",
        parties="whether a row or column of the table is empty (the analysis stops then)",
    )

    row: str
    col: str
    where: str | None = None
    correction: bool = True

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.row, self.col))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[Chi2Result]:
        from scipy import stats

        row, col = self.row, self.col
        rows_levels, col_levels = schema[row].levels, schema[col].levels
        shape = (len(rows_levels), len(col_levels))
        yates = self.correction and shape == (2, 2)
        modulus = field_bits(8 * COUNT_BITS + 4 * FRAC + DIVISION_MARGIN)

        def local(rows: pd.DataFrame) -> Any:
            return cell_counts(
                [level_codes(rows[row], rows_levels), level_codes(rows[col], col_levels)],
                list(shape),
                row_weights(rows),
            )

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            rows, _ = select(frame, schema, self.where, [row, col], collapse=True)
            observed = (await pool(session, local(rows), COUNT_BITS)).with_bits(COUNT_BITS)
            row_sums = observed.sum(axis=1).with_bits(COUNT_BITS)
            col_sums = observed.sum(axis=0).with_bits(COUNT_BITS)
            n = row_sums.sum().with_bits(COUNT_BITS)
            margins = P.concatenate([row_sums, col_sums])
            empty = (await P.is_zero(session, margins)).sum().reshape(1)
            if (await at_least_public(session, empty, 1, "an empty margin"))[0]:
                raise ConfigurationError(
                    f"chi2({row!r}, {col!r}): a row or column of the table is empty"
                )
            expected_times_n = await P.mul(
                session, row_sums.reshape(-1, 1), col_sums.reshape(1, -1)
            )
            small = await P.lt(session, expected_times_n.reshape(-1), (5 * n).reshape(1))
            if yates:
                statistic = await _yates_statistic(session, observed, row_sums, col_sums, n)
            else:
                squares = await P.mul(session, observed, observed)
                ratios = await fx.div(
                    session,
                    fx.rescale(squares.reshape(-1), FRAC),
                    fx.rescale(expected_times_n.reshape(-1), FRAC),
                )
                total = await fx.mul(session, ratios.sum(), fx.rescale(n, FRAC))
                statistic = total - fx.rescale(n, FRAC)
            return {
                "statistic": (release(session, statistic), FRAC),
                "n": (release(session, n), 0),
                "small": (release(session, small.sum()), 0),
            }

        def result(out: dict[str, Any]) -> Chi2Result:
            df = (shape[0] - 1) * (shape[1] - 1)
            statistic = max(float(out["statistic"]), 0.0)  # fixed-point rounding near zero
            small = int(out["small"])
            notes = []
            if small:
                notes.append(
                    f"{small} of {shape[0] * shape[1]} cells have an expected count below 5: "
                    "the chi-square approximation may be poor."
                )
                warnings.warn(notes[0], RuntimeWarning, stacklevel=4)
            if yates:
                notes.append("Yates' continuity correction applied (a 2 x 2 table).")
            pvalue = float(stats.chi2.sf(statistic, df))
            return Chi2Result(statistic, pvalue, df, float(out["n"]), notes)

        filters.parse(self.where, schema)
        return Plan(program, modulus, result)


async def _yates_statistic(
    session: Session, observed: Shared, row_sums: Shared, col_sums: Shared, n: Shared
) -> Shared:
    """n max(|ad - bc| - n/2, 0)^2 / (R1 R2 C1 C2) for a 2 x 2 table, in fixed point.

    With u = 2(ad - bc), w = max(u - n, 0) + max(-u - n, 0) = 2 max(|ad - bc| - n/2, 0) (at most
    one term is positive), so both signs come from one batch of comparisons.
    """
    cells = observed.reshape(-1)
    products = await P.mul(session, cells[[0, 1]], cells[[3, 2]])  # ad, bc
    u = 2 * (products[0] - products[1])
    both = P.concatenate([(u - n).reshape(1), (-u - n).reshape(1)])
    negative = await P.ltz(session, both)
    w = (await P.mul(session, 1 - negative, both)).sum().with_bits(both.bits)
    left = P.concatenate([w.reshape(1), row_sums[0:1], col_sums[0:1]])
    right = P.concatenate([w.reshape(1), row_sums[1:2], col_sums[1:2]])
    products = await P.mul(session, left, right)  # w^2, R1 R2, C1 C2
    numerator = await P.mul(session, n.reshape(1), products[0:1])
    denominator = (4 * await P.mul(session, products[1:2], products[2:3])).with_bits(
        4 * COUNT_BITS + 3
    )
    ratio = await fx.div(session, fx.rescale(numerator, FRAC), fx.rescale(denominator, FRAC))
    return ratio[0]
