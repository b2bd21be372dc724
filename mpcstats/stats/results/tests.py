"""Results of hypothesis tests, correlation and agreement, named as scipy and statsmodels name
them: each test has ``statistic`` and ``pvalue``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mpcstats.stats.results.base import Result

__all__ = [
    "BlandAltmanResult",
    "Chi2Result",
    "CorrResult",
    "MannWhitneyResult",
    "MantelHaenszelResult",
    "TTestResult",
]


@dataclass
class TTestResult(Result):
    """A t test: ``statistic``, ``pvalue`` (two-sided) and ``df``, as scipy.stats."""

    statistic: float
    pvalue: float
    df: float
    kind: str  # "Welch", "Student" or "paired"
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.kind} t test"

    def _body(self) -> str:
        return f"t = {self.statistic:.6g}, df = {self.df:.6g}, p = {self.pvalue:.4g}"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"t": [self.statistic], "df": [self.df], "p": [self.pvalue]})


@dataclass
class BlandAltmanResult(Result):
    """Bias and 95% limits of agreement between two methods."""

    bias: float
    sd: float
    limits: tuple[float, float]
    n: float
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return "Bland-Altman agreement"

    def _body(self) -> str:
        low, high = self.limits
        return (
            f"n = {self.n:g}\nbias (a - b) = {self.bias:.6g}, sd = {self.sd:.6g}\n"
            f"95% limits of agreement: [{low:.6g}, {high:.6g}]"
        )

    def to_frame(self) -> pd.DataFrame:
        low, high = self.limits
        return pd.DataFrame(
            {"n": [self.n], "bias": [self.bias], "sd": [self.sd], "lower": [low], "upper": [high]}
        )

    def plot(self, ax: Any = None) -> Any:
        """The bias and limit lines (the scatter of differences is not released)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        for value, style in [(self.bias, "-"), (self.limits[0], "--"), (self.limits[1], "--")]:
            ax.axhline(value, linestyle=style, color="black")
        ax.set_ylabel("difference (a - b)")
        return ax


@dataclass
class Chi2Result(Result):
    """Chi-square test of independence: ``statistic``, ``pvalue``, ``dof``."""

    statistic: float
    pvalue: float
    dof: int
    n: float
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return "Chi-square test of independence"

    def _body(self) -> str:
        return (
            f"chi2 = {self.statistic:.6g}, df = {self.dof}, p = {self.pvalue:.4g}, n = {self.n:g}"
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"chi2": [self.statistic], "df": [self.dof], "p": [self.pvalue], "n": [self.n]}
        )


@dataclass
class CorrResult(Result):
    """Pearson or Spearman correlation matrix with n; ``pvalues`` test r = 0 (t with n - 2 df,
    as scipy's ``pearsonr`` and ``spearmanr``)."""

    matrix: pd.DataFrame
    n: float
    method: str = "pearson"
    notes: list[str] = field(default_factory=list)

    @property
    def pvalues(self) -> pd.DataFrame:
        from scipy import stats

        r = self.matrix.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            t = r * np.sqrt((self.n - 2) / (1 - r**2))
        p = 2 * stats.t.sf(np.abs(t), self.n - 2)
        np.fill_diagonal(p, 0.0)
        return pd.DataFrame(p, index=self.matrix.index, columns=self.matrix.columns)

    @property
    def title(self) -> str:
        return f"{self.method.capitalize()} correlation"

    def _body(self) -> str:
        return self.matrix.to_string(float_format=lambda v: f"{v:.6f}") + f"\n\nn = {self.n:g}"

    def to_frame(self) -> pd.DataFrame:
        return self.matrix


@dataclass
class MannWhitneyResult(Result):
    """Mann-Whitney U for the first group, two-sided p-value (normal approximation with tie
    and continuity corrections, as scipy), and the AUC = U / (n1 n2)."""

    statistic: float
    pvalue: float
    auc: float
    n1: float
    n2: float
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return "Mann-Whitney U test"

    def _body(self) -> str:
        return (
            f"U = {self.statistic:g}, p = {self.pvalue:.4g}, AUC = {self.auc:.6f}, "
            f"n = {self.n1:g} + {self.n2:g}"
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "U": [self.statistic],
                "p": [self.pvalue],
                "AUC": [self.auc],
                "n1": [self.n1],
                "n2": [self.n2],
            }
        )


@dataclass
class MantelHaenszelResult(Result):
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
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return "Mantel-Haenszel test"

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

    def _body(self) -> str:
        low, high = self.conf_int()
        return (
            f"{self.exposure} -> {self.outcome}, {self.strata} strata, n = {self.n:g}\n"
            f"pooled odds ratio = {self.oddsratio_pooled:.6g} (95% CI {low:.6g} to {high:.6g}), "
            f"SE of log = {self.logodds_pooled_se:.6g}\n"
            f"CMH chi2 = {self.statistic:.6g}, df = 1, p = {self.pvalue:.4g}"
        )

    def to_frame(self) -> pd.DataFrame:
        low, high = self.conf_int()
        return pd.DataFrame(
            {
                "oddsratio": [self.oddsratio_pooled],
                "[0.025": [low],
                "0.975]": [high],
                "chi2": [self.statistic],
                "p": [self.pvalue],
                "n": [self.n],
            }
        )
