"""A hospital's table in its own SQL database, read through SQLAlchemy.

:class:`SqlTable` is a data source next to pandas DataFrames and CSV/Parquet files. What the
database computes: the ``where=`` filter (translated to SQL with bound parameters, never
formatted into the text), the choice of columns, the complete-case selection, the count of rows
excluded for missing values, and the schema check (violations are counted per column by SQL).
What it returns: the analysis's columns of the selected rows, read in chunks of ``chunk_rows``.
Aggregation push-down (GROUP BY counts and sums computed by the database, so that rows never
leave it) is not built yet.

The database user needs SELECT on the table only. Identifiers are checked against the table's
reflected columns and quoted by the database's dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mpcstats._errors import ConfigurationError
from mpcstats.stats.filters import Filter
from mpcstats.stats.schema import Schema, SchemaError

__all__ = ["SqlTable"]


class SqlTable:
    """``SqlTable("postgresql+psycopg://user@host/db", "patients")``."""

    def __init__(self, url: str, table: str, *, chunk_rows: int = 100_000) -> None:
        self.url, self.table, self.chunk_rows = url, table, chunk_rows
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

    def __repr__(self) -> str:
        return f"SqlTable({self._where()!r}, {self.table!r})"

    def _where(self) -> str:
        """The database's address without credentials."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _name(self, column: str) -> str:
        if column not in self.columns:
            raise SchemaError(f"column {column!r} is missing from table {self.table!r}")
        return str(self._quote(column))

    def _scalar(self, sql: str, parameters: dict[str, Any]) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text(sql), parameters).scalar_one())

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

    def select(self, condition: Filter | None, needed: Sequence[str]) -> tuple[pd.DataFrame, int]:
        """The ``needed`` columns of the rows passing ``condition`` with none of them missing,
        and the number of passing rows the missing values excluded."""
        where, parameters = condition.sql(self._name) if condition is not None else ("TRUE", {})
        complete = " AND ".join(f"{self._name(c)} IS NOT NULL" for c in needed) or "TRUE"
        source = self._quote(self.table)
        selected = self._scalar(f"SELECT COUNT(*) FROM {source} WHERE {where}", parameters)
        columns = ", ".join(self._name(c) for c in needed) or "1 AS one"
        query = f"SELECT {columns} FROM {source} WHERE {where} AND {complete}"
        with self.engine.connect() as connection:
            chunks = list(
                pd.read_sql(
                    sa.text(query), connection, params=parameters, chunksize=self.chunk_rows
                )
            )
        rows = (
            pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=list(needed))
        )
        return rows[list(needed)], selected - len(rows)
