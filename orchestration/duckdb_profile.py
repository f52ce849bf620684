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

import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import PROJECT_DIR
from orchestration.warehouse_lock import as_locked_error

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


def connect_warehouse(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file with the profile's memory and thread limits, as dbt's has.

    WarehouseLockedError (a duckdb.IOException, one sentence naming the holder's PID) if another process
    holds the file.
    """
    try:
        return duckdb.connect(str(path), read_only=read_only, config=profile_settings().duckdb_config())
    except duckdb.IOException as error:
        locked = as_locked_error(error)
        if locked is None:
            raise
        raise locked from error
