"""Result objects: plain attributes, ``summary()``, ``to_frame()``, ``plot()`` and numbered notes.

Suppressed values are NaN and each result says why in its notes. Results hold only what was
released to the analyst, so their reprs can never show a secret.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BlandAltmanResult",
    "Chi2Result",
    "CorrResult",
    "CountResult",
    "CrosstabResult",
    "DescribeResult",
    "DiscreteResults",
    "HistogramResult",
    "MannWhitneyResult",
    "MantelHaenszelResult",
    "OLSResults",
    "QuantileResult",
    "TTestResult",
]


def _notes_text(notes: list[str]) -> str:
    return "\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1))


def _summary(title: str, body: str, notes: list[str]) -> str:
    rule = "=" * max(len(title), 40)
    parts = [rule, title, rule, body]
    if notes:
        parts += ["", "Notes:", _notes_text(notes)]
    return "\n".join(parts)


def _excluded(count: float) -> str:
    """The summary line of records left out for a missing value (none: no line)."""
    return f"\n\nrecords excluded for a missing value: {count:g}" if count else ""


@dataclass
class CountResult:
    """Record counts, overall or per group; ``counts`` is a Series (NaN where suppressed)."""

    counts: pd.Series
    k: int
    where: str | None = None
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value in ``by``

    @property
    def n(self) -> float:
        return float(self.counts.sum(min_count=1)) if self.counts.notna().all() else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return self.counts.rename("count").to_frame()

    def summary(self) -> str:
        title = "Count" + (f" where {self.where}" if self.where else "")
        return _summary(title, self.to_frame().to_string() + _excluded(self.excluded), self.notes)

    def plot(self, ax: Any = None) -> Any:
        """A bar chart of the counts (suppressed bars are left out)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        shown = self.counts.dropna()
        ax.bar([str(i) for i in shown.index], shown.to_numpy())
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"CountResult(groups={len(self.counts)}, suppressed={int(self.counts.isna().sum())})"


@dataclass
class HistogramResult:
    """Counts per bin of public ``edges`` (NaN where suppressed); with ``by``, ``counts`` has a
    row per level of ``by``."""

    counts: np.ndarray
    edges: np.ndarray
    column: str
    k: int
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value
    by: str | None = None
    levels: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per bin: its edges and its count (a count column per level with ``by``)."""
        frame = pd.DataFrame({"left": self.edges[:-1], "right": self.edges[1:]})
        if self.by is None:
            frame["count"] = self.counts
        else:
            for level, counts in zip(self.levels, self.counts, strict=True):
                frame[str(level)] = counts
        return frame

    def summary(self) -> str:
        body = self.to_frame().to_string() + _excluded(self.excluded)
        return _summary(f"Histogram of {self.column}", body, self.notes)

    def plot(self, ax: Any = None) -> Any:
        """Bars (suppressed bins marked "<k"), or with ``by`` one outline per level."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        if self.by is not None:
            for level, counts in zip(self.levels, self.counts, strict=True):
                ax.stairs(np.nan_to_num(counts, nan=0.0), self.edges, label=f"{self.by}={level}")
            ax.legend()
            ax.set_xlabel(self.column)
            ax.set_ylabel("count")
            return ax
        widths = np.diff(self.edges)
        heights = np.nan_to_num(self.counts, nan=0.0)
        ax.bar(self.edges[:-1], heights, width=widths, align="edge", edgecolor="black")
        for left, width, count in zip(self.edges[:-1], widths, self.counts, strict=True):
            if np.isnan(count):
                ax.text(left + width / 2, 0, "<k", ha="center", va="bottom", fontsize=8)
        ax.set_xlabel(self.column)
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"HistogramResult(column={self.column!r}, bins={len(self.counts)})"


@dataclass
class CrosstabResult:
    """A 2-way (or layered) table of counts; ``table`` has NaN in suppressed cells."""

    table: pd.DataFrame
    k: int
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value in a variable

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> str:
        return _summary("Crosstab", self.table.to_string() + _excluded(self.excluded), self.notes)

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        self.table.plot.bar(ax=ax)
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"CrosstabResult(shape={self.table.shape})"


