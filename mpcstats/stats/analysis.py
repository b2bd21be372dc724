"""Analyses as objects that the analyst, every party and the audit log agree on.

An analysis is a frozen dataclass of JSON values (columns, filter, formula, options) registered
under its method name, e.g. ``Describe("bmi", where="age >= 65")`` is ``describe``. What it
computes is in one place, :meth:`Analysis.plan`, which the analyst and every party run alike:
it checks the request against the schema and the policy and returns a :class:`Plan`, the secure
program every party runs on its own rows, the size of the field it runs in, and the analyst's
step from the released values to the result. Each analysis also states what it reveals
(:attr:`Analysis.leakage`).

A request travels as the method name and :meth:`Analysis.to_json`; a party rebuilds the
analysis with :func:`from_request` and plans it itself, so nothing executable crosses the wire.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

import numpy as np
import pandas as pd

from mpcstats._errors import ConfigurationError, MpcStatsError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.opening import reconstruct_output
from mpcstats.protocols.session import Session
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.tables import SqlTable

__all__ = [
    "ANALYSES",
    "PUBLIC",
    "Analysis",
    "Cohort",
    "Leakage",
    "Plan",
    "Program",
    "Table",
    "arguments_of",
    "from_request",
    "leakage_table",
    "reconstruct",
]

PUBLIC = "public"  # the key of a program's public outputs: values every party already knows

Table: TypeAlias = pd.DataFrame | SqlTable | None  # a party's rows (None at a data-less helper)
Program = Callable[[Session, Table], Awaitable[dict[str, Any]]]
"""A secure program: runs at every party on its own rows; returns {name: (share, frac)} for
the analyst, and under :data:`PUBLIC` the values the program opened to all parties."""

R = TypeVar("R")

ANALYSES: dict[str, type[Analysis]] = {}
"""The analyses a party may be asked to run, by method name."""

# raised while checking a request (a string where a number belongs, ...): the caller's error
_ARGUMENT_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError)


@dataclass(frozen=True)
class Leakage:
    """What an analysis reveals beyond nothing: to the analyst, and to the parties."""

    analyst: str
    parties: str = "nothing"


@dataclass(frozen=True)
class Cohort:
    """The records an analysis uses at each party: those passing ``where``, and of them the
    ones with no missing value in ``needed`` (query-set overlap control compares both)."""

    where: str | None
    needed: tuple[str, ...]


@dataclass(frozen=True)
class Plan(Generic[R]):
    """How one analysis runs: ``program`` at every party in a field of ``modulus_bits``, then
    ``result`` at the analyst, from the released values by name."""

    program: Program
    modulus_bits: int
    result: Callable[[dict[str, Any]], R]


class Analysis(abc.ABC):
    """One analysis request. Subclasses are frozen dataclasses with a method ``name``."""

    name: ClassVar[str]  # the method name a request carries, and the audit log records
    leakage: ClassVar[Leakage]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            ANALYSES[cls.name] = cls

    @abc.abstractmethod
    def _plan(self, schema: Schema, policy: Policy) -> Plan[Any]:
        """Check the request and make its plan (the analyst and every party run this)."""

    @abc.abstractmethod
    def cohort(self, schema: Schema) -> Cohort:
        """The records the analysis uses (checked against the schema by :meth:`plan`)."""

    def plan(self, schema: Schema, policy: Policy) -> Plan[Any]:
        """The request's plan, or the error that refuses it. A TypeError or ValueError while
        checking is the caller's (a string where a number belongs...): a ConfigurationError
        naming the method, never an internal error at the parties."""
        with arguments_of(self.name):
            return self._plan(schema, policy)

    def to_json(self) -> str:
        """The request's arguments, canonically: every field by name, sorted, JSON values."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        try:
            return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_plain)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(
                f"{self.name}: arguments must be JSON values ({error})"
            ) from None


@contextlib.contextmanager
def arguments_of(method: str) -> Iterator[None]:
    """Checks of ``method``'s arguments: a TypeError or ValueError raised in them becomes a
    ConfigurationError that names the method (a string where a number belongs...)."""
    try:
        yield
    except MpcStatsError:
        raise
    except _ARGUMENT_ERRORS as error:
        raise ConfigurationError(
            f"{method}: invalid arguments ({type(error).__name__}: {error})"
        ) from None


def from_request(method: str, arguments_json: str) -> Analysis:
    """The analysis a request names, from its JSON arguments."""
    kind = ANALYSES.get(method)
    if kind is None:
        raise ConfigurationError(f"{method!r} is not an analysis of mpcstats")
    try:
        fields = json.loads(arguments_json)
        if not isinstance(fields, dict):
            raise TypeError("the arguments are not a JSON object")
        return kind(**fields)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"{method}: malformed arguments ({error})") from None


def leakage_table() -> str:
    """The Markdown table of what each registered analysis reveals (docs/statistics.md)."""
    rows = [
        "| analysis | the analyst learns | the parties learn |",
        "| --- | --- | --- |",
    ]
    for name, kind in sorted(ANALYSES.items()):
        rows.append(f"| `{name}` | {kind.leakage.analyst} | {kind.leakage.parties} |")
    return "\n".join(rows)


def reconstruct(
    outputs: Sequence[Mapping[str, Any]], degree: int, modulus_bits: int
) -> dict[str, Any]:
    """The analyst's values from every party's outputs (by party index); public outputs pass
    through under their own names."""
    field = PrimeField.with_bits(modulus_bits)
    released: dict[str, Any] = dict(outputs[0].get(PUBLIC, {}))
    for name, output in outputs[0].items():
        if name == PUBLIC:
            continue
        shares = {party: out[name][0] for party, out in enumerate(outputs)}
        released[name] = reconstruct_output(field, shares, degree, output[1])
    return released


def _plain(value: Any) -> Any:
    """numpy scalars, arrays and tuples as JSON values."""
    if isinstance(value, np.ndarray | tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")
