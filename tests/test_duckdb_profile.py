"""The DuckDB limits of profiles.yml and the warehouse connections that carry them (duckdb_profile.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.duckdb_profile import (
    MARTS_CATALOG,
    MARTS_SCHEMAS,
    MARTS_STORAGE_VERSION,
    VARIABLES,
    connect_warehouse,
    marts_path,
    move_marts_out_of_the_warehouse,
    profile_settings,
)
from orchestration.settings import PROJECT_DIR


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


@pytest.mark.parametrize(
    ("warehouse", "marts"),
    [
        ("/data/crm_segments.duckdb", "/data/crm_segments_marts.duckdb"),
        ("/data/shop.db", "/data/shop.db_marts.duckdb"),
    ],
)
def test_the_marts_file_sits_beside_the_warehouse_as_profiles_yml_names_it(
    warehouse: str, marts: str
) -> None:
    assert marts_path(Path(warehouse)) == Path(marts)
    profile = (PROJECT_DIR / "profiles.yml").read_text()
    # The profile derives the same path from CRM_SEGMENTS_DUCKDB (the rule above), attached as crm_marts.
    assert "warehouse[:-7] if warehouse.endswith('.duckdb') else warehouse }}_marts.duckdb" in profile
    assert f"alias: {MARTS_CATALOG}" in profile
    assert f"storage_version: {MARTS_STORAGE_VERSION}" in profile


def test_the_published_schemas_are_the_same_in_dbt_and_python() -> None:
    macro = (PROJECT_DIR / "dbt_project" / "macros" / "generate_database_name.sql").read_text()
    assert f"{{{{ return({list(MARTS_SCHEMAS)}) }}}}" in macro
    assert f"\n        {MARTS_CATALOG}\n" in macro


def test_a_warehouse_from_before_the_marts_file_moves_its_marts_there_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    warehouse = tmp_path / "old.duckdb"
    with duckdb.connect(str(warehouse)) as con:  # the layout before: marts and audit in the warehouse
        con.execute("create schema marts; create schema audit; create schema staging")
        con.execute("create table marts.segment_membership_history as select range as id from range(7)")
        con.execute("create table audit.quarantined_rows as select 'orders' as table_name")
        con.execute("create view marts.sync_runs as select 1 as x")
        con.execute("create table staging.stg_crm__orders as select 1 as order_id")
    # A move cut short before: this table already reached the marts file; it is kept as it is there.
    with duckdb.connect() as con:
        con.execute(f"attach '{marts_path(warehouse)}' as m (storage_version '{MARTS_STORAGE_VERSION}')")
        con.execute(
            "create schema m.audit; create table m.audit.quarantined_rows as select 'kept' as table_name"
        )

    with connect_warehouse(warehouse, read_only=True) as con:  # a reader moves nothing
        assert con.execute("select count(*) from marts.segment_membership_history").fetchone() == (7,)
    with connect_warehouse(warehouse) as con:
        assert con.execute("select sum(id), count(*) from marts.segment_membership_history").fetchone() == (
            21,
            7,
        )
        assert con.execute("select table_name from audit.quarantined_rows").fetchall() == [("kept",)]
        assert con.execute("select count(*) from staging.stg_crm__orders").fetchone() == (1,)
        where = con.execute(
            "select table_catalog, table_schema, table_name, table_type from information_schema.tables "
            "order by all"
        ).fetchall()
        assert where == [
            ("crm_marts", "audit", "quarantined_rows", "BASE TABLE"),
            ("crm_marts", "marts", "segment_membership_history", "BASE TABLE"),
            ("old", "staging", "stg_crm__orders", "BASE TABLE"),
        ]  # the view goes with its schema: dbt builds it again
        assert move_marts_out_of_the_warehouse(con) == []
    assert caplog.messages == [
        f"moved 1 table of an older layout (marts.segment_membership_history) from {warehouse} to "
        f"{marts_path(warehouse)}, where dbt now builds marts.* and audit.*; "
        "copy or move the two files together"
    ]
    with connect_warehouse(warehouse):  # moved once: nothing more to say
        pass
    assert len(caplog.messages) == 1