@dataclass
class DescribeResult:
    """n, mean, variance, standard deviation (and quartiles when asked), per group."""

    frame: pd.DataFrame  # one row per group: n, mean, var, std (+ quartiles)
    column: str
    excluded: float  # records left out because the column was missing
    notes: list[str] = field(default_factory=list)

    def _value(self, name: str) -> Any:
        values = self.frame[name]
        return float(values.iloc[0]) if len(values) == 1 else values

    @property
    def n(self) -> Any:
        return self._value("n")

    @property
    def mean(self) -> Any:
        return self._value("mean")

    @property
    def var(self) -> Any:
        return self._value("var")

    @property
    def std(self) -> Any:
        return self._value("std")

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    def summary(self) -> str:
        body = self.frame.to_string(float_format=lambda v: f"{v:.6g}")
        body += f"\n\nrecords excluded for missing {self.column}: {self.excluded:g}"
        return _summary(f"Describe {self.column}", body, self.notes)

    def __repr__(self) -> str:
        return f"DescribeResult(column={self.column!r}, groups={len(self.frame)})"


@dataclass
class QuantileResult:
    """Exact quantiles of the pooled column (numpy's default 'linear' method)."""

    values: pd.Series | pd.DataFrame  # by q (NaN where suppressed); with by, a row per level
    column: str
    n: float | pd.Series  # with by, per level
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value

    def to_frame(self) -> pd.DataFrame:
        if isinstance(self.values, pd.DataFrame):
            return self.values.assign(n=self.n)
        return self.values.rename(self.column).to_frame()

    def summary(self) -> str:
        body = self.to_frame().to_string()
        if not isinstance(self.n, pd.Series):
            body += f"\n\nn = {self.n:g}"
        body += _excluded(self.excluded)
        return _summary(f"Quantiles of {self.column}", body, self.notes)

    def __repr__(self) -> str:
        return f"QuantileResult(column={self.column!r}, q={list(self.values.index)})"


