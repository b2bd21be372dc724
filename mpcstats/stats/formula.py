"""statsmodels-style model formulas, parsed against the schema (never evaluated as code).

    los ~ age + C(sex) + bmi          intercept, a categorical with treatment coding
    y ~ age * C(sex)                  age + C(sex) + age:C(sex)
    y ~ x - 1                         no intercept

Categorical columns (``C(name)`` or any category column) expand into one indicator per
level but the first, named like statsmodels: ``C(sex)[T.M]``. Levels come from the schema's
public codes, so every hospital builds the same design columns.

As in patsy (and so statsmodels), a categorical gets all its levels instead (``C(sex)[F]``,
``C(sex)[M]``) when the rest of its term is not in the model yet: ``age:C(sex)`` without
``age``, or ``C(sex) - 1``. Terms are taken by degree, and such a term then covers that rest.
A term with two or more categoricals needs every margin (``C(a):C(b)`` needs ``C(a)`` and
``C(b)``, as ``C(a)*C(b)`` gives): patsy's other codings of them are not reproduced.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mpcstats._errors import FilterError
from mpcstats.stats.schema import Schema

__all__ = ["Design", "design_sql", "parse_formula"]

_NAME = re.compile(r"^(?:C\((?P<cat>[A-Za-z_]\w*)\)|(?P<num>[A-Za-z_]\w*))$")


@dataclass(frozen=True)
class _Factor:
    column: str
    categorical: bool


@dataclass(frozen=True)
class Design:
    """The response, the terms and the resulting design column names."""

    response: str
    terms: tuple[tuple[_Factor, ...], ...]
    intercept: bool
    schema: Schema
    full: frozenset[tuple[int, int]] = frozenset()  # (term, factor) coded with every level

    @property
    def columns(self) -> list[str]:
        """Every column the design reads (complete cases are taken over these)."""
        used = {self.response} | {f.column for term in self.terms for f in term}
        return sorted(used)

    @property
    def names(self) -> list[str]:
        names = ["Intercept"] if self.intercept else []
        for t, term in enumerate(self.terms):
            factors = [self._factor_names(f, (t, i) in self.full) for i, f in enumerate(term)]
            names.extend(":".join(parts) for parts in itertools.product(*factors))
        return names

    def column_grid(self) -> tuple[list[float], list[int], list[bool]]:
        """Per design column: the grid step, the largest |value| in steps, and whether it is a
        0/1 indicator (the intercept and indicators have step 1 and bound 1)."""
        steps, bounds, binary = ([1.0], [1], [False]) if self.intercept else ([], [], [])
        for t, term in enumerate(self.terms):
            step, bound, width, indicator = 1.0, 1, 1, True
            for i, factor in enumerate(term):
                column = self.schema[factor.column]
                if factor.categorical:
                    width *= len(self._levels(factor, (t, i) in self.full))
                else:
                    step *= column.precision
                    bound *= 1 << column.grid_bits
                    indicator &= column.kind == "bool" or (column.lo, column.hi) == (0, 1)
            steps += [step] * width
            bounds += [bound] * width
            binary += [indicator] * width
        return steps, bounds, binary

    def level_coded(self) -> list[bool]:
        """Per design column: whether a factor of its term is an indicator (a level of a
        categorical, a bool or 0/1 column), so that its zeros are the records outside a level
        (the intercept: no)."""
        coded = [False] if self.intercept else []
        for t, term in enumerate(self.terms):
            width, indicator = 1, False
            for i, factor in enumerate(term):
                column = self.schema[factor.column]
                if factor.categorical:
                    width *= len(self._levels(factor, (t, i) in self.full))
                indicator |= factor.categorical or column.kind == "bool"
                indicator |= (column.lo, column.hi) == (0, 1)
            coded += [indicator] * width
        return coded

    def _levels(self, factor: _Factor, full: bool = False) -> tuple[object, ...]:
        levels = self.schema[factor.column].levels
        return levels if full else levels[1:]  # the first level is the reference

    def _factor_names(self, factor: _Factor, full: bool) -> list[str]:
        if not factor.categorical:
            return [factor.column]
        mark = "" if full else "T."
        return [f"C({factor.column})[{mark}{level}]" for level in self._levels(factor, full)]

    def matrix(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) for these rows, as float64 (values on the schema's grid are exact)."""
        x = np.empty((len(rows), len(self.names)))  # filled column by column: one copy
        position = 0
        if self.intercept:
            x[:, 0] = 1.0
            position = 1
        for t, term in enumerate(self.terms):
            columns = [
                self._factor_columns(f, rows, (t, i) in self.full) for i, f in enumerate(term)
            ]
            for combination in itertools.product(*[range(c.shape[1]) for c in columns]):
                x[:, position] = columns[0][:, combination[0]]
                for c, index in zip(columns[1:], combination[1:], strict=True):
                    x[:, position] *= c[:, index]
                position += 1
        return x, rows[self.response].to_numpy(dtype=np.float64)

    def _factor_columns(self, factor: _Factor, rows: pd.DataFrame, full: bool) -> np.ndarray:
        values = rows[factor.column]
        if not factor.categorical:
            return values.to_numpy(dtype=np.float64)[:, None]
        levels = self._levels(factor, full)
        return np.column_stack([(values == level).to_numpy(float) for level in levels])


