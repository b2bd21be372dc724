"""Prime fields for Shamir secret sharing, and the headroom rule.

Elements of GF(p) are numpy arrays of ``dtype=object`` holding Python ints in [0, p). Python's
integers make every modulus size exact, which the statistics need (sums of squares over 1e8 rows
of values up to 1e9, in fixed point, exceed 128 bits). The heavy per-row work of mpcstats is local
plaintext aggregation, so secure arithmetic runs on aggregates, where this representation is fast
enough; the benchmarks in ``benchmarks/`` measure it.

Signed integers v with |v| < p/2 are represented as v mod p.

Headroom rule: a masked opening of a value v with |v| < 2**k adds a mask of k + kappa bits,
summed over at most n contributors, so the field must hold 2**(k + kappa + log2(n) + 2).
:meth:`PrimeField.require` refuses anything larger with :class:`HeadroomError`, before any
computation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import gmpy2
import numpy as np

from mpcstats._errors import ConfigurationError, HeadroomError, ProtocolError
from mpcstats.core._primes import PRIME_OFFSETS
from mpcstats.core.randomness import Stream, element_count, little_endian_ints

__all__ = ["DEFAULT_MODULUS_BITS", "PrimeField", "choose_prime", "search_prime"]

DEFAULT_MODULUS_BITS = 127
_MERSENNE_127 = (1 << 127) - 1


@functools.lru_cache(maxsize=64)
def choose_prime(bits: int) -> int:
    """The prime used for a field of at least ``bits`` bits.

    127 bits and fewer give the Mersenne prime 2**127 - 1 (the default); larger requests give the
    largest prime below 2**bits, so the choice is deterministic and every party agrees on it.
    Multiples of 64 bits up to 8192 come from a table (:mod:`mpcstats.core._primes`).
    """
    if bits <= DEFAULT_MODULUS_BITS:
        return _MERSENNE_127
    if bits in PRIME_OFFSETS:
        return (1 << bits) - PRIME_OFFSETS[bits]
    return search_prime(bits)


def search_prime(bits: int) -> int:
    """The largest prime below 2**bits, by a descending search over the odd numbers (Miller-Rabin
    with 50 rounds, after GMP's trial division): up to a minute at 8,000 bits."""
    candidate = (1 << bits) - 1
    while not gmpy2.is_prime(candidate, 50):
        candidate -= 2
    return candidate


@functools.lru_cache(maxsize=64)
def _is_prime(candidate: int) -> bool:
    """Miller-Rabin with 50 rounds (a tabulated prime is known); cached, as every session
    checks its modulus."""
    bits = candidate.bit_length()
    if candidate == (1 << bits) - PRIME_OFFSETS.get(bits, 0):
        return True
    return bool(gmpy2.is_prime(candidate, 50))


class PrimeField:
    """GF(p) with vectorised operations on object arrays of Python ints."""

    kind = "prime"

    def __init__(self, modulus: int) -> None:
        if modulus < 3 or not _is_prime(modulus):
            raise ConfigurationError(f"the field modulus must be an odd prime, got {modulus}")
        self.order = int(modulus)
        self.bits = self.order.bit_length()
        self.width = (self.bits + 7) // 8

    @classmethod
    def with_bits(cls, bits: int = DEFAULT_MODULUS_BITS) -> PrimeField:
        return cls(choose_prime(bits))

    def __repr__(self) -> str:
        return f"PrimeField({self.bits} bits)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrimeField) and other.order == self.order

    def __hash__(self) -> int:
        return hash(("prime", self.order))

    # headroom -------------------------------------------------------------------------------
    def capacity(self, kappa: int, contributors: int) -> int:
        """The largest k such that values with |v| < 2**k may be masked and opened."""
        return self.bits - kappa - max(contributors, 1).bit_length() - 3

    def require(self, bits: int, kappa: int, contributors: int, what: str) -> None:
        """Refuse a value range of ``bits`` bits that does not fit with margin ``kappa``."""
        room = self.capacity(kappa, contributors)
        if bits > room:
            raise HeadroomError(
                f"{what} needs values of up to {bits} bits, but a {self.bits}-bit field with a "
                f"{kappa}-bit security margin holds {room}; use a larger modulus "
                f"(modulus_bits >= {bits + self.bits - room}) or narrower declared ranges"
            )

    # conversion -----------------------------------------------------------------------------
    def array(self, values: Any) -> np.ndarray:
        """Integers (possibly negative) as field elements."""
        arr = np.asarray(values)
        if arr.dtype.kind == "f":
            raise ConfigurationError("field elements are integers; encode floats first")
        out = np.empty(arr.shape, dtype=object)
        out[...] = arr.astype(object) if arr.dtype != object else arr
        return self.reduce(out)

    def constant(self, value: int) -> int:
        return int(value) % self.order

    def signed(self, elements: np.ndarray) -> np.ndarray:
        """Field elements as signed integers in (-p/2, p/2)."""
        half = self.order // 2
        arr = np.asarray(elements, dtype=object)
        return np.where(arr > half, arr - self.order, arr)

    def zeros(self, shape: int | Sequence[int]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(0)
        return out

    def random(self, stream: Stream, shape: int | Sequence[int]) -> np.ndarray:
        """Uniform field elements, with statistical bias below 2**-64.

        mpcstats' primes lie within 2**(bits - 64) of 2**bits, so reducing ``bits`` random bits
        is already that close to uniform; other primes reduce 64 extra bits.
        """
        count = element_count(shape)
        gap = (1 << self.bits) - self.order
        extra = 0 if gap.bit_length() <= self.bits - 64 else 64
        return self.reduce(stream.integers(self.bits + extra, count)).reshape(shape)

    # arithmetic -----------------------------------------------------------------------------
    def reduce(self, a: Any) -> np.ndarray:
        """Integers (any size, any sign) reduced into [0, p), always as an object array."""
        arr = np.asarray(a)
        if arr.dtype != object:
            arr = arr.astype(object)  # numpy integers become Python ints, which never overflow
        return np.asarray(np.mod(arr, self.order), dtype=object)

    def add(self, a: Any, b: Any) -> np.ndarray:
        return self.reduce(np.add(_objects(a), _objects(b)))

    def sub(self, a: Any, b: Any) -> np.ndarray:
        return self.reduce(np.subtract(_objects(a), _objects(b)))

    def neg(self, a: Any) -> np.ndarray:
        return self.reduce(np.negative(_objects(a)))

    def mul(self, a: Any, b: Any) -> np.ndarray:
        return self.reduce(np.multiply(_objects(a), _objects(b)))

    def lincomb(self, coefficients: Sequence[int], arrays: Sequence[Any]) -> np.ndarray:
        """sum_k coefficients[k] * arrays[k], reduced once.

        Coefficients are taken as signed residues, so -3 costs a small multiplication, not a
        full-width one by p - 3 (Lagrange coefficients at consecutive points are small).
        """
        total: Any = 0
        half = self.order // 2
        for c, arr in zip(coefficients, arrays, strict=True):
            c = int(c) % self.order
            c = c - self.order if c > half else c
            if c:
                term = _objects(arr)
                total = total + (term if c == 1 else np.multiply(term, c))
        return self.reduce(total)

    def dot(self, a: np.ndarray, b: np.ndarray) -> Any:
        """Matrix or inner product, reduced once at the end. In wide fields GMP multiplies
        (3-7x faster than Python's ints from 256 bits; the result is Python ints again)."""
        if self.bits < _GMP_BITS:
            return self.reduce(np.dot(_objects(a), _objects(b)))
        product = np.mod(np.dot(_to_mpz(a), _to_mpz(b)), gmpy2.mpz(self.order))
        return np.asarray(_to_int(product), dtype=object)

    def inverse(self, a: int) -> int:
        return int(gmpy2.invert(a, self.order))

    def rational(self, element: int, numerator_bound: int, denominator_bound: int) -> Fraction:
        """The fraction a / b with |a| <= numerator_bound and 0 < b <= denominator_bound that
        ``element`` represents mod p (Wang's rational reconstruction: the extended Euclidean
        algorithm stopped at the first remainder within the numerator bound). It is unique when
        p > 2 * numerator_bound * denominator_bound; a ProtocolError means no such fraction
        exists, i.e. the bounds were wrong."""
        if 2 * numerator_bound * denominator_bound >= self.order:
            raise ConfigurationError("the field is too small for these rational bounds")
        r0, r1 = gmpy2.mpz(self.order), gmpy2.mpz(element) % self.order
        s0, s1 = 0, 1
        while r1 > numerator_bound:
            quotient = r0 // r1
            r0, r1 = r1, r0 - quotient * r1
            s0, s1 = s1, s0 - quotient * s1
        if s1 == 0 or abs(s1) > denominator_bound:
            raise ProtocolError("a value is not a fraction within its declared bounds")
        return Fraction(int(r1 if s1 > 0 else -r1), int(abs(s1)))

    def power(self, x: int, e: int) -> int:
        return pow(x, e, self.order)

    # wire -----------------------------------------------------------------------------------
    def nbytes(self, elements: np.ndarray) -> int:
        return int(np.size(elements)) * self.width

    def to_bytes(self, elements: np.ndarray) -> bytes:
        width = self.width
        return b"".join(x.to_bytes(width, "little") for x in np.ravel(elements).tolist())

    def from_bytes(self, data: bytes, shape: int | Sequence[int]) -> np.ndarray:
        width = self.width
        count = len(data) // width
        if count * width != len(data) or count != element_count(shape):
            raise ConfigurationError("received field data does not match the expected shape")
        out = little_endian_ints(data, width)
        if count and max(out) >= self.order:
            raise ConfigurationError("received a value outside the field")
        return out.reshape(shape)


_GMP_BITS = 256  # from this width, products go through gmpy2
_to_mpz = np.frompyfunc(gmpy2.mpz, 1, 1)
_to_int = np.frompyfunc(int, 1, 1)


def _objects(values: Any) -> np.ndarray:
    """Operands as object arrays, so numpy never narrows a large int to a C long."""
    arr = np.asarray(values)
    return arr if arr.dtype == object else arr.astype(object)
