"""The published copy BI tools read: the marts and the audit tables, in a DuckDB file of their own.

dbt writes the schemas `marts` and `audit` into the marts file beside the warehouse (`marts_path`).
`publish` copies that file whole to `<published>.tmp` in the same folder, turns its views into tables,
adds `quality.suite_results`, `published.about` (the as-of date, when, from which warehouse) and
`published.tables` (each table's rows). Then `os.replace` puts it at the published path in one step: a
reader that has the old file open keeps reading it until it reconnects, and no reader ever sees a
half-written copy. DECISIONS.md says why, and what was measured.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from orchestration.duckdb_profile import (
    MARTS_CATALOG,
    MARTS_SCHEMAS,
    connect_warehouse,
    marts_path,
    quoted_path,
)
from orchestration.settings import PUBLISHED_ENV
from orchestration.warehouse_lock import WarehouseLockedError

# Copied besides the marts file: the Great Expectations results of every run (suites passed per as-of date).
PUBLISHED_EXTRA = (("quality", "suite_results"),)
# The Dagster asset that publishes (orchestration/assets/publish.py), keyed `published/warehouse_copy`.
ASSET_KEY_PATH = ("published", "warehouse_copy")
# The copy's alias while it is written, and the schema of its own description.
COPY = "published_copy"
ABOUT_SCHEMA = "published"


class PublishError(RuntimeError):
    """The copy could not be written or put in place; the previous copy is left as it was."""


@dataclass(frozen=True)
class Publication:
    path: Path
    as_of: date
    published_at: datetime
    source_warehouse: str
    # (schema, table, rows), in schema and table order.
    tables: list[tuple[str, str, int]]
    seconds: float | None = None

    def describe(self) -> str:
        return (
            f"{self.path} (as of {self.as_of}, {len(self.tables)} tables, "
            f"published {self.published_at:%Y-%m-%d %H:%M} UTC)"
        )


def failed_run_line(published: Path, published_in_run: bool) -> str:
    """What a failed run did to the published copy, for its error message."""
    try:
        found = read_publication(published)
    except PublishError as error:
        return f"nothing was published ({error})"
    if published_in_run:
        return f"the marts were published before the failure: {found.describe() if found else published}"
    if found is None:
        return f"nothing was published (there is no copy at {published} yet)"
    return f"nothing was published: readers keep {found.describe()}"


def temporary_path(published: Path) -> Path:
    return published.with_name(published.name + ".tmp")


def _relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, name) of every relation the copy holds, views and the extra tables included."""
    schemas = ", ".join(f"'{schema}'" for schema in MARTS_SCHEMAS)
    extra = " or ".join(f"(table_schema = '{s}' and table_name = '{t}')" for s, t in PUBLISHED_EXTRA)
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where (table_catalog = '{MARTS_CATALOG}' and table_schema in ({schemas})) "
        f"or (table_catalog = current_database() and ({extra})) "
        "order by 1, 2"
    ).fetchall()


def _views(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_catalog = '{MARTS_CATALOG}' and table_type = 'VIEW' order by 1, 2"
    ).fetchall()


