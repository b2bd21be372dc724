"""Extremes: ``min`` and ``max``, only where the policy allows them (they can identify a
patient), and only of a cohort of at least k records.

Each party's own extreme and its number of records enter a secure tournament
(:func:`~mpcstats.protocols.vector_max`) and a product gate on the pooled count, side by side;
neither is opened. The analyst receives the pooled extreme times the gate, which is zero when
the cohort has fewer than k records: then the analysis is refused, and no value (neither a
patient's nor the declared bound an empty party enters) is released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mpcstats import protocols as P
from mpcstats._errors import PolicyError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Leakage, Plan, Table
from mpcstats.stats.budget import COUNT_BITS, GRID_FIELD
from mpcstats.stats.local import row_count, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import count_gate, open_gate, release_products

__all__ = ["Max", "Min"]


@dataclass(frozen=True)
class _Extreme(Analysis):
    largest: ClassVar[bool]
    leakage = Leakage(
        analyst="the pooled extreme, only if the policy allows extremes and the cohort has at "
        "least k records (else only that it has fewer)"
    )

    column: str
    where: str | None = None

    def cohort(self, schema: Schema) -> Cohort:
        return Cohort(self.where, (self.column,))

    def _plan(self, schema: Schema, policy: Policy) -> Plan[float]:
        if not policy.allow_extremes:
            raise PolicyError(
                "the study policy does not release minima or maxima (allow_extremes=False)"
            )
        column, largest, k = self.column, self.largest, policy.k
        spec = schema[column]
        # a party without records enters the declared bound, which never wins the tournament
        # over a real record; with no record at all the gate below withholds it
        sentinel = spec.grid(np.array([spec.lo if largest else spec.hi]))[0]
        bits = max(spec.grid_bits + 1, COUNT_BITS)

        async def program(session: Session, frame: Table) -> dict[str, Any]:
            rows, _ = select(frame, schema, self.where, [column], collapse=True)
            grid = spec.grid(rows[column].to_numpy(dtype=np.float64))
            mine = (grid.max() if largest else grid.min()) if len(grid) else sentinel
            parts = await P.input_all(session, np.array([mine, row_count(rows)]), bits=bits)
            every = P.concatenate([part[:1] for part in parts]).with_bits(spec.grid_bits + 1)
            n = sum(parts[1:], parts[0])[1:].with_bits(COUNT_BITS)  # the cohort's size
            find = P.vector_max if largest else P.vector_min
            best, gate = await session.together(find(session, every), count_gate(session, n, k))
            field = session.field
            shares = await release_products(session, [gate, field.mul(gate, best.share)])
            return {"gate": (shares[0], 0), "gated0": (shares[1], 0)}

        def result(out: dict[str, Any]) -> float:
            passed, (value,) = open_gate(PrimeField.with_bits(GRID_FIELD), out, 1)
            if not passed[0]:
                raise PolicyError(
                    f"{self.name}({column!r}): the cohort has fewer than k = {k} records, and "
                    "the policy releases an extreme only of at least k records"
                )
            return float(value[0]) * spec.precision

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
