"""The public schema (data dictionary) every party of a study shares.

A column declares its kind, its range and its precision, which is all the secure computation
needs to size its fields and to encode values exactly:

- ``int``: integers in [lo, hi];
- ``float``: reals in [lo, hi], encoded on the grid of ``precision`` (e.g. 0.1 kg);
- ``category``: one of ``codes`` (strings or integers), e.g. ICD chapters;
- ``bool``: 0/1.

A real federation agrees its schema up front, as a JSON file (:meth:`Schema.to_json`, which is
also how a schema prints). :meth:`Schema.infer` derives one from data, for the simulator only.
:meth:`Schema.differences` lists mismatches between parties column by column before anything
is computed.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpcstats._errors import HeadroomError, SchemaError

__all__ = ["Column", "Schema"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int" | "float" | "category" | "bool"
    lo: float = 0.0
    hi: float = 1.0
    precision: float = 1.0
    codes: tuple[Any, ...] = ()
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in {"int", "float", "category", "bool"}:
            raise SchemaError(f"column {self.name!r}: unknown kind {self.kind!r}")
        if self.kind == "category" and not self.codes:
            raise SchemaError(f"column {self.name!r}: a category column lists its codes")
        if self.kind in {"int", "float"} and not self.lo <= self.hi:
            raise SchemaError(f"column {self.name!r}: lo {self.lo} is above hi {self.hi}")
        if self.precision <= 0:
            raise SchemaError(f"column {self.name!r}: precision must be positive")

    @property
    def levels(self) -> tuple[Any, ...]:
        """The public levels of a grouping column."""
        if self.kind == "category":
            return self.codes
        if self.kind == "bool":
            return (0, 1)
        if self.kind == "int" and self.hi - self.lo <= 1000:
            return tuple(range(int(self.lo), int(self.hi) + 1))
        raise SchemaError(f"column {self.name!r} is continuous: group by a category or bin it")

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Values as integer steps of the precision (exact for values on the declared grid)."""
        return self.grid_floats(values).astype(np.int64)

    def grid_floats(self, values: np.ndarray) -> np.ndarray:
        """:meth:`grid` left in float64, which holds integers below 2^53 exactly: sums over
        such values can run in BLAS (and skip a conversion pass over the column)."""
        self.grid_bits  # noqa: B018 - refuses a grid too wide to be exact
        steps = np.divide(np.asarray(values, dtype=np.float64), self.precision)
        return np.rint(steps, out=steps)

    @property
    def grid_bits(self) -> int:
        """Bits of the largest |value| in precision steps; a HeadroomError when the grid is
        wider than the integers float64 holds exactly (the data arrives as float64)."""
        top = max(abs(self.lo), abs(self.hi)) / self.precision
        bits = max(math.ceil(top).bit_length(), 1)
        if bits > _FLOAT64_EXACT_BITS:
            raise HeadroomError(
                f"column {self.name!r}: values up to {max(abs(self.lo), abs(self.hi)):g} in "
                f"steps of {self.precision:g} are {bits}-bit integers, beyond the "
                f"{_FLOAT64_EXACT_BITS} bits float64 values hold exactly; declare a coarser "
                "precision or a narrower range"
            )
        return bits


