"""Data sources: a PostgreSQL table, and CSV or Parquet files staged into SQLite, give the
results their DataFrame twins give.

The PostgreSQL server is real: ``.ci/run`` starts one (``.ci/postgres.sh``) and exports its URL
as MPCSTATS_TEST_POSTGRES with MPCSTATS_REQUIRE_POSTGRES=1, so CI fails rather than skips when
it is missing.
"""

from __future__ import annotations

import os
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import mpcstats
from mpcstats import Column, Schema, SchemaError
from mpcstats.stats.staging import stage
from mpcstats.stats.tables import WEIGHT, SqlTable
from mpcstats.testing.loopback import LoopbackFederation

SCHEMA = Schema(
    {
        "age": Column("age", "int", 0, 120),
        "bmi": Column("bmi", "float", 10, 60, precision=0.1),
        "sex": Column("sex", "category", codes=("F", "M")),
        "los": Column("los", "int", 0, 365),
    }
)


def _hospital(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": rng.integers(20, 95, n),
            "bmi": np.round(rng.normal(27, 4, n).clip(10, 60), 1),
            "sex": rng.choice(["F", "M"], n),
            "los": rng.poisson(5, n),
        }
    )
    frame.loc[frame.index[: n // 10], "bmi"] = np.nan  # some missing values
    return frame


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    url = os.environ.get("MPCSTATS_TEST_POSTGRES")
    if not url:
        if os.environ.get("MPCSTATS_REQUIRE_POSTGRES"):
            pytest.fail("MPCSTATS_REQUIRE_POSTGRES is set but MPCSTATS_TEST_POSTGRES is not")
        pytest.skip("no PostgreSQL server: run .ci/postgres.sh and export MPCSTATS_TEST_POSTGRES")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(8)
    return {
        name: _hospital(rng, n) for name, n in [("hosp_a", 700), ("hosp_b", 90), ("hosp_c", 400)]
    }


@pytest.fixture(scope="module")
def tables(engine: sa.Engine, frames: dict[str, pd.DataFrame]) -> dict[str, SqlTable]:
    suffix = uuid.uuid4().hex[:8]
    made = {}
    for name, frame in frames.items():
        frame.to_sql(f"{name}_{suffix}", engine, index=False)
        made[name] = SqlTable(engine.url.render_as_string(hide_password=False), f"{name}_{suffix}")
    return made


def _same(study: mpcstats.LocalSimulator, twin: mpcstats.LocalSimulator) -> None:
    where = "age >= 40 and not sex == 'M' or bmi is missing"
    assert study.count(where=where).counts.iloc[0] == twin.count(where=where).counts.iloc[0]
    ours, theirs = (
        study.describe("bmi", by="sex", where="age < 80"),
        twin.describe("bmi", by="sex", where="age < 80"),
    )
    pd.testing.assert_frame_equal(ours.frame, theirs.frame)
    assert ours.excluded == theirs.excluded > 0
    assert study.crosstab("sex", "los", where="los <= 8").table.equals(
        twin.crosstab("sex", "los", where="los <= 8").table
    )
    assert study.median("bmi") == twin.median("bmi")
    for cov_type in ("nonrobust", "HC1"):
        ours_fit = study.ols("los ~ age * C(sex) + bmi", where="age >= 30", cov_type=cov_type)
        their_fit = twin.ols("los ~ age * C(sex) + bmi", where="age >= 30", cov_type=cov_type)
        np.testing.assert_allclose(ours_fit.params, their_fit.params, rtol=1e-12)
        np.testing.assert_allclose(ours_fit.bse, their_fit.bse, rtol=1e-9)
    for method in ("pearson", "spearman"):
        np.testing.assert_allclose(
            study.corr(["age", "los"], method=method, where="sex == 'F'").matrix,
            twin.corr(["age", "los"], method=method, where="sex == 'F'").matrix,
            rtol=1e-12,
        )
    assert study.mann_whitney("bmi", "sex").statistic == twin.mann_whitney("bmi", "sex").statistic
    ours_glm = study.poisson("los ~ age + C(sex)", where="age >= 30")  # rows stream, by chunk
    their_glm = twin.poisson("los ~ age + C(sex)", where="age >= 30")
    np.testing.assert_allclose(ours_glm.params, their_glm.params, rtol=1e-9)
    assert ours_glm.llf == pytest.approx(their_glm.llf, rel=1e-9)


def test_postgresql_gives_the_results_of_dataframes(
    tables: dict[str, SqlTable], frames: dict[str, pd.DataFrame]
) -> None:
    _same(
        mpcstats.LocalSimulator(tables, schema=SCHEMA),
        mpcstats.LocalSimulator(frames, schema=SCHEMA),
    )


def test_the_database_filters_with_bound_parameters(
    tables: dict[str, SqlTable], frames: dict[str, pd.DataFrame], engine: sa.Engine
) -> None:
    statements: list[tuple[str, object]] = []

    def seen(
        conn: object, cursor: object, statement: str, parameters: object, *rest: object
    ) -> None:
        statements.append((statement, parameters))

    table = tables["hosp_a"]
    sa.event.listen(table.engine, "before_cursor_execute", seen)
    try:
        attack = "x' OR '1'='1"
        study = mpcstats.LocalSimulator(tables, schema=SCHEMA)
        women = study.count(where=f"sex == 'F' or sex == \"{attack}\"").counts.iloc[0]
        assert women == sum((frame.sex == "F").sum() for frame in frames.values())
    finally:
        sa.event.remove(table.engine, "before_cursor_execute", seen)
    assert statements and all(attack not in text for text, _ in statements)
    assert any(attack in str(parameters) for _, parameters in statements)
    with engine.connect() as connection:  # the table is intact
        assert (
            connection.execute(sa.text(f'SELECT COUNT(*) FROM "{table.table}"')).scalar_one() == 700
        )


def test_daemons_serve_postgresql_tables_like_csv_files(
    tmp_path: Path, tables: dict[str, SqlTable], frames: dict[str, pd.DataFrame]
) -> None:
    daemons = LoopbackFederation(tmp_path, frames, SCHEMA)
    for name, table in tables.items():  # hospitals read their database instead of the CSV file
        config = daemons.config_path(name)
        text = config.read_text().replace(
            'format = "csv"\npath = "data.csv"',
            f'format = "sql"\nurl = "{table.url}"\ntable = "{table.table}"',
        )
        config.write_text(text)
        (config.parent / "data.csv").unlink()
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        _same(study, mpcstats.LocalSimulator(frames, schema=SCHEMA))  # type: ignore[arg-type]


def test_sql_errors_name_the_table_and_column(
    tables: dict[str, SqlTable], engine: sa.Engine
) -> None:
    url = tables["hosp_a"].url
    with pytest.raises(mpcstats.ConfigurationError, match="no table 'nope'"):
        SqlTable(url, "nope")
    with pytest.raises(mpcstats.ConfigurationError, match="cannot read table 'x' at postgresql"):
        SqlTable("postgresql+psycopg://nobody@127.0.0.1:1/none", "x")
    narrow = Schema({**SCHEMA.columns, "age": Column("age", "int", 0, 50)})
    with pytest.raises(
        SchemaError,
        match=r"hosp_a: column 'age' has \d+ value\(s\) that are not a number in \[0, 50\]",
    ):
        mpcstats.LocalSimulator(tables, schema=narrow)
    wider = Schema({**SCHEMA.columns, "weight": Column("weight", "int", 0, 300)})
    with pytest.raises(SchemaError, match="column 'weight' is missing from table"):
        mpcstats.LocalSimulator(tables, schema=wider)


def test_a_database_url_that_does_not_parse_is_refused_without_echoing_it() -> None:
    with pytest.raises(mpcstats.ConfigurationError, match="URL does not parse") as caught:
        SqlTable("postgresql+psycopg://reader:s3cret@db.example:54x2/clinical", "patients")
    assert "s3cret" not in str(caught.value)


def test_sums_over_rows_are_grouped_by_the_database(
    tables: dict[str, SqlTable], frames: dict[str, pd.DataFrame]
) -> None:
    reads: list[tuple[str, int]] = []

    def seen(conn: object, cursor: Any, statement: str, *rest: object) -> None:
        reads.append((statement, cursor.rowcount))

    table = tables["hosp_a"]
    sa.event.listen(table.engine, "after_cursor_execute", seen)
    try:
        study = mpcstats.LocalSimulator(tables, schema=SCHEMA)
        study.count(by="sex", where="age >= 30")
        study.describe("bmi", by="sex")
        study.crosstab("sex", "los")
        grouped = len(reads)
        study.ols("los ~ age + bmi + C(sex)", cov_type="HC1")
        study.corr(["age", "bmi", "los"])
    finally:
        sa.event.remove(table.engine, "after_cursor_execute", seen)
    selections = [(text, rows) for text, rows in reads if "_mpcstats_weight" in text]
    assert len(selections) == 3
    assert all("GROUP BY" in text for text, _ in selections)
    # the overlap control reads the selected records' ids (row ids here), which never leave the
    # party; no other statement reads rows
    ids = [text for text, _ in reads if text.startswith("SELECT CAST(ctid AS TEXT) AS id")]
    assert ids
    others = [
        text for text, _ in reads[:grouped] if "_mpcstats_weight" not in text and text not in ids
    ]
    assert all(text.startswith("SELECT COUNT(*)") for text in others)
    sums = [read for read in reads[grouped:] if read[0] not in ids]  # one row of sums per query
    # HC1: the Gram matrix with the rare-column guard's non-zero counts, the residual sums; corr
    assert len(sums) == 3 and all(rows == 1 for _, rows in sums)
    assert all(text.startswith("SELECT SUM(") for text, _ in sums)
    mine = frames["hosp_a"]
    distinct = [  # what each query returns: one row per value combination, with its count
        (mine.age >= 30).groupby(mine.sex).any().sum(),
        len(mine.dropna(subset=["bmi"]).groupby(["bmi", "sex"])),
        len(mine.groupby(["sex", "los"])),
    ]
    assert [rows for _, rows in selections] == distinct
    assert distinct[0] == 2 and distinct[2] < 60 < len(mine)


# files larger than memory: staged into SQLite in chunks ---------------------------------------
def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _staged(frames: dict[str, pd.DataFrame], folder: Path, chunk_rows: int) -> dict[str, SqlTable]:
    suffixes = [".csv", ".parquet", ".csv"]
    return {
        name: stage(
            _write(frame, folder / f"{name}{suffix}"),
            suffix[1:],
            SCHEMA,
            folder / f"{name}.sqlite",
            name,
            chunk_rows=chunk_rows,
        )
        for (name, frame), suffix in zip(frames.items(), suffixes, strict=True)
    }


def test_staged_files_give_the_results_of_dataframes(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    staged = _staged(frames, tmp_path, chunk_rows=64)  # hosp_a's 700 rows in 11 chunks
    _same(
        mpcstats.LocalSimulator(staged, schema=SCHEMA),
        mpcstats.LocalSimulator(frames, schema=SCHEMA),
    )


def test_a_staged_file_is_reused_until_its_source_changes(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    source = _write(frames["hosp_b"], tmp_path / "b.csv")
    database = tmp_path / "b.sqlite"
    stage(source, "csv", SCHEMA, database, "hosp_b")
    built = database.stat().st_mtime_ns
    assert stage(source, "csv", SCHEMA, database, "hosp_b").select(None, ["age"])[0].shape[0] == 90
    assert database.stat().st_mtime_ns == built  # up to date: not imported again
    _write(pd.concat([frames["hosp_b"], frames["hosp_b"].head(10)]), source)
    rows, _ = stage(source, "csv", SCHEMA, database, "hosp_b").select(None, ["age"])
    assert len(rows) == 100 and not (tmp_path / "b.sqlite.building").exists()


def test_staging_counts_violations_over_every_chunk(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    bad = frames["hosp_a"].copy()
    bad.loc[[5, 300, 301], "age"] = 150
    source = _write(bad, tmp_path / "a.csv")
    with pytest.raises(
        SchemaError,
        match=r"hosp_a: column 'age' of a.csv has 3 value\(s\) that are not a number in "
        r"\[0, 120\] \(first at row 5\)",
    ):
        stage(source, "csv", SCHEMA, tmp_path / "a.sqlite", "hosp_a", chunk_rows=64)
    assert list(tmp_path.iterdir()) == [source]  # nothing half-imported is left


def test_staging_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    def peak_bytes(rows: int) -> int:
        source = _write(_hospital(np.random.default_rng(rows), rows), tmp_path / f"{rows}.csv")
        tracemalloc.start()
        try:
            table = stage(source, "csv", SCHEMA, tmp_path / f"{rows}.sqlite", "h", chunk_rows=5_000)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert table.select(None, ["age"], collapse=True)[0][WEIGHT].sum() == rows
        return peak

    small, large = peak_bytes(40_000), peak_bytes(160_000)
    assert large < 1.25 * small, (small, large)  # bounded by the chunk, not the file


def test_sqlite_refuses_sums_its_integers_cannot_hold(tmp_path: Path) -> None:
    wide = Schema({"x": Column("x", "int", 0, 10**12), "y": Column("y", "int", 0, 10**12)})
    frame = pd.DataFrame({"x": [10**12 - i for i in range(20)], "y": [10**12] * 10 + [0] * 10})
    table = stage(_write(frame, tmp_path / "w.csv"), "csv", wide, tmp_path / "w.sqlite", "w")
    study = mpcstats.LocalSimulator({"a": table, "b": table, "c": table}, schema=wide)
    with pytest.raises(mpcstats.HeadroomError, match="floating point"):
        study.ols("y ~ x")


def test_daemons_serve_staged_files_like_dataframes(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    daemons = LoopbackFederation(tmp_path, frames, SCHEMA, staged=True)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        _same(study, mpcstats.LocalSimulator(frames, schema=SCHEMA))  # type: ignore[arg-type]
    assert all((tmp_path / name / "data.sqlite").exists() for name in frames)
