"""Oblivious search of pooled cumulative counts: order statistics found without opening them.

A grid of 2^w values is split into levels of d_1 + ... + d_L = w bits. Level l holds, for each
block of the levels before it (2^(d_1 + ... + d_(l-1)) blocks), the pooled cumulative counts
G(x) at the last value of each of the block's first 2^d_l - 1 parts. A search looks for the
smallest x with scale * G(x) > threshold (a secret threshold per search): at each level its
block's counts are compared with the threshold by :func:`~mpcstats.protocols.comparison.ltz`,
whose results stay secret. They are 0...0 1...1, so their differences are the one-hot of the
part holding x, and the next level's row is that one-hot times the level's table (one secret
matrix product, :func:`~mpcstats.protocols.arithmetic.matmul`; from the third level on, the
block's one-hot is the outer product of the levels' one-hots, one more product).

Leakage: none. Every comparison opens only a masked value and bits XOR uniform daBits, and
the search's result is a secret grid index. The cost is the tables: every party inputs counts
for every block, about 2^w values, whichever block holds x.
"""

from __future__ import annotations

import numpy as np

from mpcstats.protocols.arithmetic import matmul, mul
from mpcstats.protocols.comparison import ComparisonMasks, comparison_masks, ltz
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = ["first_masks", "search_digits", "search_probes", "smallest_above"]


def search_digits(width: int, digit_bits: int = 8) -> list[int]:
    """The levels of a search over 2^width values, digit_bits at most each, spread evenly."""
    levels = max(1, -(-width // digit_bits))
    return [width // levels + (1 if i < width % levels else 0) for i in range(levels)]


def search_probes(digits: list[int]) -> list[np.ndarray]:
    """Per level, the grid offsets whose cumulative counts its table holds: a matrix with a row
    per block of the levels before it and a column per part but the last."""
    width, done, tables = sum(digits), 0, []
    for digit in digits:
        block = 1 << (width - done)
        part = block >> digit
        starts = np.arange(1 << done, dtype=np.int64)[:, None] * block
        tables.append(starts + part * np.arange(1, 1 << digit, dtype=np.int64)[None, :] - 1)
        done += digit
    return tables


async def smallest_above(
    session: Session,
    tables: list[Shared],
    digits: list[int],
    thresholds: Shared,
    scale: int,
    bits: int,
    *,
    ahead: ComparisonMasks | None = None,
) -> Shared:
    """For each of the secret ``thresholds`` (a vector), the secret smallest grid offset x with
    scale * G(x) > threshold, from the pooled ``tables`` laid out as :func:`search_probes`
    says; every comparison is of values below 2^bits in magnitude. ``ahead``: the first
    level's comparison masks (:func:`first_masks`). If no x qualifies, the result is the last
    offset."""
    searches = thresholds.size
    field = session.field
    column = thresholds.reshape(searches, 1)
    selector: Shared | None = None  # the one-hot of each search's block (searches x blocks)
    index: Shared | None = None
    for level, (table, digit) in enumerate(zip(tables, digits, strict=True)):
        parts = 1 << digit
        if selector is None:
            rows = np.broadcast_to(table.share.reshape(1, -1), (searches, parts - 1))
            counts = Shared(field, np.array(rows, dtype=object), table.bits)
        else:
            # the selector is one-hot: the product is one row of the table, as wide as it. This
            # level's comparison masks are dealt in the same round.
            selected, ahead = await session.together(
                matmul(session, selector, table),
                comparison_masks(session, searches * (parts - 1), bits),
            )
            counts = selected.with_bits(table.bits)
        gaps = (column - counts * scale).with_bits(bits)
        at_or_above = await ltz(session, gaps.reshape(-1), ahead=ahead)
        ahead = None
        passed = at_or_above.reshape(searches, parts - 1)  # 1 where x is at or below the probe
        digit_value = ((parts - 1) - passed.sum(axis=1)).with_bits(digit + 1)
        index = digit_value if index is None else (index * parts + digit_value)
        if level + 1 == len(tables):
            break
        zero = passed[:, :1] * 0
        one_hot = _concat([passed, zero + 1]) - _concat([zero, passed])
        one_hot = one_hot.with_bits(1)
        if selector is None:
            selector = one_hot
        else:
            blocks = selector.shape[1]
            outer = await mul(
                session, selector.reshape(searches, blocks, 1), one_hot.reshape(searches, 1, parts)
            )
            selector = outer.reshape(searches, blocks * parts).with_bits(1)
    assert index is not None
    return index.with_bits(sum(digits) + 1)


async def first_masks(
    session: Session, searches: int, digits: list[int], bits: int
) -> ComparisonMasks:
    """The first level's comparison masks, to deal beside the round that pools the tables."""
    return await comparison_masks(session, searches * ((1 << digits[0]) - 1), bits)


def _concat(parts: list[Shared]) -> Shared:
    share = np.concatenate([p.share for p in parts], axis=1)
    return Shared(parts[0].field, share, max(p.bits for p in parts), parts[0].frac)
