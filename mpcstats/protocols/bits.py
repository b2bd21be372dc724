"""Bit circuits on GF(2^8)-shared bits.

Bit vectors are uint8 share arrays whose last axis is the bit position, least significant first.
XOR and operations with public bits are local; each AND layer is one batched degree reduction,
so a circuit costs one round per layer whatever the number of elements:

- :func:`carry_save`: three addends to two (one layer),
- :func:`add`: a Sklansky parallel-prefix adder (1 + ceil(log2 w) layers),
- :func:`sum_bit`: one bit of a sum, from a carry tree (half the ANDs of the adder),
- :func:`less_than_public`: [c < s] for public c and shared s (ceil(log2 w) layers).

Leakage: none (nothing is opened).
"""

from __future__ import annotations

import numpy as np

from mpcstats.core.gf256 import GF256
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.session import Session

__all__ = ["add", "and_many", "carry_save", "less_than_public", "sum_bit", "sum_many"]

_F = GF256()


async def and_many(
    session: Session, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> list[np.ndarray]:
    """Elementwise ANDs of several pairs of shared bit arrays, in one round."""
    sizes = [np.size(a) for a, _ in pairs]
    left = np.concatenate([np.ravel(a) for a, _ in pairs])
    right = np.concatenate([np.ravel(b) for _, b in pairs])
    (product,) = await reduce_degree(session, [(_F, _F.mul(left, right))])
    out, start = [], 0
    for (a, _), size in zip(pairs, sizes, strict=True):
        out.append(product[start : start + size].reshape(np.shape(a)))
        start += size
    return out


def _shift_up(bits: np.ndarray) -> np.ndarray:
    """Multiply a bit vector by two (a zero enters at the bottom; the width grows by one)."""
    zero = np.zeros((*bits.shape[:-1], 1), dtype=np.uint8)
    return np.concatenate([zero, bits], axis=-1)


def _widen(bits: np.ndarray, width: int) -> np.ndarray:
    pad = width - bits.shape[-1]
    if pad <= 0:
        return bits
    return np.concatenate([bits, np.zeros((*bits.shape[:-1], pad), dtype=np.uint8)], axis=-1)


async def carry_save(
    session: Session, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """a + b + c = s + carry, with s = a ^ b ^ c and carry = 2 * majority(a, b, c)."""
    width = max(a.shape[-1], b.shape[-1], c.shape[-1])
    a, b, c = (_widen(x, width) for x in (a, b, c))
    ab, bc = a ^ b, b ^ c
    (both,) = await and_many(session, [(ab, bc)])
    return ab ^ c, _shift_up(both ^ b)  # majority = ((a^b) & (b^c)) ^ b


async def add(session: Session, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x + y for shared bit vectors of equal width w; the sum has w + 1 bits."""
    width = max(x.shape[-1], y.shape[-1])
    x, y = _widen(x, width), _widen(y, width)
    propagate = x ^ y
    (generate,) = await and_many(session, [(x, y)])
    level = 0
    prop = propagate.copy()
    while (1 << level) < width:
        upper = np.array([i for i in range(width) if (i >> level) & 1], dtype=np.intp)
        lower = ((upper >> level) << level) - 1
        last = (2 << level) >= width
        pairs = [(prop[..., upper], generate[..., lower])]
        if not last:
            pairs.append((prop[..., upper], prop[..., lower]))
        products = await and_many(session, pairs)
        generate[..., upper] ^= products[0]
        if not last:
            prop[..., upper] = products[1]
        level += 1
    carries = np.concatenate([np.zeros_like(generate[..., :1]), generate], axis=-1)
    return np.concatenate([propagate, np.zeros_like(propagate[..., :1])], axis=-1) ^ carries


async def sum_many(session: Session, operands: list[np.ndarray]) -> np.ndarray:
    """The sum of several shared bit vectors: carry-save layers down to two, then :func:`add`."""
    operands = list(operands)
    while len(operands) > 2:
        a, b, c = operands[:3]
        s, carry = await carry_save(session, a, b, c)
        operands = [*operands[3:], s, carry]
    if len(operands) == 1:
        return operands[0]
    return await add(session, operands[0], operands[1])


async def sum_bit(session: Session, operands: list[np.ndarray], position: int) -> np.ndarray:
    """Bit ``position`` of the sum of shared (or public) bit vectors: carry-save layers down to
    two addends x and y, then x_i ^ y_i ^ (the carry out of their lower bits), the carry from a
    tree that combines (generate, propagate) pairs of blocks, 1 + ceil(log2 i) layers."""
    width = position + 1  # higher bits cannot reach this one
    operands = [_widen(x, width)[..., :width] for x in operands]
    while len(operands) > 2:
        s, carry = await carry_save(session, *operands[:3])
        operands = [*operands[3:], s, carry[..., :width]]
    x, y = operands if len(operands) == 2 else (operands[0], np.zeros_like(operands[0]))
    if position == 0:
        return x[..., 0] ^ y[..., 0]
    carry = await _carry(session, x[..., :position], y[..., :position])
    return x[..., position] ^ y[..., position] ^ carry


async def _carry(session: Session, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The carry out of x + y: blocks of bits merge pairwise, (g, p) = (g_hi ^ p_hi g_lo,
    p_hi p_lo), an odd block passing up unchanged; only the generate survives the last layer."""
    (generate,) = await and_many(session, [(x, y)])
    propagate = x ^ y
    while generate.shape[-1] > 1:
        pairs = generate.shape[-1] // 2
        g_lo, g_hi = generate[..., 0 : 2 * pairs : 2], generate[..., 1 : 2 * pairs : 2]
        p_lo, p_hi = propagate[..., 0 : 2 * pairs : 2], propagate[..., 1 : 2 * pairs : 2]
        last = generate.shape[-1] == 2
        products = await and_many(session, [(p_hi, g_lo)] + ([] if last else [(p_hi, p_lo)]))
        merged_g = g_hi ^ products[0]
        merged_p = p_hi if last else products[1]  # unused after the last layer
        if generate.shape[-1] % 2:  # the top block waits for the next layer
            merged_g = np.concatenate([merged_g, generate[..., -1:]], axis=-1)
            merged_p = np.concatenate([merged_p, propagate[..., -1:]], axis=-1)
        generate, propagate = merged_g, merged_p
    return generate[..., 0]


async def less_than_public(session: Session, public: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """[c < s] per element, for public bits c (0/1 uint8) and shared bits s of the same width.

    From the most significant bit: the first position where they differ decides. g_i = s_i and
    not c_i ("s is larger here"), e_i = not (s_i xor c_i) ("equal here"); pairs combine as
    (g_hi ^ e_hi g_lo, e_hi e_lo), which are exclusive events, so OR is XOR.
    """
    greater = np.where(public == 0, bits, np.uint8(0)).astype(np.uint8)
    equal = bits ^ public ^ np.uint8(1)
    width = bits.shape[-1]
    size = 1 << max(width - 1, 0).bit_length()
    if size > width:  # pad at the top with "equal", which passes the lower verdict through
        pad = (*bits.shape[:-1], size - width)
        greater = np.concatenate([greater, np.zeros(pad, dtype=np.uint8)], axis=-1)
        equal = np.concatenate([equal, np.ones(pad, dtype=np.uint8)], axis=-1)
    while greater.shape[-1] > 1:
        g_lo, g_hi = greater[..., 0::2], greater[..., 1::2]
        e_lo, e_hi = equal[..., 0::2], equal[..., 1::2]
        if greater.shape[-1] == 2:
            (carried,) = await and_many(session, [(e_hi, g_lo)])
            greater, equal = g_hi ^ carried, e_hi
        else:
            carried, equal = await and_many(session, [(e_hi, g_lo), (e_hi, e_lo)])
            greater = g_hi ^ carried
    return greater[..., 0]
