"""The Dagster code location loads and its nightly job builds the warehouse end to end."""

from __future__ import annotations

import importlib.metadata
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.checks import build_quality_checks
from orchestration.dbt_project import DAGSTER_RUN_TARGET_PATH, kept_target_path
from orchestration.definitions import defs
from orchestration.resources import AS_OF_TAG, build_resources
from orchestration.segments.catalog import load_catalog_file
from orchestration.settings import DEFAULT_CATALOG_PATH, PROJECT_DIR
from tests.conftest import SAMPLE_REPLAY_DATES, SampleReplay, query


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


def test_the_dbt_resource_runs_the_venvs_dbt_and_knows_its_version_without_asking_it() -> None:
    dbt = build_resources()["dbt"]
    assert Path(dbt.dbt_executable) == Path(sys.executable).parent / "dbt"
    assert str(dbt._cli_version) == importlib.metadata.version("dbt-core")


def test_every_run_of_the_job_keeps_dbts_artifacts_in_one_folder() -> None:
    """One folder for every run, so dbt parses only what changed since the last night (a folder per
    run parsed the whole project each time and stayed behind)."""
    assert kept_target_path(DAGSTER_RUN_TARGET_PATH, {}) == PROJECT_DIR / "target" / "dagster" / "run"
    assert kept_target_path(DAGSTER_RUN_TARGET_PATH, {"DBT_TARGET_PATH": "/tmp/e"}) == Path("/tmp/e")


def test_every_dbt_node_waits_for_the_landing() -> None:
    graph = defs.resolve_asset_graph()
    landing = dg.AssetKey(["raw", "_landing_manifest"])
    for key in graph.get_all_asset_keys():
        if key.path[0] == "reference":
            assert landing in graph.get(key).parent_keys, key


def test_every_suite_is_a_blocking_check_on_its_asset() -> None:
    checks = {key.name: key.asset_key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert {name: asset for name, asset in checks.items() if name.startswith("gx_")} == {
        "gx_raw_customers": "raw/customers",
        "gx_raw_orders": "raw/orders",
        "gx_raw_order_items": "raw/order_items",
        "gx_raw_email_events": "raw/email_events",
        "gx_raw_campaigns": "raw/campaigns",
        "gx_marts_dim_customers": "marts/dim_customers",
        "gx_marts_customer_rfm": "marts/customer_rfm",
        "gx_marts_segment_sizes": "marts/segment_membership",
    }
    assert all(spec.blocking for checks in build_quality_checks() for spec in checks.check_specs)


def test_nightly_job_builds_the_sample_with_every_check_passing(sample_replay: SampleReplay) -> None:
    first, last = SAMPLE_REPLAY_DATES
    warehouse = sample_replay.warehouse
    # Every suite ran and passed on both dates; the second run compared itself with the first.
    results = query(
        warehouse,
        "select as_of_date, count(*), bool_and(passed) from quality.suite_results group by 1 order by 1",
    )
    assert results == [(first, 8, True), (last, 8, True)]
    assert query(
        warehouse,
        "select count(*) from quality.suite_metrics where suite = 'marts_segment_sizes' and as_of_date = ?",
        [last],
    ) == [(len(load_catalog_file(DEFAULT_CATALOG_PATH)) + 1,)]  # each segment's size + the row count
    for table in ("customer_rfm", "dim_customers", "segment_membership"):
        assert query(warehouse, f"select max(as_of_date), count(*) > 0 from marts.{table}") == [(last, True)]


def test_the_default_static_list_matches_by_email_and_reports_the_stranger(
    sample_replay: SampleReplay,
) -> None:
    warehouse = sample_replay.warehouse
    assert query(
        warehouse,
        "select count(*) from marts.segment_membership where segment_key = 'trade_show_2026_visitors'",
    ) == [(10,)]
    assert query(
        warehouse,
        "select segment_key, source_row, reason from audit.unmatched_static_list_rows "
        "where segment_key = 'trade_show_2026_visitors'",
    ) == [("trade_show_2026_visitors", 11, "unknown_email")]


def test_the_win_back_control_group_is_close_to_its_declared_tenth(sample_replay: SampleReplay) -> None:
    [(members, held_out)] = query(
        sample_replay.warehouse,
        "select count(*), count(*) filter (where is_holdout) from marts.segment_membership "
        "where segment_key = 'weekly_winback'",
    )
    # ~1,400 members: the binomial standard deviation of a 10% share is under 1 point; allow 3.
    assert members > 1000
    assert 0.07 <= held_out / members <= 0.13
