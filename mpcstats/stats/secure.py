"""Secure finishes of the statistics: pooling, disclosure control, release to the analyst.

Every statistic follows one pattern: each party aggregates its own rows in plaintext, the parties
secret-share their aggregates in one round (:func:`pool`), and a secure finish computes the
output. :func:`release` hands the analyst re-randomised output shares; no party sees the output.

Disclosure control runs inside MPC (:func:`suppress`): a cell with count < k is flagged without
its count being opened. Within every line of a table (along every axis), if exactly one cell is
flagged, the smallest unflagged cell of that line is flagged too, so a suppressed count cannot
be recovered from the released margins; the passes repeat, and a table still unsettled after
them is hidden whole. All of it is oblivious: the parties learn nothing, and the analyst learns
the flags and the unflagged counts.

Statistics of a group that need no complementary suppression (describe) use a cheaper gate
(:func:`gate_at_least`): z = rho * n (n - 1) ... (n - k + 1) for a secret uniform rho is zero
exactly when n < k and otherwise uniform and non-zero. The analyst receives z and z * v for each
output v, and recovers v = (z v) / z only when z is non-zero: ceil(log2(k + 2)) - 1 rounds
(2 for k = 5) instead of a comparison, as the last products stay at degree 2t and are
re-randomised, not reduced. :func:`open_gate` is the analyst's side; parties learn nothing.
A count of records a missing value excluded is gated with the kept records as one line
(:func:`line_gate`): the filter's count, another query's output, is their sum.
"""

from __future__ import annotations

import math

import numpy as np

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.opening import open_elements
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = [
    "EXCLUDED_OUTPUTS",
    "SUPPRESSION_PASSES",
    "at_least_public",
    "count_gate",
    "excluded_note",
    "gate_at_least",
    "gate_groups",
    "line_gate",
    "open_excluded",
    "open_gate",
    "open_if_at_least",
    "pool",
    "release",
    "release_products",
    "suppress",
]


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


async def release_products(session: Session, products: list[np.ndarray]) -> list[np.ndarray]:
    """This party's shares for the analyst of local products of two degree-t sharings (degree
    2t), or of degree-t values: re-randomised without a round when PRSS keys exist."""
    shares, _ = await _revealable(session, products)
    return shares


async def suppress(session: Session, counts: Shared, k: int) -> Shared:
    """Flags (1 = suppress) for a table of counts of any dimension, with complementary
    suppression: cells below k, then, along each axis in turn, in every line with exactly one
    flag the first smallest unflagged cell, for :data:`SUPPRESSION_PASSES` passes over the axes.
    A pass can leave a line of another axis with one flag; if any line still has exactly one
    after the passes, every cell is flagged. So no released table has a line with a single
    hidden cell, and nothing is opened to decide it.

    Every line's minimum compares all pairs of its cells: callers refuse a table too large for
    that with :func:`check_suppressible`, from its public shape, before reading any row."""
    flags = await P.lt(session, counts.reshape(-1), counts.reshape(-1).constant_like(k))
    flags = flags.reshape(*counts.shape)
    axes = [axis for axis, size in enumerate(counts.shape) if size > 1]
    if not axes:
        return flags
    for _ in range(SUPPRESSION_PASSES if len(axes) > 1 else 1):  # one line settles at once
        for axis in axes:
            lines = await _complete_lines(session, _lines(counts, axis), _lines(flags, axis))
            flags = _unlines(lines, axis, counts.shape)
    return flags if len(axes) == 1 else await _all_if_unsettled(session, flags, axes)


# passes over every axis before an unsettled table is hidden whole: on random tables with a
# sixth of their cells small, 29 % are unsettled after one pass, 2.5 % after two, 0.1 % after 3
SUPPRESSION_PASSES = 3
# about 30 s of the parties' CPU in one process; a 1001-level count and a 50 x 50 crosstab fit,
# a crosstab of two 111-level columns (4 million) does not
MAX_SUPPRESSION_COMPARISONS = 1_000_000


