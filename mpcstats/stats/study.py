"""The analysis API of a study: the same methods on the simulator and on a connected federation.

Each method builds an analysis object (:mod:`mpcstats.stats.analysis`) and runs it; a composite
analysis (describe with quartiles, a t test of two groups, quantiles by group) runs a sequence
of analyses, each one session under its own name. A study is an executor: the subclass says
how a plan reaches the parties (:meth:`Study._execute`); the simulator runs each plan's program
on simulated parties, a federation sends the analysis to the daemons, which plan it themselves.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from mpcstats._errors import ConfigurationError
from mpcstats.stats.analysis import Analysis, Plan, arguments_of, reconstruct
from mpcstats.stats.bland_altman import BlandAltman
from mpcstats.stats.chi2 import Chi2
from mpcstats.stats.correlation import Corr
from mpcstats.stats.counts import Count, Crosstab, Histogram
from mpcstats.stats.extremes import Max, Min
from mpcstats.stats.mann_whitney import MannWhitney
from mpcstats.stats.mantel_haenszel import MantelHaenszel
from mpcstats.stats.models import OLS, Logit, Poisson
from mpcstats.stats.moments import Describe, with_quartiles
from mpcstats.stats.policy import Policy
from mpcstats.stats.quantiles import Quantiles, quantiles_by
from mpcstats.stats.results import (
    BlandAltmanResult,
    Chi2Result,
    CorrResult,
    CountResult,
    CrosstabResult,
    DescribeResult,
    DiscreteResults,
    HistogramResult,
    MannWhitneyResult,
    MantelHaenszelResult,
    OLSResults,
    QuantileResult,
    TTestResult,
)
from mpcstats.stats.schema import Schema
from mpcstats.stats.ttest import PairedTTest, check_two_groups, two_sample

__all__ = ["Study"]


class Study(abc.ABC):
    """Joint statistics over the union of all parties' records.

    Each method's leakage, what the analyst and what the parties learn, is the ``leakage`` of
    the analysis it runs (listed in docs/statistics.md)."""

    schema: Schema
    policy: Policy

    @abc.abstractmethod
    def _execute(self, analysis: Analysis, plan: Plan[Any]) -> tuple[list[dict[str, Any]], int]:
        """Run ``plan`` (of ``analysis``) on every party; return each party's outputs (by
        party index) and the degree of the output shares."""

    def run_analysis(self, analysis: Analysis) -> Any:
        """Run one analysis: check and plan it, execute it on every party, and build its
        result from what is released."""
        plan = analysis.plan(self.schema, self.policy)
        outputs, degree = self._execute(analysis, plan)
        return plan.result(reconstruct(outputs, degree, plan.modulus_bits))

    # counts -----------------------------------------------------------------------------------
    def count(self, where: str | None = None, by: str | None = None) -> CountResult:
        """Number of records, overall or per level of ``by``; cells below k are suppressed."""
        return self.run_analysis(Count(where, by))

    def frequencies(self, column: str, where: str | None = None) -> CountResult:
        """Counts of each coded value of a category column (e.g. ICD chapters): :meth:`count`
        with ``by=column``."""
        return self.count(where=where, by=column)

    def histogram(
        self,
        column: str,
        bins: int | Sequence[float] = 10,
        where: str | None = None,
        by: str | None = None,
    ) -> HistogramResult:
        """Counts per bin of public edges (``bins`` edges, or that many equal bins over the
        declared range); with ``by``, one histogram per level, suppressed as one table."""
        return self.run_analysis(Histogram(column, bins, where, by))

    def crosstab(
        self, row: str, col: str, layer: str | None = None, where: str | None = None
    ) -> CrosstabResult:
        """A 2-way table of counts (3-way with ``layer``), with complementary suppression
        along every line of the table."""
        return self.run_analysis(Crosstab(row, col, layer, where))

    # moments and quantiles --------------------------------------------------------------------
    def describe(
        self, column: str, where: str | None = None, by: str | None = None, quartiles: bool = False
    ) -> DescribeResult:
        """n, mean, variance (n - 1 denominator, as pandas) and standard deviation, and with
        ``quartiles`` the 25 %, 50 % and 75 % quantiles (as pandas' describe), each released
        under :meth:`quantiles`' rule, from sessions of their own."""
        described: DescribeResult = self.run_analysis(Describe(column, where, by))
        if quartiles:
            found = self.quantiles(column, [0.25, 0.5, 0.75], where, by)
            with_quartiles(described, found, by)
        return described

    def mean(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The mean (a float, or a Series per group), from :meth:`describe`."""
        return self.describe(column, where, by).mean

    def var(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The variance (n - 1 denominator, as pandas), from :meth:`describe`."""
        return self.describe(column, where, by).var

    def std(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The standard deviation (n - 1 denominator), from :meth:`describe`."""
        return self.describe(column, where, by).std

    def quantiles(
        self,
        column: str,
        q: Sequence[float] = (0.25, 0.5, 0.75),
        where: str | None = None,
        by: str | None = None,
    ) -> QuantileResult:
        """Exact quantiles of the pooled column (numpy.quantile's default 'linear' method),
        each released only with at least k records on either side. With ``by``: the groups
        are counted first (suppressed as :meth:`count`), then each released group is searched
        in a session of its own."""
        if by is not None:
            return quantiles_by(self.run_analysis, self.schema, self.policy, column, q, where, by)
        return self.run_analysis(Quantiles(column, q, where))

    def median(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The exact median of the pooled column (NaN when suppressed), or a Series of them per
        level of ``by``: :meth:`quantiles` for q = 0.5."""
        values = self.quantiles(column, [0.5], where, by).values
        return values[0.5] if by else float(values.iloc[0])

    def min(self, column: str, where: str | None = None) -> float:
        """The smallest value, if the policy allows extremes (they can identify a patient)."""
        return self.run_analysis(Min(column, where))

    def max(self, column: str, where: str | None = None) -> float:
        """The largest value, if the policy allows extremes (they can identify a patient)."""
        return self.run_analysis(Max(column, where))

    # tests ------------------------------------------------------------------------------------
    def ttest(
        self,
        column: str,
        other: str | None = None,
        *,
        by: str | None = None,
        equal_var: bool = False,
        where: str | None = None,
    ) -> TTestResult:
        """Two-sample t test of ``column`` between the two levels of ``by`` (Welch, or Student
        with ``equal_var=True``; from :meth:`describe` by group), or paired t test of
        ``column - other``."""
        if other is not None:
            return self.run_analysis(PairedTTest(column, other, where))
        if by is None:
            raise ConfigurationError("ttest needs by= (two groups) or a second column (paired)")
        with arguments_of("ttest"):
            levels = check_two_groups(self.schema, by)
        return two_sample(self.describe(column, where=where, by=by).frame, levels, equal_var)

    def chi2(
        self, row: str, col: str, where: str | None = None, correction: bool = True
    ) -> Chi2Result:
        """Pearson's chi-square test of independence, computed inside MPC from the pooled
        table (Yates' correction for a 2 x 2 table unless ``correction=False``)."""
        return self.run_analysis(Chi2(row, col, where, correction))

    def corr(
        self, columns: Sequence[str], where: str | None = None, method: str = "pearson"
    ) -> CorrResult:
        """Pearson or Spearman correlations of numeric columns (complete cases on all)."""
        return self.run_analysis(Corr(columns, where, method))

    def mann_whitney(self, column: str, by: str, where: str | None = None) -> MannWhitneyResult:
        """Mann–Whitney U test between the two levels of ``by``, with the AUC."""
        return self.run_analysis(MannWhitney(column, by, where))

    def mantel_haenszel(
        self, exposure: str, outcome: str, strata: str, where: str | None = None
    ) -> MantelHaenszelResult:
        """Mantel–Haenszel pooled odds ratio of a binary ``outcome`` for a binary ``exposure``
        across the levels of ``strata``, with the Cochran–Mantel–Haenszel test."""
        return self.run_analysis(MantelHaenszel(exposure, outcome, strata, where))

    def bland_altman(
        self, method_a: str, method_b: str, where: str | None = None
    ) -> BlandAltmanResult:
        """Agreement of two measurement methods: bias and 95 % limits of agreement."""
        return self.run_analysis(BlandAltman(method_a, method_b, where))

    # models -----------------------------------------------------------------------------------
    def ols(
        self, formula: str, where: str | None = None, cov_type: str = "nonrobust"
    ) -> OLSResults:
        """Least squares with statsmodels' formulas and result names (``cov_type`` "HC1" for
        heteroscedasticity-robust standard errors)."""
        return self.run_analysis(OLS(formula, where, cov_type))

    def logit(
        self, formula: str, where: str | None = None, maxiter: int = 35, tol: float = 1e-10
    ) -> DiscreteResults:
        """Logistic regression by Newton's method (IRLS), with statsmodels' result names."""
        return self.run_analysis(Logit(formula, where, maxiter, tol))

    def poisson(
        self,
        formula: str,
        offset: str | None = None,
        where: str | None = None,
        maxiter: int = 35,
        tol: float = 1e-10,
    ) -> DiscreteResults:
        """Poisson regression (log link) by Newton's method; ``offset`` names a column added to
        the linear predictor (e.g. log person-years)."""
        return self.run_analysis(Poisson(formula, offset, where, maxiter, tol))
