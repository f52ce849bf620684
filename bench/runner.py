"""Runs the benchmark for one scale: data, full build, nightly, RFM side by side, sync diff.

Each step runs in its own child process (bench.worker) watched by bench.monitor, one at a time:
scales and steps never run in parallel, so they don't compete with each other for the 2 cores.
A failed or timed-out step is recorded (wall time, peak memory, the end of its log) and the steps
that need its output are skipped; the report says what happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.data import GenerationError, ensure_data, scale_label
from bench.monitor import ANSI, cpu_check, load_average, run_monitored
from bench.split import add_drops, remove_drops, split_last_day
from orchestration.duckdb_profile import profile_settings
from orchestration.settings import PROJECT_DIR

DEFAULT_BENCH_DIR = Path("/tmp/crm-bench")
BUILD_STEPS = ("full_build", "nightly")
PARTIAL_PARSE_OFF = "Unable to do partial parsing"
DBT_STARTS = "Running with dbt="
_NODE_LINE = re.compile(
    r"\b(\d+) of (\d+) (START|OK|PASS|ERROR|FAIL|WARN|SKIP|NO-OP)\b([^\n]*?)(?:\s\.{2,}|\[|$)", re.M
)


@dataclass(frozen=True)
class Options:
    bench_dir: Path
    seed: int = 42
    output_format: str = "csv"
    repeat: int = 2
    timeout: float | None = None
    # The full build and the nightly run (default: `timeout`).
    build_timeout: float | None = None


def results_path(options: Options, customers: int) -> Path:
    return options.bench_dir / "results" / f"{scale_label(customers)}-seed{options.seed}.json"


def _say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def dbt_progress(log_text: str) -> str | None:
    """Where dbt was in its last invocation: nodes done of the total, and the nodes still running."""
    invocations = log_text.split(DBT_STARTS)
    if len(invocations) < 2:
        return None
    started: dict[int, str] = {}
    finished: set[int] = set()
    total = None
    for match in _NODE_LINE.finditer(invocations[-1]):
        index, total, state = int(match.group(1)), int(match.group(2)), match.group(3)
        if state == "START":
            started[index] = match.group(4).strip()
        else:
            finished.add(index)
    where = f"dbt invocation {len(invocations) - 1} of this step"
    if total is None:
        return f"{where}: starting up (parsing or compiling), no node had run yet"
    running = [started[index] for index in sorted(started) if index not in finished]
    return f"{where}: {len(finished)} of {total} nodes done; running: {'; '.join(running) or 'none'}"


def project_fingerprint() -> str:
    """A hash of the project's dbt files and pipeline code: others may edit them during a long run."""
    digest = hashlib.sha256()
    files = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    files += [path for root in ("dbt_project", "seeds") for path in (PROJECT_DIR / root).rglob("*")]
    files += list((PROJECT_DIR / "orchestration").rglob("*.py"))
    for path in sorted(path for path in files if path.is_file()):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _phase(
    name: str, task_args: list[str], work: Path, log_dir: Path, env: dict[str, str], options: Options
) -> dict[str, Any]:
    out = work / f"{name}.json"
    out.unlink(missing_ok=True)
    fingerprint = project_fingerprint()
    command = [sys.executable, "-m", "bench.worker", *task_args, "--out", str(out)]
    timeout = options.build_timeout if name in BUILD_STEPS and options.build_timeout else options.timeout
    run = run_monitored(command, log_dir / f"{name}.log", env=env, cwd=PROJECT_DIR, timeout=timeout)
    worker = json.loads(out.read_text()) if out.is_file() else None
    peak = max(run.peak_rss_bytes, (worker or {}).get("max_rss_bytes", 0))
    log_text = run.log_path.read_text(errors="replace") if run.log_path.is_file() else ""
    log_text = ANSI.sub("", log_text)
    phase = {
        "ok": run.ok,
        "returncode": run.returncode,
        "timed_out": run.timed_out,
        "wall_seconds": run.seconds,
        "peak_rss_bytes": peak,
        "load_before": run.load_before,
        "load_after": run.load_after,
        "log": str(run.log_path),
        "full_reparses": log_text.count(PARTIAL_PARSE_OFF),
        "project_fingerprint": fingerprint,
        "worker": worker,
    }
    if not run.ok:
        phase["error"] = run.log_tail(25)
        phase["progress"] = dbt_progress(log_text)
    state = "ok" if run.ok else ("timed out" if run.timed_out else f"failed ({run.returncode})")
    _say(f"  {name}: {state} in {run.seconds:.1f} s, peak {peak / 1e9:.2f} GB")
    return phase


