"""One measured step of the benchmark, run in its own process by bench.runner (`python -m bench.worker`).

Tasks (each writes a JSON result to --out):
- `build`: orchestration.pipeline.run for one as-of date (landing, the segment catalogue, one dbt
  build, the summary), with each step timed and the dbt invocation's run_results.json read right
  after it (DBT_TARGET_PATH is kept between runs, so partial parsing behaves as in a real install);
  with `--publish`, then the published copy for BI tools, as the nightly job's last step writes it.
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
from collections.abc import Callable
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


class _StepPeak:
    """This process's peak RSS per pipeline step, sampled from /proc/self/statm in a thread (ru_maxrss
    only gives the peak of the whole process)."""

    def __init__(self, interval: float = 0.2) -> None:
        self._peak = 0
        self._interval = interval
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while True:
            self._peak = max(self._peak, self._rss())
            time.sleep(self._interval)

    def reset(self) -> None:
        self._peak = self._rss()

    def take(self) -> int:
        return max(self._peak, self._rss())


def _target_path() -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH", "target"))


def task_build(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    from bench.dbt_artifacts import read_invocation, upstream
    from orchestration import pipeline
    from orchestration.settings import Settings

    imports = time.perf_counter() - started
    target = _target_path()
    steps: list[dict[str, Any]] = []

    peak = _StepPeak()

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*call_args: Any, **kwargs: Any) -> Any:
            peak.reset()
            step_started = time.perf_counter()
            try:
                return function(*call_args, **kwargs)
            finally:
                seconds = time.perf_counter() - step_started
                steps.append({"name": name, "seconds": seconds, "peak_rss_bytes": peak.take()})

        return wrapper

    original_run_dbt = pipeline.run_dbt

    def run_dbt(command: str, settings: Settings, *more: str, **kwargs: Any) -> Any:
        label = " ".join(["dbt", command, *more])
        (target / "run_results.json").unlink(missing_ok=True)
        peak.reset()
        step_started = time.perf_counter()
        try:
            return original_run_dbt(command, settings, *more, **kwargs)
        finally:
            wall = time.perf_counter() - step_started
            invocation = read_invocation(target, label, wall)
            steps.append({"name": label, "seconds": wall, "peak_rss_bytes": peak.take(), "dbt": invocation})

    pipeline.run_dbt = run_dbt
    for name in ("land", "compile_segments", "summarise"):
        setattr(pipeline, name, timed(name, getattr(pipeline, name)))

    settings = Settings(raw_dir=args.raw, as_of=args.as_of, duckdb_path=args.duckdb)
    run_started = time.perf_counter()
    pipeline.run(settings)
    published = None
    if args.publish:
        from orchestration.publish import publish

        publication = timed("publish", publish)(settings.duckdb_path, settings.published_path)
        published = {
            "seconds": steps[-1]["seconds"],
            "bytes": publication.path.stat().st_size,
            "tables": len(publication.tables),
            "rows": sum(rows for _, _, rows in publication.tables),
        }
    run_seconds = time.perf_counter() - run_started
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
    parser.add_argument("--publish", action="store_true", help="build: then write the published copy")
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
