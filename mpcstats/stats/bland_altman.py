"""Agreement of two measurement methods: ``bland_altman``.

The bias (mean of a - b) and the 95 % limits of agreement, bias +/- 1.96 sd, from the moments
of the differences on the shared precision grid (:func:`~mpcstats.stats.moments.moments_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan
from mpcstats.stats.moments import Moments, differences, moments_plan
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import BlandAltmanResult
from mpcstats.stats.schema import Schema

__all__ = ["BlandAltman"]


@dataclass(frozen=True)
class BlandAltman(Analysis):
    """Bland–Altman agreement of ``method_a`` and ``method_b``."""

    name = "bland_altman"
    leakage = Leakage(
        analyst="n, bias and sd of the differences, if n is at least k and the pairs excluded "
        "for a missing value are none or at least k"
    )

    method_a: str
    method_b: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.method_a, self.method_b))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[BlandAltmanResult]:
        def result(found: Moments) -> BlandAltmanResult:
            n, bias, sd = (float(v) for v in found.frame.iloc[0][["n", "mean", "std"]])
            limits = (bias - 1.96 * sd, bias + 1.96 * sd)
            return BlandAltmanResult(bias, sd, limits, n, found.notes)

        values = differences(schema, self.method_a, self.method_b)
        return moments_plan(values, schema, policy, self.where, None, result)