def run_scale(customers: int, options: Options) -> dict[str, Any]:
    label = scale_label(customers)
    result: dict[str, Any] = {
        "customers": customers,
        "label": label,
        "seed": options.seed,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_at_start": load_average(),
        "cpu_check_at_start": cpu_check(),
        "profile": profile_settings().describe(),
        "options": {
            "format": options.output_format,
            "repeat": options.repeat,
            "timeout": options.timeout,
            "build_timeout": options.build_timeout,
        },
        "phases": {},
        "skipped": {},
    }
    _say(
        f"scale {label} ({customers} customers), seed {options.seed}; "
        f"CPU check {result['cpu_check_at_start']:.2f} s"
    )
    try:
        data = ensure_data(
            options.bench_dir,
            customers,
            options.seed,
            options.output_format,
            project_dir=PROJECT_DIR,
            timeout=options.timeout,
        )
    except GenerationError as error:
        result["data_error"] = str(error)
        _say(f"  generation failed: {error}")
        return _finish(result, options)
    result["data"] = data.to_json()
    _say(
        f"  data {'cached' if data.cached else 'generated'} in {data.path}: "
        + ", ".join(f"{name} {rows}" for name, rows in data.rows.items())
    )

    work = options.bench_dir / "work" / f"{label}-seed{options.seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log_dir = options.bench_dir / "logs" / f"{label}-seed{options.seed}"
    shutil.rmtree(log_dir, ignore_errors=True)
    warehouse = work / "crm.duckdb"
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "dbt-logs"),
        # The worker reads each invocation's run_results.json and manifest.json.
        "DBT_WRITE_JSON": "true",
        "PYTHONPATH": str(PROJECT_DIR),
    }
    # The generator's data runs to its end date: the full build lands everything before it and is as
    # of the day before; the nightly run gets the end date's orders, lines and events as drops
    # (bench/split.py) and is as of the end date.
    full_as_of, nightly_as_of = data.end - timedelta(days=1), data.end
    result["full_as_of"], result["nightly_as_of"] = full_as_of.isoformat(), nightly_as_of.isoformat()
    split_started = time.perf_counter()
    split = split_last_day(data.path, data.path.with_name(data.path.name + "-split"), data.end)
    remove_drops(split)
    result["split"] = {
        "seconds": time.perf_counter() - split_started,
        "rows": {table: list(rows) for table, rows in split.rows.items()},
    }
    _say(f"  history and the {data.end} drops: " + ", ".join(f"{t} {r}" for t, r in split.rows.items()))
    raw = ["--raw", str(split.history), "--duckdb", str(warehouse)]
    repeat = ["--repeat", str(options.repeat)]
    phases = result["phases"]

    def step(name: str, task_args: list[str], needs: str | None = None) -> bool:
        if needs and not phases.get(needs, {}).get("ok"):
            result["skipped"][name] = f"{needs} did not succeed"
            _say(f"  {name}: skipped ({needs} did not succeed)")
            return False
        phases[name] = _phase(name, task_args, work, log_dir, env, options)
        return phases[name]["ok"]

    step("full_build", ["build", *raw, "--as-of", full_as_of.isoformat()])
    add_drops(split)
    rfm_source = "nightly"
    if not step("nightly", ["build", *raw, "--as-of", nightly_as_of.isoformat()], "full_build"):
        # The RFM comparison only needs marts.customer_rfm: build just that, so it still runs.
        rfm_source = "rfm_build"
        step("rfm_build", ["rfm-build", *raw, "--as-of", nightly_as_of.isoformat()])
    step("rfm", ["rfm", *raw, "--as-of", nightly_as_of.isoformat(), *repeat], rfm_source)
    step("syncdiff", ["syncdiff", "--duckdb", str(warehouse), "--repeat", "3"], "nightly")
    step("report", ["report", "--duckdb", str(warehouse), "--repeat", "3"], "nightly")
    return _finish(result, options)


def _finish(result: dict[str, Any], options: Options) -> dict[str, Any]:
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["load_at_end"] = load_average()
    result["cpu_check_at_end"] = cpu_check()
    path = results_path(options, result["customers"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    return result


def succeeded(result: dict[str, Any]) -> bool:
    """Every step ran and passed (the RFM agreement included)."""
    phases = result.get("phases", {})
    required = ("full_build", "nightly", "rfm", "syncdiff", "report")
    return "data_error" not in result and all(phases.get(name, {}).get("ok") for name in required)
