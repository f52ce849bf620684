"""`python -m orchestration run|replay`: the commands behind `make run` and `make replay`."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from orchestration.__main__ import main
from orchestration.runner import replay, replay_dates
from orchestration.segments.catalog import load_catalog_file
from orchestration.settings import DEFAULT_CATALOG_PATH, Settings, SettingsError
from tests.conftest import SAMPLE_REPLAY_DATES, TINY_RAW_DIR, SampleReplay, query


def test_replay_dates_step_through_and_end_on_the_last_date() -> None:
    assert replay_dates(date(2024, 1, 1), date(2024, 1, 20), 7) == [
        date(2024, 1, 1),
        date(2024, 1, 8),
        date(2024, 1, 15),
        date(2024, 1, 20),
    ]
    with pytest.raises(SettingsError, match=r"STEP=0 must be at least 1 day"):
        replay_dates(date(2024, 1, 1), date(2024, 1, 20), 0)
    with pytest.raises(SettingsError, match=r"TO=2023-12-31 is before FROM=2024-01-01"):
        replay_dates(date(2024, 1, 1), date(2023, 12, 31), 1)


def test_replay_refuses_to_start_before_the_recorded_history(tiny_warehouse: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "copy.duckdb"
    shutil.copy(tiny_warehouse, warehouse)
    settings = Settings(TINY_RAW_DIR, date(2024, 6, 30), warehouse)
    with pytest.raises(
        SettingsError, match=r"the history already runs to 2024-06-30; replay from 2024-06-30 or later"
    ):
        replay(settings, date(2024, 1, 1), date(2024, 6, 30), 7)


def test_bad_settings_exit_non_zero_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_AS_OF", "yesterday")
    assert main(["run"]) == 1
    assert (
        "crm-segments: CRM_SEGMENTS_AS_OF='yesterday' is not a date written YYYY-MM-DD"
        in capsys.readouterr().err
    )


def test_replay_runs_the_dagster_job_for_each_date(sample_replay: SampleReplay) -> None:
    first, last = SAMPLE_REPLAY_DATES
    assert f"Replayed 2 as-of dates from {first} to {last}." in sample_replay.output
    assert f"crm-segments as of {last}" in sample_replay.output
    warehouse = sample_replay.warehouse
    assert query(warehouse, "select as_of_date from audit.segment_history_runs order by 1") == [
        (first,),
        (last,),
    ]
    # The open history intervals are exactly the last date's membership.
    assert query(
        warehouse,
        """
        select count(*)
        from (select * from marts.segment_membership_history where is_current) as h
        full outer join marts.segment_membership as m
            on h.segment_key = m.segment_key and h.customer_id = m.customer_id
        where h.customer_id is null or m.customer_id is null
        """,
    ) == [(0,)]
    # Day by day: members on the last date = members on the first + entered - left.
    sizes = query(
        warehouse,
        """
        select
            segment_key,
            sum(case when as_of_date = ? then members end),
            sum(case when as_of_date = ? then members end),
            sum(case when as_of_date = ? then entered end),
            sum(case when as_of_date = ? then exited end)
        from marts.segment_daily_sizes group by segment_key
        """,
        [first, last, last, last],
    )
    assert len(sizes) == len(load_catalog_file(DEFAULT_CATALOG_PATH)) > 20
    assert all(before + entered - exited == after for _, before, after, entered, exited in sizes)
    closed_on_last = query(
        warehouse, "select count(*) from marts.segment_membership_history where valid_to = ?", [last]
    )[0][0]
    assert closed_on_last == sum(exited for *_, exited in sizes) > 0
