"""Random masks without a dealer, shared in both fields.

Each of the t + 1 contributors (at least one of them honest) draws, per element, an m-bit
integer x_lo and a wider integer x_hi and shares x_lo and x_hi in GF(p), and the bits of x_lo in
GF(2^8). Summing over contributors gives a mask r = S + 2^m R with S = sum x_lo and R = sum x_hi,
uniform enough to hide any value of fewer than (bits of x_hi) - kappa + m bits, and the binary
addends of S for the bit circuits (edaBits, Escudero et al. 2020). daBits -- one random bit shared
in both fields -- come the same way: GF(2^8) shares XOR for free, GF(p) shares are XORed with
t multiplications (x ^ y = x + y - 2xy).

All contributor sharings of one request travel in one round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpcstats.core.gf256 import GF256
from mpcstats.core.randomness import element_count
from mpcstats.core.shamir import Field
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.protocols.sharing import deal

__all__ = ["Masks", "bits_of", "dabits", "masks", "product_masks", "random_bits", "xor_bits"]

_GF = GF256()


@dataclass
class Masks:
    """This party's shares of the masks of a batch of ``count`` elements."""

    low: np.ndarray | None  # GF(p), degree t: S = sum of contributors' m-bit parts (None in
    # the masks of fused products, which only ever use S + 2^m R at degree 2t)
    high: np.ndarray  # GF(p), degree t: R = sum of contributors' high parts
    low_bits: list[np.ndarray]  # per contributor, GF(2^8) bits of its m-bit part, (count, m)
    full_2t: np.ndarray | None  # GF(p), degree 2t: S + 2^m R (fused multiply-and-truncate)
    dabit_parts: list[np.ndarray]  # per contributor, GF(p) shares of its daBits, (count, k)
    dabits_2: np.ndarray | None  # GF(2^8) shares of the daBits: the contributors' XOR
    high_parity: np.ndarray | None = None  # GF(2^8) shares of R mod 2 (opened comparisons)

    def take(self, count: int) -> Masks:
        """The next ``count`` masks of a pool drawn in one round (for truncations only)."""
        head = Masks(
            None if self.low is None else self.low[:count],
            self.high[:count],
            [],
            None if self.full_2t is None else self.full_2t[:count],
            [],
            None,
        )
        self.high = self.high[count:]
        if self.low is not None:
            self.low = self.low[count:]
        if self.full_2t is not None:
            self.full_2t = self.full_2t[count:]
        return head


def bits_of(values: np.ndarray, m: int) -> np.ndarray:
    """The m low bits of each Python int, least significant first, as uint8 (count, m)."""
    words = (m + 63) // 64
    limbs = np.stack(
        [((values >> (64 * w)) & ((1 << 64) - 1)).astype(np.uint64) for w in range(words)], axis=-1
    )
    as_bytes = limbs.astype("<u8").view(np.uint8).reshape(len(values), words * 8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[:, :m].copy()


async def masks(
    session: Session,
    count: int,
    m: int,
    high_bits: int,
    *,
    with_bits: bool,
    dabits: int = 0,
    high_parity: bool = False,
) -> Masks:
    """Draw masks for ``count`` elements in one dealing round. The daBits' GF(p) shares come
    per contributor: :func:`xor_bits` combines them (log2(t + 1) rounds, which the caller can
    run alongside its next rounds with :meth:`~mpcstats.protocols.session.Session.together`).
    ``high_parity`` also shares R mod 2 in GF(2^8): the XOR of the contributors' lowest high
    bits, for comparisons whose result is opened in GF(2^8)."""
    field = session.field
    items: list[tuple[Field, np.ndarray]] = []
    degrees: list[int] = []
    if session.party in session.contributors:
        low = session.stream.integers(m, count) if m else field.zeros(count)
        high = session.stream.integers(high_bits, count)
        items += [(field, low), (field, high)]
        degrees += [session.t, session.t]
        if with_bits:
            items.append((_GF, bits_of(low, m)))
            degrees.append(session.t)
        if dabits:
            bits = session.stream.uint8(count * dabits).reshape(count, dabits) & 1
            items += [(field, bits.astype(object)), (_GF, bits)]
            degrees += [session.t, session.t]
        if high_parity:
            items.append((_GF, np.asarray(high & 1, dtype=np.uint8)))
            degrees.append(session.t)
    parts = await deal(session, items, degrees)
    ones = [1] * len(parts)
    low_share = field.lincomb(ones, [p[0] for p in parts])
    high_share = field.lincomb(ones, [p[1] for p in parts])
    index = 2
    low_bits: list[np.ndarray] = []
    if with_bits:
        low_bits = [p[index] for p in parts]
        index += 1
    dabit_parts: list[np.ndarray] = []
    dabits_2 = None
    if dabits:
        dabits_2 = _GF.lincomb(ones, [p[index + 1] for p in parts])
        dabit_parts = [p[index] for p in parts]
        index += 2
    parity = _GF.lincomb(ones, [p[index] for p in parts]) if high_parity else None
    return Masks(low_share, high_share, low_bits, None, dabit_parts, dabits_2, parity)


async def product_masks(session: Session, batches: Sequence[tuple[int, int, int]]) -> list[Masks]:
    """Masks for fused products (:func:`~mpcstats.protocols.fixedpoint.mul`), one per batch
    (count, m, high_bits): R at degree t and S + 2^m R at degree 2t (S itself is never used
    alone, so it is not dealt); every batch in one dealing round."""
    field, t = session.field, session.t
    items: list[tuple[Field, np.ndarray]] = []
    if session.party in session.contributors:
        for count, m, high_bits in batches:
            low = session.stream.integers(m, count) if m else field.zeros(count)
            high = session.stream.integers(high_bits, count)
            items += [(field, high), (field, low + (high << m))]
    parts = await deal(session, items, [t, 2 * t] * (len(items) // 2))
    ones = [1] * len(parts)

    def summed(index: int) -> np.ndarray:
        return field.lincomb(ones, [p[index] for p in parts])

    return [
        Masks(None, summed(2 * i), [], summed(2 * i + 1), [], None) for i in range(len(batches))
    ]


async def dabits(session: Session, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uniform random bits shared in GF(p) and in GF(2^8) (one round + XOR layers)."""
    items: list[tuple[Field, np.ndarray]] = []
    if session.party in session.contributors:
        bits = session.stream.uint8(count) & 1
        items = [(session.field, bits.astype(object)), (_GF, bits)]
    parts = await deal(session, items)
    in_gf = _GF.lincomb([1] * len(parts), [p[1] for p in parts])
    return await xor_bits(session, [p[0] for p in parts]), in_gf


async def random_bits(session: Session, shape: int | tuple[int, ...]) -> Shared:
    """Uniform random bits, shared in GF(p); nobody learns them."""
    count = element_count(shape)
    in_p, _ = await dabits(session, count)
    return Shared(session.field, in_p.reshape(shape), 1, 0)


async def xor_bits(session: Session, bits: list[np.ndarray]) -> np.ndarray:
    """XOR of GF(p)-shared bits as a balanced tree: x ^ y = x + y - 2xy."""
    field = session.field
    while len(bits) > 1:
        pairs = [(bits[i], bits[i + 1]) for i in range(0, len(bits) - 1, 2)]
        products = await reduce_degree(session, [(field, field.mul(x, y)) for x, y in pairs])
        merged = [
            field.lincomb([1, 1, field.order - 2], [x, y, xy])
            for (x, y), xy in zip(pairs, products, strict=True)
        ]
        bits = merged + ([bits[-1]] if len(bits) % 2 else [])
    return bits[0]
