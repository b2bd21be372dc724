"""The ``where=`` filter language: parsed, validated against the schema, never evaluated as code.

Grammar (case-insensitive keywords)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | test
    test       := NAME op value
                | NAME "in" "(" value ("," value)* ")"
                | NAME "between" value "and" value
                | NAME "is" ["not"] "missing"
    op         := "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := number | 'single-quoted string' | "double-quoted string"

A filter becomes a boolean mask on a DataFrame (:meth:`Filter.mask`) or a SQL condition with bound
parameters (:meth:`Filter.sql`). Column names come only from the schema, and values are always
parameters, so injection has nowhere to go.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mpcstats._errors import FilterError
from mpcstats.stats.schema import Schema

__all__ = ["Filter", "equals", "parse"]


def equals(column: str, value: Any) -> str:
    """The filter text ``column == value`` for a public level (a category code or a number)."""
    if isinstance(value, str):
        if value.endswith("\\"):
            raise FilterError(f"level {value!r} of {column!r} cannot be written in a filter")
        return f"{column} == '" + value.replace("'", "\\'") + "'"
    return f"{column} == {value!r}"


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|==|!=|<|>)
      | (?P<punct>[(),])
      | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "between", "is", "missing"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any = None


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(
                f"cannot read the filter at character {position}: {text[position:]!r}"
            )
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "number":
            tokens.append(
                _Token("value", raw, float(raw) if any(c in raw for c in ".eE") else int(raw))
            )
        elif kind == "string":
            tokens.append(_Token("value", raw, raw[1:-1].replace("\\'", "'").replace('\\"', '"')))
        elif kind == "name" and raw.lower() in _KEYWORDS:
            tokens.append(_Token("keyword", raw.lower()))
        else:
            tokens.append(_Token(kind, raw))
        position = match.end()
    return tokens


@dataclass(frozen=True)
class Filter:
    """A parsed filter: a small tree of ("and"|"or"|"not"|test, ...) tuples."""

    tree: tuple[Any, ...]
    text: str

    def columns(self) -> set[str]:
        return set(_columns(self.tree))

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows pass (rows whose tested value is missing do not pass a comparison)."""
        return np.asarray(_mask(self.tree, frame), dtype=bool)

    def sql(self, quote: Any = lambda name: f'"{name}"') -> tuple[str, dict[str, Any]]:
        """(condition, parameters) with named parameters :p0, :p1, ... (SQLAlchemy style)."""
        parameters: dict[str, Any] = {}
        return _sql(self.tree, parameters, quote), parameters


def parse(text: str | None, schema: Schema) -> Filter | None:
    """Parse ``text`` against ``schema``; None means no filter."""
    if text is not None and not isinstance(text, str):
        raise FilterError(f'a filter is a string such as "age >= 65", not {text!r}')
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"a filter has at most {MAX_FILTER_LENGTH} characters, not {len(text)}")
    parser = _Parser(_tokens(text), schema, text)
    tree = parser.expression()
    if parser.position != len(parser.tokens):
        raise FilterError(f"unexpected {parser.tokens[parser.position].text!r} in filter {text!r}")
    return Filter(tree, text)


# bounds on what an analyst may send: the parties parse and evaluate a filter recursively
MAX_FILTER_LENGTH = 10_000
MAX_NESTING = 32  # parentheses and nots, one inside another
MAX_TESTS = 256  # comparisons joined by and / or


