"""t tests: ``ttest``, paired (one analysis) or of two groups (from ``describe``).

The paired test takes the moments of the differences a - b on the shared precision grid
(:func:`~mpcstats.stats.moments.moments_plan`). The two-sample test (Welch, or Student with
``equal_var=True``) is computed by the analyst from a :class:`~mpcstats.stats.moments.Describe`
by group, which is what the parties run and audit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from mpcstats._errors import ConfigurationError
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan
from mpcstats.stats.moments import Moments, differences, moments_plan
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import TTestResult
from mpcstats.stats.schema import Schema

__all__ = ["PairedTTest", "check_two_groups", "two_sample"]


@dataclass(frozen=True)
class PairedTTest(Analysis):
    """The paired t test of ``column - other``."""

    name = "ttest"
    leakage = Leakage(
        analyst="n, mean and variance of the differences, if n is at least k and the pairs "
        "excluded for a missing value are none or at least k"
    )

    column: str
    other: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column, self.other))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[TTestResult]:
        from scipy import stats

        def result(found: Moments) -> TTestResult:
            n, mean, std = found.frame.iloc[0][["n", "mean", "std"]]
            statistic = mean / (std / math.sqrt(n))
            pvalue = 2 * stats.t.sf(abs(statistic), n - 1)
            return TTestResult(float(statistic), float(pvalue), float(n - 1), "paired", found.notes)

        values = differences(schema, self.column, self.other)
        return moments_plan(values, schema, policy, self.where, None, result)


def check_two_groups(schema: Schema, by: str) -> tuple[object, object]:
    """The two levels of ``by``, which a two-sample test compares."""
    levels = schema[by].levels
    if len(levels) != 2:
        raise ConfigurationError(f"ttest compares two groups; {by!r} has {len(levels)} levels")
    return levels[0], levels[1]


def two_sample(frame: pd.DataFrame, levels: tuple[object, object], equal_var: bool) -> TTestResult:
    """Welch's (or Student's) t test from the n, mean and std of each group in ``frame``."""
    from scipy import stats

    (n1, m1, s1), (n2, m2, s2) = (frame.loc[lv, ["n", "mean", "std"]] for lv in levels)
    test = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=equal_var)
    if equal_var:
        kind, df = "Student", n1 + n2 - 2
    else:  # Welch-Satterthwaite
        a, b = s1**2 / n1, s2**2 / n2
        kind, df = "Welch", (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    return TTestResult(float(test.statistic), float(test.pvalue), float(df), kind, [])
