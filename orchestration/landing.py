"""Landing: copies the user's raw files into the warehouse's `raw` schema, as text.

Every contract column becomes a VARCHAR column (absent optional ones are NULL), so a malformed
value reaches staging, where it is typed or quarantined with a reason instead of failing the load.
Each row keeps its file name and line number, and the number of the landing that brought it
(`_load_id`). The whole landing is one transaction: a raw folder that breaks the contract changes
nothing in the warehouse.

A table's data is one file (`orders.csv`), or a folder of files (`orders/2026-11-20.csv`, …), or
both. The landing is incremental: `raw._landed_files` remembers every file it landed (size,
modification time and a checksum of its first and last bytes), so

- a table whose files are all unchanged is not read again;
- files added to a table whose landed files are all unchanged are appended (a daily drop);
- anything else (a landed file changed or gone) lands the table again from all its files.

Staging reads `_load_id` to restage only what is new (see dbt_project/macros/incremental_staging.sql).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.raw_contract import RAW_FILE_SUFFIXES, RAW_TABLES, RawTable

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
MANIFEST_TABLE = f"{RAW_SCHEMA}._landing_manifest"
LANDED_FILES_TABLE = f"{RAW_SCHEMA}._landed_files"
# Bytes read from each end of a file for its checksum: a changed export almost always differs
# there, and reading a few MB costs nothing next to parsing the file.
_CHECKSUM_BYTES = 1 << 20
# The temporary table one file is read into before it is appended to its raw table (_insert_file).
_FILE_BUFFER = "temp.main._landing_file"


class RawDataError(ValueError):
    """The raw folder breaks the contract; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LandedTable:
    name: str
    source_file: str | None
    rows: int
    missing_columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    # 'landed' (first time), 'replaced', 'appended' or 'unchanged'
    change: str = "landed"
    rows_added: int = 0

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
class _PlannedFile:
    path: Path
    # path relative to the raw folder, as `_source_file` records it
    name: str
    fingerprint: str
    # contract column -> column name as spelled in the file
    present: dict[str, str]
    ignored: tuple[str, ...]


@dataclass(frozen=True)
class _PlannedTable:
    table: RawTable
    files: tuple[_PlannedFile, ...]