def check_suppressible(shape: tuple[int, ...]) -> None:
    """Refuse a table whose suppression would take more than the allowed comparisons; the
    analyses check their table's public shape before reading any row."""
    needed = suppression_comparisons(shape)
    if needed > MAX_SUPPRESSION_COMPARISONS:
        cells = " x ".join(str(size) for size in shape)
        raise ConfigurationError(
            f"a table of {cells} cells needs {needed:,} secure comparisons to suppress its "
            f"small cells, more than the {MAX_SUPPRESSION_COMPARISONS:,} allowed: group by "
            "fewer levels (bin the column, use fewer bins, or filter)"
        )


def suppression_comparisons(shape: tuple[int, ...]) -> int:
    """The secure comparisons :func:`suppress` makes for a table of ``shape``: one per cell
    against k, then per pass over each axis, every pair within every line."""
    cells = math.prod(shape)
    axes = [size for size in shape if size > 1]
    passes = SUPPRESSION_PASSES if len(axes) > 1 else 1
    return cells + passes * sum(cells // size * (size * (size - 1) // 2) for size in axes)


def _lines(x: Shared, axis: int) -> Shared:
    """The lines of ``x`` along ``axis``, as the rows of a matrix."""
    share = np.moveaxis(x.share, axis, -1)
    return Shared(x.field, share.reshape(-1, share.shape[-1]), x.bits, x.frac)


def _unlines(lines: Shared, axis: int, shape: tuple[int, ...]) -> Shared:
    """The inverse of :func:`_lines`."""
    moved = [size for i, size in enumerate(shape) if i != axis] + [shape[axis]]
    share = np.moveaxis(lines.share.reshape(moved), -1, axis)
    return Shared(lines.field, share, lines.bits, lines.frac)


async def _all_if_unsettled(session: Session, flags: Shared, axes: list[int]) -> Shared:
    """``flags``, or every cell flagged if a line along some axis has exactly one flag."""
    counts = P.concatenate([_lines(flags, axis).sum(axis=1) for axis in axes])
    singles = await P.eq(session, counts, counts.constant_like(1))
    settled = await P.is_zero(session, singles.sum().reshape(1))
    everywhere = P.concatenate([settled] * flags.size).reshape(*flags.shape)
    # flag where flagged, or where the table is unsettled: 1 - settled * (1 - flag)
    return (1 - await P.mul(session, everywhere, 1 - flags)).with_bits(1)


async def _complete_lines(session: Session, lines: Shared, flags: Shared) -> Shared:
    """In each line (a row) with exactly one flag, also flag its smallest unflagged cell (the
    first of them, when several tie)."""
    # flagged cells drop out of the minimum: they are lifted above every count (local)
    candidates = (lines + flags * (1 << lines.bits)).with_bits(lines.bits + 1)
    flagged = flags.sum(axis=1)
    smallest, single = await session.together(
        _first_minimum(session, candidates), P.eq(session, flagged, flagged.constant_like(1))
    )
    width = lines.shape[1]
    singles = P.concatenate([single] * width).reshape(width, -1).T
    extra = await P.mul(session, smallest, singles)
    # in a line with one flag the smallest candidate is unflagged, so extra adds a new flag
    return (flags + extra).with_bits(1)


async def _first_minimum(session: Session, rows: Shared) -> Shared:
    """For each row of a matrix, a one-hot row marking the first position of its minimum.

    Every pair of a row's entries is compared once, all pairs of all rows in one batch; entry i
    is the first minimum when it is at most every later entry and below every earlier one,
    the product of its width - 1 verdicts, multiplied out as a tree (ceil(log2(width - 1))
    rounds). A tournament took a comparison and a product per halving instead: a 20-wide row
    cost 5 comparison layers, here 1.
    """
    field, (count, width) = rows.field, rows.shape
    if width == 1:
        return Shared(field, field.array(np.ones((count, 1), dtype=np.int64)), 1)
    first, second = np.triu_indices(width, k=1)  # every pair i < j
    # [row[j] < row[i]] for each pair i < j: whether the later entry beats the earlier one
    later_wins = (await P.ltz(session, rows[:, second] - rows[:, first])).share
    beats = np.empty((count, width, width), dtype=object)  # [:, i, j]: i's verdict against j
    beats[:, first, second] = field.sub(1, later_wins)  # i at most the later j
    beats[:, second, first] = later_wins  # j below the earlier i
    verdicts = beats[:, ~np.eye(width, dtype=bool)].reshape(count, width, width - 1)
    return await _all_of(session, Shared(field, verdicts, 1))


async def _all_of(session: Session, bits: Shared) -> Shared:
    """The AND of shared 0/1 values along the last axis: products of halves, one round each."""
    while bits.shape[-1] > 1:
        half = bits.shape[-1] // 2
        products = await P.mul(session, bits[..., :half], bits[..., half : 2 * half])
        rest = bits.share[..., 2 * half :]
        bits = Shared(bits.field, np.concatenate([products.share, rest], axis=-1), 1)
    return Shared(bits.field, bits.share[..., 0], 1)


async def gate_groups(
    session: Session, n: Shared, values: list[Shared], k: int, excluded: Shared
) -> dict[str, tuple[np.ndarray, int]]:
    """As :func:`gate_at_least` for the groups of one variable (a 1-D vector of counts ``n``),
    with complementary suppression: if exactly one group has fewer than k records, the
    smallest other group is withheld too, so an overall statistic minus the released groups
    does not give the small group's. ``excluded`` (the pooled records a missing value dropped,
    shape (1,)) completes the line: every group is also gated by :func:`line_gate`, which runs
    beside the suppression, and ``excluded_gate`` and ``excluded_gated`` release the count
    under it. The gate is (1 - flag) times the line's gate; ``open_gate`` reads it as usual."""
    field = session.field
    flags, line = await session.together(
        suppress(session, n, k), line_gate(session, n.sum().reshape(1), excluded, k)
    )
    unflagged = field.sub(1, flags.share)
    (gate,) = await reduce_degree(session, [(field, field.mul(unflagged, line[0]))])
    outputs = [gate, *(field.mul(gate, v.share) for v in values)]
    outputs += [line, field.mul(line, excluded.share)]
    shares, _ = await _revealable(session, outputs)
    names = ["gate", *(f"gated{i}" for i in range(len(values))), *EXCLUDED_OUTPUTS]
    return {name: (share, 0) for name, share in zip(names, shares, strict=True)}


async def count_gate(session: Session, n: Shared, k: int) -> np.ndarray:
    """Degree-t shares of a gate that is zero where the count n < k and a uniform non-zero
    element elsewhere, for a caller that multiplies its own outputs by it."""
    factors = [*_below(session.field, n.share, k), await P.random_field(session, n.shape)]
    (gate,) = await _products(session, [factors])
    return gate


EXCLUDED_OUTPUTS = ("excluded_gate", "excluded_gated")  # the names of a gated excluded count


async def line_gate(session: Session, total: Shared, excluded: Shared, k: int) -> np.ndarray:
    """Degree-t shares of a gate that is zero exactly where ``total`` < k or 0 < ``excluded``
    < k, and a uniform non-zero element elsewhere (``total`` and ``excluded`` of one shape).

    The records of a filter are those kept (``total``) and those a missing value excluded;
    the filter's own count is another query's output, so each of the two counts is released
    only where the other is too: the excluded count only if at least k records were kept,
    and neither if between 1 and k - 1 records were excluded (0 excluded is released: it
    follows from n and the filter's count anyway). ceil(log2(2k)) rounds."""
    field = session.field
    factors = _below(field, total.share, k) + _below(field, excluded.share, k, zero_ok=True)
    factors.append(await P.random_field(session, total.shape))
    (gate,) = await _products(session, [factors])
    return gate


def _below(field: PrimeField, n: np.ndarray, k: int, zero_ok: bool = False) -> list[np.ndarray]:
    """Shares of factors whose product is zero exactly where n < k (with ``zero_ok``: where
    0 < n < k), and non-zero elsewhere (a product of non-zero field elements)."""
    return [field.reduce(n - j) for j in range(1 if zero_ok else 0, k)]


async def gate_at_least(
    session: Session, n: Shared, values: list[Shared], k: int, excluded: Shared | None = None
) -> dict[str, tuple[np.ndarray, int]]:
    """Output shares of the gate z (zero where n < k) and of z * v for each of ``values``
    (same shape as the 1-D vector of counts ``n``), for :func:`open_gate` at the analyst.
    With ``excluded`` (same shape), z is also zero where 0 < excluded < k
    (:func:`line_gate`'s rule, in the same product).

    The products run in the field, not on bounded integers: z is a uniform element, never an
    integer result, so no headroom rule applies to it.
    """
    field = session.field
    factors = _below(field, n.share, k)
    if excluded is not None:
        factors += _below(field, excluded.share, k, zero_ok=True)
    products = await _gated_products(session, factors, [v.share for v in values], n.shape)
    shares, _ = await _revealable(session, products)
    names = ["gate", *(f"gated{index}" for index in range(len(values)))]
    return {name: (share, 0) for name, share in zip(names, shares, strict=True)}


async def at_least_public(
    session: Session, n: Shared, k: int, label: str, zero_ok: bool = False
) -> np.ndarray:
    """Whether each count n is at least k (with ``zero_ok``: zero or at least k), opened to
    the parties: only that bit is revealed, as the opened gate is 0 or a uniform non-zero
    element."""
    factors = _below(session.field, n.share, k, zero_ok)
    (gate,) = await _opened_gate(session, factors, [], n.shape, label)
    return np.asarray(gate, dtype=object) != 0


async def open_if_at_least(session: Session, n: Shared, k: int, label: str) -> list[int | None]:
    """Each count n opened to the parties where it is at least k, None elsewhere. One opening of
    the gate z and of z * n: z is 0 or a uniform non-zero element, so a count below k and the
    reason a count was withheld stay hidden beyond the verdict itself."""
    factors = _below(session.field, n.share, k)
    gate, gated = await _opened_gate(session, factors, [n.share], n.shape, label)
    passed, (counts,) = open_gate(session.field, {"gate": gate, "gated0": gated}, 1)
    return [int(c) if ok else None for ok, c in zip(passed.tolist(), counts.tolist(), strict=True)]


async def _opened_gate(
    session: Session,
    factors: list[np.ndarray],
    values: list[np.ndarray],
    shape: tuple[int, ...],
    label: str,
) -> list[np.ndarray]:
    """The gate z (the product of ``factors`` and a random element) and z * v for each of
    ``values``, opened to the parties in one opening."""
    products = await _gated_products(session, factors, values, shape)
    shares, degree = await _revealable(session, products)
    field = session.field
    opened = await open_elements(session, field, np.stack(shares), degree=degree, label=label)
    assert opened is not None
    return list(opened)


async def _gated_products(
    session: Session, factors: list[np.ndarray], values: list[np.ndarray], shape: tuple[int, ...]
) -> list[np.ndarray]:
    """Degree-2t shares of z = rho * (the product of ``factors``) for a secret uniform rho,
    and of z * v for each of ``values``, in ceil(log2(factors + 1)) - 1 rounds (2 for the
    k = 5 factors n (n - 1) ... (n - 4) of a gate on n >= 5).

    The factors split into a left half of 2^j and the rest; the left product a, the rest's
    product b and each b * v are reduced together, and z = a * b and z * v = a * (b * v) are
    the final local products, left at degree 2t for :func:`_revealable`.
    """
    field = session.field
    ones = [field.array(np.ones(shape, dtype=np.int64))]  # k = 1 with zero_ok: no factor
    factors = [*(factors or ones), await P.random_field(session, shape)]
    half = 1 << ((len(factors) - 1).bit_length() - 1)  # the largest power of two below
    left, right = factors[:half], factors[half:]
    a, b, *gated = await _products(session, [left, right, *([*right, v] for v in values)])
    return [field.mul(a, b), *(field.mul(a, bv) for bv in gated)]


async def _products(session: Session, lists: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The product of each list of degree-t shares, all lists together: one round per layer
    of pairs, as many layers as the longest list needs."""
    field = session.field
    while any(len(factors) > 1 for factors in lists):
        pairs = [(f[i], f[i + 1]) for f in lists for i in range(0, len(f) - 1, 2)]
        products = iter(await _reduce_all(session, [field.mul(a, b) for a, b in pairs]))
        lists = [[next(products) for _ in range(len(f) // 2)] + f[len(f) // 2 * 2 :] for f in lists]
    return [factors[0] for factors in lists]


async def _reduce_all(session: Session, products: list[np.ndarray]) -> list[np.ndarray]:
    """Degree-2t ``products`` to degree t as one flat array, so that a layer of any number of
    pairs is one array of its round (a merged round carries at most 255 per protocol)."""
    flat = np.concatenate([np.ravel(p) for p in products]) if products else np.zeros(0, object)
    (reduced,) = await reduce_degree(session, [(session.field, flat)])
    ends = np.cumsum([np.size(p) for p in products])[:-1]
    return [
        part.reshape(np.shape(p)) for part, p in zip(np.split(reduced, ends), products, strict=True)
    ]


async def _revealable(session: Session, products: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Degree-2t products as shares that reveal only their values, and their degree: with PRSS
    keys, re-randomised by one pseudo-random zero sharing of degree 2t (no round); without, reduced
    to fresh degree-t shares (one round)."""
    field = session.field
    if session.prss is None:
        return await reduce_degree(session, [(field, p) for p in products]), session.t
    prss = session.prss
    return [field.add(p, prss.zero(field, np.shape(p))) for p in products], 2 * session.t


def open_gate(
    field: PrimeField, released: dict[str, np.ndarray], count: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The analyst's side of :func:`gate_at_least`: which entries passed the gate, and the
    ``count`` gated values as Python ints (0 where the gate was closed)."""
    gate = np.asarray(released["gate"], dtype=object) % field.order
    passed = gate != 0
    inverses = np.array([field.inverse(int(z)) if z else 0 for z in gate.flat], dtype=object)
    values = []
    for index in range(count):
        masked = np.asarray(released[f"gated{index}"], dtype=object).reshape(-1) % field.order
        values.append(field.signed(field.mul(masked, inverses)).reshape(gate.shape))
    return passed, values


def excluded_note(k: int) -> str:
    """The note of a result whose count of excluded records was suppressed."""
    return (
        "the number of records excluded for a missing value is suppressed (NaN), with "
        f"everything it could be recovered from: 1 to {k - 1} records were excluded, or fewer "
        f"than k = {k} were kept (the filter's own count minus the released counts would "
        "give one from the other)."
    )


def open_excluded(field: PrimeField, released: dict[str, np.ndarray]) -> float:
    """The analyst's side of a count of excluded records gated by :func:`line_gate` (named
    ``excluded_gate`` and ``excluded_gated``): the count, or NaN where the gate was closed."""
    gates = {"gate": released[EXCLUDED_OUTPUTS[0]], "gated0": released[EXCLUDED_OUTPUTS[1]]}
    passed, (count,) = open_gate(field, gates, 1)
    return float(count.reshape(-1)[0]) if passed.reshape(-1)[0] else math.nan
