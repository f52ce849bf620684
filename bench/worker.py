"""One measured step of the benchmark, run in its own process by bench.runner (`python -m bench.worker`).

Tasks (each writes a JSON result to --out):
- `build`: the nightly Dagster job for one as-of date, as `make run` runs it (orchestration.runner:
  landing, GX suites, the segment catalogue, one dbt build, syncs, the published copy for BI tools,
  the report), each step's time from the run's events and the dbt build's run_results.json
  (DBT_TARGET_PATH is kept between runs, so partial parsing behaves as in a real install).
- `rfm`: the project's RFM model rebuilt on its own (`dbt run --select customer_rfm`, `repeat`
  times), then the pandas way and the hand-written query, and the agreement check (bench.rfm).
- `rfm-build`: when the full pipeline did not finish, only what `marts.customer_rfm` needs, into a new
  warehouse, so the RFM comparison still runs at that scale.
- `syncdiff`: the sync diff for a 1% membership change (bench.syncdiff).
- `report`: the segment report (orchestration/report) on the nightly warehouse, `repeat` times, and
  the page's size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
DISAGREEMENT_EXIT = 3


def _rusage() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_seconds": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        # Linux reports ru_maxrss in KiB: the largest of this process and of any single child.
        "max_rss_bytes": max(own.ru_maxrss, children.ru_maxrss) * 1024,
    }


class _MemoryTrace:
    """The RSS of this process and its children (the dbt subprocess), sampled with the wall-clock time
    in a thread, so each step of the job gets its own peak afterwards."""

    def __init__(self, interval: float = 0.2) -> None:
        self.samples: list[tuple[float, int]] = []
        self._interval = interval
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        from bench.monitor import tree_rss_bytes

        while True:
            self.samples.append((time.time(), tree_rss_bytes(os.getpid())))
            time.sleep(self._interval)

    def peak(self, windows: list[tuple[float, float]]) -> int:
        return max(
            (rss for at, rss in list(self.samples) for start, end in windows if start <= at <= end),
            default=0,
        )


def _target_path() -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH", "target"))


# The job's steps, by Dagster step key, under the names bench/report.py shows.
STEP_NAMES = {
    "raw_files": "land",
    "segment_catalog": "compile_segments",
    "crm_dbt_assets": "dbt build",
    "segment_syncs": "syncs",
    "published__warehouse_copy": "publish",
    "report__segment_report": "report",
}


def _step_name(step_key: str) -> str:
    if "_gx_" in step_key:
        return "GX raw suites" if step_key.startswith("raw__") else "GX mart suites"
    return STEP_NAMES.get(step_key, step_key)


def step_windows(records: list[Any]) -> dict[str, list[tuple[float, float]]]:
    """(start, end) wall-clock times of each step of a run's event log, by its bench name; a retried
    step runs from its first start to its last end."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for record in records:
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            started.setdefault(event.step_key, record.timestamp)
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ended[event.step_key] = record.timestamp
    windows: dict[str, list[tuple[float, float]]] = {}
    for key, start in started.items():
        if key in ended:
            windows.setdefault(_step_name(key), []).append((start, ended[key]))
    return windows


def task_build(args: argparse.Namespace) -> dict[str, Any]:
    """The nightly Dagster job as `make run` runs it (landing, GX suites, one dbt build, syncs, the
    published copy, the report), each step's time and peak memory read from the run's events."""
    started = time.perf_counter()
    import dagster as dg

    from bench.dbt_artifacts import read_invocation, upstream
    from orchestration.progress import RunOutput
    from orchestration.runner import run_nightly
    from orchestration.settings import Settings

    imports = time.perf_counter() - started
    target = _target_path()
    (target / "run_results.json").unlink(missing_ok=True)
    memory = _MemoryTrace()
    settings = Settings(raw_dir=args.raw, as_of=args.as_of, duckdb_path=args.duckdb)
    instance = dg.DagsterInstance.ephemeral()
    run_started = time.perf_counter()
    # Verbose: Dagster's events and dbt's output go to this process's log, which bench.runner reads.
    with RunOutput(settings.duckdb_path, "run", verbose=True) as output:
        summary = run_nightly(settings, output.logger_defs(), say=output.say, instance=instance)
    run_seconds = time.perf_counter() - run_started
    (run,) = instance.get_runs(limit=1)
    windows = step_windows(instance.all_logs(run.run_id))
    steps: list[dict[str, Any]] = []
    for name, spans in windows.items():
        step: dict[str, Any] = {
            "name": name,
            "seconds": sum(end - start for start, end in spans),
            "peak_rss_bytes": memory.peak(spans),
        }
        if len(spans) > 1:
            step["count"] = len(spans)
        if name == "dbt build":
            step["dbt"] = read_invocation(target, name, step["seconds"])
        steps.append(step)
    steps.sort(key=lambda step: min(start for start, _ in windows[step["name"]]))
    publication = summary.published
    published = None
    if publication is not None:
        published = {
            "seconds": next(step["seconds"] for step in steps if step["name"] == "publish"),
            "bytes": publication.path.stat().st_size,
            "tables": len(publication.tables),
            "rows": sum(rows for _, _, rows in publication.tables),
        }
    return {
        "task": "build",
        "as_of": args.as_of.isoformat(),
        "imports_seconds": imports,
        "run_seconds": run_seconds,
        "steps": steps,
        "rfm_upstream": upstream(target),
        "warehouse_bytes": args.duckdb.stat().st_size,
        "published": published,
    }


