"""CSV and Parquet files larger than memory: staged into a local SQLite file, in chunks.

A dataset configured with ``stage = "cohort.sqlite"`` is not loaded into the daemon's memory.
:func:`stage` imports the file ``chunk_rows`` rows at a time into a table of that SQLite file,
checks every chunk against the schema (violations are counted over the whole file, and the
error names the column, the count and the first row), and returns a
:class:`~mpcstats.stats.tables.SqlTable` on it, so every analysis is pushed down to SQLite
exactly as to a hospital's own database. The daemon's memory is bounded by one chunk while it
imports, and by what each analysis selects afterwards (grouped value counts, sums of products,
or chunks of rows).

The staged file is reused while the source file's size and modification time and the schema
are those it was built from; otherwise it is rebuilt beside it and swapped in atomically.

Leakage: none beyond the source file: the staged copy holds the same rows, in the hospital, and
should get the same file permissions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from mpcstats._errors import ConfigurationError, SchemaError
from mpcstats.stats.schema import Schema
from mpcstats.stats.tables import SqlTable

__all__ = ["STAGED_TABLE", "stage"]

STAGED_TABLE = "staged"
_ORIGIN_TABLE = "_mpcstats_origin"  # one row: what the staged table was built from


def stage(
    source: Path, kind: str, schema: Schema, database: Path, party: str, chunk_rows: int = 100_000
) -> SqlTable:
    """A SQL view of the CSV or Parquet ``source`` in the SQLite file ``database``, imported in
    chunks of ``chunk_rows`` unless an up-to-date import is already there."""
    if kind not in {"csv", "parquet"}:
        raise ConfigurationError(f"only csv and parquet files can be staged, not {kind!r}")
    try:
        origin = _origin(source, kind, schema)
    except OSError as error:
        raise ConfigurationError(f"cannot read {source}: {error}") from None
    if _recorded_origin(database) != origin:
        _build(source, kind, schema, database, party, origin, chunk_rows)
    return SqlTable(_url(database), STAGED_TABLE, chunk_rows=chunk_rows)


def _url(database: Path) -> str:
    return f"sqlite:///{database}"


def _origin(source: Path, kind: str, schema: Schema) -> str:
    status = source.stat()
    return json.dumps(
        {
            "file": str(source.resolve()),
            "format": kind,
            "size": status.st_size,
            "modified_ns": status.st_mtime_ns,
            "schema": schema.to_dict(),
        },
        sort_keys=True,
    )


def _recorded_origin(database: Path) -> str | None:
    if not database.exists():
        return None
    engine = sa.create_engine(_url(database))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT origin FROM {_ORIGIN_TABLE}")).scalar()
    except sa.exc.SQLAlchemyError:  # not a staged file, or an interrupted import
        return None
    finally:
        engine.dispose()


def _build(
    source: Path,
    kind: str,
    schema: Schema,
    database: Path,
    party: str,
    origin: str,
    chunk_rows: int,
) -> None:
    """Import ``source`` into a new SQLite file beside ``database``, then swap it in."""
    database.parent.mkdir(parents=True, exist_ok=True)
    building = database.with_name(database.name + ".building")
    building.unlink(missing_ok=True)
    engine = sa.create_engine(_url(building))
    try:
        problems = _Violations(schema)
        for chunk in _chunks(source, kind, chunk_rows):
            problems.add(chunk, party)
            chunk.to_sql(STAGED_TABLE, engine, if_exists="append", index=False)
        problems.raise_any(party, source)
        with engine.begin() as connection:
            connection.execute(sa.text(f"CREATE TABLE {_ORIGIN_TABLE} (origin TEXT)"))
            connection.execute(sa.text(f"INSERT INTO {_ORIGIN_TABLE} VALUES (:o)"), {"o": origin})
    except BaseException:
        engine.dispose()
        building.unlink(missing_ok=True)
        raise
    engine.dispose()
    os.replace(building, database)


def _chunks(source: Path, kind: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunk_rows`` at a time, indexed by their row number in the file."""
    try:
        if kind == "csv":
            yield from pd.read_csv(source, chunksize=chunk_rows)
            return
        import pyarrow.parquet as pq

        start = 0
        for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk_rows):
            chunk = batch.to_pandas()
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read {source}: {error}") from None


class _Violations:
    """Schema violations summed over chunks: per column, the count and the first row."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.found: dict[str, tuple[int, int, str]] = {}

    def add(self, chunk: pd.DataFrame, party: str) -> None:
        for name, count, first, rule in self.schema.violations(chunk, party):
            seen = self.found.get(name)
            self.found[name] = (count + (seen[0] if seen else 0), seen[1] if seen else first, rule)

    def raise_any(self, party: str, source: Path) -> None:
        if not self.found:
            return
        name, (count, first, rule) = next(iter(self.found.items()))
        raise SchemaError(
            f"{party}: column {name!r} of {source.name} has {count} value(s) that are not "
            f"{rule} (first at row {first}); fix the data or the schema"
        )