@dataclass
class Schema:
    columns: dict[str, Column] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Column:
        if not isinstance(name, str):  # e.g. by=["sex", "smoker"]: one column, by its name
            raise SchemaError(f"a column is named by one string, not {name!r}")
        try:
            return self.columns[name]
        except KeyError:
            known = ", ".join(sorted(self.columns))
            raise SchemaError(f"unknown column {name!r}; the schema has: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def to_dict(self) -> dict[str, Any]:
        """The schema as JSON values: ``{"columns": {name: {kind, lo, hi, ...}}}``."""
        columns = {}
        for name, column in self.columns.items():
            # every field is a scalar but the codes: no deep copy (asdict's), per analysis
            entry = {f.name: getattr(column, f.name) for f in fields(column) if f.name != "name"}
            entry["codes"] = [_plain_code(code) for code in column.codes]
            columns[name] = entry
        return {"columns": columns}

    def to_json(self) -> str:
        """The schema as the JSON file a federation declares, one column a line::

            {"columns": {
              "age": {"kind": "int", "lo": 0, "hi": 110, "unit": "years"},
              "bmi": {"kind": "float", "lo": 10, "hi": 60, "precision": 0.1, "unit": "kg/m2"}
            }}

        A column lists the fields its kind uses and any other field set away from its default,
        so :meth:`from_json` reads back an equal schema. The text is canonical (columns and
        fields in order, whole numbers without ".0"): equal schemas give equal text.
        """
        lines = [
            f"  {json.dumps(name)}: {json.dumps(_declared(column))}"
            for name, column in self.columns.items()
        ]
        return '{"columns": {\n' + ",\n".join(lines) + "\n}}" if lines else '{"columns": {}}'

    def __str__(self) -> str:
        return self.to_json()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the schema") -> Schema:
        """A schema from JSON values; errors name ``source`` and the column."""
        entries = data.get("columns") if isinstance(data, Mapping) else None
        if not isinstance(entries, Mapping) or not entries:
            raise SchemaError(f'{source}: expected {{"columns": {{name: {{kind, ...}}}}}}')
        columns = {}
        for name, entry in entries.items():
            if not isinstance(entry, Mapping) or "kind" not in entry:
                raise SchemaError(f"{source}: column {name!r} needs a kind")
            try:
                spec = {**entry, "codes": tuple(entry.get("codes", ()))}
                columns[name] = Column(name, **spec)
            except TypeError as error:
                raise SchemaError(f"{source}: column {name!r}: {error}") from None
        return cls(columns)

    @classmethod
    def from_json(cls, text: str, source: str = "the schema") -> Schema:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise SchemaError(f"{source} is not valid JSON: {error}") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """A schema from a JSON file (the federation's data dictionary)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SchemaError(f"cannot read the schema file {path}: {error.strerror}") from None
        return cls.from_json(text, str(path))

    @classmethod
    def infer(cls, frames: list[pd.DataFrame]) -> Schema:
        """A schema covering all frames (simulation only: it looks at every party's data).

        - bool columns are ``bool``; integer columns, and float columns whose values are all
          whole numbers (pandas stores a score with missing values as float), are ``int``;
          other numbers are ``float`` and text is ``category``, its codes sorted;
        - a float column's precision is the coarsest of 0.5, 0.25, 0.1, 0.05, 0.025, 0.01, ...
          down to 1e-6 on whose grid every value lies, provided the grid keeps
          |value| / precision below 2^20: sums then stay on the float64 fast path and a
          median's search takes at most three steps. Values on no such grid (e.g. unrounded
          ratios) get the finest precision within that bound, are rounded to it in every
          analysis, and a warning says so: declare a schema to keep them finer.
        """
        pooled = pd.concat(frames, ignore_index=True)
        columns: dict[str, Column] = {}
        for name in pooled.columns:
            values = pooled[name].dropna()
            columns[name] = _infer_column(str(name), values)
        return cls(columns)

    def differences(self, other: Schema, party: str) -> list[str]:
        """Column-by-column mismatches between this schema and a party's."""
        problems = []
        for name in sorted(set(self.columns) | set(other.columns)):
            mine, theirs = self.columns.get(name), other.columns.get(name)
            if mine is None:
                problems.append(f"column {name!r}: only {party} has it")
            elif theirs is None:
                problems.append(f"column {name!r}: {party} does not have it")
            elif mine != theirs:
                problems.append(f"column {name!r}: {party} declares {theirs}, the study {mine}")
        return problems

    def check(self, frame: pd.DataFrame, party: str) -> None:
        """Refuse data outside the schema: the error names party, column, row and the rule."""
        for name, count, first, rule in self.violations(frame, party):
            raise SchemaError(
                f"{party}: column {name!r} has {count} value(s) that are not {rule} "
                f"(first at row {first}); fix the data or the schema"
            )

    def violations(self, frame: pd.DataFrame, party: str) -> list[tuple[str, int, Any, str]]:
        """(column, number of values outside its rule, the first one's row label, the rule)
        for every column with violations; a missing column is an error at once."""
        found = []
        for name, column in self.columns.items():
            if name not in frame.columns:
                raise SchemaError(f"{party}: column {name!r} is missing from the data")
            values = frame[name]
            present = values.notna()
            if column.kind == "category":
                bad = present & ~values.isin(column.codes)
                rule = f"one of the codes {list(column.codes)}"
            else:
                numeric = pd.to_numeric(values, errors="coerce")
                bad = present & (numeric.isna() | (numeric < column.lo) | (numeric > column.hi))
                rule = f"a number in [{column.lo}, {column.hi}]"
            if bad.any():
                first = frame.index[np.flatnonzero(bad.to_numpy())[0]]
                found.append((name, int(bad.sum()), first, rule))
        return found


def _declared(column: Column) -> dict[str, Any]:
    """A column's JSON entry: the fields its kind uses, and any other away from its default."""
    used = {"kind", *_FIELDS_USED[column.kind]}
    entry: dict[str, Any] = {}
    for spec in fields(column):  # in declaration order: kind, lo, hi, precision, codes, unit
        value = getattr(column, spec.name)
        if spec.name == "codes" and value:
            entry["codes"] = [_plain_code(code) for code in value]
        elif spec.name != "name" and (spec.name in used or value != spec.default):
            entry[spec.name] = _plain_number(value)
    return entry


_FIELDS_USED = {
    "int": ("lo", "hi"),
    "float": ("lo", "hi", "precision"),
    "category": ("codes",),
    "bool": (),
}


def _plain_number(value: Any) -> Any:
    """A whole float as an int (110 rather than 110.0), exactly; anything else unchanged."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _plain_code(code: Any) -> Any:
    """A category code as a JSON value (numpy integers become ints)."""
    return code.item() if isinstance(code, np.generic) else code


def _infer_column(name: str, values: pd.Series) -> Column:
    if values.dtype == bool:
        return Column(name, "bool")
    if pd.api.types.is_integer_dtype(values) and len(values):
        return Column(name, "int", float(values.min()), float(values.max()))
    if pd.api.types.is_float_dtype(values) and len(values):
        numbers = values.to_numpy(np.float64)
        if np.all(np.isfinite(numbers)) and np.all(numbers == np.rint(numbers)):
            return Column(name, "int", float(numbers.min()), float(numbers.max()))
        return _float_column(name, numbers)
    codes = tuple(sorted(values.unique(), key=str))
    return Column(name, "category", codes=codes)


def _float_column(name: str, values: np.ndarray) -> Column:
    """A float column with the coarsest precision that holds every value within the grid
    bound (see :meth:`Schema.infer`); rounded values are warned of."""
    lo, hi = float(values.min()), float(values.max())
    top = max(abs(lo), abs(hi))
    bounded = [step for step in _INFERRED_STEPS if top / step < 2**_INFERRED_GRID_BITS]
    exact = next((step for step in bounded if _on_grid(values, step)), None)
    if exact is not None:
        return Column(name, "float", lo, hi, precision=exact)
    step = bounded[-1] if bounded else _INFERRED_STEPS[0]
    # the range on the same grid, outward, so that the schema prints as one would declare it
    lo = min(round(math.floor(lo / step) * step, 7), lo)
    hi = max(round(math.ceil(hi / step) * step, 7), hi)
    warnings.warn(
        f"column {name!r}: its values lie on no decimal grid of at most 2^"
        f"{_INFERRED_GRID_BITS} steps; the inferred precision {step:g} rounds them in every "
        "analysis (pass schema= to declare a finer one)",
        stacklevel=4,
    )
    return Column(name, "float", lo, hi, precision=step)


def _on_grid(values: np.ndarray, step: float) -> bool:
    """Whether every value is a whole number of steps (to well within float64 rounding)."""
    return bool(np.allclose(values, np.rint(values / step) * step, rtol=1e-12, atol=1e-9))


# Halves and quarters before tenths: a column of half points gets 0.5, not 0.1.
_INFERRED_STEPS = tuple(
    float(f"{mantissa}e-{exponent}") for exponent in range(1, 7) for mantissa in ("5", "2.5", "1")
)
_INFERRED_GRID_BITS = 20  # float64 moments need <= 21 bits; a quantile search, 8 bits a step


_FLOAT64_EXACT_BITS = 53
