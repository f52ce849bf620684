"""Runs a command as a child process and measures it: wall time, peak memory of the process tree, load.

Peak memory is the largest sum of the resident set sizes (RSS) of the child and all its descendants,
polled from /proc every `poll_seconds` (psutil is not a dependency of the project). The nightly job
runs dbt as a subprocess of the worker, which the poll counts with it. The worker also reports its
own kernel-tracked peak (ru_maxrss) at the end; the report uses the larger of the two.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ProcessRun:
    command: list[str]
    returncode: int | None  # None: killed after the timeout
    seconds: float
    peak_rss_bytes: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    log_path: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(ANSI.sub("", text).rstrip().splitlines()[-lines:])


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


# The same work on every run: how fast one core of this host is right now. Shared and virtual hosts
# vary by tens of percent from hour to hour, which the load average does not show (steal time).
CPU_CHECK_SQL = "select sum(hash(range % 1000003)) from range(150000000)"


def cpu_check(repeat: int = 3) -> float:
    """Best of `repeat` runs of a fixed single-threaded DuckDB query, in seconds."""
    import duckdb

    with duckdb.connect(config={"threads": 1}) as con:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            con.execute(CPU_CHECK_SQL).fetchall()
            runs.append(time.perf_counter() - started)
    return min(runs)


def _parents() -> dict[int, int]:
    """pid → parent pid of every process visible in /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                # The command name is in parentheses and may contain spaces: split after the last ')'.
                fields = stat.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """RSS of `root` and all its descendants."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(children.get(pid, []))
    return total


def run_monitored(
    command: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    poll_seconds: float = 0.2,
) -> ProcessRun:
    """Runs `command` with stdout and stderr to `log_path`; kills its process group after `timeout`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    peak = 0
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        done = threading.Event()

        def poll() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss_bytes(process.pid))
                done.wait(poll_seconds)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
        finally:
            done.set()
            poller.join()
    seconds = time.perf_counter() - started
    return ProcessRun(command, returncode, seconds, peak, load_before, load_average(), log_path)
