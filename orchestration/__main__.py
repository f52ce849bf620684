"""Command line: `python -m orchestration run` (`make run`), `… replay` (`make replay`), `… sync`,
`… segments check` (`make check-segments`), `… explain`, `… docs` (`make docs`) and `… report`
(`make report`).

Dagster and dbt load only for the commands that run them: `segments check` starts in seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from typing import TYPE_CHECKING

from orchestration.segments.cli import add_segments_parsers, explain_command, segments_command
from orchestration.settings import DEFAULT_CLV_FIT_EVERY_DAYS, VERBOSE_ENV, Settings, verbose_from_env
from orchestration.syncs.cli import add_sync_parser, format_latest_runs, sync_command

if TYPE_CHECKING:
    from orchestration.pipeline import RunSummary


def expected_errors() -> tuple[type[Exception], ...]:
    """Errors a user can cause (a bad setting, catalogue, raw file, sync config) and a failed job:
    one line (the job: one block) on stderr and exit 1, never a stack trace."""
    from orchestration.assets.failures import DETERMINISTIC_ERRORS
    from orchestration.dbt_project import DbtParseError
    from orchestration.dbt_runner import DbtBuildError
    from orchestration.publish import PublishError
    from orchestration.report import ReportError
    from orchestration.runner import JobFailedError
    from orchestration.warehouse_lock import WarehouseLockedError

    return (
        *DETERMINISTIC_ERRORS,
        DbtBuildError,
        DbtParseError,
        JobFailedError,
        PublishError,
        ReportError,
        WarehouseLockedError,
    )


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD") from None


def _positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"{value!r} should be a whole number of days, 1 or more")
    return days


def _add_verbose(parser: argparse.ArgumentParser, default: object = False) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help=f"stream every Dagster event and dbt's output instead of a line per step (or {VERBOSE_ENV}=1)",
    )


def _print_summary(summary: RunSummary, settings: Settings) -> None:
    from orchestration.pipeline import format_summary
    from orchestration.report import report_dir

    print(format_summary(summary))
    if syncs := format_latest_runs(settings.duckdb_path):
        print("\n" + syncs)
    if (report := report_dir(settings.duckdb_path) / "index.html").is_file():
        print(f"\nSegment report: {report}")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.progress import RunOutput
    from orchestration.runner import JobFailedError, run_nightly

    with RunOutput(settings.duckdb_path, "run", verbose=args.verbose) as output:
        output.say(f"Running the nightly job as of {settings.as_of} ({output.where()})")
        try:
            summary = run_nightly(settings, output.logger_defs(), say=output.say)
        except JobFailedError as error:
            raise JobFailedError(output.with_log_path(str(error))) from None
        output.say(f"Done in {output.elapsed()}.\n")
    _print_summary(summary, settings)
    return 0


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.history import drop_history
    from orchestration.progress import RunOutput
    from orchestration.runner import JobFailedError, check_replay, replay
    from orchestration.warehouse_lock import wait_for_warehouse

    # Dropping the history and reading where it ends open the warehouse too: wait for it first.
    wait_for_warehouse(settings.duckdb_path, settings.lock_wait_seconds, print)
    if args.rebuild_history:
        drop_history(settings)
    dates = check_replay(settings, args.start, args.end, args.step)  # refused before any output
    with RunOutput(settings.duckdb_path, "replay", verbose=args.verbose) as output:
        output.say(
            f"Replaying {len(dates)} as-of dates from {args.start} to {args.end}: the history for each, "
            f"then the nightly job for the last ({output.where()})"
        )
        try:
            summary = replay(
                settings,
                args.start,
                args.end,
                args.step,
                output.logger_defs(),
                output.date_done,
                output.say,
                clv_fit_every_days=args.clv_fit_every,
            )
        except JobFailedError as error:
            raise JobFailedError(output.with_log_path(str(error))) from None
        output.say("")
    _print_summary(summary, settings)
    print(f"\nReplayed {len(dates)} as-of dates from {args.start} to {args.end}.")
    return 0


def docs_command(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.dbt_docs import build_docs
    from orchestration.syncs.config import SyncSettings

    page = build_docs(settings, SyncSettings.from_env(duckdb_path=settings.duckdb_path), print)
    print(f"dbt docs (one static page, lineage with the report, the published copy and each sync): {page}")
    return 0


def report_command(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.report.build import build_report
    from orchestration.warehouse_lock import wait_for_warehouse

    # A writer (a running `make run`) keeps readers out too: wait for it like the other commands.
    if settings.duckdb_path.exists():
        wait_for_warehouse(settings.duckdb_path, settings.lock_wait_seconds, print)
    print(build_report(settings.duckdb_path))
    return 0


COMMANDS = {
    "run": run_command,
    "replay": replay_command,
    "sync": sync_command,
    "segments": segments_command,
    "explain": explain_command,
    "docs": docs_command,
    "report": report_command,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__)
    _add_verbose(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run", help="run the nightly Dagster job once, as of CRM_SEGMENTS_AS_OF (default today)"
    )
    replay_parser = commands.add_parser("replay", help="run the nightly job for successive past as-of dates")
    replay_parser.add_argument("--from", dest="start", type=_date, required=True, help="first as-of date")
    replay_parser.add_argument("--to", dest="end", type=_date, required=True, help="last as-of date")
    replay_parser.add_argument("--step", type=int, default=1, help="days between as-of dates (default 1)")
    replay_parser.add_argument(
        "--clv-fit-every",
        type=_positive_days,
        default=DEFAULT_CLV_FIT_EVERY_DAYS,
        metavar="DAYS",
        help=(
            f"fit the CLV models again once DAYS have passed since the last fit (default "
            f"{DEFAULT_CLV_FIT_EVERY_DAYS}); the dates between predict with the last fit"
        ),
    )
    replay_parser.add_argument(
        "--rebuild-history", action="store_true", help="drop the recorded history first and start it again"
    )
    for subparser in (run_parser, replay_parser):
        # `run -v` as well as `-v run`: the subcommand's flag only when given.
        _add_verbose(subparser, default=argparse.SUPPRESS)
    add_sync_parser(commands)
    add_segments_parsers(commands)
    commands.add_parser(
        "docs",
        help="dbt docs as one static page beside the warehouse (<warehouse stem>_docs/index.html), "
        "with exposures for the report, the published copy and each sync",
    )
    commands.add_parser(
        "report", help="rebuild the segment report from the existing warehouse (read-only); prints its path"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose = args.verbose or verbose_from_env()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](args, settings)
    except Exception as error:
        if not isinstance(error, expected_errors()):
            raise
        print(f"crm-segments: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
