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

Files come as CSV (any common dialect, UTF-8 or Windows-1251), Parquet or .xlsx; decimal commas,
thousands separators and slashed dates are rewritten to the text staging parses. The optional
`_format.yml` declares what cannot be detected, and maps the file's headers to contract columns
(orchestration/raw_formats.py).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration import raw_formats
from orchestration.raw_contract import RAW_FILE_SUFFIXES, RAW_TABLES, RAW_TABLES_BY_NAME, RawTable
from orchestration.raw_formats import FORMAT_FILE, RawDataError, TableFormat, normalise_header, trimmed_header

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
MANIFEST_TABLE = f"{RAW_SCHEMA}._landing_manifest"
LANDED_FILES_TABLE = f"{RAW_SCHEMA}._landed_files"
# Bytes read from each end of a file for its checksum: a changed export almost always differs
# there, and reading a few MB costs nothing next to parsing the file.
_CHECKSUM_BYTES = 1 << 20
# The temporary table one file is read into before it is appended to its raw table (_insert_file).
_FILE_BUFFER = "temp.main._landing_file"


__all__ = ["FORMAT_FILE", "LandedTable", "RawDataError", "find_raw_files", "land_raw_files"]


class _NotUtf8Error(Exception):
    """DuckDB found invalid UTF-8 past the bytes the encoding was detected from: land again knowing."""

    def __init__(self, path: Path, name: str, error: duckdb.Error) -> None:
        super().__init__(f"{name}: {error}")
        self.path, self.name, self.error = path, name, error


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
            when_absent = RAW_TABLES_BY_NAME[self.name].when_absent
            return [f"{self.name}: no file; {when_absent}"] if when_absent else []
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
    table_format: TableFormat
    # 'utf-8' or 'cp1251' (CSV only; the others are 'utf-8')
    encoding: str


@dataclass(frozen=True)
class _Landing:
    """What one landing knows besides the contract: the declarations, a scratch folder, encodings."""

    raw_dir: Path
    formats: dict[str, TableFormat]
    workdir: Path
    # files found not to be UTF-8 only when DuckDB read them whole (see _NotUtf8Error)
    late_encodings: dict[Path, str]


@dataclass(frozen=True)
class _PlannedTable:
    table: RawTable
    files: tuple[_PlannedFile, ...]


# What a file no table reads is told, in the run's log and its landing line.
UNCLAIMED_HINT = (
    "not read: no table has this name; a table is <table>.csv (or .csv.gz, .parquet, .xlsx) or a "
    "folder <table>/ of such files (a daily drop: orders/2026-11-20.csv)"
)


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


def unclaimed_raw_files(raw_dir: Path) -> list[str]:
    """Data files and folders in `raw_dir` that no contract table reads (`orders_2026-11-20.csv`
    instead of `orders/2026-11-20.csv`), by name; hidden files and `_format.yml` aside."""
    claimed = {f"{table.name}{suffix}" for table in RAW_TABLES for suffix in RAW_FILE_SUFFIXES}
    claimed |= {table.name for table in RAW_TABLES}
    unclaimed = []
    for path in sorted(raw_dir.iterdir()):
        if path.name in claimed or path.name.startswith((".", "_")):
            continue
        if path.is_dir() or any(path.name.endswith(suffix) for suffix in RAW_FILE_SUFFIXES):
            unclaimed.append(path.name + ("/" if path.is_dir() else ""))
    return unclaimed


def _reader_sql(path: Path, delimiter: str | None = None) -> str:
    """DuckDB's reader for a CSV or Parquet file (an .xlsx is read as the Parquet _source_sql makes)."""
    if path.name.endswith(".parquet"):
        return f"read_parquet({_literal(str(path))})"
    delim = "" if delimiter is None else f", delim = {_literal(delimiter)}"
    return f"read_csv({_literal(str(path))}, header = true, all_varchar = true{delim})"


def _is_xlsx(path: Path) -> bool:
    return path.name.endswith(".xlsx")


def _is_csv(path: Path) -> bool:
    return not (_is_xlsx(path) or path.name.endswith(".parquet"))


