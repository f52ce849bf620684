"""`dbt run-operation drop_orphaned_relations`: what dbt leaves behind goes, nothing else does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration.duckdb_profile import connect_warehouse
from orchestration.settings import Settings
from tests.conftest import TINY_AS_OF, TINY_RAW_DIR, RunDbt, copy_warehouse, query

# Whole pipeline runs, Dagster jobs or `make` processes: `make test-fast` skips them.
pytestmark = pytest.mark.slow

LEFT_BEHIND = {
    ("intermediate", "int_kpis__emails"),  # the model was renamed int_emails
    ("marts", "customer_rfm__dbt_backup"),  # an interrupted table swap
}
OUTSIDE_DBT = {
    ("raw", "orders_copy"),  # a schema of sources: never considered
    ("quality", "suite_results_old"),  # no dbt node lives in this schema
}


def _relations(path: Path) -> set[tuple[str, str]]:
    return set(query(path, "select table_schema, table_name from information_schema.tables"))


def test_only_relations_no_node_builds_are_dropped(
    dbt_at_one_path: RunDbt, tiny_warehouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(tiny_warehouse, warehouse)
    with connect_warehouse(warehouse) as con:
        for schema, name in LEFT_BEHIND | OUTSIDE_DBT:
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {schema}.{name} as select 1 as x")
    built = _relations(warehouse)
    settings = Settings(raw_dir=TINY_RAW_DIR, as_of=TINY_AS_OF, duckdb_path=warehouse)

    capfd.readouterr()
    dbt_at_one_path("run-operation", settings, "drop_orphaned_relations")
    listed = re.findall(
        r'Orphaned (?:table|view) \(dry run, kept\): "\w+"\."(\w+)"\."(\w+)"', capfd.readouterr().out
    )
    assert set(listed) == LEFT_BEHIND
    assert _relations(warehouse) == built, "a dry run drops nothing"

    dbt_at_one_path("run-operation", settings, "drop_orphaned_relations", "--args", "{dry_run: false}")
    remaining = _relations(warehouse)
    assert remaining == built - LEFT_BEHIND
    assert remaining >= OUTSIDE_DBT and ("marts", "customer_rfm") in remaining
