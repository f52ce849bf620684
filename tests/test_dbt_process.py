"""A dbt process whose events can't be read any more is stopped, so it can't keep the warehouse locked."""

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from orchestration.assets.dbt import _stream_or_stop, stop_process


def start(code: str) -> subprocess.Popen[str]:
    """A Python process that prints `ready` once it runs `code`'s setup, then sleeps a minute."""
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('ready', flush=True)\nimport time; time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


class BrokenInvocation:
    """The two members of dagster-dbt's invocation that _stream_or_stop uses: one event, then an error."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def stream(self) -> Iterator[str]:
        yield "model.crm_segments.stg_crm__customers"
        raise KeyError("unique_id")


def test_an_error_while_streaming_stops_dbt_and_goes_on() -> None:
    # Python's own Ctrl-C handler, whatever the test process lets its children inherit.
    process = start("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)")
    events = []
    with pytest.raises(KeyError, match="unique_id"):
        for event in _stream_or_stop(BrokenInvocation(process)):
            events.append(event)
    assert events == ["model.crm_segments.stg_crm__customers"]
    # Interrupted as Ctrl-C would (an uncaught KeyboardInterrupt ends Python by SIGINT).
    assert process.returncode == -signal.SIGINT


def test_a_process_that_ignores_the_interrupt_is_killed() -> None:
    process = start("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)")
    stop_process(process, timeout_seconds=1)
    assert process.returncode == -signal.SIGKILL


def test_a_finished_process_is_left_alone() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    stop_process(process)
    assert process.returncode == 3