def _fingerprint(raw_dir: Path, path: Path, table_format: TableFormat) -> str:
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{raw_dir.resolve()}|{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    # Another declaration in _format.yml reads the same bytes differently: land them again.
    digest.update(table_format.fingerprint_text().encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_CHECKSUM_BYTES))
        if stat.st_size > _CHECKSUM_BYTES:
            handle.seek(max(_CHECKSUM_BYTES, stat.st_size - _CHECKSUM_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()


def _file_encoding(landing: _Landing, path: Path, name: str, table_format: TableFormat) -> str:
    if not _is_csv(path):
        return "utf-8"
    if table_format.encoding is not None:
        return table_format.encoding
    if path in landing.late_encodings:
        return landing.late_encodings[path]
    return raw_formats.detect_encoding(path, name)


def _scratch(landing: _Landing, name: str, suffix: str) -> Path:
    return landing.workdir / (hashlib.blake2b(name.encode(), digest_size=8).hexdigest() + suffix)


def _file_headers(
    con: duckdb.DuckDBPyConnection, landing: _Landing, path: Path, name: str, encoding: str, fmt: TableFormat
) -> list[str]:
    if _is_xlsx(path):
        return raw_formats.xlsx_header(path, name, fmt.sheet)
    readable = path
    if encoding != "utf-8":
        # The header is in the first lines: the whole file is transcoded only if it is landed.
        readable = _scratch(landing, name, ".head.csv")
        raw_formats.transcode_head(path, encoding, readable)
    try:
        described = con.execute(f"describe select * from {_reader_sql(readable, fmt.delimiter)}").fetchall()
    except duckdb.Error as error:
        if _is_csv(path) and raw_formats.is_invalid_utf8_error(error):
            _refuse_declared_utf8(name, fmt, error)
            raise _NotUtf8Error(path, name, error) from error
        raise RawDataError(f"{name}: cannot be read: {error}") from error
    return [file_column for file_column, *_rest in described]


def _refuse_declared_utf8(name: str, fmt: TableFormat, error: duckdb.Error) -> None:
    if fmt.encoding == "utf-8":
        first_line = str(error).splitlines()[0]
        raise RawDataError(
            f"{name}: declared `encoding: utf-8` in {FORMAT_FILE}, but it is not UTF-8 ({first_line}); "
            "declare `encoding: cp1251` or re-export it as UTF-8"
        ) from error


def _plan_file(
    con: duckdb.DuckDBPyConnection, landing: _Landing, table: RawTable, path: Path
) -> _PlannedFile:
    name = path.relative_to(landing.raw_dir).as_posix()
    fmt = landing.formats.get(table.name, TableFormat())
    encoding = _file_encoding(landing, path, name, fmt)
    by_normalised_name: dict[str, str] = {}
    for file_column in _file_headers(con, landing, path, name, encoding, fmt):
        normalised = normalise_header(file_column)
        if normalised in by_normalised_name:
            raise RawDataError(f"{name}: column {normalised!r} appears twice")
        by_normalised_name[normalised] = file_column
    # Messages name the headers as the file spells them (trimmed), not as they are matched.
    found = ", ".join(trimmed_header(header) for header in by_normalised_name.values()) or "none"
    # contract column -> normalised header: the declared mapping, else the column's own name
    wanted = {column: column for column in table.columns}
    for column, header in fmt.columns:
        if normalise_header(header) not in by_normalised_name:
            raise RawDataError(
                f"{name}: column {header!r} (mapped to {column} in {FORMAT_FILE}) not found; found: {found}"
            )
        wanted[column] = normalise_header(header)
    present = {c: by_normalised_name[h] for c, h in wanted.items() if h in by_normalised_name}
    missing_required = [c for c in table.required_columns if c not in present]
    if missing_required:
        raise RawDataError(
            f"{name}: required column(s) {', '.join(missing_required)} missing "
            f"(found: {found}; "
            f"map other headers in {FORMAT_FILE} `columns`)"
        )
    for group in table.one_of_columns:
        if not any(column in present for column in group):
            raise RawDataError(f"{name}: needs at least one of the columns {', '.join(group)}")
    used = {normalise_header(file_column) for file_column in present.values()}
    ignored = tuple(
        trimmed_header(file_column)
        for header, file_column in by_normalised_name.items()
        if header not in used
    )
    fingerprint = _fingerprint(landing.raw_dir, path, fmt)
    return _PlannedFile(path, name, fingerprint, present, ignored, fmt, encoding)


def _plan_table(con: duckdb.DuckDBPyConnection, landing: _Landing, table: RawTable) -> _PlannedTable:
    raw_dir = landing.raw_dir
    paths = find_raw_files(raw_dir, table.name)
    if not paths and table.required:
        suffixes = " or ".join(RAW_FILE_SUFFIXES)
        raise RawDataError(
            f"{raw_dir}: the required table {table.name!r} is missing "
            f"({table.name}{suffixes}, or files in {table.name}/)"
        )
    return _PlannedTable(table, tuple(_plan_file(con, landing, table, path) for path in paths))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_sql(landing: _Landing, planned: _PlannedFile) -> str:
    """What DuckDB reads for the file: the file itself, its UTF-8 transcoding, or its sheet as Parquet."""
    fmt = planned.table_format
    if _is_xlsx(planned.path):
        parquet = _scratch(landing, planned.name, ".parquet")
        raw_formats.xlsx_to_parquet(planned.path, planned.name, fmt.sheet, parquet)
        return _reader_sql(parquet)
    if planned.encoding != "utf-8":
        transcoded = _scratch(landing, planned.name, ".csv")
        try:
            raw_formats.transcode_to_utf8(planned.path, planned.encoding, transcoded)
        except UnicodeDecodeError as error:
            raise RawDataError(
                f"{planned.name}: byte 0x{error.object[error.start]:02x} is not {planned.encoding}; "
                f"check `encoding` in {FORMAT_FILE}"
            ) from error
        return _reader_sql(transcoded, fmt.delimiter)
    return _reader_sql(planned.path, fmt.delimiter)


def _fill_buffer(con: duckdb.DuckDBPyConnection, landing: _Landing, planned: _PlannedFile) -> None:
    try:
        con.execute(
            f"create or replace temp table {_FILE_BUFFER} as select * from {_source_sql(landing, planned)}"
        )
    except duckdb.InvalidInputException as error:
        if _is_csv(planned.path) and raw_formats.is_invalid_utf8_error(error):
            _refuse_declared_utf8(planned.name, planned.table_format, error)
            raise _NotUtf8Error(planned.path, planned.name, error) from error
        raise RawDataError(f"{planned.name}: cannot be read: {error}") from error


def _insert_file(
    con: duckdb.DuckDBPyConnection,
    landing: _Landing,
    target: str,
    table: RawTable,
    planned: _PlannedFile,
    load_id: int,
) -> int:
    """Appends one file's rows to `target`, numbered in file order (`_source_row`); returns how many.

    The file is read in parallel into a temporary table, whose rowids follow the file's rows one by
    one (preserve_insertion_order, set by land_raw_files); `row_number() over ()` runs on one thread.
    """
    _fill_buffer(con, landing, planned)
    numbers = [column for column in table.number_columns if column in planned.present]
    dates = [column for column in table.date_columns if column in planned.present]
    try:
        # Inside the landing's transaction the rowids do not start at 0.
        (first_rowid,) = con.execute(f"select coalesce(min(rowid), 0) from {_FILE_BUFFER}").fetchone()
        buffer_text = {column: f"cast({_quote(planned.present[column])} as varchar)" for column in numbers}
        buffer = raw_formats.FileRows(
            con, _FILE_BUFFER, "true", f"rowid - {first_rowid} + 1", planned.name, buffer_text
        )
        # Decimal commas and thousands separators: rewritten as the rows are copied.
        rewrites = raw_formats.number_rewrites(buffer, numbers, planned.table_format)
        select_list = [
            f"{rewrites[column]} as {column}"
            if column in rewrites
            else f"cast({_quote(planned.present[column])} as varchar) as {column}"
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
    landed = raw_formats.FileRows(
        con,
        target,
        f"_load_id = {load_id} and _source_file = {_literal(planned.name)}",
        "_source_row",
        planned.name,
        {column: column for column in dates},
    )
    raw_formats.rewrite_slashed_dates(landed, dates, planned.table_format)
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


def _land_table(
    con: duckdb.DuckDBPyConnection, landing: _Landing, plan: _PlannedTable, load_id: int
) -> LandedTable:
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
        added = _insert_file(con, landing, target, table, planned, load_id)
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
    formats = raw_formats.load_formats(raw_dir, {table.name: table.columns for table in RAW_TABLES})
    with tempfile.TemporaryDirectory(prefix="crm-landing-") as workdir:
        landing = _Landing(raw_dir, formats, Path(workdir), {})
        while True:
            try:
                landed = _land_all(con, landing)
                break
            except _NotUtf8Error as late:
                # Rare: the first MB was UTF-8 (or plain ASCII), a later line is not. Decide from the
                # whole file and land again; the failed attempt was rolled back.
                if late.path in landing.late_encodings:
                    raise RawDataError(f"{late.name}: cannot be read: {late.error}") from late.error
                encoding = raw_formats.detect_encoding_whole(late.path, late.name)
                if encoding == "utf-8":
                    raise RawDataError(f"{late.name}: cannot be read: {late.error}") from late.error
                landing.late_encodings[late.path] = encoding
    for table in landed:
        log.info("%s: %s, %d rows (%d new)", table.name, table.change, table.rows, table.rows_added)
        for warning in table.warnings:
            log.warning(warning)
    for name in unclaimed_raw_files(raw_dir):
        log.warning("%s/%s: %s", raw_dir, name, UNCLAIMED_HINT)
    return landed


def _land_all(con: duckdb.DuckDBPyConnection, landing: _Landing) -> list[LandedTable]:
    # File order must survive into _source_row.
    con.execute("set preserve_insertion_order = true")
    plans = [_plan_table(con, landing, table) for table in RAW_TABLES]
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {RAW_SCHEMA}")
        con.execute(
            f"create table if not exists {LANDED_FILES_TABLE} ("
            "table_name varchar, source_file varchar, fingerprint varchar, row_count bigint, "
            "missing_columns varchar, ignored_columns varchar, load_id bigint, landed_at timestamptz)"
        )
        (last_load,) = con.execute(f"select coalesce(max(load_id), 0) from {LANDED_FILES_TABLE}").fetchone()
        landed = [_land_table(con, landing, plan, last_load + 1) for plan in plans]
        _write_manifest(con, landed)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
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
