"""Shamir secret sharing, vectorised.

Party i (0-based) holds the evaluation at point i + 1 of a random polynomial of degree at most
``degree`` whose constant term is the secret. Any ``degree`` shares are uniformly distributed and
independent of the secret; any ``degree + 1`` determine it. Both fields of mpcstats (GF(p) and
GF(2^8)) share through the same code.

:func:`interpolate` is the one function that turns shares into plaintext; only the opening
protocol (``mpcstats.protocols.opening``) calls it, so every disclosure passes one audited path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.core.randomness import Stream

__all__ = ["Field", "interpolate", "lagrange", "point", "share"]


class Field(Protocol):
    """What sharing needs of a field; :class:`PrimeField` and :class:`GF256` provide it."""

    kind: str
    order: int
    bits: int
    width: int

    def random(self, stream: Stream, shape: int | Sequence[int]) -> np.ndarray: ...
    def lincomb(self, coefficients: Sequence[int], arrays: Sequence[Any]) -> np.ndarray: ...
    def power(self, x: int, e: int) -> int: ...
    def inverse(self, a: int) -> int: ...
    def add(self, a: Any, b: Any) -> np.ndarray: ...
    def sub(self, a: Any, b: Any) -> np.ndarray: ...
    def mul(self, a: Any, b: Any) -> np.ndarray: ...
    def neg(self, a: Any) -> np.ndarray: ...
    def zeros(self, shape: int | Sequence[int]) -> np.ndarray: ...
    def array(self, values: Any) -> np.ndarray: ...
    def constant(self, value: int) -> int: ...
    def nbytes(self, elements: np.ndarray) -> int: ...
    def to_bytes(self, elements: np.ndarray) -> bytes: ...
    def from_bytes(self, data: bytes, shape: int | Sequence[int]) -> np.ndarray: ...
    def __hash__(self) -> int: ...


def point(party: int) -> int:
    """The evaluation point of a party: its index plus one (0 is the secret)."""
    return party + 1


@lru_cache(maxsize=4096)
def _powers(field: Field, n: int, degree: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(field.power(point(j), k) for k in range(degree + 1)) for j in range(n))


def share(
    field: Field, secrets: np.ndarray, n: int, degree: int, stream: Stream
) -> list[np.ndarray]:
    """The n share arrays of ``secrets`` under fresh random polynomials of degree ``degree``."""
    if not 0 <= degree < n:
        raise ConfigurationError(f"a sharing among {n} parties has degree 0..{n - 1}, not {degree}")
    if degree == 0:
        return [np.array(secrets, copy=True) for _ in range(n)]
    coefficients = [secrets] + [field.random(stream, np.shape(secrets)) for _ in range(degree)]
    return [field.lincomb(row, coefficients) for row in _powers(field, n, degree)]


@lru_cache(maxsize=4096)
def lagrange(field: Field, points: tuple[int, ...], at: int = 0) -> tuple[int, ...]:
    """Coefficients l_j with f(at) = sum_j l_j f(points[j]) for every f of degree < len(points)."""
    coefficients = []
    for j, xj in enumerate(points):
        num, den = 1, 1
        for m, xm in enumerate(points):
            if m != j:
                num = int(field.mul(num, field.sub(at, xm)))
                den = int(field.mul(den, field.sub(xj, xm)))
        coefficients.append(int(field.mul(num, field.inverse(den))))
    return tuple(coefficients)


def interpolate(field: Field, shares: Mapping[int, np.ndarray], degree: int) -> np.ndarray:
    """The secrets from the shares of ``degree + 1`` parties (the lowest-numbered are used).

    Shares beyond ``degree + 1`` are not checked: the threat model is semi-honest.
    """
    if len(shares) < degree + 1:
        raise ConfigurationError(
            f"reconstruction of a degree-{degree} sharing needs {degree + 1} shares, "
            f"got {len(shares)}"
        )
    parties = tuple(sorted(shares)[: degree + 1])
    coefficients = lagrange(field, tuple(point(i) for i in parties))
    return field.lincomb(coefficients, [shares[i] for i in parties])
