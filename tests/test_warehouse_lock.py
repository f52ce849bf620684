"""A warehouse file another process holds (a BI tool, DBeaver, a second `make run`): one clear wait,
then one clear failure naming the holder's PID (warehouse_lock.py). The holder is a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.__main__ import main
from orchestration.duckdb_profile import connect_warehouse
from orchestration.runner import _describe_failure
from orchestration.settings import Settings, SettingsError
from orchestration.warehouse_lock import WarehouseLockedError, lock_holder, wait_for_warehouse
from tests.conftest import TINY_RAW_DIR

HOLDER = """
import os, sys, time
import duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(os.getpid(), flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""
# DuckDB names the holder by its executable, the venv's python resolved.
PROGRAM = os.path.realpath(sys.executable)
ADVICE = (
    "close that program's connection to it (a BI tool or DBeaver holding the file open) or wait for "
    "the other run to end, then run again (CRM_SEGMENTS_LOCK_WAIT_SECONDS sets how long a run waits)"
)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "crm.duckdb"
    with connect_warehouse(path) as con:
        con.execute("create table t as select 1 as x")
    return path


@contextmanager
def held(path: Path, seconds: float = 60, mode: str = "ro") -> Iterator[int]:
    """A second process holding `path` open (read-only, as a BI tool does) for `seconds`; its PID."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())  # printed once the file is open
    finally:
        process.kill()
        process.wait()


def sentence(path: Path, pid: int, still: str = "") -> str:
    return f"the warehouse {path} is locked by PID {pid} ({PROGRAM}){still}: {ADVICE}"


def waiting(path: Path, pid: int, seconds: str) -> str:
    return (
        f"crm-segments: the warehouse {path} is locked by PID {pid} ({PROGRAM}); "
        f"waiting up to {seconds} s for it to be released…"
    )


@pytest.mark.parametrize("mode", ["ro", "rw"], ids=["read-only holder", "writing holder"])
def test_a_connection_to_a_held_warehouse_fails_with_one_sentence_naming_the_pid(
    warehouse: Path, mode: str
) -> None:
    with held(warehouse, mode=mode) as pid, pytest.raises(WarehouseLockedError) as raised:
        connect_warehouse(warehouse)
    assert str(raised.value) == sentence(warehouse, pid)
    assert raised.value.holder.pid == pid
    # Still a duckdb.Error for the code that catches those (the gates' summary, the segment check).
    assert isinstance(raised.value, duckdb.Error)


def test_duckdbs_lock_error_is_found_in_dbts_output() -> None:
    # dbt's error event when it cannot open the warehouse (dbt-duckdb, duckdb 2.0), as dagster-dbt quotes it.
    dbt_error = (
        "Errors parsed from dbt logs:\n\nEncountered an error:\nIO Error: Could not set lock on file "
        '"/srv/crm/crm_segments.duckdb": Conflicting lock is held in /usr/share/dbeaver/jre/bin/java '
        "(PID 4242). However, you would be able to open this database in read-only mode, e.g. by using "
        "the -readonly parameter in the CLI. See also https://duckdb.org/docs/current/connect/concurrency"
    )
    holder = lock_holder(dbt_error)
    assert holder is not None
    assert (holder.path, holder.pid, holder.program) == (
        Path("/srv/crm/crm_segments.duckdb"),
        4242,
        "/usr/share/dbeaver/jre/bin/java",
    )
    assert lock_holder("IO Error: No such file or directory") is None


def test_with_no_wait_the_check_fails_at_once_and_says_nothing_else(warehouse: Path) -> None:
    lines: list[str] = []
    with held(warehouse) as pid:
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as raised:
            wait_for_warehouse(warehouse, 0, lines.append)
        elapsed = time.monotonic() - started
    assert str(raised.value) == sentence(warehouse, pid)
    assert lines == []
    assert elapsed < 2


def test_the_check_waits_once_for_a_holder_that_lets_go_then_goes_on(warehouse: Path) -> None:
    lines: list[str] = []
    with held(warehouse, seconds=1) as pid:
        started = time.monotonic()
        wait_for_warehouse(warehouse, 3, lines.append, poll_seconds=0.2)
        elapsed = time.monotonic() - started
    assert len(lines) == 2
    assert lines[0] == waiting(warehouse, pid, "3")
    assert lines[1].startswith("crm-segments: the warehouse is free after ")
    assert lines[1].endswith(" s; going on")
    assert 0.5 < elapsed < 3
    with connect_warehouse(warehouse) as con:  # and it is ours now
        con.execute("insert into t values (2)")


def test_the_wait_is_bounded_and_ends_with_one_sentence(warehouse: Path) -> None:
    lines: list[str] = []
    with held(warehouse) as pid:
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as raised:
            wait_for_warehouse(warehouse, 2, lines.append, poll_seconds=0.2)
        elapsed = time.monotonic() - started
    assert str(raised.value) == sentence(warehouse, pid, " and still was after 2 s")
    assert lines == [waiting(warehouse, pid, "2")]  # said once, not once per try
    assert 2 <= elapsed < 4  # loosely: the configured wait, not a speed test


def test_make_run_on_a_held_warehouse_exits_1_with_the_sentence_and_no_traceback(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.setenv("CRM_SEGMENTS_LOCK_WAIT_SECONDS", "0")
    monkeypatch.delenv("CRM_SEGMENTS_VERBOSE", raising=False)
    with held(warehouse) as pid:
        assert main(["run"]) == 1
    out, err = capsys.readouterr()
    assert err == f"crm-segments: {sentence(warehouse, pid)}\n"
    assert out.startswith("Running the nightly job as of ")
    assert len(out.splitlines()) == 1
    assert "Traceback" not in out + err


def test_make_replay_waits_before_it_reads_or_drops_the_history(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(TINY_RAW_DIR))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.setenv("CRM_SEGMENTS_LOCK_WAIT_SECONDS", "1")
    with held(warehouse) as pid:
        args = ["replay", "--from", "2024-01-01", "--to", "2024-01-02", "--rebuild-history"]
        assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == waiting(warehouse, pid, "1") + "\n"
    assert err == f"crm-segments: {sentence(warehouse, pid, ' and still was after 1 s')}\n"
    with connect_warehouse(warehouse) as con:  # nothing dropped
        assert con.execute("select x from t").fetchall() == [(1,)]


def test_the_lock_wait_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env({}).lock_wait_seconds == 60
    assert Settings.from_env({"CRM_SEGMENTS_LOCK_WAIT_SECONDS": "0"}).lock_wait_seconds == 0
    assert Settings.from_env({"CRM_SEGMENTS_LOCK_WAIT_SECONDS": "2.5"}).lock_wait_seconds == 2.5
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(SettingsError, match=r"CRM_SEGMENTS_LOCK_WAIT_SECONDS='.*' should be a number"):
            Settings.from_env({"CRM_SEGMENTS_LOCK_WAIT_SECONDS": bad})


def test_a_lock_taken_during_the_run_fails_its_step_with_the_same_sentence(warehouse: Path) -> None:
    @dg.asset
    def landing() -> None:
        connect_warehouse(warehouse).close()

    job = dg.Definitions(assets=[landing], jobs=[dg.define_asset_job("locked")]).resolve_job_def("locked")
    with held(warehouse) as pid:
        result = job.execute_in_process(raise_on_error=False)
    assert not result.success
    assert _describe_failure(result) == f"the nightly job failed:\n  step landing: {sentence(warehouse, pid)}"
