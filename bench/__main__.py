"""`python -m bench [--scales 100k,1m]` (`make bench SCALES=...`): runs the benchmark, writes BENCHMARKS.md.

Steps and scales run one after the other, never in parallel; see bench/__init__.py for what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench.data import parse_scale
from bench.replay import replay_results_path, run_replay
from bench.report import render
from bench.runner import DEFAULT_BENCH_DIR, Options, results_path, run_scale, succeeded
from orchestration.settings import PROJECT_DIR

DEFAULT_SCALES = "100k,1m"


def _scales(text: str) -> list[int]:
    try:
        return [parse_scale(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scales",
        type=_scales,
        default=_scales(os.environ.get("SCALES") or DEFAULT_SCALES),
        help=f"customers per scale, comma-separated, run one after the other (default {DEFAULT_SCALES}; "
        "env SCALES)",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="generator seed (data is cached per scale and seed)"
    )
    parser.add_argument(
        "--bench-dir",
        type=Path,
        default=Path(os.environ.get("BENCH_DIR") or DEFAULT_BENCH_DIR),
        help=f"scratch folder: data, warehouses, logs, results (default {DEFAULT_BENCH_DIR}; env BENCH_DIR)",
    )
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="raw file format")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each RFM computation (best is kept)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before a step is stopped")
    parser.add_argument(
        "--build-timeout",
        type=float,
        default=None,
        help="seconds before the full build or the nightly run is stopped (default: --timeout)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=PROJECT_DIR / "BENCHMARKS.md",
        help="report file (default BENCHMARKS.md)",
    )
    parser.add_argument(
        "--no-replay",
        action="store_true",
        help="don't time the weekly replay of the sample (python -m bench.replay); a saved one is reported",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="don't measure: rewrite the report from the saved results of these scales",
    )
    args = parser.parse_args(argv)
    if args.bench_dir.resolve().is_relative_to(PROJECT_DIR):
        parser.error(f"--bench-dir {args.bench_dir} is inside the repository; use a scratch folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        args.bench_dir.resolve(), args.seed, args.format, args.repeat, args.timeout, args.build_timeout
    )
    results = []
    for customers in args.scales:
        if args.report_only:
            path = results_path(options, customers)
            if not path.is_file():
                print(f"no saved results for {customers} customers ({path})", file=sys.stderr)
                return 2
            results.append(json.loads(path.read_text()))
        else:
            results.append(run_scale(customers, options))
    replay_path = replay_results_path(options.bench_dir)
    if not (args.report_only or args.no_replay):
        replay_path.parent.mkdir(parents=True, exist_ok=True)
        replay_path.write_text(json.dumps(run_replay(options.bench_dir, 52, 7, 7), indent=2))
    replay = json.loads(replay_path.read_text()) if replay_path.is_file() else None
    args.output.write_text(render(results, replay=replay))
    print(f"wrote {args.output}")
    failed = [result["label"] for result in results if not succeeded(result)]
    if failed:
        print(f"not every step succeeded at: {', '.join(failed)} (see {args.output})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
