"""Moments: ``describe`` (n, mean, variance, standard deviation), overall or per group.

Each party sums n, the values and their squares exactly on the column's precision grid; the
sums are pooled in one round; a product gate releases a group's sums only if it has at least k
records (:func:`~mpcstats.stats.secure.gate_at_least`, or with groups
:func:`~mpcstats.stats.secure.gate_groups`, which also withholds the smallest other group when
one is below k). The analyst divides in exact arithmetic and rounds once. The paired t test and
Bland–Altman use the same finish on the differences of two columns (:func:`moments_plan`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from mpcstats._errors import ConfigurationError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, GATE_MARGIN, field_bits
from mpcstats.stats.local import level_codes, moments, row_weights, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import DescribeResult, QuantileResult
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import (
    excluded_note,
    gate_at_least,
    gate_groups,
    open_excluded,
    open_gate,
    pool,
)

__all__ = ["Describe", "Moments", "differences", "moments_plan", "with_quartiles"]

R = TypeVar("R")


@dataclass(frozen=True)
class Moments:
    """What a moments finish gives the analyst: n, mean, var and std per group (NaN where
    suppressed), the pooled number of records excluded for a missing value, and notes."""

    frame: pd.DataFrame
    excluded: float
    notes: list[str]


@dataclass(frozen=True)
class Describe(Analysis):
    """n, mean, variance (n - 1 denominator, as pandas) and standard deviation of a numeric
    column, overall or per level of ``by``; complete cases only."""

    name = "describe"
    leakage = Leakage(
        analyst="for each group of at least k records, its exact n, sum and sum of squares on "
        "the grid (which determine n, mean and variance and are determined by them); which "
        "groups were suppressed (with by=, when one group is below k the smallest other is "
        "withheld too, so totals cannot be differenced); the pooled number of records excluded "
        "for a missing value if it is 0 or at least k and at least k records were kept (with 1 "
        "to k - 1 excluded, every group is withheld too: the filter's count minus n would give "
        "it)",
    )

    column: str
    where: str | None = None
    by: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column,) + ((self.by,) if self.by else ()))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[DescribeResult]:
        column = self.column
        spec = schema[column]
        if spec.kind == "category":
            raise ConfigurationError(f"column {column!r} is a category: use frequencies()")

        def raw(rows: pd.DataFrame) -> np.ndarray:
            return rows[column].to_numpy(dtype=np.float64)

        def result(found: Moments) -> DescribeResult:
            return DescribeResult(found.frame, column, found.excluded, found.notes)

        values = _Values(raw, spec.grid_bits, spec.precision, [column], on_grid=False)
        return moments_plan(values, schema, policy, self.where, self.by, result)


@dataclass(frozen=True)
class _Values:
    """The values whose moments a finish takes: ``values(rows)`` on a grid of ``grid_bits``
    and step ``precision`` (raw values, put on the grid by each party, unless ``on_grid``),
    from rows complete in ``needed``."""

    values: Callable[[pd.DataFrame], np.ndarray]
    grid_bits: int
    precision: float
    needed: list[str]
    on_grid: bool = True


def differences(schema: Schema, a: str, b: str) -> _Values:
    """The grid values of a - b (two numeric columns on one precision grid)."""
    first, second = schema[a], schema[b]
    if first.precision != second.precision or "category" in {first.kind, second.kind}:
        raise ConfigurationError(
            f"{a!r} and {b!r} must be numeric columns with the same precision to be paired"
        )

    def grid(rows: pd.DataFrame) -> np.ndarray:
        return first.grid(rows[a].to_numpy(float)) - second.grid(rows[b].to_numpy(float))

    return _Values(grid, max(first.grid_bits, second.grid_bits) + 1, first.precision, [a, b])


def moments_plan(
    values: _Values,
    schema: Schema,
    policy: Policy,
    where: str | None,
    by: str | None,
    result: Callable[[Moments], R],
) -> Plan[R]:
    """The plan of n, mean, var and std per group of ``values``, released only for groups of
    at least k records; the analyst's ``result`` takes the :class:`Moments`."""
    levels = schema[by].levels if by else (None,)
    k = policy.k
    value_bits = values.grid_bits + COUNT_BITS
    modulus = field_bits(2 * value_bits + GATE_MARGIN)
    step = None if values.on_grid else values.precision
    needed = values.needed + ([by] if by else [])

    def local(rows: pd.DataFrame, excluded: int) -> np.ndarray:
        grid, weights = values.values(rows), row_weights(rows)
        if by is None:
            groups = [moments(grid, weights, values.grid_bits, step)]
        else:
            codes = level_codes(rows[by], levels)
            groups = [
                moments(
                    grid[codes == g],
                    None if weights is None else weights[codes == g],
                    values.grid_bits,
                    step,
                )
                for g in range(len(levels))
            ]
        return np.array([*(m for group in groups for m in group), excluded], dtype=object)

    async def program(session: Session, frame: Table) -> dict[str, Any]:
        rows, excluded = select(frame, schema, where, needed, collapse=True)
        pooled = await pool(session, local(rows, excluded), 2 * value_bits)
        stats = pooled[:-1].reshape(len(levels), 3)
        n, s, q = (stats[:, i] for i in range(3))
        missing = pooled[-1:].with_bits(COUNT_BITS)
        if by is None:  # n + excluded is the filter's count: one gate for both
            return await gate_at_least(
                session, n.with_bits(COUNT_BITS), [n, s, q, missing], k, missing
            )
        return await gate_groups(session, n.with_bits(COUNT_BITS), [n, s, q], k, missing)

    def finish(out: dict[str, Any]) -> R:
        precision = values.precision
        field = PrimeField.with_bits(modulus)
        passed, (n, s, q, *rest) = open_gate(field, out, 3 if by else 4)
        excluded = open_excluded(field, out) if by else float(rest[0][0]) if passed[0] else math.nan
        found = np.array([_finish(*group) for group in zip(n, s, q, strict=True)])
        found *= [1.0, precision, precision**2, precision]  # n, mean, var, std
        found[~passed] = np.nan
        frame = pd.DataFrame(
            found,
            columns=["n", "mean", "var", "std"],
            index=pd.Index(["all"] if by is None else list(levels), name=by),
        )
        notes = []
        if not passed.all():
            notes.append(f"groups with fewer than k = {k} records are suppressed (NaN).")
        if math.isnan(excluded):
            notes.append(excluded_note(k))
        notes.append(
            f"values are computed exactly on the declared precision grid ({precision:g}) and "
            "rounded once, to float64, at the analyst."
        )
        return result(Moments(frame, excluded, notes))

    filters.parse(where, schema)  # a filter that does not parse is refused before a session
    return Plan(program, modulus, finish)


def with_quartiles(described: DescribeResult, found: QuantileResult, by: str | None) -> None:
    """Add the quartiles ``found`` to ``described`` as pandas' describe names them."""
    frame = described.frame
    table = found.values if by else found.values.to_frame().T.set_axis(frame.index)
    for q, name in zip(table.columns, ("25%", "50%", "75%"), strict=True):
        frame[name] = table[q].reindex(frame.index).to_numpy()
    described.notes += [note for note in found.notes if note not in described.notes]


def _finish(n: int, s: int, q: int) -> tuple[float, float, float, float]:
    """n, mean, variance (n - 1 denominator) and sd from exact integer n, sum and sum of
    squares, each rounded once (NaN where undefined, as pandas)."""
    n, s, q = int(n), int(s), int(q)
    if n < 1:
        return float(n), math.nan, math.nan, math.nan
    mean = float(Fraction(s, n))
    if n < 2:
        return float(n), mean, math.nan, math.nan
    var = Fraction(n * q - s * s, n * (n - 1))
    return float(n), mean, float(var), math.sqrt(var)
