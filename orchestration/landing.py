"""Landing: copies the user's raw files into the warehouse's `raw` schema, as text.

Every contract column becomes a VARCHAR column (absent optional ones are NULL), so a malformed
value reaches staging, where it is typed or quarantined with a reason instead of failing the load.
Each row keeps its file name and line number. The whole landing is one transaction: a raw folder
that breaks the contract changes nothing in the warehouse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.raw_contract import RAW_FILE_SUFFIXES, RAW_TABLES, RawTable

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
MANIFEST_TABLE = f"{RAW_SCHEMA}._landing_manifest"


class RawDataError(ValueError):
    """The raw folder breaks the contract; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LandedTable:
    name: str
    source_file: str | None
    rows: int
    missing_columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]

    @property
    def warnings(self) -> list[str]:
        if self.source_file is None:
            return [f"{self.name}: no file; the features that need it come out empty"]
        notes = []
        if self.missing_columns:
            notes.append(
                f"{self.source_file}: no column(s) {', '.join(self.missing_columns)}; landed as empty"
            )
        if self.ignored_columns:
            notes.append(
                f"{self.source_file}: column(s) {', '.join(self.ignored_columns)} are not in the contract"
            )
        return notes


@dataclass(frozen=True)
class _PlannedTable:
    table: RawTable
    path: Path | None
    # contract column -> column name as spelled in the file
    present: dict[str, str]
    ignored: tuple[str, ...]


def find_raw_file(raw_dir: Path, table_name: str) -> Path | None:
    candidates = [raw_dir / f"{table_name}{suffix}" for suffix in RAW_FILE_SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise RawDataError(f"{raw_dir}: more than one file for table {table_name!r} ({names}); keep one")
    return found[0] if found else None


def _reader_sql(path: Path) -> str:
    literal = "'" + str(path).replace("'", "''") + "'"
    if path.name.endswith(".parquet"):
        return f"read_parquet({literal})"
    return f"read_csv({literal}, header = true, all_varchar = true)"


def _plan_table(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: RawTable) -> _PlannedTable:
    path = find_raw_file(raw_dir, table.name)
    if path is None:
        if table.required:
            suffixes = " or ".join(RAW_FILE_SUFFIXES)
            raise RawDataError(
                f"{raw_dir}: the required table {table.name!r} is missing ({table.name}{suffixes})"
            )
        return _PlannedTable(table, None, {}, ())
    try:
        described = con.execute(f"describe select * from {_reader_sql(path)}").fetchall()
    except duckdb.Error as error:
        raise RawDataError(f"{path}: cannot be read as {table.name}: {error}") from error
    by_normalised_name: dict[str, str] = {}
    for file_column, *_rest in described:
        normalised = file_column.strip().lower()
        if normalised in by_normalised_name:
            raise RawDataError(f"{path}: column {normalised!r} appears twice")
        by_normalised_name[normalised] = file_column
    missing_required = [c for c in table.required_columns if c not in by_normalised_name]
    if missing_required:
        raise RawDataError(
            f"{path}: required column(s) {', '.join(missing_required)} missing "
            f"(found: {', '.join(by_normalised_name) or 'none'})"
        )
    for group in table.one_of_columns:
        if not any(column in by_normalised_name for column in group):
            raise RawDataError(f"{path}: needs at least one of the columns {', '.join(group)}")
    present = {c: by_normalised_name[c] for c in table.columns if c in by_normalised_name}
    ignored = tuple(name for name in by_normalised_name if name not in table.columns)
    return _PlannedTable(table, path, present, ignored)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _land_table(con: duckdb.DuckDBPyConnection, plan: _PlannedTable) -> LandedTable:
    table = plan.table
    target = f"{RAW_SCHEMA}.{table.name}"
    select_list = [
        f"cast({_quote(plan.present[column])} as varchar) as {column}"
        if column in plan.present
        else f"cast(null as varchar) as {column}"
        for column in table.columns
    ]
    if plan.path is None:
        source_name = "null"
        source = "(select 1) as nothing where false"
    else:
        source_name = "'" + plan.path.name.replace("'", "''") + "'"
        source = _reader_sql(plan.path)
    con.execute(
        f"create or replace table {target} as select {', '.join(select_list)}, "
        f"cast({source_name} as varchar) as _source_file, "
        f"cast(row_number() over () as bigint) as _source_row "
        f"from {source}"
    )
    (rows,) = con.execute(f"select count(*) from {target}").fetchone()
    missing = tuple(c for c in table.columns if c not in plan.present) if plan.path else ()
    return LandedTable(table.name, plan.path.name if plan.path else None, rows, missing, plan.ignored)


def land_raw_files(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[LandedTable]:
    """Lands every contract table from `raw_dir`; all-or-nothing."""
    if not raw_dir.is_dir():
        raise RawDataError(f"{raw_dir}: raw data folder not found")
    # File order must survive into _source_row.
    con.execute("set preserve_insertion_order = true")
    plans = [_plan_table(con, raw_dir, table) for table in RAW_TABLES]
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {RAW_SCHEMA}")
        landed = [_land_table(con, plan) for plan in plans]
        _write_manifest(con, landed)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for table in landed:
        for warning in table.warnings:
            log.warning(warning)
    return landed


def _write_manifest(con: duckdb.DuckDBPyConnection, landed: list[LandedTable]) -> None:
    con.execute(
        f"create or replace table {MANIFEST_TABLE} ("
        "table_name varchar, source_file varchar, row_count bigint, "
        "missing_columns varchar, ignored_columns varchar)"
    )
    con.executemany(
        f"insert into {MANIFEST_TABLE} values (?, ?, ?, ?, ?)",
        [
            (t.name, t.source_file, t.rows, ",".join(t.missing_columns), ",".join(t.ignored_columns))
            for t in landed
        ],
    )
