"""Correlation: ``corr``, Pearson or Spearman, computed inside MPC.

r = C_ij / sqrt(C_ii C_jj), C = n S - s s', from exact pooled sums s and sums of products S
of the values (Pearson) or of their ranks (Spearman). Spearman ranks the pooled records on the
declared precision grid, ties at their mean rank as scipy's ``spearmanr``: each party counts
its records per grid level and per pair of levels; the pooled counts give the doubled
mid-ranks 2R = 2 cumsum(h) - h + 1 by local arithmetic, and S_ij = (2R_i)' N_ij (2R_j) takes
two rounds of secure products. The level tables are pooled whole, so Spearman suits ordinal
scores and coarse grids: at most 2^16 level pairs per pair of columns.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, DIVISION_MARGIN, FRAC, field_bits
from mpcstats.stats.local import exact_gram, row_count, row_weights, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import CorrResult
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import pool, release
from mpcstats.stats.tables import SqlTable

__all__ = ["Corr"]

_MAX_LEVEL_PAIRS = 1 << 16  # Spearman's pooled level tables, per pair of columns
_SumsOfProducts = Callable[[Session, Table], Awaitable[tuple[Shared, Shared, Shared]]]


@dataclass(frozen=True)
class Corr(Analysis):
    """Pearson or Spearman correlations of numeric columns (complete cases on all of them)."""

    name = "corr"
    leakage = Leakage(analyst="the correlation matrix and n")

    columns: Sequence[str]
    where: str | None = None
    method: str = "pearson"

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, tuple(self.columns))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[CorrResult]:
        columns, method = list(self.columns), self.method
        if method not in {"pearson", "spearman"}:
            raise ConfigurationError(f"method is 'pearson' or 'spearman', not {method!r}")
        specs = [schema[c] for c in columns]
        if any(spec.kind == "category" for spec in specs) or len(specs) < 2:
            raise ConfigurationError("corr needs at least two numeric columns")
        sums = _rank_sums if method == "spearman" else _value_sums
        gram_bits, sums_of_products = sums(schema, columns, self.where)
        modulus = field_bits(4 * (gram_bits + COUNT_BITS) + 4 * FRAC + DIVISION_MARGIN)

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            n, sums, cross = await sums_of_products(session, frame)
            centred = (await P.mul(session, n, cross)) - (
                await P.mul(session, sums.reshape(-1, 1), sums.reshape(1, -1))
            )
            diagonal = Shared(centred.field, np.diagonal(centred.share).copy(), centred.bits, 0)
            roots = await fx.sqrt(session, fx.rescale(diagonal, FRAC))
            scale = await fx.mul(session, roots.reshape(-1, 1), roots.reshape(1, -1))
            r = await fx.div(session, fx.rescale(centred, FRAC).reshape(-1), scale.reshape(-1))
            return {"r": (release(session, r), FRAC), "n": (release(session, n), 0)}

        def result(out: dict[str, Any]) -> CorrResult:
            p = len(specs)
            matrix = np.clip(out["r"].reshape(p, p), -1.0, 1.0)
            np.fill_diagonal(matrix, 1.0)
            frame = pd.DataFrame(matrix, index=columns, columns=columns)
            return CorrResult(frame, float(out["n"]), method)

        filters.parse(self.where, schema)
        return Plan(program, modulus, result)


def _value_sums(
    schema: Schema, columns: Sequence[str], where: str | None
) -> tuple[int, _SumsOfProducts]:
    """Bits and the pooled n, sums and sums of products of the columns' grid values; a SQL
    source computes them in the database."""
    specs = [schema[c] for c in columns]
    gram_bits = 2 * max(spec.grid_bits for spec in specs) + COUNT_BITS + 1
    steps = [1.0, *(spec.precision for spec in specs)]

    def local(frame: Table) -> np.ndarray:
        if isinstance(frame, SqlTable):
            condition = filters.parse(where, schema)
            expressions = ["1", *(frame.identifier(c) for c in columns)]
            return frame.sums_of_products(condition, list(columns), expressions, steps, {})[0]
        rows, _ = select(frame, schema, where, list(columns))
        grids = [spec.grid(rows[c].to_numpy(float)) for spec, c in zip(specs, columns, strict=True)]
        return exact_gram(np.column_stack([np.ones(len(rows), np.int64), *grids]))

    async def sums(session: Session, frame: Table) -> tuple[Shared, Shared, Shared]:
        gram = (await pool(session, local(frame), gram_bits)).with_bits(gram_bits)
        return gram[0, 0], gram[0, 1:], gram[1:, 1:]

    return gram_bits, sums


def _rank_sums(
    schema: Schema, columns: Sequence[str], where: str | None
) -> tuple[int, _SumsOfProducts]:
    """Bits and the pooled n, sums and sums of products of the doubled mid-ranks."""
    specs = [schema[c] for c in columns]
    low = [int(spec.grid(np.array([spec.lo]))[0]) for spec in specs]
    sizes = [
        int(spec.grid(np.array([spec.hi]))[0]) - lo + 1 for spec, lo in zip(specs, low, strict=True)
    ]
    pairs = [(i, j) for i in range(len(specs)) for j in range(i + 1, len(specs))]
    for i, j in pairs:
        if sizes[i] * sizes[j] > _MAX_LEVEL_PAIRS:
            raise ConfigurationError(
                f"Spearman ranks on the declared grids: {columns[i]!r} has {sizes[i]} levels "
                f"and {columns[j]!r} {sizes[j]}, more than {_MAX_LEVEL_PAIRS} pairs; declare "
                "a coarser precision for these columns"
            )
    rank_bits = COUNT_BITS + 2  # 2R <= 2n + 1
    gram_bits = 3 * COUNT_BITS + 4  # sum h (2R)^2 <= n (2n + 1)^2

    def local(rows: pd.DataFrame) -> np.ndarray:
        codes = [
            spec.grid(rows[c].to_numpy(float)) - lo
            for spec, c, lo in zip(specs, columns, low, strict=True)
        ]
        weights = row_weights(rows)
        tables = [np.array([row_count(rows)])]
        tables += [
            np.bincount(g, weights, minlength=size) for g, size in zip(codes, sizes, strict=True)
        ]
        tables += [
            np.bincount(codes[i] * sizes[j] + codes[j], weights, minlength=sizes[i] * sizes[j])
            for i, j in pairs
        ]
        return np.concatenate(tables).astype(np.int64)

    async def sums(session: Session, frame: Table) -> tuple[Shared, Shared, Shared]:
        # level counts: a SQL source returns value combinations and their counts
        rows, _ = select(frame, schema, where, list(columns), collapse=True)
        pooled = (await pool(session, local(rows), COUNT_BITS)).with_bits(COUNT_BITS)
        edges = np.cumsum([1, *sizes, *(sizes[i] * sizes[j] for i, j in pairs)])
        parts = [pooled[a:b] for a, b in itertools.pairwise(edges)]
        counts, tables = parts[: len(sizes)], parts[len(sizes) :]
        ranks = [(2 * h.cumsum() - h + 1).with_bits(rank_bits) for h in counts]
        field = session.field
        first = await reduce_degree(
            session,
            [(field, field.mul(h.share, r.share)) for h, r in zip(counts, ranks, strict=True)]
            + [
                (field, field.dot(t.share.reshape(sizes[i], sizes[j]), ranks[j].share))
                for t, (i, j) in zip(tables, pairs, strict=True)
            ],
        )
        weighted, crossed = first[: len(sizes)], first[len(sizes) :]
        second = await reduce_degree(
            session,
            [(field, field.dot(w, r.share)) for w, r in zip(weighted, ranks, strict=True)]
            + [
                (field, field.dot(ranks[i].share, v))
                for v, (i, _) in zip(crossed, pairs, strict=True)
            ],
        )
        cross = field.zeros((len(sizes), len(sizes)))
        for i in range(len(sizes)):
            cross[i, i] = second[i]
        for (i, j), value in zip(pairs, second[len(sizes) :], strict=True):
            cross[i, j] = cross[j, i] = value
        sums_ = np.array([field.reduce(np.sum(w)) for w in weighted], dtype=object)
        return (
            pooled[0],
            Shared(field, sums_, 2 * COUNT_BITS + 3, 0),
            Shared(field, cross, gram_bits, 0),
        )

    return gram_bits, sums
