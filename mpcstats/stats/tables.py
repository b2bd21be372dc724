"""A hospital's table in its own SQL database, read through SQLAlchemy.

:class:`SqlTable` is a data source next to pandas DataFrames and CSV/Parquet files. What the
database computes: the ``where=`` filter (translated to SQL with bound parameters, never
formatted into the text), the choice of columns, the complete-case selection, the count of rows
excluded for missing values, and the schema check (violations are counted per column by SQL).
For statistics that are sums over rows (counts, histograms, crosstabs, describe, means,
variances, t tests, Bland-Altman) the database also groups equal rows (``GROUP BY`` with
``COUNT(*)``): it returns each distinct value combination once with its count, so no patient's
row leaves it and the daemon's memory is bounded by the number of distinct combinations (on the
schema's precision grid). Quantiles, chi-square, Mann-Whitney, Spearman and Mantel-Haenszel
use the same grouped counts. For Pearson correlations and least squares the database computes
the sums of products of the grid values exactly (:meth:`SqlTable.sums_of_products`, in NUMERIC),
and the residual sums given public coefficients (:meth:`SqlTable.residual_sums`). Logit and
Poisson fits stream the analysis's columns of the selected rows, ``chunk_rows`` at a time, once
per Newton step (:meth:`SqlTable.chunks`), and never hold them all.

The database user needs SELECT on the table only. Identifiers are checked against the table's
reflected columns and quoted by the database's dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mpcstats._errors import ConfigurationError, HeadroomError, SchemaError
from mpcstats.stats.filters import Filter
from mpcstats.stats.schema import Schema

__all__ = ["WEIGHT", "SqlTable"]

WEIGHT = "_mpcstats_weight"  # the multiplicity column of a collapsed selection
_ROW_IDS = {"sqlite": "rowid", "postgresql": "CAST(ctid AS TEXT)"}  # physical row ids


class SqlTable:
    """``SqlTable("postgresql+psycopg://user@host/db", "patients")``."""

    def __init__(
        self, url: str, table: str, *, key: str | None = None, chunk_rows: int = 100_000
    ) -> None:
        self.url, self.table, self.chunk_rows = url, table, chunk_rows
        self.key = key  # the column that identifies a record, if the table declares one
        try:
            sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError):  # the URL is not echoed: it may hold a password
            raise ConfigurationError(
                "the database URL does not parse; it takes the form "
                "dialect+driver://user:password@host:port/database"
            ) from None
        try:
            self.engine = sa.create_engine(url)
            inspector = sa.inspect(self.engine)
            if not inspector.has_table(table):
                known = sorted(inspector.get_table_names())
                raise ConfigurationError(f"the database has no table {table!r}; it has {known}")
            self.columns = [c["name"] for c in inspector.get_columns(table)]
        except sa.exc.SQLAlchemyError as error:
            raise ConfigurationError(
                f"cannot read table {table!r} at {self._where()}: {type(error).__name__}"
            ) from None
        self._quote = self.engine.dialect.identifier_preparer.quote
        # exact integer products: NUMERIC is unbounded; SQLite keeps a REAL cast to NUMERIC
        # as REAL, but sums INTEGERs exactly (and leaves them, visibly, on overflow)
        self._exact_type = "INTEGER" if self.engine.dialect.name == "sqlite" else "NUMERIC"

    def __repr__(self) -> str:
        return f"SqlTable({self._where()!r}, {self.table!r})"

    def _where(self) -> str:
        """The database's address without credentials."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _name(self, column: str) -> str:
        if column not in self.columns:
            raise SchemaError(f"column {column!r} is missing from table {self.table!r}")
        return str(self._quote(column))

    def identifier(self, column: str) -> str:
        """The quoted name of one of the table's columns (checked against its reflection)."""
        return self._name(column)

    def _scalar(self, sql: str, parameters: dict[str, Any]) -> int:
        return int(self._row(sql, parameters)[0])

    def check(self, schema: Schema, party: str) -> None:
        """Refuse data outside the schema, counting violations in the database."""
        source = self._quote(self.table)
        for name, column in schema.columns.items():
            quoted = self._name(name)
            if column.kind == "category":
                keys = {f"c{i}": code for i, code in enumerate(column.codes)}
                rule = f"NOT {quoted} IN ({', '.join(':' + key for key in keys)})"
                expected = f"one of the codes {list(column.codes)}"
            else:
                keys = {"lo": column.lo, "hi": column.hi}
                rule = f"({quoted} < :lo OR {quoted} > :hi)"
                expected = f"a number in [{column.lo}, {column.hi}]"
            sql = f"SELECT COUNT(*) FROM {source} WHERE {quoted} IS NOT NULL AND {rule}"
            bad = self._scalar(sql, keys)
            if bad:
                raise SchemaError(
                    f"{party}: column {name!r} has {bad} value(s) that are not {expected}; "
                    "fix the data or the schema"
                )

    def select(
        self, condition: Filter | None, needed: Sequence[str], collapse: bool = False
    ) -> tuple[pd.DataFrame, int]:
        """The ``needed`` columns of the rows passing ``condition`` with none of them missing,
        and the number of passing rows the missing values excluded.

        ``collapse``: the database groups equal rows and returns each distinct row once with
        its count in :data:`WEIGHT` (for statistics that are sums over rows: counts, moments),
        so that no patient's row leaves it, only value combinations and their counts.
        """
        where, complete, parameters = self._selection(condition, needed)
        source = self._quote(self.table)
        selected = self._scalar(f"SELECT COUNT(*) FROM {source} WHERE {where}", parameters)
        columns = ", ".join(self._name(c) for c in needed)
        if collapse:
            grouped = f" GROUP BY {columns}" if needed else ""
            listed = f"{columns}, " if needed else ""
            query = (
                f"SELECT {listed}COUNT(*) AS {WEIGHT} FROM {source} "
                f"WHERE {where} AND {complete}{grouped}"
            )
        else:
            query = f"SELECT {columns or '1 AS one'} FROM {source} WHERE {where} AND {complete}"
        kept = [*needed, WEIGHT] if collapse else list(needed)
        rows = pd.concat(list(self._read(query, parameters, kept)), ignore_index=True)[kept]
        complete_rows = int(rows[WEIGHT].sum()) if collapse else len(rows)
        return rows, selected - complete_rows

    def record_ids(self, condition: Filter | None, needed: Sequence[str]) -> np.ndarray:
        """The sorted ids (uint64) of the rows passing ``condition`` complete in ``needed``,
        hashed: of each row's key column, or without one of its physical row id (SQLite's
        rowid, which a staged file's rows keep; PostgreSQL's ctid, which an update of the row
        changes). Only the party holds them (query-set overlap control)."""
        dialect = self.engine.dialect.name
        if self.key is not None:
            column = self._name(self.key)
        elif dialect in _ROW_IDS:
            column = _ROW_IDS[dialect]
        else:
            raise ConfigurationError(
                f'table {self.table!r} needs a key column (key = "..." in its dataset) to '
                "tell its records apart for the overlap control"
            )
        where, complete, parameters = self._selection(condition, needed)
        source = self._quote(self.table)
        query = f"SELECT {column} AS id FROM {source} WHERE {where} AND {complete}"
        ids = pd.concat(list(self._read(query, parameters, ["id"])), ignore_index=True)["id"]
        hashed = pd.util.hash_pandas_object(ids.astype(str), index=False)
        return np.sort(hashed.to_numpy(np.uint64))

    def chunks(self, condition: Filter | None, needed: Sequence[str]) -> Iterator[pd.DataFrame]:
        """The ``needed`` columns of the complete rows passing ``condition``, ``chunk_rows`` at
        a time, streamed from the database (at least one chunk, maybe empty): for analyses that
        pass over the rows several times without holding them (logit and Poisson fits)."""
        where, complete, parameters = self._selection(condition, needed)
        columns = ", ".join(self._name(c) for c in needed)
        query = f"SELECT {columns} FROM {self._quote(self.table)} WHERE {where} AND {complete}"
        return self._read(query, parameters, list(needed), stream=True)

    def _read(
        self, query: str, parameters: dict[str, Any], columns: list[str], stream: bool = False
    ) -> Iterator[pd.DataFrame]:
        """The query's rows in chunks; ``stream``: through a server-side cursor where the
        driver has one, so the driver does not hold them all either."""
        with self.engine.connect().execution_options(stream_results=stream) as connection:
            empty = True
            for chunk in pd.read_sql(
                sa.text(query), connection, params=parameters, chunksize=self.chunk_rows
            ):
                empty = False
                yield chunk
        if empty:
            yield pd.DataFrame({c: pd.Series(dtype=float) for c in columns})

    def _selection(
        self, condition: Filter | None, needed: Sequence[str]
    ) -> tuple[str, str, dict[str, Any]]:
        """The filter's SQL condition, the complete-case condition on ``needed``, and the
        filter's bound parameters."""
        where, parameters = condition.sql(self._name) if condition is not None else ("TRUE", {})
        complete = " AND ".join(f"{self._name(c)} IS NOT NULL" for c in needed) or "TRUE"
        return where, complete, parameters

    def _grid_rows(
        self,
        condition: Filter | None,
        needed: Sequence[str],
        expressions: Sequence[str],
        steps: Sequence[float],
        parameters: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        """A subquery of the selected complete rows with columns z0, z1, ...: each expression
        in integer steps of its grid, ROUND(e / step), as numpy's rint on grid values."""
        where, complete, bound = self._selection(condition, needed)
        bound.update(parameters)
        grids = []
        for i, (expression, step) in enumerate(zip(expressions, steps, strict=True)):
            bound[f"step{i}"] = float(step)
            grids.append(f"ROUND(CAST({expression} AS DOUBLE PRECISION) / :step{i}) AS z{i}")
        source = self._quote(self.table)
        query = f"SELECT {', '.join(grids)} FROM {source} WHERE {where} AND {complete}"
        return query, bound

    def sums_of_products(
        self,
        condition: Filter | None,
        needed: Sequence[str],
        expressions: Sequence[str],
        steps: Sequence[float],
        parameters: dict[str, Any],
        count_nonzero: Sequence[int] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Z'Z of the grid values of ``expressions`` over the selected complete rows, exactly
        (SUM over NUMERIC products), and how many of those rows have a non-zero value of each
        expression listed in ``count_nonzero`` (the models' rare-column guard), in one pass
        by the database: one row of sums leaves it."""
        inner, bound = self._grid_rows(condition, needed, expressions, steps, parameters)
        size = len(expressions)
        pairs = [(i, j) for i in range(size) for j in range(i, size)]
        exact = self._exact_type
        sums = [f"SUM(CAST(z{i} AS {exact}) * CAST(z{j} AS {exact}))" for i, j in pairs]
        sums += [f"SUM(CASE WHEN z{i} <> 0 THEN 1 ELSE 0 END)" for i in count_nonzero]
        row = self._row(f"SELECT {', '.join(sums)} FROM ({inner}) AS grid_rows", bound)
        values, counted = row[: len(pairs)], row[len(pairs) :]
        if any(isinstance(value, float) for value in values):  # SQLite leaves int64 silently
            raise HeadroomError(
                f"{self._where()} summed the products of {self.table!r} in floating point, as "
                "its 64-bit integers overflowed: declare a coarser precision for the model's "
                "columns, or use a database with exact NUMERIC sums (PostgreSQL)"
            )
        gram = np.zeros((size, size), dtype=object)
        for (i, j), value in zip(pairs, values, strict=True):
            gram[i, j] = gram[j, i] = int(value or 0)
        return gram, np.array([int(value or 0) for value in counted], dtype=np.int64)

    def residual_sums(
        self,
        condition: Filter | None,
        needed: Sequence[str],
        expressions: Sequence[str],
        steps: Sequence[float],
        parameters: dict[str, Any],
        coefficients: Sequence[float],
    ) -> list[float]:
        """With e = z_last - sum_i b_i z_i on the grid: [sum e^2], then the entries of
        sum e^2 z z' over the other columns (row-major), computed by the database."""
        inner, bound = self._grid_rows(condition, needed, expressions, steps, parameters)
        d = len(expressions) - 1
        fitted = " + ".join(f":b{i} * z{i}" for i in range(d)) or "0"
        bound.update({f"b{i}": float(b) for i, b in enumerate(coefficients)})
        columns = ", ".join(f"z{i}" for i in range(d))
        sums = ["SUM(e * e)", *(f"SUM(e * e * z{i} * z{j})" for i in range(d) for j in range(d))]
        query = (
            f"SELECT {', '.join(sums)} FROM (SELECT {columns}{', ' if d else ''}"
            f"z{d} - ({fitted}) AS e FROM ({inner}) AS grid_rows) AS residuals"
        )
        return [float(v or 0.0) for v in self._row(query, bound)]

    def _row(self, sql: str, parameters: dict[str, Any]) -> tuple[Any, ...]:
        try:
            with self.engine.connect() as connection:
                return tuple(connection.execute(sa.text(sql), parameters).one())
        except sa.exc.OperationalError as error:
            if "integer overflow" in str(error.orig):  # SQLite's SUM beyond 64 bits
                raise HeadroomError(
                    f"{self._where()}: a sum over {self.table!r} overflowed the database's "
                    "64-bit integers: declare a coarser precision, or use PostgreSQL"
                ) from None
            raise
