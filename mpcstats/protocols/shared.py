"""Secret-shared values: one party's shares plus the public facts about them.

A :class:`Shared` holds this party's shares of an array of signed integers, the bound
``bits`` (every secret satisfies |v| < 2**bits) and the fixed-point scale ``frac`` (the
integer v encodes the real number v / 2**frac). The bound is tracked through every operation,
so a computation whose declared ranges would outgrow the field is refused before it runs.
Linear operations are local and live here; everything that communicates is a protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.core.field import PrimeField

__all__ = ["Shared", "int_bits"]


def int_bits(value: Any) -> int:
    """The smallest k with |v| < 2**k for every integer v in ``value``."""
    arr = np.asarray(value)
    if arr.size == 0:
        return 0
    if arr.dtype.kind in "iu":  # machine integers: numpy finds the extremes
        return max(int(arr.max()).bit_length(), int(arr.min()).bit_length())
    return int(max(abs(int(v)) for v in arr.astype(object).flat).bit_length())


@dataclass(frozen=True, eq=False, repr=False)
class Shared:
    """This party's shares of a secret integer or fixed-point array."""

    field: PrimeField
    share: np.ndarray
    bits: int
    frac: int = 0

    def __repr__(self) -> str:
        return f"Shared(shape={self.shape}, bits={self.bits}, frac={self.frac})"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.share))

    @property
    def size(self) -> int:
        return int(np.size(self.share))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> Shared:
        return self._like(np.asarray(self.share[index], dtype=object), self.bits)

    def reshape(self, *shape: int) -> Shared:
        return self._like(self.share.reshape(shape), self.bits)

    @property
    def T(self) -> Shared:  # noqa: N802 - numpy's name
        return self._like(self.share.T, self.bits)

    def _like(self, share: np.ndarray, bits: int, frac: int | None = None) -> Shared:
        return Shared(self.field, share, bits, self.frac if frac is None else frac)

    # local linear algebra ------------------------------------------------------------------
    def _public(self, value: Any) -> tuple[np.ndarray, int]:
        """A public operand encoded at this value's scale, with its bound."""
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise ConfigurationError("public operands must be finite")
            ints = np.vectorize(lambda x: round(x * (1 << self.frac)), otypes=[object])(arr)
        else:
            ints = arr.astype(object) * (1 << self.frac)
            if arr.dtype.kind in "iu" and self.frac == 0:  # the bound without a pass over objects
                return self.field.array(ints), int_bits(arr)
        return self.field.array(ints), int_bits(ints)

    def constant_like(self, value: int) -> Shared:
        """The public ``value`` in this value's shape, as the trivial sharing every party
        holds (share = value), bounded as ``self - value`` is: to compare a secret with a
        public constant (``P.lt(session, x, x.constant_like(k))``)."""
        ints = np.full(self.shape, value, dtype=object)
        bits = max(self.bits, int_bits(value)) + 1
        return self._like(self.field.array(ints), bits)

    def __add__(self, other: Shared | Any) -> Shared:
        if isinstance(other, Shared):
            _check_scales(self, other)
            return self._like(
                self.field.add(self.share, other.share), max(self.bits, other.bits) + 1
            )
        value, bits = self._public(other)
        return self._like(self.field.add(self.share, value), max(self.bits, bits) + 1)

    __radd__ = __add__

    def __neg__(self) -> Shared:
        return self._like(self.field.neg(self.share), self.bits)

    def __sub__(self, other: Shared | Any) -> Shared:
        return self + (-other)

    def __rsub__(self, other: Any) -> Shared:
        return (-self) + other

    def __mul__(self, other: Any) -> Shared:
        """Multiplication by a public integer (local); secret products are protocols."""
        if isinstance(other, Shared):
            raise TypeError("multiply secrets with mpcstats.protocols.mul, which communicates")
        arr = np.asarray(other)
        if arr.dtype.kind not in "iub" and not (arr.dtype == object):
            raise TypeError("a public factor must be an integer; scale fixed-point explicitly")
        ints = arr.astype(object)
        return self._like(
            self.field.mul(self.share, self.field.array(ints)), self.bits + int_bits(ints)
        )

    __rmul__ = __mul__

    def sum(self, axis: int | None = None) -> Shared:
        count = self.size if axis is None else self.shape[axis]
        total = self.field.reduce(np.sum(self.share, axis=axis))
        return self._like(total, self.bits + max(count, 1).bit_length())

    def cumsum(self, axis: int = -1) -> Shared:
        count = self.shape[axis] if self.shape else 1
        total = self.field.reduce(np.cumsum(self.share, axis=axis))
        return self._like(total, self.bits + max(count, 1).bit_length())

    def with_bits(self, bits: int) -> Shared:
        """The same shares with a tighter bound the caller guarantees (e.g. a 0/1 result)."""
        return self._like(self.share, bits)

    def with_frac(self, frac: int) -> Shared:
        """Reinterpret the scale without changing the integers (e.g. a bit as fixed point)."""
        return self._like(self.share, self.bits, frac)


def _check_scales(a: Shared, b: Shared) -> None:
    if a.frac != b.frac:
        raise ConfigurationError(
            f"cannot add fixed-point values of scales 2^{a.frac} and 2^{b.frac}; rescale first"
        )
    if a.field != b.field:
        raise ConfigurationError("values from different fields cannot be combined")


def concatenate(values: list[Shared]) -> Shared:
    """Join flat shared vectors (same field and scale) into one, to batch a protocol call."""
    first = values[0]
    for v in values[1:]:
        _check_scales(first, v)
    share = np.concatenate([np.ravel(v.share) for v in values]).astype(object)
    return Shared(first.field, share, max(v.bits for v in values), first.frac)
