"""Shared fixtures: real warehouses built by the real pipeline (landing + dbt build) in tmp folders."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration import pipeline
from orchestration.settings import DEFAULT_CATALOG_PATH, Settings

FIXTURES = Path(__file__).parent / "fixtures"
TINY_RAW_DIR = FIXTURES / "tiny"
TINY_AS_OF = date(2024, 6, 30)


@pytest.fixture(scope="session", autouse=True)
def _dbt_artifacts_outside_the_project(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dbt's target/ and logs/ go to a tmp folder so tests never touch a developer's own."""
    base = tmp_path_factory.mktemp("dbt")
    os.environ["DBT_TARGET_PATH"] = str(base / "target")
    os.environ["DBT_LOG_PATH"] = str(base / "logs")


BuildWarehouse = Callable[..., Path]


@pytest.fixture(scope="session")
def build_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuildWarehouse:
    """Lands `raw_dir` and runs `dbt build` as of `as_of` into a new DuckDB file; returns its path."""

    def build(
        raw_dir: Path = TINY_RAW_DIR,
        as_of: date = TINY_AS_OF,
        duckdb_path: Path | None = None,
        extra_vars: dict[str, object] | None = None,
        catalog_path: Path = DEFAULT_CATALOG_PATH,
    ) -> Path:
        path = duckdb_path or tmp_path_factory.mktemp("warehouse") / "crm.duckdb"
        settings = Settings(raw_dir=raw_dir, as_of=as_of, duckdb_path=path, catalog_path=catalog_path)
        pipeline.run(settings, extra_vars=extra_vars)
        return path

    return build


@pytest.fixture(scope="session")
def tiny_warehouse(build_warehouse: BuildWarehouse) -> Path:
    return build_warehouse()


def query(duckdb_path: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
