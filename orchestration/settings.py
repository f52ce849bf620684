"""Run settings, read from environment variables (documented in the README, "Settings")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RAW_DIR = PROJECT_DIR / "orchestration" / "sample_data" / "raw"
DEFAULT_DUCKDB_PATH = PROJECT_DIR / "crm_segments.duckdb"
DEFAULT_CATALOG_PATH = PROJECT_DIR / "dbt_project" / "segments" / "catalog.yml"
# Where the catalogue compiles to dbt files; dbt_project.yml reads the same variable, relative to the
# project (dbt writes a model's run SQL under target/ at its path: an absolute one would be the model).
COMPILED_DIR_ENV = "CRM_SEGMENTS_COMPILED_DIR"
DEFAULT_COMPILED_DIR = PROJECT_DIR / "dbt_project" / "segments" / "compiled"
# `make run` / `make replay` stream every Dagster event and dbt's output (like `-v`).
VERBOSE_ENV = "CRM_SEGMENTS_VERBOSE"
# How long a run waits for another process to let go of the warehouse file (warehouse_lock.py).
LOCK_WAIT_ENV = "CRM_SEGMENTS_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 60.0
# The read-only copy BI tools read (orchestration/publish.py); default `<warehouse stem>_published.duckdb`.
PUBLISHED_ENV = "CRM_SEGMENTS_PUBLISHED_DUCKDB"
# A replay fits the CLV models again once this many days have passed since the last fit.
DEFAULT_CLV_FIT_EVERY_DAYS = 7


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    as_of: date
    duckdb_path: Path
    catalog_path: Path = DEFAULT_CATALOG_PATH
    compiled_dir: Path = DEFAULT_COMPILED_DIR
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    # None: `<warehouse stem>_published.duckdb` beside the warehouse (see `published_path`).
    published_duckdb_path: Path | None = None

    @property
    def published_path(self) -> Path:
        """Where each successful nightly run publishes the marts for BI readers."""
        if self.published_duckdb_path is not None:
            return self.published_duckdb_path
        return self.duckdb_path.with_name(f"{self.duckdb_path.stem}_published.duckdb")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, today: date | None = None) -> Settings:
        env = os.environ if env is None else env
        duckdb_path = _duckdb_path(env.get("CRM_SEGMENTS_DUCKDB"))
        return cls(
            raw_dir=_raw_dir(env.get("CRM_SEGMENTS_RAW_DIR")),
            as_of=_as_of(env.get("CRM_SEGMENTS_AS_OF"), today or datetime.now(UTC).date()),
            duckdb_path=duckdb_path,
            catalog_path=_catalog_path(env.get("CRM_SEGMENTS_CATALOG")),
            compiled_dir=_compiled_dir(env.get(COMPILED_DIR_ENV)),
            lock_wait_seconds=_lock_wait_seconds(env.get(LOCK_WAIT_ENV)),
            published_duckdb_path=_published_path(env.get(PUBLISHED_ENV), duckdb_path),
        )

    def dbt_env(self) -> dict[str, str]:
        """The environment dbt needs to see the same warehouse and clock as this run."""
        return {
            "CRM_SEGMENTS_RAW_DIR": str(self.raw_dir),
            "CRM_SEGMENTS_AS_OF": self.as_of.isoformat(),
            "CRM_SEGMENTS_DUCKDB": str(self.duckdb_path),
            COMPILED_DIR_ENV: self.compiled_dir.relative_to(PROJECT_DIR).as_posix(),
        }


def _raw_dir(value: str | None) -> Path:
    if not value:
        return DEFAULT_RAW_DIR
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise SettingsError(
            f"CRM_SEGMENTS_RAW_DIR={value!r} is not a folder (it should hold customers.csv, …)"
        )
    return path


def _as_of(value: str | None, today: date) -> date:
    if not value:
        return today
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise SettingsError(f"CRM_SEGMENTS_AS_OF={value!r} is not a date written YYYY-MM-DD") from None


def _duckdb_path(value: str | None) -> Path:
    if not value:
        return DEFAULT_DUCKDB_PATH
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        raise SettingsError(f"CRM_SEGMENTS_DUCKDB={value!r} is a folder; it should name the warehouse file")
    return path


def _published_path(value: str | None, duckdb_path: Path) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        raise SettingsError(
            f"{PUBLISHED_ENV}={value!r} is a folder; it should name the published copy's file"
        )
    if path == duckdb_path:
        raise SettingsError(
            f"{PUBLISHED_ENV}={value!r} is the warehouse itself; the published copy needs a file of its own"
        )
    return path


def _catalog_path(value: str | None) -> Path:
    if not value:
        return DEFAULT_CATALOG_PATH
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise SettingsError(
            f"CRM_SEGMENTS_CATALOG={value!r} is not a file (it should be a segment catalogue YAML)"
        )
    return path


def _compiled_dir(value: str | None) -> Path:
    if not value:
        return DEFAULT_COMPILED_DIR
    path = Path(value).expanduser()
    path = (path if path.is_absolute() else PROJECT_DIR / path).resolve()
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{COMPILED_DIR_ENV}={value!r} is a file; it should name a folder")
    if not path.is_relative_to(PROJECT_DIR):
        raise SettingsError(
            f"{COMPILED_DIR_ENV}={value!r} must be a folder inside the project ({PROJECT_DIR})"
        )
    return path


def _lock_wait_seconds(value: str | None) -> float:
    if not value or not value.strip():
        return DEFAULT_LOCK_WAIT_SECONDS
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise SettingsError(
            f"{LOCK_WAIT_ENV}={value!r} should be a number of seconds, 0 or more (0: fail at once)"
        )
    return seconds


def verbose_from_env(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(VERBOSE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")
