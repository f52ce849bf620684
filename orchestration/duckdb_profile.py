"""The DuckDB memory and thread settings dbt uses, as profiles.yml resolves them.

profiles.yml reads CRM_SEGMENTS_DUCKDB_MEMORY_LIMIT, CRM_SEGMENTS_DUCKDB_THREADS and
CRM_SEGMENTS_DBT_THREADS with embedded defaults; the defaults are read from the file itself, so
nothing here can drift from it. Every connection the project opens on the warehouse
(`connect_warehouse`: the landing, the segment catalogue, the summary, the checks, the syncs) has
the same limits as dbt's: DuckDB's own default would let any of them take 80% of the machine's
memory (the landing copies gigabytes of CSV), and one process can hold a database file open with one
configuration only. The benchmark's connections (the hand-written RFM query, the pandas read, the
sync diff) have them too, so its comparisons are fair; the benchmark report describes them.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import PROJECT_DIR
from orchestration.warehouse_lock import as_locked_error

log = logging.getLogger(__name__)

VARIABLES = {
    "memory_limit": "CRM_SEGMENTS_DUCKDB_MEMORY_LIMIT",
    "threads": "CRM_SEGMENTS_DUCKDB_THREADS",
    "dbt_threads": "CRM_SEGMENTS_DBT_THREADS",
}


@dataclass(frozen=True)
class ProfileSettings:
    memory_limit: str
    threads: int
    dbt_threads: int
    # variable → 'env' or 'profile default'
    sources: dict[str, str]

    def duckdb_config(self) -> dict[str, object]:
        """For duckdb.connect(config=...): the settings the profile gives dbt's connection."""
        return {"memory_limit": self.memory_limit, "threads": self.threads, "preserve_insertion_order": False}

    def describe(self) -> str:
        parts = [
            f"memory_limit={self.memory_limit} ({VARIABLES['memory_limit']}, {self.sources['memory_limit']})",
            f"threads={self.threads} ({VARIABLES['threads']}, {self.sources['threads']})",
            f"dbt threads={self.dbt_threads} ({VARIABLES['dbt_threads']}, {self.sources['dbt_threads']})",
        ]
        return "; ".join(parts)


def profile_settings(profiles_yml: Path = PROJECT_DIR / "profiles.yml") -> ProfileSettings:
    text = profiles_yml.read_text()
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key, variable in VARIABLES.items():
        match = re.search(rf"env_var\('{variable}',\s*'([^']*)'\)", text)
        if match is None:
            raise ValueError(f"{profiles_yml}: no default for {variable}")
        if os.environ.get(variable):
            values[key], sources[key] = os.environ[variable], "env"
        else:
            values[key], sources[key] = match.group(1), "profile default"
    return ProfileSettings(
        values["memory_limit"], int(values["threads"]), int(values["dbt_threads"]), sources
    )


# The schemas BI tools read (the published copy) live in a file of their own beside the warehouse, attached
# under this name by dbt (profiles.yml, macro generate_database_name) and by every connection here.
MARTS_CATALOG = "crm_marts"
MARTS_SCHEMAS = ("marts", "audit")
# The oldest DuckDB storage format that holds the marts: clients from DuckDB 1.0 on (the JDBC driver of
# DBeaver or Metabase may lag behind the Python one) can read the published copy of that file.
MARTS_STORAGE_VERSION = "v1.0.0"


def marts_path(warehouse: Path) -> Path:
    """`<warehouse stem>_marts.duckdb` beside the warehouse, as profiles.yml derives it."""
    name = warehouse.name
    stem = name[: -len(".duckdb")] if name.endswith(".duckdb") else name
    return warehouse.with_name(f"{stem}_marts.duckdb")


def quoted_path(path: Path) -> str:
    """`path` as a SQL string literal (for ATTACH)."""
    return "'" + str(path).replace("'", "''") + "'"


def attach_marts(con: duckdb.DuckDBPyConnection, warehouse: Path, *, read_only: bool) -> bool:
    """Attaches the marts file as MARTS_CATALOG and puts its schemas on the search path, so `marts.x` and
    `audit.x` resolve as in the models. A read-only connection skips a marts file that does not exist yet."""
    path = marts_path(warehouse)
    if read_only and not path.exists():
        return False
    mode = "read_only" if read_only else f"storage_version '{MARTS_STORAGE_VERSION}'"
    con.execute(f"attach if not exists {quoted_path(path)} as {MARTS_CATALOG} ({mode})")
    if not read_only:
        for schema in MARTS_SCHEMAS:
            con.execute(f"create schema if not exists {MARTS_CATALOG}.{schema}")
    found = con.execute(
        "select schema_name from information_schema.schemata where catalog_name = ?", [MARTS_CATALOG]
    ).fetchall()
    schemas = [f"{MARTS_CATALOG}.{schema}" for schema in MARTS_SCHEMAS if (schema,) in found]
    con.execute(f"set search_path = '{','.join(['main', *schemas])}'")
    return True


def move_marts_out_of_the_warehouse(con: duckdb.DuckDBPyConnection) -> list[str]:
    """A warehouse from before the marts file holds the marts and audit schemas itself: their tables move to
    the marts file (the history tables are incremental: nothing may be lost), the schemas go. Returns the
    moved tables."""
    database = con.execute("select current_database()").fetchone()[0]  # type: ignore[index]
    schemas = [
        schema
        for (schema,) in con.execute(
            "select schema_name from information_schema.schemata where catalog_name = ? order by 1",
            [database],
        ).fetchall()
        if schema in MARTS_SCHEMAS
    ]
    if not schemas:
        return []

    def tables(catalog: str) -> list[tuple[str, str, str]]:
        return con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            f"where table_catalog = ? and table_schema in ({', '.join('?' for _ in MARTS_SCHEMAS)}) "
            "order by 1, 2",
            [catalog, *MARTS_SCHEMAS],
        ).fetchall()

    # One statement per table (DuckDB writes one attached file per transaction); a move cut short is
    # finished by the next connection: a table already in the marts file is kept.
    already_moved = {(schema, table) for schema, table, _ in tables(MARTS_CATALOG)}
    moved = []
    for schema, table, kind in tables(database):
        if kind == "BASE TABLE" and (schema, table) not in already_moved:
            con.execute(
                f'create table {MARTS_CATALOG}."{schema}"."{table}" as '
                f'select * from "{database}"."{schema}"."{table}"'
            )
            moved.append(f"{schema}.{table}")
    for schema in schemas:
        con.execute(f'drop schema "{database}"."{schema}" cascade')
    return moved


def connect_warehouse(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file with the profile's memory and thread limits, as dbt's has, and the
    marts file attached (`marts.*` and `audit.*` resolve as in dbt's models).

    WarehouseLockedError (a duckdb.IOException, one sentence naming the holder's PID) if another process
    holds the file.
    """
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=profile_settings().duckdb_config())
        try:
            attach_marts(con, path, read_only=read_only)
            if not read_only and (moved := move_marts_out_of_the_warehouse(con)):
                log.warning(
                    "moved %s of an older layout (%s) from %s to %s, where dbt now builds marts.* and "
                    "audit.*; copy or move the two files together",
                    f"{len(moved)} table" + ("s" if len(moved) != 1 else ""),
                    ", ".join(moved),
                    path,
                    marts_path(path),
                )
        except BaseException:
            con.close()
            raise
        return con
    except duckdb.IOException as error:
        locked = as_locked_error(error)
        if locked is None:
            raise
        raise locked from error
