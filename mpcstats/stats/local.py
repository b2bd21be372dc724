"""A party's plaintext side of every analysis: selecting its rows and aggregating them exactly.

Nothing here communicates. Aggregates are exact integers on the schema's grid (counts, sums,
sums of squares and products), so the pooled result is exactly what one table would give.
A SQL source filters and groups in the database: its rows may arrive collapsed, as distinct
value combinations with a count (:data:`~mpcstats.stats.tables.WEIGHT`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mpcstats.stats import filters
from mpcstats.stats.analysis import Table
from mpcstats.stats.schema import Schema
from mpcstats.stats.tables import WEIGHT, SqlTable

__all__ = [
    "cell_counts",
    "cumulative_counts",
    "exact_gram",
    "has_missing",
    "level_codes",
    "moments",
    "row_count",
    "row_weights",
    "select",
]


def select(
    frame: Table,
    schema: Schema,
    where: str | None,
    needed: Sequence[str],
    collapse: bool = False,
) -> tuple[pd.DataFrame, int]:
    """The party's rows passing ``where`` with no missing value in ``needed``, and the number
    of rows the missing values excluded; with ``collapse`` a SQL source may return distinct
    rows with their counts."""
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in schema.columns}), 0
    condition = filters.parse(where, schema)
    if isinstance(frame, SqlTable):  # the database filters and selects
        return frame.select(condition, list(dict.fromkeys(needed)), collapse=collapse)
    selected = frame[condition.mask(frame)] if condition is not None else frame
    if not any(has_missing(selected[column]) for column in needed):  # usual: no copy
        return selected, 0
    complete = selected.dropna(subset=list(needed))
    return complete, len(selected) - len(complete)


def level_codes(values: pd.Series, levels: Sequence[Any]) -> np.ndarray:
    """The level index of each value (-1 for values that are not a level)."""
    return np.asarray(pd.Categorical(values, categories=list(levels)).codes, dtype=np.int64)


def cell_counts(
    codes: list[np.ndarray], sizes: list[int], weights: np.ndarray | None = None
) -> np.ndarray:
    """Counts of each combination of level indices, in one pass (rows with -1 are skipped);
    a row of a collapsed table counts its weight."""
    valid = np.logical_and.reduce([c >= 0 for c in codes])
    cell = np.zeros(int(valid.sum()), np.int64)
    for c, size in zip(codes, sizes, strict=True):
        cell = cell * size + c[valid]
    if weights is None:
        return np.bincount(cell, minlength=int(np.prod(sizes))).reshape(sizes)
    counts = np.zeros(int(np.prod(sizes)), np.int64)
    np.add.at(counts, cell, weights[valid])  # exact in int64, unlike bincount's float weights
    return counts.reshape(sizes)


def row_weights(rows: pd.DataFrame) -> np.ndarray | None:
    """The multiplicity of each row of a table the database collapsed, or None (one each)."""
    return rows[WEIGHT].to_numpy(np.int64) if WEIGHT in rows.columns else None


def row_count(rows: pd.DataFrame) -> int:
    """The number of records the rows stand for."""
    weights = row_weights(rows)
    return len(rows) if weights is None else int(weights.sum())


def cumulative_counts(
    grid: np.ndarray, rows: pd.DataFrame, lo_grid: int, width: int
) -> Callable[[Any], np.ndarray]:
    """The number of the party's records at or below each probe in [lo_grid, lo_grid +
    2^width), for rows that may be the database's (value, count) pairs."""
    weights = row_weights(rows)
    if width <= 22:  # a running count over the grid beats sorting
        counts = np.bincount(grid - lo_grid, weights=weights, minlength=1 << width)
        running = np.concatenate([[0], np.cumsum(counts.astype(np.int64))])
        return lambda probes: running[np.asarray(probes, np.int64) - lo_grid + 1]
    order = np.argsort(grid, kind="stable")
    values = grid[order]
    ones = np.ones(len(values), np.int64)
    running = np.concatenate([[0], np.cumsum(ones if weights is None else weights[order])])
    return lambda probes: running[np.searchsorted(values, probes, side="right")]


def has_missing(column: pd.Series) -> bool:
    """``Series.hasnans``, four times quicker on the usual numpy float and integer columns."""
    if not isinstance(column.dtype, np.dtype):  # extension types (nullable ints, ...)
        return bool(column.hasnans)
    if column.dtype.kind in "iub":
        return False
    if column.dtype == np.float64:
        # a sum of squares is NaN exactly when a value is (infinities square to +inf): one
        # BLAS pass, no boolean temporary
        values = column.to_numpy()
        return math.isnan(np.dot(values, values))
    if column.dtype.kind == "f":
        return bool(np.isnan(column.to_numpy()).any())
    return bool(column.hasnans)


