"""The DuckDB limits of profiles.yml and the warehouse connections that carry them (duckdb_profile.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.duckdb_profile import VARIABLES, connect_warehouse, profile_settings


@pytest.fixture
def no_limit_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_the_defaults_are_read_from_profiles_yml(no_limit_variables: pytest.MonkeyPatch) -> None:
    settings = profile_settings()

    assert (settings.memory_limit, settings.threads, settings.dbt_threads) == ("2.5GB", 2, 2)
    assert set(settings.sources.values()) == {"profile default"}


def test_environment_variables_override_the_defaults(no_limit_variables: pytest.MonkeyPatch) -> None:
    no_limit_variables.setenv("CRM_SEGMENTS_DUCKDB_MEMORY_LIMIT", "1GB")
    no_limit_variables.setenv("CRM_SEGMENTS_DUCKDB_THREADS", "1")

    settings = profile_settings()

    assert (settings.memory_limit, settings.threads, settings.dbt_threads) == ("1GB", 1, 2)
    assert settings.sources == {"memory_limit": "env", "threads": "env", "dbt_threads": "profile default"}
    assert settings.describe().startswith("memory_limit=1GB (CRM_SEGMENTS_DUCKDB_MEMORY_LIMIT, env)")


def test_warehouse_connections_carry_the_profile_limits(
    no_limit_variables: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_limit_variables.setenv("CRM_SEGMENTS_DUCKDB_MEMORY_LIMIT", "1GB")
    no_limit_variables.setenv("CRM_SEGMENTS_DUCKDB_THREADS", "1")
    warehouse = tmp_path / "crm.duckdb"

    with connect_warehouse(warehouse) as con:
        con.execute("create table t as select 1 as x")
        settings = con.execute(
            "select current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('preserve_insertion_order')"
        ).fetchone()
        # The point of one shared configuration: a second connection of the process, while the first
        # is open, works with it and fails with DuckDB's defaults.
        with connect_warehouse(warehouse) as second:
            assert second.execute("select x from t").fetchall() == [(1,)]
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(str(warehouse))

    assert settings == ("953.6 MiB", 1, False)  # 1GB is 10^9 bytes
    with connect_warehouse(warehouse, read_only=True) as reader:
        assert reader.execute("select x from t").fetchall() == [(1,)]
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            reader.execute("insert into t values (2)")
