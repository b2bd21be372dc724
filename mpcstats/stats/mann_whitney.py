"""The Mann–Whitney U test: ``mann_whitney``, with the AUC, exact for values on the grid.

Each party makes the histogram of each group on the declared precision grid; with the pooled
histograms h_A and h_B secret, 2U = h_A . (2 cumsum(h_B) - h_B) is one secure inner product
(ties count half), and the tie term sum(t^3 - t), t = h_A + h_B, two more. The p-value is
scipy's ``method="asymptotic"`` with its continuity correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, PRODUCT_MARGIN, field_bits
from mpcstats.stats.local import level_codes, row_weights, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import MannWhitneyResult
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import pool, release

__all__ = ["MannWhitney"]

_MAX_GRID = 2_000_000  # grid points of the pooled histograms


@dataclass(frozen=True)
class MannWhitney(Analysis):
    """Mann–Whitney U test of a numeric column between the two levels of ``by``."""

    name = "mann_whitney"
    leakage = Leakage(analyst="U, both group sizes and the tie term")

    column: str
    by: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column, self.by))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[MannWhitneyResult]:
        from scipy import stats

        column, by = self.column, self.by
        spec = schema[column]
        levels = schema[by].levels
        if len(levels) != 2:
            raise ConfigurationError(f"mann_whitney compares two groups; {by!r} has {len(levels)}")
        low, high = (int(v) for v in spec.grid(np.array([spec.lo, spec.hi])))
        size = high - low + 1
        if size > _MAX_GRID:
            raise ConfigurationError(
                f"column {column!r} has {size} grid points: declare a coarser precision"
            )
        value_bits = 3 * COUNT_BITS + 2

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            rows, _ = select(frame, schema, self.where, [column, by], collapse=True)
            grid = spec.grid(rows[column].to_numpy(float)) - low
            codes, weights = level_codes(rows[by], levels), row_weights(rows)
            local = np.stack(
                [
                    np.bincount(
                        grid[codes == g],
                        None if weights is None else weights[codes == g],
                        minlength=size,
                    ).astype(np.int64)
                    for g in (0, 1)
                ]
            )
            hist = (await pool(session, local, COUNT_BITS)).with_bits(COUNT_BITS)
            first, second = hist[0], hist[1]
            below = (second.cumsum() * 2 - second).with_bits(COUNT_BITS + 1)
            twice_u = await P.dot(session, first, below)
            ties = (first + second).with_bits(COUNT_BITS)
            cubes = await P.dot(session, await P.mul(session, ties, ties), ties)
            sizes = P.concatenate([first.sum().reshape(1), second.sum().reshape(1)])
            return {
                "twice_u": (release(session, twice_u), 0),
                "cubes": (release(session, cubes.with_bits(value_bits)), 0),
                "sizes": (release(session, sizes), 0),
            }

        def result(out: dict[str, Any]) -> MannWhitneyResult:
            n1, n2 = (float(v) for v in out["sizes"])
            u = float(out["twice_u"]) / 2
            total = n1 + n2
            tie_term = float(out["cubes"]) - total  # sum over values of t^3 - t
            sigma = math.sqrt(n1 * n2 / 12 * ((total + 1) - tie_term / (total * (total - 1))))
            centre = u - n1 * n2 / 2
            z = (abs(centre) - 0.5) / sigma  # continuity correction, as scipy's default
            pvalue = float(min(1.0, 2 * stats.norm.sf(z)))
            return MannWhitneyResult(u, pvalue, u / (n1 * n2), n1, n2)

        filters.parse(self.where, schema)
        return Plan(program, field_bits(2 * value_bits + PRODUCT_MARGIN), result)
