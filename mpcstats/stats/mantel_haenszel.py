"""The Mantel–Haenszel pooled odds ratio across strata: ``mantel_haenszel``.

The pooled odds ratio of a binary ``outcome`` for a binary ``exposure`` (the second level of
each against the first) across the levels of ``strata``, its Robins–Breslow–Greenland standard
error, and the Cochran–Mantel–Haenszel test. Every stratum's 2 x 2 table stays secret: the
per-stratum terms (a d / n, b c / n, the expectations and variances of a) are computed and
summed inside MPC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError, PolicyError
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, DIVISION_MARGIN, FRAC, field_bits
from mpcstats.stats.local import cell_counts, level_codes, row_weights, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.results import MantelHaenszelResult
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import pool, release

__all__ = ["MantelHaenszel"]


@dataclass(frozen=True)
class MantelHaenszel(Analysis):
    """The stratified odds ratio of a binary outcome for a binary exposure."""

    name = "mantel_haenszel"
    leakage = Leakage(
        analyst="the pooled odds ratio, its standard error, the CMH statistic and n",
        parties="whether n >= k, and whether the pooled odds ratio is finite and non-zero "
        "(else the analysis stops with an error)",
    )

    exposure: str
    outcome: str
    strata: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.exposure, self.outcome, self.strata))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[MantelHaenszelResult]:
        exposure, outcome, strata = self.exposure, self.outcome, self.strata
        binary = {name: schema[name].levels for name in (exposure, outcome)}
        for name, levels in binary.items():
            if len(levels) != 2:
                raise ConfigurationError(f"mantel_haenszel: {name!r} must have two levels")
        strata_levels = schema[strata].levels
        size = len(strata_levels)
        modulus = field_bits(12 * COUNT_BITS + 6 * FRAC + DIVISION_MARGIN)
        k = policy.k

        def local(rows: pd.DataFrame) -> np.ndarray:
            codes = [level_codes(rows[strata], strata_levels)]
            codes += [level_codes(rows[name], levels) for name, levels in binary.items()]
            return cell_counts(codes, [size, 2, 2], row_weights(rows)).reshape(size, 4)

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            needed = [exposure, outcome, strata]
            rows, _ = select(frame, schema, self.where, needed, collapse=True)
            table = (await pool(session, local(rows), COUNT_BITS)).with_bits(COUNT_BITS)
            # columns: (unexposed, no event), (unexposed, event), (exposed, no), (exposed, event)
            d, c, b, a = (table[:, i].with_bits(COUNT_BITS) for i in range(4))
            n = (a + b + c + d).with_bits(COUNT_BITS)
            total = n.sum().with_bits(COUNT_BITS).reshape(1)
            if (await P.open_ltz(session, total - k, label="at least k records"))[0]:
                raise PolicyError(f"mantel_haenszel needs at least k = {k} records")
            terms = await _mantel_haenszel_terms(session, a, b, c, d, n)
            return {
                "oddsratio": (release(session, terms[0]), FRAC),
                "variance": (release(session, terms[1]), FRAC),
                "statistic": (release(session, terms[2]), FRAC),
                "n": (release(session, total), 0),
            }

        def result(out: dict[str, Any]) -> MantelHaenszelResult:
            return MantelHaenszelResult(
                float(out["oddsratio"][0]),
                math.sqrt(max(float(out["variance"][0]), 0.0)),
                float(out["statistic"][0]),
                float(out["n"][0]),
                size,
                exposure,
                outcome,
            )

        filters.parse(self.where, schema)
        return Plan(program, modulus, result)


async def _mantel_haenszel_terms(
    session: Session, a: Shared, b: Shared, c: Shared, d: Shared, n: Shared
) -> list[Shared]:
    """[pooled odds ratio, variance of its log, CMH statistic] from the strata's cells."""
    strata = a.size
    zero = await P.is_zero(session, P.concatenate([n, n - 1]))
    small = zero[:strata] + zero[strata:]  # n <= 1: a stratum that carries no information
    products = await P.mul(
        session, P.concatenate([a, b, a + b, c + d, n]), P.concatenate([d, c, a + c, b + d, n - 1])
    )
    ad, bc, row_col, other, pairs = (products[i * strata : (i + 1) * strata] for i in range(5))
    safe_n = n + zero[:strata]  # empty strata have zero numerators: divide them by 1
    numerators = P.concatenate([ad, bc, a + d, b + c, row_col, other])
    denominators = P.concatenate([safe_n] * 5 + [pairs + small])
    ratios = await fx.div(session, fx.rescale(numerators, FRAC), fx.rescale(denominators, FRAC))
    r, s, p, q, expected, spread = (ratios[i * strata : (i + 1) * strata] for i in range(6))
    crossed = await fx.mul(
        session, P.concatenate([p, p, q, q, expected]), P.concatenate([r, s, r, s, spread])
    )
    pr, ps, qr, qs, variance_a = (crossed[i * strata : (i + 1) * strata] for i in range(5))
    sr, ss = r.sum().reshape(1), s.sum().reshape(1)
    sv = variance_a.sum().reshape(1)
    degenerate = await P.is_zero(session, P.concatenate([sr, ss, sv]))
    if int((await P.open(session, degenerate.sum().reshape(1), label="degenerate"))[0]):
        raise ConfigurationError(
            "mantel_haenszel: the pooled odds ratio is 0 or infinite, or no stratum has "
            "variance (every stratum lacks an exposed or unexposed case or control)"
        )
    deviation = fx.rescale(a.sum(), FRAC).reshape(1) - expected.sum().reshape(1)
    squares = await fx.mul(
        session, P.concatenate([sr, sr, ss, deviation]), P.concatenate([sr, ss, ss, deviation])
    )
    tops = P.concatenate(
        [sr, pr.sum().reshape(1), (ps + qr).sum().reshape(1), qs.sum().reshape(1), squares[3:]]
    )
    bottoms = P.concatenate([ss, 2 * squares[0:1], 2 * squares[1:2], 2 * squares[2:3], sv])
    quotients = await fx.div(session, tops, bottoms)
    variance = quotients[1:2] + quotients[2:3] + quotients[3:4]
    return [quotients[0:1], variance, quotients[4:5]]