@dataclass
class OLSResults:
    """A linear regression fitted securely; attribute names follow statsmodels."""

    params: pd.Series
    cov: pd.DataFrame
    nobs: float
    ssr: float
    centered_tss: float
    formula: str
    cov_type: str = "nonrobust"
    notes: list[str] = field(default_factory=list)

    @property
    def df_model(self) -> float:
        return float(len(self.params) - ("Intercept" in self.params.index))

    @property
    def df_resid(self) -> float:
        return self.nobs - len(self.params)

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def use_t(self) -> bool:
        """t for classical standard errors, normal for robust ones (statsmodels' default)."""
        return self.cov_type == "nonrobust"

    def _reference(self) -> Any:
        from scipy import stats

        return stats.t(self.df_resid) if self.use_t else stats.norm()

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * self._reference().sf(np.abs(self.tvalues)), self.params.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        half = self._reference().ppf(1 - alpha / 2) * self.bse
        return pd.DataFrame({0: self.params - half, 1: self.params + half})

    def cov_params(self) -> pd.DataFrame:
        return self.cov

    @property
    def rsquared(self) -> float:
        return 1 - self.ssr / self.centered_tss

    @property
    def rsquared_adj(self) -> float:
        return 1 - (1 - self.rsquared) * (self.nobs - 1) / self.df_resid

    @property
    def llf(self) -> float:
        """The Gaussian log-likelihood at the fit, from n and the residual sum of squares."""
        half = self.nobs / 2
        return float(-half * math.log(2 * math.pi) - half * math.log(self.ssr / self.nobs) - half)

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * len(self.params)

    @property
    def bic(self) -> float:
        return -2 * self.llf + math.log(self.nobs) * len(self.params)

    @property
    def fvalue(self) -> float:
        """The Wald F test that every slope is zero (the classical F for nonrobust covariance,
        the robust test for HC1, as statsmodels)."""
        slopes = [name for name in self.params.index if name != "Intercept"]
        beta = self.params[slopes].to_numpy()
        cov = self.cov.loc[slopes, slopes].to_numpy()
        return float(beta @ np.linalg.solve(cov, beta)) / len(slopes)

    @property
    def f_pvalue(self) -> float:
        from scipy import stats

        return float(stats.f.sf(self.fvalue, self.df_model, self.df_resid))

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table; its statistic is t, or z where it is normal (HC1, GLMs)."""
        ci = self.conf_int()
        stat = "t" if self.use_t else "z"
        return pd.DataFrame(
            {
                "coef": self.params,
                "std err": self.bse,
                stat: self.tvalues,
                f"P>|{stat}|": self.pvalues,
                "[0.025": ci[0],
                "0.975]": ci[1],
            }
        )

    def summary(self) -> str:
        head = (
            f"Dep. formula: {self.formula}\n"
            f"No. Observations: {self.nobs:g}    Df Residuals: {self.df_resid:g}    "
            f"Df Model: {self.df_model:g}    Covariance Type: {self.cov_type}\n"
            f"R-squared: {self.rsquared:.4f}    Adj. R-squared: {self.rsquared_adj:.4f}    "
            f"F-statistic: {self.fvalue:.4g}    Prob (F-statistic): {self.f_pvalue:.4g}\n"
            f"Log-Likelihood: {self.llf:.6g}    AIC: {self.aic:.6g}    BIC: {self.bic:.6g}"
        )
        table = self.to_frame().to_string(float_format=lambda v: f"{v:.6g}")
        return _summary("OLS Regression Results (secure)", head + "\n\n" + table, self.notes)

    def __repr__(self) -> str:
        return f"OLSResults(formula={self.formula!r}, nobs={self.nobs:g})"


@dataclass
class DiscreteResults(OLSResults):
    """A logit or Poisson model fitted securely by Newton's method (statsmodels' names)."""

    model: str = "Logit"
    llf: float = float("nan")
    llnull: float = float("nan")
    llsat: float = 0.0  # the saturated model's (0 for a binary outcome)
    iterations: int = 0
    converged: bool = False

    @property
    def use_t(self) -> bool:
        return False  # maximum likelihood: z statistics, as statsmodels

    @property
    def df_resid(self) -> float:
        return self.nobs - len(self.params)

    @property
    def deviance(self) -> float:
        """2 (log-likelihood of the saturated model - llf), as statsmodels' GLM."""
        return 2 * (self.llsat - self.llf)

    @property
    def aic(self) -> float:
        return 2 * len(self.params) - 2 * self.llf

    @property
    def prsquared(self) -> float:
        """McFadden's pseudo R-squared."""
        return 1 - self.llf / self.llnull

    def summary(self) -> str:
        head = (
            f"Dep. formula: {self.formula}\n"
            f"No. Observations: {self.nobs:g}    Df Residuals: {self.df_resid:g}    "
            f"Converged: {self.converged} after {self.iterations} iterations\n"
            f"Log-Likelihood: {self.llf:.6g}    LL-Null: {self.llnull:.6g}    "
            f"Pseudo R-squ.: {self.prsquared:.4f}    AIC: {self.aic:.6g}"
        )
        table = self.to_frame()
        body = head + "\n\n" + table.to_string(float_format=lambda v: f"{v:.6g}")
        return _summary(f"{self.model} Regression Results (secure)", body, self.notes)

    def __repr__(self) -> str:
        return f"DiscreteResults(model={self.model!r}, formula={self.formula!r})"


@dataclass
class TTestResult:
    """A t test: ``statistic``, ``pvalue`` (two-sided) and ``df``, as scipy.stats."""

    statistic: float
    pvalue: float
    df: float
    kind: str  # "Welch", "Student" or "paired"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        body = f"t = {self.statistic:.6g}, df = {self.df:.6g}, p = {self.pvalue:.4g}"
        return _summary(f"{self.kind} t test", body, self.notes)