class _Parser:
    def __init__(self, tokens: list[_Token], schema: Schema, text: str) -> None:
        self.tokens, self.schema, self.text, self.position = tokens, schema, text, 0
        self.depth = self.tests = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str, text: str | None = None) -> _Token:
        token = self._peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            wanted = text or kind
            found = "the end" if token is None else repr(token.text)
            raise FilterError(f"expected {wanted} but found {found} in filter {self.text!r}")
        self.position += 1
        return token

    def _accept(self, kind: str, text: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == kind and token.text == text:
            self.position += 1
            return True
        return False

    def expression(self) -> tuple[Any, ...]:
        node = self.term()
        while self._accept("keyword", "or"):
            node = ("or", node, self.term())
        return node

    def term(self) -> tuple[Any, ...]:
        node = self.factor()
        while self._accept("keyword", "and"):
            node = ("and", node, self.factor())
        return node

    def factor(self) -> tuple[Any, ...]:
        if self._accept("keyword", "not"):
            return ("not", self._nested(self.factor))
        if self._accept("punct", "("):
            node = self._nested(self.expression)
            self._take("punct", ")")
            return node
        self.tests += 1
        if self.tests > MAX_TESTS:
            raise FilterError(f"a filter joins at most {MAX_TESTS} tests with and / or")
        return self.test()

    def _nested(self, parse: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FilterError(f"a filter nests parentheses and nots at most {MAX_NESTING} deep")
        try:
            return parse()
        finally:
            self.depth -= 1

    def test(self) -> tuple[Any, ...]:
        name = self._take("name").text
        if name not in self.schema:
            raise FilterError(f"filter {self.text!r} names unknown column {name!r}")
        if self._accept("keyword", "in"):
            self._take("punct", "(")
            values = [self._take("value").value]
            while self._accept("punct", ","):
                values.append(self._take("value").value)
            self._take("punct", ")")
            return ("in", name, tuple(values))
        if self._accept("keyword", "between"):
            low = self._take("value").value
            self._take("keyword", "and")
            return ("between", name, low, self._take("value").value)
        if self._accept("keyword", "is"):
            negated = self._accept("keyword", "not")
            self._take("keyword", "missing")
            return ("present" if negated else "missing", name)
        op = self._take("op").text
        return ("cmp", name, op, self._take("value").value)


def _columns(node: tuple[Any, ...]) -> list[str]:
    if node[0] in {"and", "or"}:
        return _columns(node[1]) + _columns(node[2])
    if node[0] == "not":
        return _columns(node[1])
    return [node[1]]


_COMPARE = {
    "==": lambda s, v: s == v,
    "!=": lambda s, v: (s != v) & s.notna(),
    "<": lambda s, v: s < v,
    "<=": lambda s, v: s <= v,
    ">": lambda s, v: s > v,
    ">=": lambda s, v: s >= v,
}


def _mask(node: tuple[Any, ...], frame: pd.DataFrame) -> pd.Series:
    kind = node[0]
    if kind == "and":
        return _mask(node[1], frame) & _mask(node[2], frame)
    if kind == "or":
        return _mask(node[1], frame) | _mask(node[2], frame)
    if kind == "not":
        return ~_mask(node[1], frame)
    column = frame[node[1]]
    if kind == "missing":
        return column.isna()
    if kind == "present":
        return column.notna()
    if kind == "in":
        return column.isin(node[2])
    if kind == "between":
        return (column >= node[2]) & (column <= node[3])
    try:
        return _COMPARE[node[2]](column, node[3]).fillna(False).astype(bool)
    except TypeError as error:
        raise FilterError(f"column {node[1]!r} cannot be compared with {node[3]!r}") from error


def _sql(node: tuple[Any, ...], parameters: dict[str, Any], quote: Any) -> str:
    kind = node[0]
    if kind in {"and", "or"}:
        left, right = _sql(node[1], parameters, quote), _sql(node[2], parameters, quote)
        return f"({left} {kind.upper()} {right})"
    if kind == "not":
        return f"(NOT {_sql(node[1], parameters, quote)})"
    column = quote(node[1])

    def bind(value: Any) -> str:
        key = f"p{len(parameters)}"
        parameters[key] = value
        return f":{key}"

    if kind == "missing":
        return f"({column} IS NULL)"
    if kind == "present":
        return f"({column} IS NOT NULL)"
    # a missing value fails a test, as in mask(), so NOT of it passes: NULL becomes FALSE
    if kind == "in":
        return f"COALESCE({column} IN ({', '.join(bind(v) for v in node[2])}), FALSE)"
    if kind == "between":
        return f"COALESCE({column} BETWEEN {bind(node[2])} AND {bind(node[3])}, FALSE)"
    op = "=" if node[2] == "==" else "<>" if node[2] == "!=" else node[2]
    return f"COALESCE({column} {op} {bind(node[3])}, FALSE)"
