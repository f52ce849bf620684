"""`make dev`: the Dagster UI starts on a fresh DAGSTER_HOME and Ctrl-C / SIGTERM stop every process.

`dagster dev` runs a webserver, a daemon, a code server and its gRPC server (six processes with
multiprocessing's resource tracker). Each test starts `make dev` in a session of its own, as a
terminal would, waits for HTTP 200 from the UI, signals the whole process group and checks that no
process of it is left. About 30–40 s each on two shared cores: the code location parses the dbt
project before the UI answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestration.dev import PROJECT_DIR

# Whole pipeline runs, Dagster jobs or `make` processes: `make test-fast` skips them.
pytestmark = pytest.mark.slow

STARTUP_TIMEOUT = 240  # s; the UI answers after ~35 s on two busy cores
SHUTDOWN_BOUND = 20  # s; measured 3.6–5.7 s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(session: int) -> list[str]:
    """`pid stat command` of every process of the session that is not a zombie."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True, check=True
    ).stdout
    alive = []
    for line in listing.splitlines():
        pid, sid, stat, *command = line.split(maxsplit=3)
        if int(sid) == session and not stat.startswith("Z"):
            alive.append(f"{pid} {' '.join(command)[:120]}")
    return alive


def _wait_for_ui(port: int, make: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert make.poll() is None, f"make dev exited with {make.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(
        f"the UI did not answer on port {port} within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}"
    )


@pytest.mark.parametrize(
    ("stop_with", "started_in_background"),
    [
        # Ctrl-C in the terminal that runs `make dev`.
        (signal.SIGINT, False),
        # `make dev &` from a script: the shell starts it with SIGINT ignored, which Dagster also applied
        # to SIGTERM; before the launcher reset both, six processes outlived SIGINT and SIGTERM.
        (signal.SIGTERM, True),
    ],
    ids=["ctrl-c", "sigterm-after-background-start"],
)
def test_make_dev_serves_the_ui_on_a_fresh_home_and_stops_every_process(
    tmp_path: Path, stop_with: signal.Signals, started_in_background: bool
) -> None:
    home = tmp_path / "fresh" / "dagster_home"  # does not exist yet: make dev creates it
    port = _free_port()
    log = tmp_path / "make_dev.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CRM_SEGMENTS_DUCKDB": str(tmp_path / "crm.duckdb"),
    }
    with log.open("wb") as output:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "dev", f"PORT={port}"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if started_in_background
            else None,
        )
    try:
        _wait_for_ui(port, make, log)
        assert home.is_dir()
        assert len(_alive(make.pid)) >= 5  # make, dagster dev, webserver, daemon, code server(s)

        os.killpg(make.pid, stop_with)
        stopped_at = time.monotonic()
        while _alive(make.pid) and time.monotonic() - stopped_at < SHUTDOWN_BOUND:
            make.poll()
            time.sleep(0.2)
        left = _alive(make.pid)
        assert not left, f"still running {SHUTDOWN_BOUND} s after {stop_with.name}:\n" + "\n".join(left)
        assert make.wait(timeout=5) is not None
        assert f"Dagster UI on http://127.0.0.1:{port} (instance {home})" in log.read_text()
    finally:
        if _alive(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)


def test_make_run_and_make_dev_share_one_dagster_home_and_the_tests_none(tmp_path: Path) -> None:
    """`make run`, `make replay` and `make dev` default to the project's .dagster_home; an exported
    DAGSTER_HOME wins; `make pytest` leaves it unset (ephemeral instances)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    python = fake_bin / "python"
    python.write_text('#!/bin/sh\necho "DAGSTER_HOME=$DAGSTER_HOME"\n')
    python.chmod(0o755)

    def home_seen_by(target: str, **env: str) -> str:
        base = {name: value for name, value in os.environ.items() if name != "DAGSTER_HOME"}
        done = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-s",
                target,
                f"BIN={fake_bin}",
                "FROM=2024-01-01",
                "TO=2024-01-02",
            ],
            cwd=PROJECT_DIR,
            env={**base, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    default = f"DAGSTER_HOME={PROJECT_DIR / '.dagster_home'}"
    assert [home_seen_by(target) for target in ("run", "replay", "dev")] == [default] * 3
    assert home_seen_by("run", DAGSTER_HOME="/tmp/elsewhere") == "DAGSTER_HOME=/tmp/elsewhere"
    assert home_seen_by("dev", DAGSTER_HOME="/tmp/elsewhere") == "DAGSTER_HOME=/tmp/elsewhere"
    assert home_seen_by("pytest") == "DAGSTER_HOME="
