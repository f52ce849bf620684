"""`python -m orchestration run|replay`: the commands behind `make run` and `make replay`."""

from __future__ import annotations

import logging
import re
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from orchestration.__main__ import build_parser, main
from orchestration.progress import RunOutput
from orchestration.runner import _instance, replay, replay_dates
from orchestration.segments.catalog import load_catalog_file
from orchestration.settings import DEFAULT_CATALOG_PATH, Settings, SettingsError
from tests.conftest import SAMPLE_REPLAY_DATES, TINY_AS_OF, TINY_RAW_DIR, SampleReplay, copy_warehouse, query

DURATION = r"(\d+\.\d s|\d+ min \d\d s)"  # 4.2 s, 3 min 05 s


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
    copy_warehouse(tiny_warehouse, warehouse)
    settings = Settings(TINY_RAW_DIR, date(2024, 6, 30), warehouse)
    with pytest.raises(
        SettingsError, match=r"the history already runs to 2024-06-30; replay from 2024-06-30 or later"
    ):
        replay(settings, date(2024, 1, 1), date(2024, 6, 30), 7)


def test_make_replay_before_the_recorded_history_says_how_to_start_again_and_nothing_else(
    tiny_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "copy.duckdb"
    copy_warehouse(tiny_warehouse, warehouse)
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    assert main(["replay", "--from", "2024-01-01", "--to", "2024-06-30", "--step", "7"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "crm-segments: the history already runs to 2024-06-30; replay from 2024-06-30 or later, or start it "
        "again with --rebuild-history, `make replay … REBUILD=1` (drops the membership, status, record, "
        "KPI and entry-group history and the RFM cut points)\n"
    )
    assert not (tmp_path / "copy_logs").exists()


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


def test_replay_prints_a_line_per_date_the_syncs_and_where_the_full_log_is(
    sample_replay: SampleReplay,
) -> None:
    first, last = SAMPLE_REPLAY_DATES
    lines = sample_replay.output.splitlines()
    log_dir = sample_replay.warehouse.parent / "crm_logs"
    (log,) = log_dir.glob("replay-*.log")
    assert lines[0] == (
        f"Replaying 2 as-of dates from {first} to {last}: the history for each, then the nightly job for "
        f"the last (full log: {log})"
    )
    assert re.fullmatch(rf"  \[1/2\] as of {first} done, {DURATION} so far", lines[1])
    assert re.fullmatch(rf"  \[2/2\] as of {last} done, {DURATION} so far", lines[2])
    # The summary keeps the Syncs section `run` prints, with both shipped file syncs.
    syncs = lines.index("Syncs (latest run; marts.sync_runs)")
    assert [line.split()[0] for line in lines[syncs + 1 : syncs + 3]] == [
        "rfm_vip_file",
        "weekly_winback_file",
    ]
    # No Dagster event and no dbt line on the terminal: they are in the log, each once.
    assert not [line for line in lines if " - dagster - " in line or "Running with dbt=" in line]
    assert len(lines) < 120
    text = log.read_text(encoding="utf-8")
    # The first date is filled in this process (a parse, a build), the last is the nightly job.
    assert text.count('Started execution of step "segment_catalog"') == 1
    assert text.count("Running with dbt=") == 3
    assert "INFO:dagster.builtin:" not in text


def test_run_and_replay_take_verbose_before_or_after_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    parse = build_parser().parse_args
    assert parse(["run"]).verbose is False
    assert parse(["run", "-v"]).verbose is True
    assert parse(["-v", "run"]).verbose is True
    assert parse(["replay", "--from", "2024-01-01", "--to", "2024-01-02", "--verbose"]).verbose is True


def test_a_dagster_home_that_does_not_exist_yet_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh" / ".dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with _instance() as instance:
        assert not instance.is_ephemeral
        assert Path(instance.root_directory) == home
    assert home.is_dir()


def _tiny_job() -> dg.JobDefinition:
    @dg.asset
    def numbers(context) -> int:  # no annotation: Dagster reads it, and this module postpones them
        context.log.info("counted the numbers")
        dg.get_dagster_logger().info("a message of dagster's python logger")
        print("what dbt prints")  # dagster-dbt writes dbt's own output to stdout
        return 3

    return dg.Definitions(assets=[numbers], jobs=[dg.define_asset_job("tiny")]).resolve_job_def("tiny")


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_a_run_prints_a_line_per_step_and_logs_the_rest_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    warehouse = tmp_path / "shop.duckdb"
    with RunOutput(warehouse, "run", verbose=verbose) as output:
        loggers = output.logger_defs()
        job = _tiny_job().with_logger_defs(loggers)
        logging.getLogger("some.library").info("a library's chatter")
        logging.getLogger("some.library").warning("a library's warning")
        logging.getLogger("orchestration.landing").info("orders: landed, 40 rows")
        result = job.execute_in_process(run_config={"loggers": {name: {} for name in loggers}})
    assert result.success
    out, err = capsys.readouterr()
    assert re.search(rf"^ +{DURATION}  numbers: 1 asset$", out, re.MULTILINE), out
    logs = list((tmp_path / "shop_logs").glob("run-*.log"))
    if verbose:
        # The full stream on the terminal, each line once; no log file.
        assert logs == []
        assert "what dbt prints" in out
        assert err.count("a message of dagster's python logger") == 1
        assert err.count("counted the numbers") == 1
        assert 'STEP_SUCCESS - Finished execution of step "numbers"' in err
        assert err.count("a library's warning") == err.count("orders: landed, 40 rows") == 1
        assert "a library's chatter" not in err
    else:
        assert err == ""
        assert out.count("\n") == 1  # the progress line, nothing else
        (log,) = logs
        text = log.read_text(encoding="utf-8")
        assert output.where() == f"full log: {log}"
        assert text.count("a message of dagster's python logger") == 1
        assert text.count("counted the numbers") == 1
        assert text.count("what dbt prints") == 1
        assert "DEBUG - tiny - " in text and 'STEP_SUCCESS - Finished execution of step "numbers"' in text
        assert text.count("a library's warning") == text.count("orders: landed, 40 rows") == 1
        assert "a library's chatter" not in text


@pytest.mark.slow
def test_a_catalogue_typo_fails_the_job_once_fast_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistake in the catalogue is not retried (it was: twice, after 10 s and 30 s)."""
    catalog = tmp_path / "segments" / "catalog.yml"
    shutil.copytree(DEFAULT_CATALOG_PATH.parent, catalog.parent)
    rule = "last_order_at: {within last days: 30}"
    assert rule in catalog.read_text(encoding="utf-8")
    catalog.write_text(catalog.read_text(encoding="utf-8").replace(rule, rule.replace("order", "ordr")))
    warehouse = tmp_path / "crm.duckdb"
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.setenv("CRM_SEGMENTS_AS_OF", TINY_AS_OF.isoformat())
    monkeypatch.setenv("CRM_SEGMENTS_CATALOG", str(catalog))
    monkeypatch.delenv("CRM_SEGMENTS_VERBOSE", raising=False)

    assert main(["run"]) == 1

    out, err = capsys.readouterr()
    (log,) = (tmp_path / "crm_logs").glob("run-*.log")
    problem = (
        f"step segment_catalog: {catalog}: segment 'bought_last_30_days': rule.last_ordr_at: unknown field "
        "'last_ordr_at'; did you mean 'last_order_at'"
    )
    assert err.count(problem) == 1
    assert err.startswith("crm-segments: the nightly job failed:\n")
    assert err.rstrip().endswith(f"(full log: {log})")
    assert "Traceback" not in out + err and "Stack Trace" not in out + err
    lines = out.splitlines()
    assert lines[0] == f"Running the nightly job as of {TINY_AS_OF} (full log: {log})"
    assert re.fullmatch(rf" +{DURATION}  landed the raw files: 7 tables, 56 rows", lines[1])
    # The catalogue compiles before dbt: it fails before anything is built, and dbt never starts.
    assert re.fullmatch(rf" +{DURATION}  segment_catalog FAILED \(why: below\)", lines[2])
    assert [line.split("checked ")[1] for line in lines[3:]] == [
        "raw/campaigns:gx_raw_campaigns: passed",
        "raw/customers:gx_raw_customers: passed",
        "raw/email_events:gx_raw_email_events: passed",
        "raw/order_items:gx_raw_order_items: passed",
        "raw/orders:gx_raw_orders: warned",
    ]
    assert not [line for line in lines if "dbt build" in line]
    assert not [line for line in lines if "retries" in line]
    # The step ran once: no retry, no wait.
    text = log.read_text(encoding="utf-8")
    assert text.count('Started execution of step "segment_catalog"') == 1
    assert "STEP_UP_FOR_RETRY" not in text and "STEP_RESTARTED" not in text
    assert "Running with dbt=" not in text