def find_raw_files(raw_dir: Path, table_name: str) -> list[Path]:
    """A table's files: `<table>.<suffix>` (at most one), then `<table>/*.<suffix>` by name."""
    candidates = [raw_dir / f"{table_name}{suffix}" for suffix in RAW_FILE_SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise RawDataError(f"{raw_dir}: more than one file for table {table_name!r} ({names}); keep one")
    folder = raw_dir / table_name
    if folder.is_dir():
        drops = sorted(
            path
            for path in folder.iterdir()
            if path.is_file() and any(path.name.endswith(suffix) for suffix in RAW_FILE_SUFFIXES)
        )
        found += drops
    return found


def _reader_sql(path: Path) -> str:
    literal = "'" + str(path).replace("'", "''") + "'"
    if path.name.endswith(".parquet"):
        return f"read_parquet({literal})"
    return f"read_csv({literal}, header = true, all_varchar = true)"


def _fingerprint(raw_dir: Path, path: Path) -> str:
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{raw_dir.resolve()}|{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_CHECKSUM_BYTES))
        if stat.st_size > _CHECKSUM_BYTES:
            handle.seek(max(_CHECKSUM_BYTES, stat.st_size - _CHECKSUM_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()


def _plan_file(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: RawTable, path: Path) -> _PlannedFile:
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
    name = path.relative_to(raw_dir).as_posix()
    return _PlannedFile(path, name, _fingerprint(raw_dir, path), present, ignored)


def _plan_table(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: RawTable) -> _PlannedTable:
    paths = find_raw_files(raw_dir, table.name)
    if not paths and table.required:
        suffixes = " or ".join(RAW_FILE_SUFFIXES)
        raise RawDataError(
            f"{raw_dir}: the required table {table.name!r} is missing "
            f"({table.name}{suffixes}, or files in {table.name}/)"
        )
    return _PlannedTable(table, tuple(_plan_file(con, raw_dir, table, path) for path in paths))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _insert_file(
    con: duckdb.DuckDBPyConnection, target: str, table: RawTable, planned: _PlannedFile, load_id: int
) -> int:
    """Appends one file's rows to `target`, numbered in file order (`_source_row`); returns how many.

    `row_number() over ()` would number them, but on one thread: it doubled the time to land a
    file of 50M rows. A table keeps the order it was filled in (preserve_insertion_order, set by
    land_raw_files), so the file is read in parallel into a temporary table, where the rowids
    follow the file's rows one by one.
    """
    con.execute(f"create or replace temp table {_FILE_BUFFER} as select * from {_reader_sql(planned.path)}")
    try:
        # Inside the landing's transaction the rowids do not start at 0.
        (first_rowid,) = con.execute(f"select coalesce(min(rowid), 0) from {_FILE_BUFFER}").fetchone()
        select_list = [
            f"cast({_quote(planned.present[column])} as varchar) as {column}"
            if column in planned.present
            else f"cast(null as varchar) as {column}"
            for column in table.columns
        ]
        (added,) = con.execute(
            f"insert into {target} select {', '.join(select_list)}, "
            f"cast({_literal(planned.name)} as varchar) as _source_file, "
            f"cast(rowid - {first_rowid} + 1 as bigint) as _source_row, "
            f"cast({load_id} as bigint) as _load_id "
            f"from {_FILE_BUFFER}"
        ).fetchone()
    finally:
        con.execute(f"drop table if exists {_FILE_BUFFER}")
    return added


def _empty_table_sql(table: RawTable) -> str:
    columns = ", ".join(f"{column} varchar" for column in table.columns)
    return f"({columns}, _source_file varchar, _source_row bigint, _load_id bigint)"


def _previous_files(con: duckdb.DuckDBPyConnection, table: RawTable) -> dict[str, str] | None:
    """What the last landing left for this table (file → fingerprint), or None to land it afresh."""
    # A raw table from before incremental landing (no _load_id), or none at all: land it afresh.
    (has_load_id,) = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = ? and table_name = ? and column_name = '_load_id'",
        [RAW_SCHEMA, table.name],
    ).fetchone()
    if not has_load_id:
        return None
    rows = con.execute(
        f"select source_file, fingerprint from {LANDED_FILES_TABLE} where table_name = ?", [table.name]
    ).fetchall()
    return dict(rows)


def _land_table(con: duckdb.DuckDBPyConnection, plan: _PlannedTable, load_id: int) -> LandedTable:
    table = plan.table
    target = f"{RAW_SCHEMA}.{table.name}"
    previous = _previous_files(con, table)
    current = {planned.name: planned.fingerprint for planned in plan.files}
    if previous is not None and previous == current:
        change, to_land = "unchanged", ()
    elif previous is not None and previous.items() <= current.items():
        change = "appended"
        to_land = tuple(planned for planned in plan.files if planned.name not in previous)
    else:
        change = "landed" if previous is None else "replaced"
        to_land = plan.files
        con.execute(f"create or replace table {target} {_empty_table_sql(table)}")
        con.execute(f"delete from {LANDED_FILES_TABLE} where table_name = ?", [table.name])
    rows_added = 0
    for planned in to_land:
        added = _insert_file(con, target, table, planned, load_id)
        missing = [c for c in table.columns if c not in planned.present]
        con.execute(
            f"insert into {LANDED_FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [
                table.name,
                planned.name,
                planned.fingerprint,
                added,
                ",".join(missing),
                ",".join(planned.ignored),
                load_id,
            ],
        )
        rows_added += added
    (rows,) = con.execute(f"select count(*) from {target}").fetchone()
    missing_everywhere = tuple(
        c for c in table.columns if plan.files and all(c not in planned.present for planned in plan.files)
    )
    ignored = tuple(dict.fromkeys(name for planned in plan.files for name in planned.ignored))
    return LandedTable(
        table.name,
        _describe_files([planned.name for planned in plan.files]),
        rows,
        missing_everywhere,
        ignored,
        change,
        rows_added,
    )


def _describe_files(names: list[str]) -> str | None:
    if not names:
        return None
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]}, …, {names[-1]} ({len(names)} files)"


def land_raw_files(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[LandedTable]:
    """Lands every contract table from `raw_dir`, only what changed since the last landing; all-or-nothing."""
    if not raw_dir.is_dir():
        raise RawDataError(f"{raw_dir}: raw data folder not found")
    # File order must survive into _source_row.
    con.execute("set preserve_insertion_order = true")
    plans = [_plan_table(con, raw_dir, table) for table in RAW_TABLES]
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {RAW_SCHEMA}")
        con.execute(
            f"create table if not exists {LANDED_FILES_TABLE} ("
            "table_name varchar, source_file varchar, fingerprint varchar, row_count bigint, "
            "missing_columns varchar, ignored_columns varchar, load_id bigint, landed_at timestamptz)"
        )
        (last_load,) = con.execute(f"select coalesce(max(load_id), 0) from {LANDED_FILES_TABLE}").fetchone()
        landed = [_land_table(con, plan, last_load + 1) for plan in plans]
        _write_manifest(con, landed)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for table in landed:
        log.info("%s: %s, %d rows (%d new)", table.name, table.change, table.rows, table.rows_added)
        for warning in table.warnings:
            log.warning(warning)
    return landed


def _write_manifest(con: duckdb.DuckDBPyConnection, landed: list[LandedTable]) -> None:
    con.execute(
        f"create or replace table {MANIFEST_TABLE} ("
        "table_name varchar, source_file varchar, row_count bigint, "
        "missing_columns varchar, ignored_columns varchar, change varchar, rows_added bigint)"
    )
    con.executemany(
        f"insert into {MANIFEST_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                t.name,
                t.source_file,
                t.rows,
                ",".join(t.missing_columns),
                ",".join(t.ignored_columns),
                t.change,
                t.rows_added,
            )
            for t in landed
        ],
    )