@dataclass
class BlandAltmanResult:
    """Bias and 95% limits of agreement between two methods."""

    bias: float
    sd: float
    limits: tuple[float, float]
    n: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        low, high = self.limits
        body = (
            f"n = {self.n:g}\nbias (a - b) = {self.bias:.6g}, sd = {self.sd:.6g}\n"
            f"95% limits of agreement: [{low:.6g}, {high:.6g}]"
        )
        return _summary("Bland-Altman agreement", body, self.notes)

    def plot(self, ax: Any = None) -> Any:
        """The bias and limit lines (the scatter of differences is not released)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        for value, style in [(self.bias, "-"), (self.limits[0], "--"), (self.limits[1], "--")]:
            ax.axhline(value, linestyle=style, color="black")
        ax.set_ylabel("difference (a - b)")
        return ax


@dataclass
class Chi2Result:
    """Chi-square test of independence: ``statistic``, ``pvalue``, ``dof``."""

    statistic: float
    pvalue: float
    dof: int
    n: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        body = (
            f"chi2 = {self.statistic:.6g}, df = {self.dof}, p = {self.pvalue:.4g}, n = {self.n:g}"
        )
        return _summary("Chi-square test of independence", body, self.notes)


@dataclass
class CorrResult:
    """Pearson or Spearman correlation matrix with n; ``pvalues`` test r = 0 (t with n - 2 df,
    as scipy's ``pearsonr`` and ``spearmanr``)."""

    matrix: pd.DataFrame
    n: float
    method: str = "pearson"

    @property
    def pvalues(self) -> pd.DataFrame:
        from scipy import stats

        r = self.matrix.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            t = r * np.sqrt((self.n - 2) / (1 - r**2))
        p = 2 * stats.t.sf(np.abs(t), self.n - 2)
        np.fill_diagonal(p, 0.0)
        return pd.DataFrame(p, index=self.matrix.index, columns=self.matrix.columns)

    def summary(self) -> str:
        body = self.matrix.to_string(float_format=lambda v: f"{v:.6f}") + f"\n\nn = {self.n:g}"
        return _summary(f"{self.method.capitalize()} correlation", body, [])


@dataclass
class MannWhitneyResult:
    """Mann-Whitney U for the first group, two-sided p-value (normal approximation with tie
    and continuity corrections, as scipy), and the AUC = U / (n1 n2)."""

    statistic: float
    pvalue: float
    auc: float
    n1: float
    n2: float

    def summary(self) -> str:
        body = (
            f"U = {self.statistic:g}, p = {self.pvalue:.4g}, AUC = {self.auc:.6f}, "
            f"n = {self.n1:g} + {self.n2:g}"
        )
        return _summary("Mann-Whitney U test", body, [])


@dataclass
class MantelHaenszelResult:
    """Mantel-Haenszel pooled odds ratio over strata, with the Robins-Breslow-Greenland
    standard error of its log and the Cochran-Mantel-Haenszel test of a common odds ratio of 1
    (no continuity correction), named as statsmodels' ``StratifiedTable``."""

    oddsratio_pooled: float
    logodds_pooled_se: float
    statistic: float
    n: float
    strata: int
    exposure: str
    outcome: str

    @property
    def logodds_pooled(self) -> float:
        return math.log(self.oddsratio_pooled)

    @property
    def pvalue(self) -> float:
        from scipy import stats

        return float(stats.chi2.sf(self.statistic, 1))

    def oddsratio_pooled_confint(self, alpha: float = 0.05) -> tuple[float, float]:
        from scipy import stats

        half = stats.norm.ppf(1 - alpha / 2) * self.logodds_pooled_se
        return math.exp(self.logodds_pooled - half), math.exp(self.logodds_pooled + half)

    def conf_int(self, alpha: float = 0.05) -> tuple[float, float]:
        """The confidence interval of the pooled odds ratio."""
        return self.oddsratio_pooled_confint(alpha)

    def summary(self) -> str:
        low, high = self.conf_int()
        body = (
            f"{self.exposure} -> {self.outcome}, {self.strata} strata, n = {self.n:g}\n"
            f"pooled odds ratio = {self.oddsratio_pooled:.6g} (95% CI {low:.6g} to {high:.6g}), "
            f"SE of log = {self.logodds_pooled_se:.6g}\n"
            f"CMH chi2 = {self.statistic:.6g}, df = 1, p = {self.pvalue:.4g}"
        )
        return _summary("Mantel-Haenszel test", body, [])
