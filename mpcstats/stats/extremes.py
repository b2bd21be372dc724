"""Extremes: ``min`` and ``max``, only where the policy allows them (they can identify a
patient).

Each party's own extreme enters a secure tournament (:func:`~mpcstats.protocols.vector_max`)
and is never opened; the analyst receives the pooled extreme.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mpcstats import protocols as P
from mpcstats._errors import PolicyError
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import GRID_FIELD
from mpcstats.stats.local import select
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import release

__all__ = ["Max", "Min"]


@dataclass(frozen=True)
class _Extreme(Analysis):
    largest: ClassVar[bool]
    leakage = Leakage(analyst="the pooled extreme, only if the policy allows extremes")

    column: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column,))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[float]:
        if not policy.allow_extremes:
            raise PolicyError(
                "the study policy does not release minima or maxima (allow_extremes=False)"
            )
        column, largest = self.column, self.largest
        spec = schema[column]
        sentinel = spec.grid(np.array([spec.lo if largest else spec.hi]))[0]

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            rows, _ = select(frame, schema, self.where, [column], collapse=True)
            grid = spec.grid(rows[column].to_numpy(dtype=np.float64))
            mine = (grid.max() if largest else grid.min()) if len(grid) else sentinel
            parts = await P.input_all(session, np.array([mine]), bits=spec.grid_bits + 1)
            every = P.concatenate(parts)
            best = await (P.vector_max if largest else P.vector_min)(session, every)
            return {"value": (release(session, best), 0)}

        def result(out: dict[str, Any]) -> float:
            return float(out["value"]) * spec.precision

        filters.parse(self.where, schema)
        return Plan(program, GRID_FIELD, result)


@dataclass(frozen=True)
class Min(_Extreme):
    """The smallest value of a column."""

    name = "min"
    largest = False


@dataclass(frozen=True)
class Max(_Extreme):
    """The largest value of a column."""

    name = "max"
    largest = True
