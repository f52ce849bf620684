"""Dropping the history tables, for a replay that starts the history again."""

from __future__ import annotations

from orchestration.duckdb_profile import connect_warehouse
from orchestration.settings import Settings

HISTORY_TABLES = (
    "marts.segment_membership_history",
    "marts.customer_status_history",
    "marts.customer_record_history",
    "marts.segment_kpi_history",
    "marts.rfm_cut_points",
    "marts.segment_entry_groups",
    "audit.segment_history_runs",
)


def drop_history(settings: Settings) -> None:
    if not settings.duckdb_path.exists():
        return
    with connect_warehouse(settings.duckdb_path) as con:
        for table in HISTORY_TABLES:
            con.execute(f"drop table if exists {table}")