def moments(
    grid: np.ndarray, weights: np.ndarray | None, bits: int, step: float | None = None
) -> list[int]:
    """[n, sum, sum of squares] of integers below 2^bits in magnitude (the schema's range,
    checked when the table was loaded), each counted ``weights`` times, exactly. The integers
    come as int64, or as float64 (see :func:`_float_moments`), or with ``step`` as raw values
    whose grid steps rint(v / step) they are."""
    if weights is None and grid.dtype == np.float64:
        moments = _float_moments(grid, bits, step)
        if moments is not None:
            return moments
    if step is not None:
        grid = np.rint(np.divide(grid, step))
    if grid.dtype == np.float64:
        grid = grid.astype(np.int64)
    if weights is not None:  # few distinct values: Python integers cannot overflow
        values = [int(v) for v in grid]
        counts = [int(w) for w in weights]
        return [
            sum(counts),
            sum(c * v for c, v in zip(counts, values, strict=True)),
            sum(c * v * v for c, v in zip(counts, values, strict=True)),
        ]
    if len(grid) << (2 * bits) < 1 << 62:  # int64 sums cannot overflow: the fast path
        return [len(grid), int(grid.sum()), int(np.dot(grid, grid))]
    gram = exact_gram(np.column_stack([np.ones(len(grid), np.int64), grid]))
    return [int(gram[0, 0]), int(gram[0, 1]), int(gram[1, 1])]


def _float_moments(grid: np.ndarray, bits: int, step: float | None = None) -> list[int] | None:
    """[n, sum, sum of squares] of float64 integers below 2^bits in magnitude, exactly, or
    None when their squares are too wide for float64. With ``step``, ``grid`` holds raw values
    and each block is put on the grid (rint(v / step)) on the way.

    Each block is short enough that its sum of squares, and so every partial sum in any order
    (numpy's pairwise sum, BLAS's dot), is an integer below 2^52: float64 adds them exactly.
    Blocks also stay within a core's cache, so the column is read from memory once (a third
    of the time of whole-column passes, on 1e6 rows).
    """
    if 2 * bits > _FLOAT_EXACT_BITS - _MIN_BLOCK_BITS:
        return None
    block = min(1 << (_FLOAT_EXACT_BITS - 2 * bits), _CACHED_BLOCK)
    buffer = np.empty(min(block, len(grid)))
    total = squares = 0
    for start in range(0, len(grid), block):
        part = grid[start : start + block]
        if step is not None:
            part = np.divide(part, step, out=buffer[: len(part)])
            np.rint(part, out=part)
        total += int(part.sum())
        squares += int(np.dot(part, part))
    return [len(grid), total, squares]


_FLOAT_EXACT_BITS = 52  # integers of magnitude below 2^52 add exactly in float64
_MIN_BLOCK_BITS = 10  # wider values take the int64 path rather than blocks of < 1024 rows
_CACHED_BLOCK = 1 << 16  # 512 KiB of float64: measured fastest on 1e6 rows (2^15-2^17 close)


def exact_gram(z: np.ndarray) -> np.ndarray:
    """Z'Z of an integer matrix (int64, or float64 holding integers), exactly, as Python ints.

    BLAS float64 products are exact while every partial sum is an integer below 2^53, whatever
    the order of summation: values of b bits go in blocks of 2^(52 - 2b) rows, and values wider
    than 20 bits are split into two halves first (Z = H 2^h + L)."""
    bits = int(max(z.max(), -z.min())).bit_length() if z.size else 0  # no |z| temporary
    if bits <= 20:
        return _float_products(z, z, 1 << (52 - 2 * bits))
    z = z.astype(np.int64)
    if bits > 31:
        wide = z.astype(object)
        return np.asarray(wide.T @ wide, dtype=object)
    half = (bits + 1) // 2
    high, low = z >> half, z & ((1 << half) - 1)  # |high|, low < 2^half
    block = 1 << (52 - 2 * half)
    cross = _float_products(high, low, block)
    return (
        _float_products(high, high, block) * (1 << (2 * half))
        + (cross + cross.T) * (1 << half)
        + _float_products(low, low, block)
    )


def _float_products(a: np.ndarray, b: np.ndarray, block: int) -> np.ndarray:
    """A'B of integer matrices by float64 products over blocks of ``block`` rows, each exact."""
    total = np.zeros((a.shape[1], b.shape[1]), dtype=np.int64).astype(object)
    for start in range(0, len(a), block):
        rows = slice(start, start + block)
        part = np.asarray(a[rows], np.float64).T @ np.asarray(b[rows], np.float64)
        total = total + part.astype(np.int64).astype(object)
    return total
