"""Command line: `python -m orchestration run` (what `make run` calls)."""

from __future__ import annotations

import argparse
import logging
import sys

from orchestration.dbt_runner import DbtBuildError
from orchestration.landing import RawDataError
from orchestration.pipeline import format_summary, run
from orchestration.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="land the raw files, build and test the warehouse, print a summary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.command == "run":
        try:
            summary = run(Settings.from_env())
        except (SettingsError, RawDataError, DbtBuildError) as error:
            print(f"crm-segments: {error}", file=sys.stderr)
            return 1
        print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
