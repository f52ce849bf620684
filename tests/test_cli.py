"""`python -m orchestration run|replay`: the commands behind `make run` and `make replay`."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from orchestration.__main__ import main
from orchestration.runner import replay, replay_dates
from orchestration.settings import Settings, SettingsError
from tests.conftest import TINY_RAW_DIR, query


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


def test_replay_runs_the_dagster_job_for_each_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "replay.duckdb"
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    assert main(["replay", "--from", "2024-03-15", "--to", "2024-04-05", "--step", "21"]) == 0
    output = capsys.readouterr().out
    assert "Replayed 2 as-of dates from 2024-03-15 to 2024-04-05." in output
    assert "crm-segments as of 2024-04-05" in output
    assert query(warehouse, "select as_of_date from audit.segment_history_runs order by 1") == [
        (date(2024, 3, 15),),
        (date(2024, 4, 5),),
    ]
    assert query(
        warehouse,
        "select valid_from, valid_to from marts.segment_membership_history "
        "where segment_key = 'bought_last_30_days' and customer_id = 'c1'",
    ) == [(date(2024, 3, 15), date(2024, 4, 5))]
