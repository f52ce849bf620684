"""`python -m bench.replay` (`make bench-replay`): times `make replay` over the bundled sample.

By default 52 weekly as-of dates ending on the sample's last day, into a new warehouse under the bench
folder, with an empty PyTensor compile cache (as on a new install), in a child process watched like
the other steps (wall time, peak memory). The result goes to
`<bench dir>/results/replay-sample.json`; `python -m bench` puts it in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.monitor import ANSI, cpu_check, run_monitored
from bench.runner import DEFAULT_BENCH_DIR
from orchestration.settings import DEFAULT_CLV_FIT_EVERY_DAYS, DEFAULT_RAW_DIR, PROJECT_DIR

SAMPLE_LAST_DAY = date(2026, 11, 20)
_DATE_DONE = re.compile(r"\[(\d+)/(\d+)\] as of (\d{4}-\d{2}-\d{2}) done, (.+?) so far")
_CLV_FIT = re.compile(r"OK created python table model intermediate\.int_clv_fit \.* \[OK in ([0-9.]+)s\]")
_FULL_LOG = re.compile(r"full log: (\S+?)\)")


def replay_results_path(bench_dir: Path) -> Path:
    return bench_dir / "results" / "replay-sample.json"


def _seconds(text: str) -> float:
    """'1 min 02 s' or '48.5 s' → seconds."""
    minutes = re.search(r"(\d+) min", text)
    rest = re.search(r"([0-9.]+) s", text)
    return (int(minutes.group(1)) * 60 if minutes else 0) + (float(rest.group(1)) if rest else 0.0)


def run_replay(bench_dir: Path, dates: int, step: int, clv_fit_every: int) -> dict[str, Any]:
    end = SAMPLE_LAST_DAY
    start = end - timedelta(days=step * (dates - 1))
    work = bench_dir / "work" / "replay-sample"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "CRM_SEGMENTS_RAW_DIR": str(DEFAULT_RAW_DIR),
        "CRM_SEGMENTS_DUCKDB": str(work / "crm.duckdb"),
        "DBT_TARGET_PATH": str(work / "target"),
        "DAGSTER_HOME": str(work / "dagster_home"),
        # An empty PyTensor compile cache, as on a new install: the CLV fits' compile time is counted.
        "PYTENSOR_FLAGS": ",".join(
            flag for flag in (os.environ.get("PYTENSOR_FLAGS"), f"compiledir={work / 'pytensor'}") if flag
        ),
    }
    env.pop("CRM_SEGMENTS_AS_OF", None)
    command = [sys.executable, "-m", "orchestration", "replay", "--from", str(start), "--to", str(end)]
    command += ["--step", str(step), "--clv-fit-every", str(clv_fit_every)]
    cpu = cpu_check()
    run = run_monitored(command, bench_dir / "logs" / "replay-sample.log", env=env, cwd=PROJECT_DIR)
    output = ANSI.sub("", run.log_path.read_text(errors="replace"))
    done = [(int(i), as_of, _seconds(so_far)) for i, _, as_of, so_far in _DATE_DONE.findall(output)]
    full_log = _FULL_LOG.search(output)
    replay_log = Path(full_log.group(1)).read_text(errors="replace") if full_log else ""
    fits = [float(seconds) for seconds in _CLV_FIT.findall(ANSI.sub("", replay_log))]
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_check_seconds": cpu,
        "load_before": run.load_before,
        "ok": run.ok,
        "command": " ".join(command[1:]),
        "dates": dates,
        "step_days": step,
        "clv_fit_every_days": clv_fit_every,
        "start": str(start),
        "end": str(end),
        "wall_seconds": run.seconds,
        "peak_rss_bytes": run.peak_rss_bytes,
        # (index, as-of date, seconds since the start) per date, from the progress lines.
        "dates_done": done,
        "clv_fit_seconds": fits,
        "error": None if run.ok else run.log_tail(25),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--dates", type=int, default=52, help="as-of dates (default 52)")
    parser.add_argument("--step", type=int, default=7, help="days between them (default 7)")
    parser.add_argument("--clv-fit-every", type=int, default=DEFAULT_CLV_FIT_EVERY_DAYS)
    parser.add_argument(
        "--bench-dir", type=Path, default=Path(os.environ.get("BENCH_DIR") or DEFAULT_BENCH_DIR)
    )
    args = parser.parse_args(argv)
    result = run_replay(args.bench_dir.resolve(), args.dates, args.step, args.clv_fit_every)
    path = replay_results_path(args.bench_dir.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    state = "ok" if result["ok"] else "FAILED"
    print(f"replay of {args.dates} dates: {state} in {result['wall_seconds']:.1f} s; saved {path}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
