"""Exact quantiles of the pooled column: ``quantiles`` (numpy.quantile's default 'linear').

Nothing that depends on the data is opened to the parties, not even n. Every party inputs, in
the one pooling round, n, its excluded count and its cumulative counts at the probes of an
oblivious search over the declared grid (:mod:`mpcstats.protocols.search`: levels of at most
8 bits, about 2^w counts for a w-bit grid, so grids wider than
:data:`MAX_QUANTILE_GRID_BITS` are refused). A level q is taken as A / 2^E (round(q 2^60) /
2^60 in lowest terms: E = 1 for a median). The order statistics r = floor((n - 1) q) and
r + 1 are the smallest grid values x with 2^E G(x) > (n - 1) A and
2^E (G(x) - 1) > (n - 1) A for the pooled count G(x) at or below x: secret thresholds, so
the ranks, the comparisons and the search path stay secret. Beside the search, (n - 1) A is
split into r and its remainder F by one exact shift, and n is compared with each level's
public release threshold. The analyst receives n (if n >= k), which levels passed, and for
each passed level 2^E x_r + F (x_(r+1) - x_r) as one number, never the two order statistics
apart.

Release rule: at most the policy's ``max_quantile_levels`` levels per call (default 9); a
level is released only if k records lie below its lower and above its upper order statistic,
and (n - 1) times its distance to the next lower requested level is at least k + 1 (so its
order statistics are at least k ranks above that level's: of two nearby levels the upper one
is withheld). Each rule is
n >= a public threshold, decided inside MPC. Per group (:func:`quantiles_by`), the groups are
counted first with complementary suppression, then each released group is searched in a
session of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError, PolicyError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.search import first_masks, search_digits, search_probes, smallest_above
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table, arguments_of
from mpcstats.stats.budget import COUNT_BITS, GRID_FIELD
from mpcstats.stats.counts import Count
from mpcstats.stats.local import cumulative_counts, row_count, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import CountResult, QuantileResult
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import (
    EXCLUDED_OUTPUTS,
    excluded_note,
    line_gate,
    open_excluded,
    pool,
    release_products,
)

__all__ = [
    "MAX_QUANTILE_GRID_BITS",
    "Quantiles",
    "quantile_levels",
    "quantiles_by",
]

# the widest grid searched: every party inputs about 2^bits counts (16-24 MB to each peer at
# 20 bits). An inferred schema keeps |value| / precision below 2^20, so its non-negative
# columns fit; a column spanning negative and positive values may need 21 bits
MAX_QUANTILE_GRID_BITS = 20
LEVEL_BITS = 60  # a level q is taken as round(q 2^60) / 2^60: exact for q >= 2^-8
# the field: comparisons of (n - 1) A with 2^E G for levels of E bits (1 for a median, 2 for
# quartiles, up to 60), pooled counts of up to 34 + 15 bits (16 parties), kappa = 40: a
# (COUNT_BITS + 15 + E + 5)-bit comparison fits the 127-bit field for E <= 26, else 192 bits
_NARROW_LEVEL_BITS = 26
_NEVER = 1 << (COUNT_BITS + 16)  # a release threshold no n reaches (16 parties of 2^34)


@dataclass(frozen=True)
class Quantiles(Analysis):
    """Exact quantiles ``q`` of a numeric column over the records passing ``where``."""

    name = "quantiles"
    leakage = Leakage(
        analyst="whether n >= k, then n, for each quantile whether the release rule passed "
        "(a function of n), each released quantile (one interpolated value, not its two order "
        "statistics), and the pooled number of records excluded for a missing value if it is 0 "
        "or at least k and at least k records were kept (otherwise everything is suppressed: "
        "the filter's count minus n would give it)",
        parties="nothing (the search over the grid is oblivious; n stays secret)",
    )

    column: str
    q: Sequence[float] = (0.25, 0.5, 0.75)
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column,))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[QuantileResult]:
        column, where = self.column, self.where
        spec = schema[column]
        levels = quantile_levels(schema, policy, column, self.q)
        k = policy.k
        lo_grid, hi_grid = (int(v) for v in spec.grid(np.array([spec.lo, spec.hi])))
        width = max(hi_grid - lo_grid, 1).bit_length()  # the grid fits in 2^width values
        if width > MAX_QUANTILE_GRID_BITS:
            raise ConfigurationError(
                f"column {column!r} spans 2^{width} grid values, more than the "
                f"2^{MAX_QUANTILE_GRID_BITS} a quantile searches (every party inputs a count "
                "per grid value): declare a coarser precision or a narrower range"
            )
        digits = search_digits(width)
        probes = search_probes(digits)
        order = np.argsort(levels, kind="stable")
        numerators, level_bits = _numerators([float(q) for q in levels[order]])
        thresholds = _release_thresholds(numerators, level_bits, k)
        modulus = GRID_FIELD if level_bits <= _NARROW_LEVEL_BITS else 192

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            rows, excluded = select(frame, schema, where, [column], collapse=True)
            grid = spec.grid(rows[column].to_numpy(np.float64))
            at_or_below = cumulative_counts(grid, rows, lo_grid, width)
            tables = [at_or_below(lo_grid + p.ravel()) for p in probes]
            local = np.concatenate([[row_count(rows), excluded], *tables])
            count_bits = COUNT_BITS + session.n - 1  # the sum of n parties' inputs
            bits = count_bits + level_bits + 3  # |(n - 1) A + 2^E - 2^E G| < 2^bits
            searches = 2 * len(numerators)
            pooled, ahead = await session.together(
                pool(session, local, COUNT_BITS),
                first_masks(session, max(searches, 1), digits, bits),
            )
            n, missing = pooled[0], pooled[1:2]
            start, pooled_tables = 2, []
            for p in probes:
                pooled_tables.append(pooled[start : start + p.size].reshape(*p.shape))
                start += p.size
            field = session.field
            line = line_gate(session, n.reshape(1), missing, k)
            if not numerators:
                (n_gate,), gate = await session.together(_gates(session, n, [], [], k), line)
                return await _released(
                    session, gate, missing, {"n": field.mul(n_gate.share, n.share)}
                )
            products = (n - 1) * np.array(numerators, dtype=object)
            last = 1 << level_bits
            targets = P.concatenate(
                [products, products + np.array([last * (a < last) for a in numerators], object)]
            )
            found, (n_gate, passed, gated_fraction), gate = await session.together(
                smallest_above(session, pooled_tables, digits, targets, last, bits, ahead=ahead),
                _gates(session, n, products, thresholds, k, level_bits),
                line,
            )
            low, high = found[: len(numerators)], found[len(numerators) :]
            # 2^E x_r + F (x_(r+1) - x_r), gated: two products of degree-t sharings
            value = field.add(
                field.mul((passed * last).share, low.share),
                field.mul(gated_fraction.share, (high - low).share),
            )
            outputs = {"n": field.mul(n_gate.share, n.share), "values": value}
            return await _released(session, gate, missing, outputs | {"passed": passed.share})

        def result(out: dict[str, Any]) -> QuantileResult:
            field = PrimeField.with_bits(modulus)
            excluded = open_excluded(field, out)
            if math.isnan(excluded):  # 1 to k - 1 excluded, or fewer than k kept
                values = pd.Series(np.nan, index=levels)
                notes = ["n is below k, or 1 to k - 1 records were excluded: suppressed."]
                return QuantileResult(
                    values, column, math.nan, [*notes, excluded_note(k)], excluded
                )
            out = _unmasked(field, out)
            total = int(out["n"][0])
            if total == 0:
                values = pd.Series(np.nan, index=levels)
                return QuantileResult(
                    values, column, float("nan"), ["n is below k: suppressed."], excluded
                )
            found = np.full(len(levels), np.nan)
            passed = [int(v) for v in out.get("passed", [])]
            for index, ok, value in zip(order, passed, out.get("values", []), strict=True):
                if ok:
                    offset = Fraction(int(value), 1 << level_bits)
                    found[index] = float(lo_grid + offset) * spec.precision
            notes = (
                []
                if all(passed)
                else [
                    f"quantiles with fewer than k = {k} records on either side, or closer than "
                    f"k = {k} ranks to a lower requested quantile, are suppressed."
                ]
            )
            series = pd.Series(found, index=levels)
            return QuantileResult(series, column, float(total), notes, excluded)

        filters.parse(where, schema)
        return Plan(program, modulus, result)


def quantile_levels(schema: Schema, policy: Policy, column: str, q: Sequence[float]) -> np.ndarray:
    """The levels ``q`` as an array, checked: a numeric column, levels in [0, 1], at most the
    policy's ``max_quantile_levels`` of them."""
    if schema[column].kind == "category":
        raise ConfigurationError(f"column {column!r} is a category: quantiles need numbers")
    levels = np.asarray(q, dtype=np.float64).reshape(-1)
    if len(levels) > policy.max_quantile_levels:
        raise PolicyError(
            f"{len(levels)} quantile levels in one call, more than the policy's "
            f"max_quantile_levels = {policy.max_quantile_levels}: many nearby quantiles would "
            "release the sorted records themselves"
        )
    if np.any((levels < 0) | (levels > 1)) or np.isnan(levels).any():
        raise ConfigurationError("quantile levels lie in [0, 1]")
    return levels


