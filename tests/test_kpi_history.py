"""marts.segment_kpi_history on the sample replay (the nightly job as of 2026-10-20, then 2026-11-20):
one set of rows per as-of date, each the segment_kpis of that date; re-running the latest date
rewrites its rows; running an earlier date leaves the history as it is (macros/history.sql)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.duckdb_profile import connect_warehouse
from orchestration.segments.catalog import load_catalog_file
from orchestration.settings import DEFAULT_CATALOG_PATH, DEFAULT_RAW_DIR, Settings
from tests.conftest import SAMPLE_REPLAY_DATES, BuildWarehouse, RunDbt, SampleReplay, copy_warehouse, query

# The module runs dbt and the pipeline on copies of the replay warehouse itself.
pytestmark = pytest.mark.slow

FIRST, LAST = SAMPLE_REPLAY_DATES
LOOKBACK_DAYS = 90  # var kpi_lookback_days, the project default


def _history(warehouse: Path) -> list[tuple]:
    return query(warehouse, "select * from marts.segment_kpi_history order by all")


def _kpi_columns(warehouse: Path) -> str:
    rows = query(
        warehouse,
        "select column_name from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'segment_kpis' order by ordinal_position",
    )
    return ", ".join(name for (name,) in rows)


def _rows_of(warehouse: Path, table: str, as_of: date) -> list[tuple]:
    return query(
        warehouse,
        f"select {_kpi_columns(warehouse)} from marts.{table} where as_of_date = ? order by all",
        [as_of],
    )


def _copy(sample_replay: SampleReplay, tmp_path: Path) -> Path:
    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(sample_replay.warehouse, warehouse)
    return warehouse


def test_history_has_each_replayed_date_and_its_last_date_is_segment_kpis(
    sample_replay: SampleReplay,
) -> None:
    warehouse = sample_replay.warehouse
    groups = 3 * len(load_catalog_file(DEFAULT_CATALOG_PATH))
    assert query(
        warehouse,
        "select as_of_date, period_start, period_end, count(*) from marts.segment_kpi_history "
        "group by all order by 1",
    ) == [(as_of, as_of - timedelta(days=LOOKBACK_DAYS - 1), as_of, groups) for as_of in (FIRST, LAST)]
    last_rows = _rows_of(warehouse, "segment_kpi_history", LAST)
    assert len(last_rows) == groups
    assert last_rows == _rows_of(warehouse, "segment_kpis", LAST)
    # A trend: the VIP segment's members, buyers and revenue of its 90 days, date by date.
    assert query(
        warehouse,
        "select as_of_date, members, buyers, revenue from marts.segment_kpi_history "
        "where segment_key = 'rfm_vip' and member_group = 'all' order by as_of_date",
    ) == [
        (FIRST, 315, 315, Decimal("3085426.21")),
        (LAST, 329, 329, Decimal("3235419.59")),
    ]


def test_rerunning_the_latest_date_rewrites_what_it_wrote(
    dbt_at_one_path: RunDbt, sample_replay: SampleReplay, tmp_path: Path
) -> None:
    warehouse = _copy(sample_replay, tmp_path)
    before = _history(warehouse)
    # Rows of the latest date that are wrong, and one that its re-run will no longer write.
    with connect_warehouse(warehouse) as con:
        con.execute("update marts.segment_kpi_history set revenue = -1 where as_of_date = ?", [LAST])
        con.execute(
            "insert into marts.segment_kpi_history (as_of_date, segment_key, member_group, members) "
            "values (?, 'dropped_from_the_catalogue', 'all', 5)",
            [LAST],
        )
    assert _history(warehouse) != before
    dbt_at_one_path("build", Settings(DEFAULT_RAW_DIR, LAST, warehouse), "--select", "segment_kpi_history")
    assert _history(warehouse) == before


def test_an_earlier_date_leaves_the_history_alone_and_recomputes_its_own_rows(
    build_warehouse: BuildWarehouse, sample_replay: SampleReplay, tmp_path: Path
) -> None:
    warehouse = _copy(sample_replay, tmp_path)
    first_rows = _rows_of(warehouse, "segment_kpi_history", FIRST)
    # A mark on the first date's rows, which a run that rewrote them would wipe.
    with connect_warehouse(warehouse) as con:
        con.execute("update marts.segment_kpi_history set revenue = -1 where as_of_date = ?", [FIRST])
    before = _history(warehouse)
    build_warehouse(raw_dir=DEFAULT_RAW_DIR, as_of=FIRST, duckdb_path=warehouse)
    assert _history(warehouse) == before
    # The marts now show the first date again, and its KPIs are the ones the history recorded on it:
    # each date's rows are a function of the raw data and that date.
    assert query(warehouse, "select distinct as_of_date from marts.segment_kpis") == [(FIRST,)]
    assert _rows_of(warehouse, "segment_kpis", FIRST) == first_rows
