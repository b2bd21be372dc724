"""Counts and tables: ``count``, ``histogram`` and ``crosstab``.

Each party counts its own records per cell of a table of public shape; the tables are pooled in
one round; cells below k are suppressed inside MPC, with complementary suppression along every
line of the table (:func:`~mpcstats.stats.secure.suppress`), and only the kept counts and the
flags are released. A table of one cell needs no complement: a product gate releases its count
if it is at least k.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mpcstats._errors import ConfigurationError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, COUNT_FIELD
from mpcstats.stats.local import cell_counts, level_codes, row_count, row_weights, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import CountResult, CrosstabResult, HistogramResult
from mpcstats.stats.schema import Column, Schema
from mpcstats.stats.secure import (
    check_suppressible,
    excluded_note,
    gate_at_least,
    line_gate,
    open_excluded,
    open_gate,
    pool,
    release_products,
    suppress,
)

__all__ = ["Count", "Crosstab", "Histogram", "suppressed_table"]

_COUNTS = Leakage(
    analyst="the counts of cells with at least k records, which cells were suppressed "
    "(complementary suppression included), and the pooled number of records excluded for a "
    "missing value if it is 0 or at least k and the table holds at least k records (otherwise "
    "it is suppressed, and with 1 to k - 1 excluded the whole table too: the filter's count "
    "minus the table's total would give it)",
)


@dataclass(frozen=True)
class Count(Analysis):
    """Number of records, overall or per level of ``by``."""

    name = "count"
    leakage = _COUNTS

    where: str | None = None
    by: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.by,) if self.by else ())

    def _plan(self, schema: Schema, policy: Policy) -> Plan[CountResult]:
        by = self.by
        levels = schema[by].levels if by else ("all",)

        def local(rows: pd.DataFrame) -> np.ndarray:
            if by is None:
                return np.array([row_count(rows)])
            return cell_counts([level_codes(rows[by], levels)], [len(levels)], row_weights(rows))

        def result(counts: np.ndarray, excluded: float) -> CountResult:
            series = pd.Series(counts, index=pd.Index(levels, name=by), name="count")
            notes = suppression_notes(counts, policy.k, excluded)
            return CountResult(series, policy.k, self.where, notes, excluded)

        table = _Table(local, [by] if by else [], (len(levels),))
        return suppressed_table(table, schema, policy, self.where, result)


@dataclass(frozen=True)
class Histogram(Analysis):
    """Counts per bin of public edges (``bins`` edges, or that many bins over the declared
    range); the last bin includes its right edge, as numpy's. With ``by``, one histogram per
    level, suppressed as one table (levels x bins)."""

    name = "histogram"
    leakage = _COUNTS

    column: str
    bins: int | Sequence[float] = 10
    where: str | None = None
    by: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column,) + ((self.by,) if self.by else ()))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[HistogramResult]:
        column, by = self.column, self.by
        edges = _bin_edges(schema[column], self.bins)
        levels = schema[by].levels if by else None

        def counts_of(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
            return np.histogram(values, edges, weights=weights)[0].astype(np.int64)

        def local(rows: pd.DataFrame) -> np.ndarray:
            values, weights = rows[column].to_numpy(dtype=np.float64), row_weights(rows)
            if levels is None:
                return counts_of(values, weights)
            codes = level_codes(rows[by], levels)
            return np.stack(
                [
                    counts_of(values[codes == g], None if weights is None else weights[codes == g])
                    for g in range(len(levels))
                ]
            )

        def result(counts: np.ndarray, excluded: float) -> HistogramResult:
            notes = suppression_notes(counts, policy.k, excluded)
            return HistogramResult(
                counts, edges, column, policy.k, notes, excluded, by, levels or ()
            )

        shape = (len(edges) - 1,) if levels is None else (len(levels), len(edges) - 1)
        table = _Table(local, [column] + ([by] if by else []), shape)
        return suppressed_table(table, schema, policy, self.where, result)


@dataclass(frozen=True)
class Crosstab(Analysis):
    """A 2-way table of counts (3-way with ``layer``: one 2-way table per layer level).

    Suppression is complementary along every line of the table: each row and column of each
    layer, and each cell's line across the layers (docs/statistics.md, rule 2)."""

    name = "crosstab"
    leakage = _COUNTS

    row: str
    col: str
    layer: str | None = None
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        layer = (self.layer,) if self.layer else ()
        return Cohort(self.where, (self.row, self.col, *layer))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[CrosstabResult]:
        row, col, layer = self.row, self.col, self.layer
        rows_levels, col_levels = schema[row].levels, schema[col].levels
        layer_levels = schema[layer].levels if layer else (None,)

        def local(rows: pd.DataFrame) -> np.ndarray:
            codes = [level_codes(rows[row], rows_levels), level_codes(rows[col], col_levels)]
            sizes = [len(rows_levels), len(col_levels)]
            if layer is not None:
                codes.insert(0, level_codes(rows[layer], layer_levels))
                sizes.insert(0, len(layer_levels))
            counts = cell_counts(codes, sizes, row_weights(rows))
            return counts.reshape(len(layer_levels), *sizes[-2:])

        def result(counts: np.ndarray, excluded: float) -> CrosstabResult:
            frames = [
                pd.DataFrame(
                    counts[i],
                    index=pd.Index(rows_levels, name=row),
                    columns=pd.Index(col_levels, name=col),
                )
                for i in range(len(layer_levels))
            ]
            table = (
                frames[0] if layer is None else pd.concat(frames, keys=layer_levels, names=[layer])
            )
            return CrosstabResult(
                table, policy.k, suppression_notes(counts, policy.k, excluded), excluded
            )

        needed = [row, col] + ([layer] if layer else [])
        shape = (len(layer_levels), len(rows_levels), len(col_levels))
        return suppressed_table(_Table(local, needed, shape), schema, policy, self.where, result)


