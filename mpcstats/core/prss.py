"""Pseudo-random secret sharing (PRSS) and pseudo-random zero sharing (PRZS).

Cramer, Damgaard and Ishai (TCC 2005): for every set A of t parties (a maximal unqualified set)
the n - t parties outside A share a key k_A. With f_A the polynomial of degree t with f_A(0) = 1
and f_A(j) = 0 on the points of A, party i's share of a random secret is

    sum over A not containing i of  PRF(k_A) * f_A(point(i))

which is a degree-t Shamir sharing of sum_A PRF(k_A): no messages are exchanged. Any t parties
miss the key of at least the set they form, so the secret is uniform to them. Zero sharings of
degree 2t add x^l f_A(x) terms (l = 1..t), whose constant term vanishes.

The number of sets is C(n, t), so PRSS is used for n with C(n, t) <= MAX_SETS (n <= 9); larger
sessions draw randomness interactively (see ``mpcstats.protocols.randomness``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from math import comb

import numpy as np

from mpcstats.core.field import PrimeField
from mpcstats.core.randomness import Stream, derive_key, element_count
from mpcstats.core.shamir import Field, point

__all__ = ["MAX_SETS", "PRSS", "dealer", "prss_available", "unqualified_sets"]

MAX_SETS = 128


def unqualified_sets(n: int, t: int) -> list[frozenset[int]]:
    """All sets of t parties, in a fixed order every party agrees on."""
    return [frozenset(c) for c in itertools.combinations(range(n), t)]


def prss_available(n: int, t: int) -> bool:
    return comb(n, t) <= MAX_SETS


def dealer(subset: frozenset[int], n: int) -> int:
    """The party that draws k_A and sends it to the rest of the complement of A."""
    return min(set(range(n)) - subset)


class PRSS:
    """One party's PRSS state: the keys of the sets it lies outside of."""

    def __init__(self, party: int, n: int, t: int, keys: Mapping[frozenset[int], bytes]) -> None:
        self.party, self.n, self.t = party, n, t
        self._keys = dict(keys)
        self._counter = 0
        expected = {a for a in unqualified_sets(n, t) if party not in a}
        if set(self._keys) != expected:
            raise ValueError("PRSS needs exactly the keys of the sets the party lies outside of")

    def __repr__(self) -> str:
        return f"PRSS(party={self.party}, n={self.n}, t={self.t}, keys=<{len(self._keys)} hidden>)"

    def _streams(self) -> list[tuple[frozenset[int], Stream]]:
        """Fresh streams for the next draw; every party advances the same counter."""
        self._counter += 1
        label = self._counter.to_bytes(8, "little")
        return [
            (a, Stream(derive_key(k, label))) for a, k in sorted(self._keys.items(), key=_order)
        ]

    def _weight(self, field: Field, subset: frozenset[int]) -> int:
        """f_A(point(party)) in ``field``."""
        x = point(self.party)
        value = 1
        for j in subset:
            xj = point(j)
            term = field.mul(field.sub(xj, x), field.inverse(xj))
            value = int(field.mul(value, term))
        return value

    def random(self, field: Field, shape: int | Sequence[int]) -> np.ndarray:
        """This party's degree-t share of uniformly random field elements."""
        draws = self._streams()
        weights = [self._weight(field, a) for a, _ in draws]
        return field.lincomb(weights, [field.random(s, shape) for _, s in draws])

    def random_integers(
        self, field: PrimeField, bits: int, shape: int | Sequence[int]
    ) -> np.ndarray:
        """A degree-t share of a sum of C(n, t) uniform integers in [0, 2**bits).

        The sum is not uniform, but it hides any value of fewer than bits - kappa bits to within
        2**-kappa statistically, which is what masks need.
        """
        draws = self._streams()
        count = element_count(shape)
        weights = [self._weight(field, a) for a, _ in draws]
        values = [s.integers(bits, count).reshape(shape) for _, s in draws]
        return field.lincomb(weights, values)

    def zero(self, field: Field, shape: int | Sequence[int]) -> np.ndarray:
        """This party's degree-2t share of zero, pseudo-random in its other coefficients."""
        draws = self._streams()
        x = point(self.party)
        weights, values = [], []
        for a, stream in draws:
            w = self._weight(field, a)
            for exponent in range(1, self.t + 1):
                weights.append(int(field.mul(w, field.power(x, exponent))))
                values.append(field.random(stream, shape))
        if not values:
            return field.zeros(shape)
        return field.lincomb(weights, values)


def _order(item: tuple[frozenset[int], bytes]) -> tuple[int, ...]:
    return tuple(sorted(item[0]))
