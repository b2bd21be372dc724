"""Results of models, named as statsmodels names them: a base for every regression, least
squares (``OLSResults``) and maximum-likelihood GLMs (``DiscreteResults``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mpcstats.stats.results.base import Result

__all__ = ["DiscreteResults", "OLSResults", "RegressionResults"]


@dataclass
class RegressionResults(Result):
    """Coefficients ``params`` and their covariance ``cov``, fitted securely on ``nobs``
    records; the coefficient table, standard errors, tests and intervals as statsmodels'."""

    params: pd.Series
    cov: pd.DataFrame
    nobs: float
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
        """t for classical least-squares standard errors, normal otherwise (robust ones,
        maximum likelihood), as statsmodels' defaults."""
        return False

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

    def _head(self) -> str:
        """The summary's lines above the coefficient table."""
        return (
            f"Dep. formula: {self.formula}\n"
            f"No. Observations: {self.nobs:g}    Df Residuals: {self.df_resid:g}    "
        )

    def _body(self) -> str:
        table = self.to_frame().to_string(float_format=lambda v: f"{v:.6g}")
        return self._head() + "\n\n" + table

    def __repr__(self) -> str:
        return f"{type(self).__name__}(formula={self.formula!r}, nobs={self.nobs:g})"


@dataclass(kw_only=True)
class OLSResults(RegressionResults):
    """A linear regression fitted securely, with its residual and centred total sums of
    squares."""

    ssr: float
    centered_tss: float

    @property
    def title(self) -> str:
        return "OLS Regression Results (secure)"

    @property
    def use_t(self) -> bool:
        return self.cov_type == "nonrobust"

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

    def _head(self) -> str:
        return (
            super()._head() + f"Df Model: {self.df_model:g}    Covariance Type: {self.cov_type}\n"
            f"R-squared: {self.rsquared:.4f}    Adj. R-squared: {self.rsquared_adj:.4f}    "
            f"F-statistic: {self.fvalue:.4g}    Prob (F-statistic): {self.f_pvalue:.4g}\n"
            f"Log-Likelihood: {self.llf:.6g}    AIC: {self.aic:.6g}    BIC: {self.bic:.6g}"
        )


@dataclass(kw_only=True)
class DiscreteResults(RegressionResults):
    """A logit or Poisson model fitted securely by Newton's method (statsmodels' names)."""

    model: str
    llf: float
    llnull: float
    llsat: float = 0.0  # the saturated model's (0 for a binary outcome)
    iterations: int
    converged: bool

    @property
    def title(self) -> str:
        return f"{self.model} Regression Results (secure)"

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

    def _head(self) -> str:
        return (
            super()._head() + f"Converged: {self.converged} after {self.iterations} iterations\n"
            f"Log-Likelihood: {self.llf:.6g}    LL-Null: {self.llnull:.6g}    "
            f"Pseudo R-squ.: {self.prsquared:.4f}    AIC: {self.aic:.6g}"
        )

    def __repr__(self) -> str:
        return f"DiscreteResults(model={self.model!r}, formula={self.formula!r})"
