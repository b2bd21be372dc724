"""Comparison, equality and exact shifts of bounded integers.

The core is :func:`shift_right`, floor(x / 2^m) for |x| < 2^k. With b = x + 2^k in [0, 2^(k+1))
and a mask r = S + 2^m R from :mod:`~mpcstats.protocols.masks`, the parties open c = b + r and

    floor(b / 2^m) = floor(c / 2^m) - R + floor((c mod 2^m - S) / 2^m),

where the last term, in [-T, 0] for T contributors, comes from one adder in GF(2^8) over the
contributors' complemented addends of S and the public c mod 2^m, and moves into GF(p) with
daBits. Comparisons are shifts: [x < 0] = 1 - floor(b / 2^k).

A comparison whose result is opened (:func:`open_ltz`) needs no daBits: mod 2, the shift is
c_k + R + floor(D / 2^k) + T for the adder's sum D (below), whose bit k one carry tree gives;
with R mod 2 dealt in GF(2^8) too, the result bit is formed and opened in GF(2^8).

Leakage: the opened c is b plus a mask of k + 1 + kappa bits (statistically hides b to within
2^-kappa), and each bit moved between fields is opened XOR a uniform daBit. Nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.core.gf256 import GF256
from mpcstats.protocols import bits as bitcircuits
from mpcstats.protocols.arithmetic import mul
from mpcstats.protocols.masks import Masks, bits_of, masks, xor_bits
from mpcstats.protocols.opening import open_elements
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared, concatenate

__all__ = [
    "ComparisonMasks",
    "comparison_masks",
    "eq",
    "ge",
    "gt",
    "is_zero",
    "le",
    "lt",
    "ltz",
    "maximum",
    "minimum",
    "open_ltz",
    "shift_right",
    "vector_max",
    "vector_min",
]

_GF = GF256()


@dataclass
class ComparisonMasks:
    """The masks of a batch of comparisons, dealt ahead (:func:`comparison_masks`). They serve
    one batch only: a mask opened twice would reveal the difference of the two values."""

    count: int
    bits: int
    opened: bool  # for :func:`open_ltz` rather than :func:`ltz`
    _masks: Masks | None

    def take(self, count: int, bits: int, opened: bool) -> Masks:
        if (self.count, self.bits, self.opened) != (count, bits, opened):
            kind = {True: "opened ", False: ""}
            raise ConfigurationError(
                f"masks dealt for {self.count} {kind[self.opened]}comparisons of {self.bits}-bit "
                f"values, used for {count} {kind[opened]}comparisons of {bits} bits"
            )
        if self._masks is None:
            raise ConfigurationError("comparison masks dealt ahead serve one batch only")
        masks, self._masks = self._masks, None
        return masks


async def comparison_masks(
    session: Session, count: int, bits: int, *, opened: bool = False
) -> ComparisonMasks:
    """The masks of ``count`` comparisons of values below 2^bits in magnitude (:func:`ltz`, or
    :func:`open_ltz` when ``opened``), dealt before the values exist: one round, which a caller
    can spend beside other rounds (:meth:`~mpcstats.protocols.session.Session.together`), so
    the comparisons take one less."""
    dealt = await _shift_masks(session, count, bits, bits, opened=opened)
    return ComparisonMasks(count, bits, opened, dealt)


async def _shift_masks(
    session: Session, count: int, k: int, m: int, *, opened: bool = False
) -> Masks:
    contributors = len(session.contributors)
    session.field.require(k + 2, session.kappa, contributors, "a comparison or exact shift")
    top_bits = 0 if opened else contributors.bit_length()  # floor(D / 2^m) <= contributors
    high_bits = k + 1 - m + session.kappa
    return await masks(
        session, count, m, high_bits, with_bits=True, dabits=top_bits, high_parity=opened
    )


async def _masks_for(
    session: Session, count: int, k: int, m: int, ahead: ComparisonMasks | None, *, opened: bool
) -> Masks:
    """The masks of a batch of shifts by m of k-bit values: dealt now, or taken from ``ahead``
    (which serves comparisons only, shifts by all k bits)."""
    if ahead is None:
        return await _shift_masks(session, count, k, m, opened=opened)
    if m != k:
        raise ConfigurationError("masks dealt ahead serve comparisons, shifts by all k bits")
    return ahead.take(count, k, opened)


async def shift_right(
    session: Session, x: Shared, m: int, *, ahead: ComparisonMasks | None = None
) -> Shared:
    """floor(x / 2^m), exactly, for |x| < 2^x.bits (0 <= m <= x.bits); ``ahead``: masks
    dealt for it already (m = x.bits only)."""
    k = x.bits
    if not 0 <= m <= k:
        raise ConfigurationError(f"cannot shift a {k}-bit value by {m} bits")
    if m == 0:
        return x.with_frac(0)
    field = session.field
    contributors = len(session.contributors)
    flat = np.ravel(x.share)
    count = flat.size
    top_bits = contributors.bit_length()
    mask = await _masks_for(session, count, k, m, ahead, opened=False)
    assert mask.dabits_2 is not None and mask.low is not None
    offset = 1 << k
    masked = field.reduce(flat + mask.low + mask.high * (1 << m) + offset)

    async def opened_borrow_bits() -> tuple[np.ndarray, np.ndarray]:
        """c, and the top bits of D (below) opened XOR daBits."""
        c = await open_elements(session, field, masked, label="masked value (comparison)")
        assert c is not None and mask.dabits_2 is not None
        # D = c_low + sum_i (2^m - 1 - s_i) + T = c_low - S + T 2^m for the T contributors'
        # m-bit parts s_i, so floor(D / 2^m) - T = floor((c_low - S) / 2^m), in [-T, 0]. One
        # adder of the complemented parts and the public c_low + T gives it: no separate
        # comparison circuit.
        c_low = np.asarray(c & ((1 << m) - 1), dtype=object)
        width = m + top_bits
        public = bits_of(np.asarray(c_low + contributors, dtype=object), width)
        complements = [bitcircuits._widen(part ^ np.uint8(1), width) for part in mask.low_bits]
        total = await bitcircuits.sum_many(session, [public, *complements])
        top = bitcircuits._widen(total, width)[:, m:width]
        return c, await _open_conversions(session, top, mask.dabits_2)

    # the daBits' GF(p) XOR needs no input: its rounds travel with the opening and the adder
    (c, opened), dabits_p = await session.together(
        opened_borrow_bits(), xor_bits(session, mask.dabit_parts)
    )
    c_high = np.asarray(c >> m, dtype=object)
    # bit_j = v_j + d_j (1 - 2 v_j): v_j is public, so each term is +d_j or -d_j (no products)
    signed = np.where(opened == 1, -dabits_p, dabits_p)
    weights = np.array([1 << i for i in range(top_bits)], dtype=object)
    borrow = (signed * weights).sum(axis=1) + (opened.astype(object) * weights).sum(axis=1)
    # floor(b / 2^m) - 2^(k-m) = floor(x / 2^m): the offset 2^k is undone here
    result = field.reduce(c_high - (1 << (k - m)) - mask.high + borrow - contributors)
    return Shared(field, result.reshape(x.shape), max(k - m, 0) + 1, 0)


async def _open_conversions(
    session: Session, bits2: np.ndarray, dabits_2: np.ndarray
) -> np.ndarray:
    """Open v = b ^ d for GF(2^8)-shared bits b and daBits d; b = v + d - 2 v d in GF(p)."""
    opened = await open_elements(
        session, _GF, bits2 ^ dabits_2, label="bit xor daBit (field conversion)"
    )
    assert opened is not None
    return opened


async def ltz(session: Session, x: Shared, *, ahead: ComparisonMasks | None = None) -> Shared:
    """[x < 0] as a shared 0/1 integer: floor(x / 2^k) is -1 or 0 when |x| < 2^k. ``ahead``:
    masks dealt already for these comparisons (:func:`comparison_masks`)."""
    floor = await shift_right(session, x.with_frac(0), x.bits, ahead=ahead)
    return (-floor).with_bits(1)


async def open_ltz(
    session: Session, x: Shared, *, ahead: ComparisonMasks | None = None, label: str
) -> np.ndarray:
    """[x < 0] opened to every party, as 0/1 integers: :func:`ltz` with its result bit formed in
    GF(2^8) and opened there, so without daBits and with one round less than ltz then open.
    ``ahead``: masks dealt already (``comparison_masks(..., opened=True)``).

    Leakage: the comparison results, as the ``label``ed opening; the masked c as in ltz.
    """
    k = x.bits
    flat = np.ravel(x.with_frac(0).share)
    count = flat.size
    mask = await _masks_for(session, count, k, k, ahead, opened=True)
    assert mask.low is not None and mask.high_parity is not None
    contributors = len(session.contributors)
    masked = session.field.reduce(flat + mask.low + mask.high * (1 << k) + (1 << k))
    c = await open_elements(session, session.field, masked, label="masked value (comparison)")
    assert c is not None
    # D = c_low + T + sum_i (2^k - 1 - s_i) as in shift_right; only its bit k is needed
    public = bits_of(np.asarray((c & ((1 << k) - 1)) + contributors, dtype=object), k + 1)
    complements = [part ^ np.uint8(1) for part in mask.low_bits]
    d_k = await bitcircuits.sum_bit(session, [public, *complements], k)
    # floor(b / 2^k) = c_high - R + floor(D / 2^k) - T, and it is 0 or 1: its parity is it
    c_k = np.asarray((c >> k) & 1, dtype=np.uint8)
    not_negative = d_k ^ mask.high_parity ^ c_k ^ np.uint8(contributors & 1)
    opened = await open_elements(session, _GF, not_negative ^ np.uint8(1), label=label)
    assert opened is not None
    return opened.astype(np.int64).reshape(x.shape)


async def lt(session: Session, a: Shared, b: Shared) -> Shared:
    """[a < b] elementwise."""
    return await ltz(session, a - b)


async def gt(session: Session, a: Shared, b: Shared) -> Shared:
    return await ltz(session, b - a)


async def le(session: Session, a: Shared, b: Shared) -> Shared:
    return (1 - await gt(session, a, b)).with_bits(1)


async def ge(session: Session, a: Shared, b: Shared) -> Shared:
    return (1 - await lt(session, a, b)).with_bits(1)


async def is_zero(session: Session, x: Shared) -> Shared:
    """[x == 0] = 1 - [x < 0] - [-x < 0], both comparisons in one batch."""
    both = await ltz(
        session, concatenate([x.with_frac(0).reshape(-1), (-x).with_frac(0).reshape(-1)])
    )
    size = x.size
    negative, positive = both[:size], both[size:]
    return (1 - negative - positive).with_bits(1).reshape(*x.shape)


async def eq(session: Session, a: Shared, b: Shared) -> Shared:
    return await is_zero(session, a - b)


async def _select(session: Session, condition: Shared, a: Shared, b: Shared) -> Shared:
    """condition ? a : b for a shared 0/1 condition: b + condition * (a - b)."""
    chosen = await mul(session, condition.with_frac(0), a - b)
    return (b + chosen).with_bits(max(a.bits, b.bits))


async def minimum(session: Session, a: Shared, b: Shared) -> Shared:
    return await _select(session, await lt(session, a, b), a, b)


async def maximum(session: Session, a: Shared, b: Shared) -> Shared:
    return await _select(session, await lt(session, a, b), b, a)


async def _tournament(session: Session, x: Shared, pick_max: bool) -> Shared:
    values = x.reshape(-1)
    while values.size > 1:
        half = values.size // 2
        left, right = values[:half], values[half : 2 * half]
        winner = await (maximum if pick_max else minimum)(session, left, right)
        values = concatenate([winner, values[2 * half :]]) if values.size % 2 else winner
    return values[0]


async def vector_min(session: Session, x: Shared) -> Shared:
    """The minimum of a shared vector (ceil(log2 n) comparison layers)."""
    return await _tournament(session, x, pick_max=False)


async def vector_max(session: Session, x: Shared) -> Shared:
    """The maximum of a shared vector (ceil(log2 n) comparison layers)."""
    return await _tournament(session, x, pick_max=True)