def _as_of(con: duckdb.DuckDBPyConnection) -> date:
    found = con.execute("select min(as_of_date), max(as_of_date) from marts.dim_customers").fetchone()
    if found is None or found[0] is None or found[0] != found[1]:
        raise PublishError("marts.dim_customers is empty or holds several as-of dates: nothing was published")
    return found[0]


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _write_copy(warehouse: Path, target: Path, run_id: str | None) -> None:
    """Copies the marts file to `target` as a file, then makes it stand alone: views become tables, the
    suite results and the copy's own description are added."""
    # Opened for writing: the marts file is checkpointed, and no other process writes while it is copied.
    # The lock error names a holder, as everywhere.
    with connect_warehouse(warehouse) as con:
        as_of = _as_of(con)
        con.execute(f"checkpoint {MARTS_CATALOG}")
        shutil.copyfile(marts_path(warehouse), target)
        con.execute(f"attach {quoted_path(target)} as {COPY} (read_only false)")
        try:
            # A view reads tables of the warehouse (marts.sync_runs reads sync_state): in the copy, its rows.
            for schema, view in _views(con):
                con.execute(f'drop view {COPY}."{schema}"."{view}"')
                con.execute(
                    f'create table {COPY}."{schema}"."{view}" as '
                    f'select * from {MARTS_CATALOG}."{schema}"."{view}"'
                )
            for schema, table in PUBLISHED_EXTRA:
                con.execute(f'create schema if not exists {COPY}."{schema}"')
                con.execute(f'create table {COPY}."{schema}"."{table}" as select * from "{schema}"."{table}"')
            counts = []
            for schema, table in _relations(con):
                rows = con.execute(f'select count(*) from {COPY}."{schema}"."{table}"').fetchone()
                counts.append((schema, table, rows[0] if rows else 0))
            con.execute(f"create schema {COPY}.{ABOUT_SCHEMA}")
            con.execute(
                f"create table {COPY}.{ABOUT_SCHEMA}.tables "
                "(table_schema varchar, table_name varchar, row_count bigint)"
            )
            con.executemany(f"insert into {COPY}.{ABOUT_SCHEMA}.tables values (?, ?, ?)", counts)
            con.execute(
                f"create table {COPY}.{ABOUT_SCHEMA}.about as select ?::date as as_of_date, "
                "?::timestamptz as published_at, ? as source_warehouse, ? as dagster_run_id",
                [as_of, datetime.now(UTC), str(warehouse), run_id],
            )
        finally:
            con.execute(f"detach {COPY}")  # a checkpoint: the file is complete, with no WAL beside it


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(warehouse: Path, published: Path, run_id: str | None = None) -> Publication:
    """Writes the copy under a temporary name, then puts it at `published` in one rename."""
    started = time.perf_counter()
    published.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(published)
    leftovers = (temporary, temporary.with_name(temporary.name + ".wal"))
    stale_wal = published.with_name(published.name + ".wal")
    read_publication(published)  # never replaces a file that is not a published copy
    _remove(*leftovers)
    try:
        _write_copy(warehouse, temporary, run_id)
        if os.name == "posix":
            os.chmod(temporary, 0o444)  # a reader that opens it for writing fails at once
        # A WAL left beside the published name (a reader that wrote) would be replayed into the new copy.
        _remove(stale_wal)
        os.replace(temporary, published)
        _fsync_folder(published.parent)
    except WarehouseLockedError:
        _remove(*leftovers)
        raise
    except (OSError, duckdb.Error) as error:
        _remove(*leftovers)
        # Windows refuses to replace a file a reader has open: that reader keeps the previous copy.
        raise PublishError(
            f"could not publish {published}: {error}; the previous copy is left as it was"
        ) from error
    except BaseException:
        _remove(*leftovers)
        raise
    publication = read_publication(published)
    if publication is None:
        raise PublishError(f"{published} vanished right after it was published")
    return replace(publication, seconds=time.perf_counter() - started)


def read_publication(published: Path) -> Publication | None:
    """What the published copy at `published` holds, or None when there is none yet.

    PublishError when the file is not a published copy (no readable `published.about`).
    """
    if not published.exists():
        return None
    try:
        with duckdb.connect(str(published), read_only=True) as con:
            found = con.execute(
                f"select as_of_date, published_at, source_warehouse from {ABOUT_SCHEMA}.about"
            ).fetchone()
            tables = con.execute(
                f"select table_schema, table_name, row_count from {ABOUT_SCHEMA}.tables order by 1, 2"
            ).fetchall()
    except duckdb.Error as error:
        first_line = str(error).splitlines()[0]
        raise PublishError(
            f"{published} is not a published copy ({first_line}); it is left as it is: move it away or set "
            f"{PUBLISHED_ENV} to another file"
        ) from None
    if found is None:
        raise PublishError(f"{published} has an empty {ABOUT_SCHEMA}.about; move it away")
    as_of, published_at, source = found
    return Publication(published, as_of, published_at.astimezone(UTC), source, tables)
