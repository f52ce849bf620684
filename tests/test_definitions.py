"""The Dagster code location loads and its nightly job builds the warehouse end to end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.resources import AS_OF_TAG
from tests.conftest import TINY_RAW_DIR, query


def test_definitions_load_with_layered_asset_keys() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/customers", "raw/orders", "staging/stg_crm__orders", "marts/customer_rfm"} <= keys
    assert "reference/rfm_segment_map" in keys
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "unique_customer_rfm_customer_id" in checks


def test_nightly_schedule_runs_at_three_moscow_time_for_the_day_before() -> None:
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "Europe/Moscow")
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 22, 3, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.tags[AS_OF_TAG] == "2026-11-21"


def test_nightly_job_materialises_every_asset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "dagster.duckdb"
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    result = defs.resolve_job_def("nightly").execute_in_process(tags={AS_OF_TAG: "2024-06-30"})
    assert result.success
    materialised = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert {
        "raw/orders",
        "marts/customer_rfm",
        "marts/dim_customers",
        "raw/_segment_catalog",
        "marts/segment_membership",
        "marts/segment_membership_history",
    } <= materialised
    assert query(warehouse, "select count(*), max(as_of_date) from marts.customer_rfm") == [
        (4, datetime(2024, 6, 30).date())
    ]
