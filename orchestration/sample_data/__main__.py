"""Command line: `python -m orchestration.sample_data` (`make sample`) regenerates the bundled sample."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from orchestration.sample_data.config import DEFAULT_OUT_DIR, OUTPUT_FORMATS, GeneratorConfig
from orchestration.sample_data.generator import GenerationReport, generate


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD") from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return number


def parse_args(argv: list[str] | None = None) -> GeneratorConfig:
    defaults = GeneratorConfig()
    parser = argparse.ArgumentParser(prog="python -m orchestration.sample_data", description=__doc__)
    parser.add_argument(
        "--customers", type=_positive, default=defaults.customers, help="customers to generate"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (same seed, same files)")
    parser.add_argument(
        "--start-date", type=_date, default=defaults.start_date, help="first day (YYYY-MM-DD)"
    )
    parser.add_argument("--end-date", type=_date, default=defaults.end_date, help="last day (YYYY-MM-DD)")
    parser.add_argument(
        "--format", choices=OUTPUT_FORMATS, default=defaults.output_format, help="file format"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="output folder")
    parser.add_argument(
        "--truth", action="store_true", help="also write _truth/customers_archetype.csv (the answer key)"
    )
    parser.add_argument(
        "--chunk-size", type=_positive, default=defaults.chunk_size, help="customers held in memory at a time"
    )
    args = parser.parse_args(argv)
    try:
        return GeneratorConfig(
            customers=args.customers,
            seed=args.seed,
            start_date=args.start_date,
            end_date=args.end_date,
            output_format=args.format,
            out_dir=args.out,
            truth=args.truth,
            chunk_size=args.chunk_size,
        )
    except ValueError as error:
        parser.error(str(error))


def format_report(report: GenerationReport) -> str:
    config = report.config
    lines = [
        f"Sample of {config.customers} customers, {config.start_date}..{config.end_date}, seed {config.seed} "
        f"-> {config.out_dir} ({report.bytes_on_disk / 1e6:.1f} MB, {report.seconds:.1f} s)"
    ]
    lines += [f"  {name:<13} {rows:>10} rows" for name, rows in report.rows.items()]
    lines.append(
        "Archetypes: " + ", ".join(f"{name} {count}" for name, count in report.archetype_counts.items())
    )
    lines.append("Dirty rows: " + ", ".join(f"{name} {count}" for name, count in report.dirty_counts.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    print(format_report(generate(parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
