"""Secure finishes of the statistics: pooling, disclosure control, release to the analyst.

Every statistic follows one pattern: each party aggregates its own rows in plaintext, the parties
secret-share their aggregates in one round (:func:`pool`), and a secure finish computes the
output. :func:`release` hands the analyst re-randomised output shares; no party sees the output.

Disclosure control runs inside MPC (:func:`suppress`): a cell with count < k is flagged without
its count being opened. Within every line of a table (each row and column), if exactly one cell
is flagged, the smallest unflagged cell of that line is flagged too, so a suppressed count cannot
be recovered from the released margins. Both passes are oblivious: the parties learn nothing,
and the analyst learns the flags and the unflagged counts.
"""

from __future__ import annotations

import numpy as np

from mpcstats import protocols as P
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = ["pool", "release", "suppress"]


async def pool(session: Session, local: np.ndarray, bits: int, frac: int = 0) -> Shared:
    """The sum over parties of each party's ``local`` aggregate (same shape everywhere)."""
    parts = await P.input_all(session, local, bits=bits, frac=frac)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def release(session: Session, value: Shared) -> np.ndarray:
    """This party's share of ``value`` for the analyst (re-randomised when PRSS keys exist)."""
    return P.output_share(session, value) if session.prss is not None else value.share


async def suppress(session: Session, counts: Shared, k: int) -> Shared:
    """Flags (1 = suppress) for a 1-D or 2-D table of counts, with complementary suppression."""
    flat = counts.reshape(-1)
    flags = await P.lt(session, flat, flat * 0 + k)
    if counts.size == 1:
        return flags.reshape(*counts.shape)
    shape = counts.shape if len(counts.shape) == 2 else (1, counts.size)
    flags = flags.reshape(*shape)
    table = counts.reshape(*shape)
    for axis in (1, 0):  # lines are rows, then columns
        flags = await _complete_lines(session, table, flags, axis)
    return flags.reshape(*counts.shape)


async def _complete_lines(session: Session, table: Shared, flags: Shared, axis: int) -> Shared:
    """In each line with exactly one flag, also flag its smallest unflagged cell."""
    lines = table if axis == 1 else table.T
    line_flags = flags if axis == 1 else flags.T
    width = lines.shape[1]
    if width < 2:
        return flags
    big = 1 << lines.bits
    hidden = await P.mul(session, line_flags, lines * 0 + big)  # flagged cells drop out of the min
    candidates = lines + hidden.with_bits(lines.bits + 1)
    smallest = await _row_minimum(session, candidates)
    repeated = P.concatenate([smallest] * width).reshape(width, -1).T
    is_min = await P.eq(session, candidates.reshape(-1), repeated.reshape(-1))
    single = await P.eq(session, line_flags.sum(axis=1), line_flags.sum(axis=1) * 0 + 1)
    singles = P.concatenate([single] * width).reshape(width, -1).T
    extra = await P.mul(session, is_min.reshape(*lines.shape), singles)
    merged = (line_flags + extra - await P.mul(session, line_flags, extra)).with_bits(1)
    return merged if axis == 1 else merged.T


async def _row_minimum(session: Session, rows: Shared) -> Shared:
    """The minimum of each row of a matrix, all rows together (log2(width) comparison layers)."""
    current = rows
    while current.shape[1] > 1:
        half = current.shape[1] // 2
        left, right = current[:, :half], current[:, half : 2 * half]
        smaller = await P.minimum(session, left.reshape(-1), right.reshape(-1))
        smaller = smaller.reshape(current.shape[0], half)
        if current.shape[1] % 2:
            rest = current[:, 2 * half :]
            joined = np.concatenate([smaller.share, rest.share], axis=1)
            smaller = Shared(current.field, joined, current.bits, current.frac)
        current = smaller
    return current[:, 0]
