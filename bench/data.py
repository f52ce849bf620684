"""Benchmark data: scales, and raw folders made by the project's generator, cached per scale and seed.

The generator (`python -m orchestration.sample_data`) has no knob for orders or email events per
customer: both follow from the customer archetypes and the length of the simulated period (orders
accumulate with the months a customer keeps buying; about one campaign goes out a week). Over
2020-07-01..2026-11-20 it makes about 11 orders and 50 email events per customer, so 100k customers
give ≈ 1.1M orders / 5.1M email events and 1M customers ≈ 11M / 51M, the sizes the benchmark targets.
Its ratio of events to orders (≈ 4.6) is fixed by the archetypes: a period with exactly 10 orders
per customer has ≈ 46 events, one with 50 events ≈ 11 orders; this period meets both minimums.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.monitor import ProcessRun, run_monitored

GENERATOR_START = date(2020, 7, 1)
GENERATOR_END = date(2026, 11, 20)
MARKER = "_bench_data.json"
_SCALE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*$", re.IGNORECASE)
_ROWS = re.compile(r"^\s+(\w+)\s+(\d+) rows$")


def parse_scale(text: str) -> int:
    """'100k' → 100000, '1m' → 1000000, '300' → 300."""
    match = _SCALE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a scale (a number of customers, like 300, 100k or 1m)")
    number = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    if number < 1 or number != int(number):
        raise ValueError(f"{text!r} is not a whole, positive number of customers")
    return int(number)


def scale_label(customers: int) -> str:
    for suffix, unit in (("m", 1_000_000), ("k", 1_000)):
        if customers >= unit and customers % unit == 0:
            return f"{customers // unit}{suffix}"
    return str(customers)


@dataclass(frozen=True)
class DataSet:
    customers: int
    seed: int
    start: date
    end: date
    output_format: str
    path: Path
    rows: dict[str, int]
    bytes_on_disk: int
    generated_seconds: float
    generated_peak_rss_bytes: int
    cached: bool

    def to_json(self) -> dict[str, object]:
        return {
            "customers": self.customers,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "format": self.output_format,
            "path": str(self.path),
            "rows": self.rows,
            "bytes_on_disk": self.bytes_on_disk,
            "generated_seconds": self.generated_seconds,
            "generated_peak_rss_bytes": self.generated_peak_rss_bytes,
            "cached": self.cached,
        }


class GenerationError(RuntimeError):
    pass


def data_dir(bench_dir: Path, customers: int, seed: int, output_format: str) -> Path:
    name = f"{scale_label(customers)}-seed{seed}-{GENERATOR_START}-{GENERATOR_END}-{output_format}"
    return bench_dir / "data" / name


def ensure_data(
    bench_dir: Path,
    customers: int,
    seed: int = 42,
    output_format: str = "csv",
    *,
    project_dir: Path,
    timeout: float | None = None,
) -> DataSet:
    """The raw folder for this scale and seed, generated unless a complete one is already cached."""
    target = data_dir(bench_dir, customers, seed, output_format)
    marker = target / MARKER
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        return _data_set(recorded, target, cached=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "orchestration.sample_data",
        "--customers",
        str(customers),
        "--seed",
        str(seed),
        "--start-date",
        GENERATOR_START.isoformat(),
        "--end-date",
        GENERATOR_END.isoformat(),
        "--format",
        output_format,
        "--out",
        str(partial),
    ]
    run: ProcessRun = run_monitored(
        command, bench_dir / "logs" / f"generate-{target.name}.log", cwd=project_dir, timeout=timeout
    )
    if not run.ok:
        raise GenerationError(f"the generator failed ({run.returncode}):\n{run.log_tail()}")
    rows = {}
    for line in run.log_path.read_text().splitlines():
        match = _ROWS.match(line)
        if match:
            rows[match.group(1)] = int(match.group(2))
    recorded = {
        "customers": customers,
        "seed": seed,
        "start": GENERATOR_START.isoformat(),
        "end": GENERATOR_END.isoformat(),
        "format": output_format,
        "rows": rows,
        "bytes_on_disk": sum(path.stat().st_size for path in partial.iterdir() if path.is_file()),
        "generated_seconds": run.seconds,
        "generated_peak_rss_bytes": run.peak_rss_bytes,
    }
    (partial / MARKER).write_text(json.dumps(recorded, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return _data_set(recorded, target, cached=False)


def _data_set(recorded: dict, path: Path, *, cached: bool) -> DataSet:
    return DataSet(
        customers=recorded["customers"],
        seed=recorded["seed"],
        start=date.fromisoformat(recorded["start"]),
        end=date.fromisoformat(recorded["end"]),
        output_format=recorded["format"],
        path=path,
        rows=recorded["rows"],
        bytes_on_disk=recorded["bytes_on_disk"],
        generated_seconds=recorded["generated_seconds"],
        generated_peak_rss_bytes=recorded["generated_peak_rss_bytes"],
        cached=cached,
    )
