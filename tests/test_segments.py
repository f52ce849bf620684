"""Segments end to end on the tiny fixture: membership, static lists, holdouts, injection, and the
history built day by day at three as-of dates (values worked out by hand from the fixture)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from orchestration.replay import clv_fit_dates, fill_history
from orchestration.segments.check import check_segments
from orchestration.settings import Settings
from tests.conftest import TINY_RAW_DIR, BuildWarehouse, built_at_one_path, copy_warehouse, query

D1, D2, D3 = date(2024, 3, 15), date(2024, 4, 5), date(2024, 6, 30)
HISTORY_TABLES = (
    "marts.segment_membership_history",
    "marts.customer_status_history",
    "marts.customer_record_history",
    "marts.segment_kpi_history",
    "marts.segment_entry_groups",
    "audit.segment_history_runs",
)


# Marts that are a function of (raw data, as-of date) alone: re-running a date must give them again.
MART_TABLES = (
    "marts.customer_rfm",
    "marts.customer_lifecycle",
    "marts.dim_customers",
    "marts.segment_membership",
)


def _marts(warehouse: Path) -> dict[str, list[tuple]]:
    return {table: query(warehouse, f"select * from {table} order by all") for table in MART_TABLES}


@pytest.fixture(scope="module")
def marts_by_date() -> dict[date, dict[str, list[tuple]]]:
    """What the marts said on each date of the history warehouse (filled as it is built)."""
    return {}


@pytest.fixture(scope="module")
def history_warehouse(
    build_warehouse: BuildWarehouse,
    tmp_path_factory: pytest.TempPathFactory,
    marts_by_date: dict[date, dict[str, list[tuple]]],
) -> Path:
    warehouse = tmp_path_factory.mktemp("history") / "crm.duckdb"
    for as_of in (D1, D2, D3):
        # The data tests run on the whole history, after its last date.
        build_warehouse(as_of=as_of, duckdb_path=warehouse, data_tests=as_of == D3)
        marts_by_date[as_of] = _marts(warehouse)
    return warehouse


def test_a_replay_fills_the_same_history_and_marts_as_date_by_date_runs(
    history_warehouse: Path,
    marts_by_date: dict[date, dict[str, list[tuple]]],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    warehouse = tmp_path / "filled" / "crm.duckdb"
    with built_at_one_path(warehouse, tmp_path_factory) as build_path:
        filled = fill_history(Settings(TINY_RAW_DIR, D1, build_path), [D1, D2, D3], clv_fit_every_days=7)
    assert [(day.as_of, day.clv_fitted) for day in filled] == [(D1, True), (D2, True), (D3, True)]
    for table in HISTORY_TABLES:
        assert query(warehouse, f"select * from {table} order by all") == query(
            history_warehouse, f"select * from {table} order by all"
        ), table
    assert _marts(warehouse) == marts_by_date[D3]
    # Later dates build the history and what it and the mart suites read, nothing else.
    later = set(filled[2].models)
    assert {"segment_membership_history", "customer_record_history", "rfm_cut_points", "int_clv_fit"} <= later
    assert {"customer_rfm", "dim_customers", "segment_catalog"} <= later
    assert not later & {
        "cohort_ltv",
        "fct_orders",
        "segment_uplift",
        "metricflow_time_spine",
        "stg_crm__orders",
    }
    assert len(filled[0].models) > len(later)
    results = query(warehouse, "select suite, as_of_date, passed from quality.suite_results order by 2, 1")
    assert [(suite, as_of) for suite, as_of, _ in results if suite.startswith("raw_")] == [
        (suite, D1)
        for suite in ("raw_campaigns", "raw_customers", "raw_email_events", "raw_order_items", "raw_orders")
    ]
    assert [(suite, as_of) for suite, as_of, _ in results if suite.startswith("marts_")] == [
        (suite, day)
        for day in (D1, D2, D3)
        for suite in ("marts_customer_rfm", "marts_dim_customers", "marts_segment_sizes")
    ]
    assert all(passed for _, _, passed in results)


def test_clv_fit_dates_follow_the_cadence() -> None:
    days = [date(2024, 1, 1) + timedelta(days=offset) for offset in range(0, 20)]
    assert sorted(clv_fit_dates(days, 7)) == [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15)]
    assert clv_fit_dates(days[::7], 7) == set(days[::7])
    assert clv_fit_dates([date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 10)], 7) == {
        date(2024, 1, 1),
        date(2024, 1, 10),
    }
    with pytest.raises(ValueError, match="at least 1 day, got 0"):
        clv_fit_dates(days, 0)


def test_membership_intervals_enter_leave_and_reenter(history_warehouse: Path) -> None:
    rows = query(
        history_warehouse,
        "select customer_id, valid_from, valid_to, is_current from marts.segment_membership_history "
        "where segment_key = 'bought_last_30_days' order by customer_id, valid_from",
    )
    # c1's orders: 03-01, 04-15, 05-20, 06-25 → in on 03-15, out on 04-05 (35 days), in again on 06-30.
    assert rows == [
        ("c1", D1, D2, False),
        ("c1", D3, None, True),
        ("c2", D3, None, True),  # first order 06-01
    ]


def test_daily_sizes_count_members_entries_and_exits(history_warehouse: Path) -> None:
    rows = query(
        history_warehouse,
        "select as_of_date, members, entered, exited, is_history_start from marts.segment_daily_sizes "
        "where segment_key = 'bought_last_30_days' order by as_of_date",
    )
    # D1 starts the history: its member was already there, not "entered" (no spike on charts).
    assert rows == [(D1, 1, None, None, True), (D2, 0, 0, 1, False), (D3, 2, 2, 0, False)]


def test_transitions_of_rfm_lifecycle_and_exclusive_groups(history_warehouse: Path) -> None:
    rows = query(
        history_warehouse,
        "select customer_id, dimension, from_value, to_value, transitioned_on from marts.segment_transitions "
        "order by dimension, customer_id",
    )
    assert rows == [
        # c2's last open (2023-12-01) is over 180 days old on 06-30; c1 first opened on 06-01.
        ("c1", "engagement_status", "never_engaged", "active", D3),
        ("c2", "engagement_status", "active", "inactive", D3),
        ("c5", "engagement_status", None, "unsubscribed", D3),  # opt-in false, created after D2
        ("c7", "engagement_status", "never_engaged", "unsubscribed", D3),  # unsubscribed 05-01
        ("c1", "exclusive_group:weekly_campaign", None, "weekly_newsletter", D3),
        ("c2", "exclusive_group:weekly_campaign", "weekly_newsletter", None, D3),
        ("c1", "lifecycle_status", "one_time", "regular", D3),
        ("c2", "lifecycle_status", "new", "one_time", D3),
        ("c4", "lifecycle_status", "one_time", "periodic", D3),
        ("c5", "lifecycle_status", None, "in_work", D3),  # created between D2 and D3
        ("c1", "rfm_segment", "Loyal", "VIP", D3),
        ("c2", "rfm_segment", None, "Need attention", D3),
    ]


def test_exclusive_group_gives_each_customer_one_segment(history_warehouse: Path) -> None:
    rows = query(
        history_warehouse,
        "select customer_id, segment_key from marts.segment_membership "
        "where exclusive_group = 'weekly_campaign' order by customer_id",
    )
    # c3 is lapsed (win-back, priority 1); c1 is in the mass-mailing audience (newsletter, priority 3).
    assert rows == [("c1", "weekly_newsletter"), ("c3", "weekly_winback")]


def _history(warehouse: Path) -> dict[str, list[tuple]]:
    return {table: query(warehouse, f"select * from {table} order by all") for table in HISTORY_TABLES}


def test_rerunning_a_date_gives_its_marts_again_and_leaves_the_history_alone(
    build_warehouse: BuildWarehouse,
    history_warehouse: Path,
    marts_by_date: dict[date, dict[str, list[tuple]]],
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "copy.duckdb"
    copy_warehouse(history_warehouse, warehouse)
    before = _history(warehouse)
    # The latest date again: identical marts, identical history.
    build_warehouse(as_of=D3, duckdb_path=warehouse, data_tests=False)
    assert _marts(warehouse) == marts_by_date[D3]
    assert len(marts_by_date[D3]["marts.dim_customers"]) == 8
    assert _history(warehouse) == before
    # An earlier date: the marts say what they said then, the history is not rewritten.
    build_warehouse(as_of=D1, duckdb_path=warehouse, data_tests=False)
    assert _marts(warehouse) == marts_by_date[D1]
    assert _history(warehouse) == before
    # On 03-15 c3 (January to March 2023), c4 (2023-12-20) and c1 (03-01) had bought.
    assert query(
        warehouse, "select customer_id, frequency, recency_days from marts.customer_rfm order by 1"
    ) == [
        ("c1", 1, 14),
        ("c3", 3, 371),
        ("c4", 1, 86),
    ]


@pytest.fixture(scope="module")
def custom_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "lists").mkdir()
    (folder / "lists" / "vip_invitees.csv").write_text(
        "customer_id,email\nc1,\n,ANNA.S@gmail.com\n,ghost@nowhere.ru\nc404,\n", encoding="utf-8"
    )
    catalog = {
        "segments": [
            {"key": "vip_invitees", "name": "Invitees", "list": "vip_invitees.csv"},
            {"key": "moscow", "name": "Moscow", "rule": {"city": {"=": "Moscow"}}},
            {"key": "injected", "name": "Injection", "rule": {"city": {"=": "Moscow' or 1=1 --"}}},
            # Jinja in a value stays text: the compiled dbt model must not run it.
            {
                "key": "braces",
                "name": "Braces",
                "rule": {"city": {"in": ["{{ exceptions.raise_compiler_error('ran') }}", "a\\b", "Moscow"]}},
            },
            {
                "key": "everyone",
                "name": "Everyone",
                "rule": {"customer_id": {"is null": False}},
                "holdout_share": 0.5,
            },
        ]
    }
    (folder / "catalog.yml").write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return folder / "catalog.yml"


@pytest.fixture(scope="module")
def custom_warehouse(build_warehouse: BuildWarehouse, custom_catalog: Path) -> Path:
    return build_warehouse(catalog_path=custom_catalog)


def test_static_list_members_and_unmatched_rows(custom_warehouse: Path) -> None:
    members = query(
        custom_warehouse,
        "select customer_id from marts.segment_membership where segment_key = 'vip_invitees' order by 1",
    )
    assert members == [("c1",), ("c2",)]
    unmatched = query(
        custom_warehouse,
        "select source_row, reason from audit.unmatched_static_list_rows order by source_row",
    )
    assert unmatched == [(3, "unknown_email"), (4, "unknown_customer")]


def test_injection_attempt_matches_nobody_and_breaks_nothing(custom_warehouse: Path) -> None:
    sizes = dict(query(custom_warehouse, "select segment_key, members from marts.segment_catalog"))
    assert sizes == {"vip_invitees": 2, "moscow": 1, "injected": 0, "braces": 1, "everyone": 8}
    predicates = dict(query(custom_warehouse, "select segment_key, predicate_sql from marts.segment_catalog"))
    assert predicates["injected"] == "base.city = 'Moscow'' or 1=1 --'"
    assert predicates["braces"] == (
        "base.city in ('{{ exceptions.raise_compiler_error(''ran'') }}', 'a\\b', 'Moscow')"
    )


def test_holdout_is_a_stable_hash_of_segment_and_customer(custom_warehouse: Path) -> None:
    rows = query(
        custom_warehouse,
        "select customer_id, is_holdout from marts.segment_membership "
        "where segment_key = 'everyone' order by 1",
    )
    expected = [
        (customer_id, int(hashlib.md5(f"everyone|{customer_id}".encode()).hexdigest()[:8], 16) % 10000 < 5000)
        for customer_id, _ in rows
    ]
    assert rows == expected
    assert {flag for _, flag in rows} == {True, False}


def test_segments_check_counts_what_the_build_counted(custom_warehouse: Path, custom_catalog: Path) -> None:
    # `segments check` counts without a build: the same members, static list and holdouts as the build.
    report = check_segments(Settings(TINY_RAW_DIR, date(2030, 1, 1), custom_warehouse, custom_catalog))
    assert report.ok
    counted = {count.key: (count.members, count.holdout) for count in report.counts}
    built = query(custom_warehouse, "select segment_key, members, holdout_members from marts.segment_catalog")
    assert counted == {key: (members, holdout) for key, members, holdout in built}
    assert counted["vip_invitees"] == (2, 0)
    assert {count.key: count.note for count in report.counts}[
        "vip_invitees"
    ] == "2 list rows match no customer"
