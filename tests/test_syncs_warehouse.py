"""The syncs on a real warehouse built by the pipeline (dbt) from tests/fixtures/tiny.

dbt creates the sync_state tables the syncs write (and never drops them: a rebuild keeps every
delivered contact and audit row), the marts views expose them, and an opt-out reported by a platform
comes back as an email event and takes the contact off the next delivery.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from orchestration.__main__ import main
from orchestration.duckdb_profile import connect_warehouse
from orchestration.settings import Settings
from orchestration.syncs.state import TABLES
from tests.conftest import TINY_AS_OF, TINY_RAW_DIR, RunDbt, copy_warehouse, query

VIP_CSV_HEADER = "email,first_name,city,rfm_segment,lifecycle_status,avg_order_value\n"


def test_dbt_creates_the_sync_state_tables_exactly_as_the_syncs_write_them(tiny_warehouse: Path):
    tables = query(
        tiny_warehouse,
        "select table_name from information_schema.tables where table_schema = 'sync_state' order by 1",
    )
    assert tables == [
        ("delivered",),
        ("provider_unsubscribes",),
        ("sync_row_errors",),
        ("sync_runs",),
        ("targets",),
    ]
    for table in TABLES:
        columns = query(
            tiny_warehouse,
            "select column_name, lower(data_type) from information_schema.columns "
            "where table_schema = 'sync_state' and table_name = ? order by ordinal_position",
            [table],
        )
        assert columns == TABLES[table], table
    assert query(tiny_warehouse, "select count(*) from marts.sync_runs") == [(0,)]
    assert query(tiny_warehouse, "select count(*) from marts.sync_row_errors") == [(0,)]


def test_dbt_upgrades_a_sync_runs_table_from_before_the_shared_email_count(
    dbt_at_one_path: RunDbt, tiny_warehouse: Path, tmp_path: Path
):
    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(tiny_warehouse, warehouse)
    old_columns = ", ".join(
        f"{name} {kind}" for name, kind in TABLES["sync_runs"] if name != "excluded_shared_email"
    )
    query_rw(warehouse, "drop view marts.sync_runs")
    query_rw(warehouse, "drop table sync_state.sync_runs")
    query_rw(warehouse, f"create table sync_state.sync_runs ({old_columns})")
    query_rw(
        warehouse,
        "insert into sync_state.sync_runs (run_id, sync_name, destination, status) "
        "values ('r0', 's', 'file', 'success')",
    )

    dbt_at_one_path(
        "build", Settings(TINY_RAW_DIR, TINY_AS_OF, warehouse), "--select", "path:dbt_project/models/syncs"
    )
    assert query(warehouse, "select run_id, excluded_shared_email from marts.sync_runs") == [("r0", None)]
    columns = query(
        warehouse,
        "select column_name, lower(data_type) from information_schema.columns "
        "where table_schema = 'sync_state' and table_name = 'sync_runs' order by ordinal_position",
    )
    assert columns == TABLES["sync_runs"]


def test_shipped_syncs_on_a_built_warehouse_survive_a_dbt_rebuild(
    dbt_at_one_path: RunDbt,
    tiny_warehouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(tiny_warehouse, warehouse)
    out = tmp_path / "out"
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.setenv("CRM_SEGMENTS_AS_OF", TINY_AS_OF.isoformat())
    monkeypatch.setenv("CRM_SEGMENTS_SYNC_DIR", str(out))

    assert main(["sync"]) == 0
    output = capsys.readouterr().out
    assert "sync rfm_vip_file: segment rfm_vip → file " in output
    assert "sent 1: added 1, updated 0, removed 0, failed 0" in output
    assert (out / "rfm_vip_file" / "rfm_vip.csv").read_text() == (
        VIP_CSV_HEADER + "ivan@mail.ru,Иван,Moscow,VIP,regular,2500\n"
    )
    assert query(warehouse, "select sync_name, status, added from marts.sync_runs order by sync_name") == [
        ("rfm_vip_file", "success", 1),
        ("weekly_winback_file", "success", 1),
    ]

    # Mailchimp reports that Ivan unsubscribed: it becomes an email event of customer c1.
    query_rw(
        warehouse,
        "insert into sync_state.provider_unsubscribes values "
        "('mailchimp', 'vip_mailchimp', 'audience a1, tag ''vip''', 'Ivan@Mail.ru', 'ivan@mail.ru', "
        "'unsubscribed', timestamp '2024-06-29 10:00:00', timestamp '2024-06-30 03:00:00')",
    )
    assert query(
        warehouse,
        "select customer_id, event_type, occurred_at, _source_file "
        "from staging.stg_sync__provider_unsubscribes",
    ) == [("c1", "unsubscribe", datetime(2024, 6, 29, 10), "sync_state.provider_unsubscribes/mailchimp")]

    # Rebuilding the sync models, even with --full-refresh, keeps the state, the audit and the opt-out.
    # (Only these models read sync_state; no dbt model writes there, and dbt never drops what it doesn't own.)
    dbt_at_one_path(
        "build",
        Settings(TINY_RAW_DIR, TINY_AS_OF, warehouse),
        "--select",
        "path:dbt_project/models/syncs",
        "--full-refresh",
    )
    assert query(warehouse, "select sync_name, email_key from sync_state.delivered order by 1") == [
        ("rfm_vip_file", "ivan@mail.ru"),
        ("weekly_winback_file", "oleg@yandex.ru"),
    ]
    assert query(warehouse, "select count(*) from marts.sync_runs") == [(2,)]
    assert query(warehouse, "select count(*) from sync_state.provider_unsubscribes") == [(1,)]

    # The next run sends only what changed: Ivan, opted out, leaves the file; nothing else moves.
    assert main(["sync"]) == 0
    output = capsys.readouterr().out
    assert "sent 1: added 0, updated 0, removed 1, failed 0" in output
    assert "sent 0: added 0, updated 0, removed 0, failed 0" in output
    assert (out / "rfm_vip_file" / "rfm_vip.csv").read_text() == VIP_CSV_HEADER


def query_rw(path: Path, sql: str) -> None:

    with connect_warehouse(path) as con:
        con.execute(sql)