def quantiles_by(
    run: Callable[[Analysis], Any],
    schema: Schema,
    policy: Policy,
    column: str,
    q: Sequence[float],
    where: str | None,
    by: str,
) -> QuantileResult:
    """Quantiles per level of ``by``: a suppressed count of the groups, then one
    :class:`Quantiles` session per released group (``run`` runs an analysis)."""
    with arguments_of("quantiles"):
        levels = quantile_levels(schema, policy, column, q)
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


def _numerators(levels: list[float]) -> tuple[list[int], int]:
    """The levels as A / 2^E, as the parties and the analyst use them: round(q 2^60) / 2^60
    with the fewest bits E that hold every level exactly (1 for a median, 2 for quartiles)."""
    full = [round(q * (1 << LEVEL_BITS)) for q in levels]
    spare = min(((a & -a).bit_length() - 1 for a in full if a), default=LEVEL_BITS)
    spare = min(spare, LEVEL_BITS)
    return [a >> spare for a in full], LEVEL_BITS - spare


def _release_thresholds(numerators: list[int], level_bits: int, k: int) -> list[int]:
    """For levels A / 2^E in increasing order, the least n that releases each: n >= k; k
    records below r = floor((n - 1) q), i.e. (n - 1) A >= k 2^E; k records above r + 1, i.e.
    (n - 1) (2^E - A) > k 2^E; and (n - 1) (A - A_prev) >= (k + 1) 2^E for the next lower
    level, so floor((n - 1) q) - floor((n - 1) q_prev) >= k + 1 and the level's order
    statistics lie at least k ranks above the lower level's."""
    last, found = 1 << level_bits, []
    for index, a in enumerate(numerators):
        needs = [k]
        needs.append(1 + _ceil_div(k * last, a) if a > 0 else _NEVER)
        needs.append(2 + (k * last) // (last - a) if a < last else _NEVER)
        if index:
            step = a - numerators[index - 1]
            needs.append(1 + _ceil_div((k + 1) * last, step) if step > 0 else _NEVER)
        found.append(min(max(needs), _NEVER))
    return found


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


async def _released(
    session: Session, gate: np.ndarray, missing: Shared, outputs: dict[str, Any]
) -> dict[str, tuple[np.ndarray, int]]:
    """The analyst's shares of ``outputs`` (degree 2t) times the line gate of n and the excluded
    count (zero where fewer than k were kept or 1 to k - 1 excluded, as every result's
    ``excluded``), and of the gate and the gated excluded count: one round to bring the
    outputs to degree t first."""
    field = session.field
    line = gate  # shape (1,): broadcast over each output
    names = [*outputs, *EXCLUDED_OUTPUTS]
    reduced = await reduce_degree(session, [(field, value) for value in outputs.values()])
    gated = [field.mul(line, value) for value in reduced]
    shares = await release_products(session, [*gated, line, field.mul(line, missing.share)])
    return {name: (share, 0) for name, share in zip(names, shares, strict=True)}


def _unmasked(field: PrimeField, out: dict[str, Any]) -> dict[str, Any]:
    """The released outputs divided by the (non-zero) line gate they were multiplied by."""
    line = int(np.asarray(out[EXCLUDED_OUTPUTS[0]], dtype=object).reshape(-1)[0]) % field.order
    inverse = field.inverse(line)
    return {
        name: field.signed(field.mul(np.asarray(value, dtype=object) % field.order, inverse))
        for name, value in out.items()
        if name in ("n", "values", "passed")
    }


async def _gates(
    session: Session,
    n: Shared,
    products: Shared | list[Any],
    thresholds: list[int],
    k: int,
    level_bits: int = 0,
) -> list[Shared]:
    """[n >= k] * ..., the release gates [n >= threshold] per level, and each level's remainder
    F = (n - 1) A mod 2^E times its gate; with no level, only [n >= k]."""
    bounds = np.array([k, *thresholds], dtype=object)
    column = P.concatenate([n.reshape(1)] * len(bounds))
    if not thresholds:
        below = await P.ltz(session, column - bounds)
        return [(1 - below).with_bits(1)]
    assert isinstance(products, Shared)
    below, floors = await session.together(
        P.ltz(session, column - bounds), P.shift_right(session, products, level_bits)
    )
    gates = (1 - below).with_bits(1)
    fraction = (products - floors * (1 << level_bits)).with_bits(level_bits + 1)
    passed = gates[1:]
    gated = await P.mul(session, passed, fraction)
    return [gates[:1], passed, gated]
