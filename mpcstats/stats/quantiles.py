"""Exact quantiles of the pooled column: ``quantiles`` (numpy.quantile's default 'linear').

The pooled number of complete records n is opened once it is known to be at least k. Then a
secure search runs over the declared precision grid, several bits a step: at each step every
party counts its own records at or below each of 2^b - 1 public probes splitting the remaining
interval (a SQL source returns value counts, not rows), the counts are pooled, and only the
comparisons of the pooled counts with the target rank are opened. A 16-bit grid takes two
steps. A quantile is released, and searched for, only if at least k records lie on each side.
Per group (:func:`quantiles_by`), the groups are counted first with complementary suppression,
then each released group is searched in a session of its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import PUBLIC, Analysis, Leakage, Plan, Table, arguments_of
from mpcstats.stats.budget import COUNT_BITS, GRID_FIELD
from mpcstats.stats.counts import Count
from mpcstats.stats.local import cumulative_counts, row_count, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import CountResult, QuantileResult
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import open_if_at_least, pool, release

__all__ = ["MAX_QUANTILE_LEVELS", "Quantiles", "quantile_levels", "quantiles_by"]

# the most quantile levels one call may ask for (issue 18: 75 levels released 64 order
# statistics). A module constant until Policy carries it on the wire (Policy.max_quantile_levels)
MAX_QUANTILE_LEVELS = 9


@dataclass(frozen=True)
class Quantiles(Analysis):
    """Exact quantiles ``q`` of a numeric column over the records passing ``where``."""

    name = "quantiles"
    leakage = Leakage(
        analyst="whether n >= k, then n, the order statistics on either side of each released "
        "quantile, and the pooled number of records excluded for a missing value",
        parties="whether n >= k, then n, and the order statistics on either side of each "
        "released quantile (the search path reveals nothing else)",
    )

    column: str
    q: Sequence[float] = (0.25, 0.5, 0.75)
    where: str | None = None

    def _plan(self, schema: Schema, policy: Policy) -> Plan[QuantileResult]:
        column, where = self.column, self.where
        spec = schema[column]
        levels = quantile_levels(schema, column, self.q)
        k = policy.k
        lo_grid, hi_grid = (int(v) for v in spec.grid(np.array([spec.lo, spec.hi])))
        width = max(hi_grid - lo_grid, 1).bit_length()  # the grid fits in 2^width values

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            rows, excluded = select(frame, schema, where, [column], collapse=True)
            grid = spec.grid(rows[column].to_numpy(np.float64))
            at_or_below = cumulative_counts(grid, rows, lo_grid, width)
            # every search starts on the whole grid: its first counts are pooled with n
            # the most searches n can need (at least one: with no level asked, n is released)
            plan = _search_digits(width, max(2 * len(levels), 1))
            first = _probes(np.array([lo_grid]), *plan[0])
            local = np.concatenate([[row_count(rows), excluded], at_or_below(first.ravel())])
            pooled_first = await pool(session, local, COUNT_BITS)
            missing = {"excluded": (release(session, pooled_first[1:2]), 0)}
            pooled_first = P.concatenate([pooled_first[:1], pooled_first[2:]])
            (total,) = await open_if_at_least(session, pooled_first[:1], k, "quantile n")
            if total is None:
                return missing | {PUBLIC: {"n": None, "grid": []}}
            _, below, above = _order_ranks(total, levels)
            allowed = _released(total, levels, k)
            ranks, searched = np.unique(
                np.concatenate([below[allowed], above[allowed]]), return_inverse=True
            )
            low = np.full(len(ranks), lo_grid, dtype=np.int64)
            steps = plan if len(ranks) else []
            # a count c and a target rank r lie in [0, n] and [1, n]: |c - r| < 2^bits(n)
            bits = total.bit_length()
            ahead = None  # each step's comparison masks are dealt during the step before
            for step, (digit_bits, remaining) in enumerate(steps):
                part = 1 << (remaining - digit_bits)
                probes = _probes(low, digit_bits, remaining)
                if step == 0:
                    pooled = P.concatenate([pooled_first[1:]] * len(ranks))
                else:
                    pooled = await pool(session, at_or_below(probes.ravel()), COUNT_BITS)
                targets = np.repeat(ranks + 1, probes.shape[1])
                gaps = (pooled - targets).with_bits(bits)
                label = "quantile search step"
                if step + 1 < len(steps):
                    count = len(ranks) * ((1 << steps[step + 1][0]) - 1)
                    passed, ahead = await session.together(
                        P.open_ltz(session, gaps, ahead=ahead, label=label),
                        P.comparison_masks(session, count, bits, opened=True),
                    )
                else:
                    passed = await P.open_ltz(session, gaps, ahead=ahead, label=label)
                low = low + part * passed.reshape(probes.shape).astype(np.int64).sum(axis=1)
            return missing | {PUBLIC: {"n": total, "grid": low[searched].tolist()}}

        def result(out: dict[str, Any]) -> QuantileResult:
            excluded = float(out["excluded"][0])
            if out["n"] is None:
                values = pd.Series(np.nan, index=levels)
                return QuantileResult(
                    values, column, float("nan"), ["n is below k: suppressed."], excluded
                )
            total = int(out["n"])
            positions, below, _ = _order_ranks(total, levels)
            allowed = _released(total, levels, k)
            grid = np.asarray(out["grid"], dtype=np.float64)
            low, high = np.full(len(levels), np.nan), np.full(len(levels), np.nan)
            low[allowed], high[allowed] = grid[: allowed.sum()], grid[allowed.sum() :]
            values = (low + (positions - below) * (high - low)) * spec.precision
            notes = (
                []
                if allowed.all()
                else [
                    f"quantiles with fewer than k = {k} records on either side, or closer than "
                    f"k = {k} ranks to a lower requested quantile, are suppressed."
                ]
            )
            series = pd.Series(values, index=levels)
            return QuantileResult(series, column, float(total), notes, excluded)

        filters.parse(where, schema)
        return Plan(program, GRID_FIELD, result)


def quantile_levels(schema: Schema, column: str, q: Sequence[float]) -> np.ndarray:
    """The levels ``q`` as an array, checked: a numeric column, levels in [0, 1], at most
    :data:`MAX_QUANTILE_LEVELS` of them."""
    if schema[column].kind == "category":
        raise ConfigurationError(f"column {column!r} is a category: quantiles need numbers")
    levels = np.asarray(q, dtype=np.float64).reshape(-1)
    if len(levels) > MAX_QUANTILE_LEVELS:
        raise ConfigurationError(
            f"{len(levels)} quantile levels in one call, more than the {MAX_QUANTILE_LEVELS} "
            "allowed (MAX_QUANTILE_LEVELS): many nearby quantiles would release the sorted "
            "records themselves"
        )
    if np.any((levels < 0) | (levels > 1)) or np.isnan(levels).any():
        raise ConfigurationError("quantile levels lie in [0, 1]")
    return levels


def quantiles_by(
    run: Callable[[Analysis], Any],
    schema: Schema,
    column: str,
    q: Sequence[float],
    where: str | None,
    by: str,
) -> QuantileResult:
    """Quantiles per level of ``by``: a suppressed count of the groups, then one
    :class:`Quantiles` session per released group (``run`` runs an analysis)."""
    with arguments_of("quantiles"):
        levels = quantile_levels(schema, column, q)
    groups: CountResult = run(Count(where=where, by=by))
    values = pd.DataFrame(np.nan, index=groups.counts.index, columns=levels)
    ns = pd.Series(np.nan, index=groups.counts.index, name="n")
    notes = list(groups.notes)
    for level, count in groups.counts.items():
        if np.isnan(count):
            continue
        condition = filters.equals(by, level)
        found: QuantileResult = run(
            Quantiles(column, levels.tolist(), f"({where}) and {condition}" if where else condition)
        )
        values.loc[level] = found.values.to_numpy()
        ns[level] = found.n
        notes += [note for note in found.notes if note not in notes]
    return QuantileResult(values, column, ns, notes, groups.excluded)


def _search_digits(width: int, searches: int, budget: int = 512) -> list[tuple[int, int]]:
    """The steps of a (2^b)-ary search over 2^width values: (b, bits still unknown) per step.
    Each step compares 2^b - 1 probes per search (``searches`` >= 1) in one batch, and b is as
    large as the ``budget`` of comparisons per step allows, so a 16-bit search takes 2 steps,
    not 16."""
    digit = max(1, min(width, int(np.log2(budget / searches + 1))))
    steps = max(1, math.ceil(width / digit))
    digit = math.ceil(width / steps)  # spread the bits evenly over the steps
    plan, remaining = [], width
    while remaining > 0:
        step = min(digit, remaining)
        plan.append((step, remaining))
        remaining -= step
    return plan


def _probes(low: np.ndarray, digit_bits: int, remaining: int) -> np.ndarray:
    """The 2^digit_bits - 1 probes of one search step from each ``low``: probe j is the last
    value of part j - 1 of [low, low + 2^remaining)."""
    part = 1 << (remaining - digit_bits)
    return low[:, None] + part * np.arange(1, 1 << digit_bits)[None, :] - 1


def _order_ranks(total: int, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of quantile ``levels`` among ``total`` sorted values (numpy's 'linear'), and
    the 0-based order statistics below and above each."""
    positions = (total - 1) * levels
    below = np.floor(positions).astype(np.int64)
    above = np.minimum(below + 1, total - 1)
    return positions, below, above


def _released(total: int, levels: np.ndarray, k: int) -> np.ndarray:
    """Which levels are released: k records on each side of the two order statistics of a
    level, and those at least k ranks above the upper order statistic of the next lower
    requested level (of two nearby levels, the upper one is withheld), so released order
    statistics are never adjacent and differencing them does not single out records."""
    _, below, above = _order_ranks(total, levels)
    allowed = (below >= k) & (total - 1 - above >= k)
    order = np.argsort(levels, kind="stable")
    for previous, current in itertools.pairwise(order):
        if below[current] - above[previous] < k:
            allowed[current] = False
    return allowed