@dataclass(frozen=True)
class _Table:
    """A count table of public ``shape``: each party's ``local`` counts of its complete rows
    (no missing value in ``needed``)."""

    local: Callable[[pd.DataFrame], np.ndarray]
    needed: list[str]
    shape: tuple[int, ...]


def suppressed_table(
    table: _Table,
    schema: Schema,
    policy: Policy,
    where: str | None,
    result: Callable[[np.ndarray, float], Any],
) -> Plan[Any]:
    """The plan that pools ``table`` and applies disclosure control; the analyst's ``result``
    gets the counts (NaN where suppressed) and the pooled number of records that a missing
    value excluded."""
    k, shape = policy.k, table.shape
    single = math.prod(shape) == 1  # no complement to find: a product gate, no comparison
    check_suppressible(shape)

    async def program(session: Session, frame: Table) -> dict[str, Any]:
        rows, excluded = select(frame, schema, where, table.needed, collapse=True)
        counts = np.asarray(table.local(rows), dtype=np.int64)
        pooled = await pool(session, np.append(counts.ravel(), excluded), COUNT_BITS)
        total, missing = pooled[:-1].reshape(*counts.shape), pooled[-1:]
        if single:  # the cell and the excluded records make the filter's count: one gate
            cell = total.reshape(1)
            return await gate_at_least(session, cell, [cell, missing], k, missing)
        # the table's total and the excluded records make the filter's count, which another
        # query releases: the table is gated with the excluded count (line_gate)
        field = session.field
        flags, line = await session.together(
            suppress(session, total, k), line_gate(session, total.sum().reshape(1), missing, k)
        )
        kept = field.sub(1, flags.share)
        (gate,) = await reduce_degree(session, [(field, field.mul(kept, line[0]))])
        products = [gate, field.mul(gate, total.share), line, field.mul(line, missing.share)]
        shares = await release_products(session, products)
        names = ["gate", "gated0", "excluded_gate", "excluded_gated"]
        return {name: (share, 0) for name, share in zip(names, shares, strict=True)}

    def counts_of(out: dict[str, Any]) -> Any:
        field = PrimeField.with_bits(COUNT_FIELD)
        if single:
            passed, (kept, missing) = open_gate(field, out, 2)
            counts = np.where(passed, kept.astype(np.float64), np.nan).reshape(shape)
            return result(counts, float(missing[0]) if passed[0] else math.nan)
        excluded = open_excluded(field, out)
        passed, (kept,) = open_gate(field, out, 1)
        counts = np.where(passed, kept.astype(np.float64), np.nan).reshape(shape)
        return result(counts, excluded)

    filters.parse(where, schema)  # a filter that does not parse is refused before a session
    return Plan(program, COUNT_FIELD, counts_of)


def suppression_notes(counts: np.ndarray, k: int, excluded: float = 0.0) -> list[str]:
    hidden = int(np.isnan(counts).sum())
    notes = [excluded_note(k)] if math.isnan(excluded) else []
    if not hidden:
        return notes
    return [
        f"{hidden} cell(s) suppressed: fewer than k = {k} records, or suppressed "
        "as a complement so that a small cell cannot be recovered from its row or column.",
        *notes,
    ]


def _bin_edges(spec: Column, bins: int | Sequence[float]) -> np.ndarray:
    """A histogram's public edges: ``bins`` equal bins over the declared range, or the edges
    given, which must be finite and increase."""
    if isinstance(bins, int) and not isinstance(bins, bool):
        if bins < 1:
            raise ConfigurationError(f"histogram: bins is at least 1, not {bins}")
        check_suppressible((bins,))  # before the edges: bins=10**9 would fill the memory
        return np.linspace(spec.lo, spec.hi, bins + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if (
        edges.ndim != 1
        or edges.size < 2
        or not np.isfinite(edges).all()
        or (np.diff(edges) <= 0).any()
    ):
        raise ConfigurationError(
            f"histogram: bins is a number of bins, or two or more finite increasing edges, "
            f"not {bins!r}"
        )
    return edges
