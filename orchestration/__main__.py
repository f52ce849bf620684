"""Command line: `python -m orchestration run` (`make run`), `… replay` (`make replay`) and `… sync`."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from orchestration.dbt_runner import DbtBuildError
from orchestration.history import drop_history
from orchestration.landing import RawDataError
from orchestration.pipeline import format_summary
from orchestration.runner import JobFailedError, replay, run_nightly
from orchestration.segments.catalog import CatalogError
from orchestration.segments.rules import SegmentDefinitionError
from orchestration.settings import Settings, SettingsError
from orchestration.syncs.cli import add_sync_parser, format_latest_runs, sync_command
from orchestration.syncs.config import SyncConfigError

EXPECTED_ERRORS = (
    SettingsError,
    RawDataError,
    DbtBuildError,
    JobFailedError,
    CatalogError,
    SegmentDefinitionError,
    SyncConfigError,
)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", help="run the nightly Dagster job once, as of CRM_SEGMENTS_AS_OF (default today)"
    )
    replay_parser = commands.add_parser("replay", help="run the nightly job for successive past as-of dates")
    replay_parser.add_argument("--from", dest="start", type=_date, required=True, help="first as-of date")
    replay_parser.add_argument("--to", dest="end", type=_date, required=True, help="last as-of date")
    replay_parser.add_argument("--step", type=int, default=1, help="days between as-of dates (default 1)")
    replay_parser.add_argument(
        "--rebuild-history", action="store_true", help="drop the recorded history first and start it again"
    )
    add_sync_parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        settings = Settings.from_env()
        if args.command == "sync":
            return sync_command(args, settings)
        if args.command == "run":
            print(format_summary(run_nightly(settings)))
            if syncs := format_latest_runs(settings.duckdb_path):
                print("\n" + syncs)
        else:
            if args.rebuild_history:
                drop_history(settings)
            summaries = replay(settings, args.start, args.end, args.step)
            print(format_summary(summaries[-1]))
            print(f"\nReplayed {len(summaries)} as-of dates from {args.start} to {args.end}.")
    except EXPECTED_ERRORS as error:
        print(f"crm-segments: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
