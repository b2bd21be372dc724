"""Generalised linear model families for Newton's method: what each party computes of its
rows at given coefficients (mean, weights, log-likelihood), and the null and saturated
log-likelihoods the analyst forms from pooled sums."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.stats.schema import Column

__all__ = ["LOGIT", "POISSON", "Family"]


def _expit(eta: np.ndarray) -> np.ndarray:
    """The logistic function, kept inside (e^-30, 1 - e^-30) so logs and weights stay finite."""
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -30.0, 30.0)))


class Family(abc.ABC):
    """What Newton's method needs of a model: mean, weights, log-likelihood."""

    name = ""

    @abc.abstractmethod
    def mean(self, eta: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def weights(self, mu: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def loglik(self, y: np.ndarray, eta: np.ndarray) -> float: ...

    def constant(self, y: np.ndarray) -> np.ndarray:
        """Per-record terms of the log-likelihood that do not depend on the coefficients."""
        return np.zeros(len(y))

    def fixed_sums(self, z: np.ndarray, y: np.ndarray, eta: np.ndarray) -> tuple[Any, ...]:
        """A party's n and event count, then the sums that do not depend on the coefficients
        from which the analyst forms the null and saturated log-likelihoods (``eta`` holds the
        offset alone): the constant terms, and what :meth:`null_loglik` needs."""
        return len(y), int(y.sum()), float(self.constant(y).sum())

    @abc.abstractmethod
    def null_loglik(self, n: float, events: float, constant: float, *sums: float) -> float: ...

    def saturated_loglik(self, constant: float, *sums: float) -> float:
        """The log-likelihood of a model with one parameter per record."""
        return 0.0

    @abc.abstractmethod
    def check(self, response: Column) -> None: ...

    def parts(self, z: np.ndarray, y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A party's Hessian X'WX and gradient X'(y - mu) at the linear predictor ``eta``."""
        mu = self.mean(eta)
        return (z * self.weights(mu)[:, None]).T @ z, z.T @ (y - mu)


class _Logit(Family):
    name = "Logit"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return _expit(eta)

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1 - mu)

    def loglik(self, y: np.ndarray, eta: np.ndarray) -> float:
        p = _expit(eta)
        return float(np.sum(np.where(y == 1, np.log(p), np.log1p(-p))))

    def null_loglik(self, n: float, events: float, constant: float, *sums: float) -> float:
        share = events / n
        return float(_xlogy(events, share) + _xlogy(n - events, 1 - share))

    def check(self, response: Column) -> None:
        binary = response.kind == "bool" or (
            response.kind == "int" and (response.lo, response.hi) == (0, 1)
        )
        if not binary:
            raise ConfigurationError(f"the response {response.name!r} of a logit must be 0/1")


class _Poisson(Family):
    name = "Poisson"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(eta, -50.0, 50.0))

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def loglik(self, y: np.ndarray, eta: np.ndarray) -> float:
        mu = self.mean(eta)
        return float(np.sum(y * np.log(mu) - mu) + np.sum(self.constant(y)))

    def constant(self, y: np.ndarray) -> np.ndarray:
        from scipy.special import gammaln

        return -gammaln(y + 1)

    def fixed_sums(self, z: np.ndarray, y: np.ndarray, eta: np.ndarray) -> tuple[Any, ...]:
        """As the base class, and sum(y log y - y) for the saturated model, sum(exp(offset))
        and sum(y * offset) for the null model with the offset."""
        return (
            *super().fixed_sums(z, y, eta),
            float(np.sum(_xlogy(y, y) - y)),
            float(np.sum(np.exp(eta))),
            float(np.dot(y, eta)),
        )

    def null_loglik(self, n: float, events: float, constant: float, *sums: float) -> float:
        """The intercept-only model: exp(b0) = sum(y) / sum(exp(offset)), in closed form."""
        _, exposure, y_offset = sums
        return float(_xlogy(events, events / exposure) + y_offset - events + constant)

    def saturated_loglik(self, constant: float, *sums: float) -> float:
        return sums[0] + constant

    def check(self, response: Column) -> None:
        if response.kind not in {"int", "bool"} or response.lo < 0:
            raise ConfigurationError(
                f"the response {response.name!r} of a Poisson model must be a count (int >= 0)"
            )


LOGIT, POISSON = _Logit(), _Poisson()


def _xlogy(x: Any, y: Any) -> Any:
    """x log(y), and 0 where x is 0 (as scipy.special.xlogy)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))