def design_sql(design: Design, quote: Callable[[str], str]) -> tuple[list[str], dict[str, Any]]:
    """SQL expressions of the design columns and then the response, as :meth:`Design.matrix`
    computes them, with their bound parameters (category codes never enter the text)."""
    parameters: dict[str, Any] = {}

    def factor_sql(factor: _Factor, full: bool) -> list[str]:
        column = quote(factor.column)
        if not factor.categorical:
            return [column]
        expressions = []
        for level in design._levels(factor, full):
            key = f"level{len(parameters)}"
            parameters[key] = level
            expressions.append(f"CASE WHEN {column} = :{key} THEN 1 ELSE 0 END")
        return expressions

    columns = ["1"] if design.intercept else []
    for t, term in enumerate(design.terms):
        factors = [factor_sql(f, (t, i) in design.full) for i, f in enumerate(term)]
        for parts in itertools.product(*factors):
            columns.append(" * ".join(f"({part})" for part in parts))
    return [*columns, quote(design.response)], parameters


MAX_CROSSED = 6
MAX_DESIGN_COLUMNS = 1000  # the GLMs refuse far fewer (their size guard); this bounds the work


def _width(factor: _Factor, schema: Schema) -> int:
    """The design columns a factor contributes at most (all its levels, when categorical)."""
    return len(schema[factor.column].levels) if factor.categorical else 1


def parse_formula(text: str, schema: Schema) -> Design:
    """Parse ``response ~ terms`` against the schema."""
    if not isinstance(text, str):
        raise FilterError(f'a formula is a string such as "y ~ x + C(group)", not {text!r}')
    if text.count("~") != 1:
        raise FilterError(f"a formula has one '~' between response and terms: {text!r}")
    left, right = (part.strip() for part in text.split("~"))
    if not re.fullmatch(r"[A-Za-z_]\w*", left) or left not in schema:
        raise FilterError(f"the response {left!r} is not a column of the schema")
    intercept = True
    terms: list[tuple[_Factor, ...]] = []
    for raw in (t.strip() for t in re.split(r"\s*\+\s*", right.replace("- 1", "+ -1"))):
        if raw in {"-1", "0"}:
            intercept = False
        elif raw == "1":
            continue
        elif "*" in raw:
            factors = [_factor(p, schema, text) for p in raw.split("*")]
            if len(factors) > MAX_CROSSED:  # a*b*...: 2^factors - 1 terms
                raise FilterError(
                    f"a term crosses at most {MAX_CROSSED} factors with '*', not {len(factors)}"
                )
            for size in range(1, len(factors) + 1):
                terms.extend(itertools.combinations(factors, size))
        else:
            terms.append(tuple(_factor(p, schema, text) for p in raw.split(":")))
    unique = sorted(dict.fromkeys(terms), key=len)  # by degree, as patsy; stable otherwise
    width = sum(math.prod(_width(f, schema) for f in term) for term in unique)
    if width > MAX_DESIGN_COLUMNS:  # checked before the columns are listed one by one
        raise FilterError(
            f"formula {text!r} has up to {width:,} design columns, more than the "
            f"{MAX_DESIGN_COLUMNS} a model may have"
        )
    return Design(left, tuple(unique), intercept, schema, _full_codings(unique, intercept, text))


def _full_codings(
    terms: list[tuple[_Factor, ...]], intercept: bool, formula: str
) -> frozenset[tuple[int, int]]:
    """The (term, factor) pairs whose categorical takes every level: those whose term without
    it is not in the model yet (the intercept is the empty term); see the module docstring."""
    covered: set[frozenset[str]] = {frozenset()} if intercept else set()
    full = set()
    for t, term in enumerate(terms):
        names = frozenset(f.column for f in term)
        categoricals = [i for i, f in enumerate(term) if f.categorical]
        missing = [i for i in categoricals if names - {term[i].column} not in covered]
        if len(categoricals) > 1 and missing:
            shown = ":".join(f"C({f.column})" if f.categorical else f.column for f in term)
            raise FilterError(
                f"term {shown} in {formula!r} needs every margin in the model (write the "
                "categoricals with '*'): other codings of interacting categoricals are not "
                "supported"
            )
        for i in missing:
            full.add((t, i))
            covered.add(names - {term[i].column})
        covered.add(names)
    return frozenset(full)


def _factor(text: str, schema: Schema, formula: str) -> _Factor:
    match = _NAME.match(text.strip())
    if not match:
        raise FilterError(f"cannot read term {text.strip()!r} in formula {formula!r}")
    name = match.group("cat") or match.group("num")
    if name not in schema:
        raise FilterError(f"formula {formula!r} names unknown column {name!r}")
    kind = schema[name].kind
    return _Factor(name, bool(match.group("cat")) or kind == "category")