def task_rfm(args: argparse.Namespace) -> dict[str, Any]:
    from bench import rfm
    from bench.dbt_artifacts import RFM_CHAIN, RFM_CHAIN_NAMES, read_invocation
    from orchestration.dbt_runner import run_dbt
    from orchestration.duckdb_profile import profile_settings
    from orchestration.settings import Settings

    target = _target_path()
    settings = Settings(raw_dir=args.raw, as_of=args.as_of, duckdb_path=args.duckdb)
    isolated = []
    # From the staged orders to the scores, as (b) and (c) do (RFM_CHAIN: the tables on the way).
    for _ in range(args.repeat):
        started = time.perf_counter()
        run_dbt("run", settings, "--select", *RFM_CHAIN_NAMES)
        wall = time.perf_counter() - started
        invocation = read_invocation(target, "dbt run --select " + " ".join(RFM_CHAIN_NAMES), wall)
        chain = [node["seconds"] for node in invocation["nodes"] if node["id"] in RFM_CHAIN]
        if len(chain) != len(RFM_CHAIN):
            raise RuntimeError(f"dbt did not run every model of {RFM_CHAIN}: {invocation['nodes']}")
        isolated.append({"wall_seconds": wall, "model_seconds": sum(chain)})
    try:
        result = rfm.compare(args.duckdb, args.as_of, profile_settings().duckdb_config(), args.repeat)
    except rfm.RfmDisagreement as error:
        print(error, file=sys.stderr)
        result = {"as_of": args.as_of.isoformat(), "agreement": {"ok": False, "error": str(error)}}
    result["project_isolated"] = isolated
    result["upstream_seconds"] = rfm.upstream_costs(args.duckdb, profile_settings().duckdb_config())
    result["task"] = "rfm"
    return result


def task_rfm_build(args: argparse.Namespace) -> dict[str, Any]:
    """Only what `marts.customer_rfm` needs (landing, seeds, its models; no tests, no segments): the
    RFM comparison's fallback when the full pipeline did not finish at this scale."""
    from bench import rfm
    from bench.dbt_artifacts import read_invocation
    from orchestration.settings import Settings

    settings = Settings(raw_dir=args.raw, as_of=args.as_of, duckdb_path=args.duckdb)
    for leftover in (args.duckdb, args.duckdb.with_name(args.duckdb.name + ".wal")):
        leftover.unlink(missing_ok=True)
    parts = rfm.build_rfm_only(settings)
    return {
        "task": "rfm-build",
        "as_of": args.as_of.isoformat(),
        "run_seconds": parts["land"] + parts["dbt"],
        "land_seconds": parts["land"],
        "dbt": read_invocation(_target_path(), "dbt build --select +customer_rfm (no tests)", parts["dbt"]),
    }


def task_syncdiff(args: argparse.Namespace) -> dict[str, Any]:
    from bench import syncdiff
    from orchestration.duckdb_profile import profile_settings

    result = syncdiff.measure(args.duckdb, profile_settings().duckdb_config(), repeat=args.repeat)
    result["task"] = "syncdiff"
    return result


def task_report(args: argparse.Namespace) -> dict[str, Any]:
    """The segment report on the nightly run's warehouse (read-only), written under the work folder."""
    started = time.perf_counter()
    from orchestration.report.build import build_report

    import_seconds = time.perf_counter() - started
    out_dir = args.duckdb.with_name("report")
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        path = build_report(args.duckdb, out_dir=out_dir)
        seconds.append(time.perf_counter() - started)
    return {
        "task": "report",
        "import_seconds": import_seconds,
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "path": str(path),
    }


TASKS = {
    "build": task_build,
    "rfm": task_rfm,
    "rfm-build": task_rfm_build,
    "syncdiff": task_syncdiff,
    "report": task_report,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--raw", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat)
    parser.add_argument("--duckdb", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = TASKS[args.task](args)
    result["process_seconds"] = time.perf_counter() - STARTED
    result.update(_rusage())
    args.out.write_text(json.dumps(result, indent=2, default=str))
    # A disagreement between the RFM computations fails the step (after its result is written).
    return DISAGREEMENT_EXIT if result.get("agreement", {}).get("ok") is False else 0


if __name__ == "__main__":
    sys.exit(main())
