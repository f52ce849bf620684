"""`python -m orchestration sync [--dry-run] [--full-resync] [--only NAME]`, and the sync lines of `run`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from orchestration.duckdb_profile import connect_warehouse
from orchestration.settings import Settings
from orchestration.syncs.config import SyncSettings, load_syncs, select_syncs
from orchestration.syncs.engine import run_syncs

DESCRIPTION = "Delivers the syncs of the sync config (CRM_SEGMENTS_SYNCS) from the existing warehouse."


def add_sync_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sync",
        help="deliver the configured segment syncs to their platforms (only what changed since the last run)",
        description=DESCRIPTION,
    )
    add_sync_arguments(parser)


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="compute and print the diff (counts and sample rows); call no API and change nothing",
    )
    parser.add_argument(
        "--full-resync", action="store_true", help="send every member of the segment, not only the changes"
    )
    parser.add_argument(
        "--allow-mass-removal",
        action="store_true",
        help="let a sync remove more than its max_remove_share (default 50%%) of the delivered contacts",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this sync (repeat for several); also runs a sync marked enabled: false",
    )


def sync_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the syncs and prints one report each; 1 if any failed."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    sync_settings = SyncSettings.from_env(duckdb_path=settings.duckdb_path)
    syncs = select_syncs(load_syncs(sync_settings.config_path), args.only)
    if not syncs:
        print(f"No enabled syncs in {sync_settings.config_path}.")
        return 0
    reports = run_syncs(
        settings.duckdb_path,
        syncs,
        sync_settings.sync_dir,
        full_resync=args.full_resync,
        dry_run=args.dry_run,
        allow_mass_removal=args.allow_mass_removal,
    )
    print("\n\n".join(report.format() for report in reports))
    if args.dry_run:
        print("\nDry run: no API was called and nothing was changed.")
    failed = [report.sync.name for report in reports if not report.ok]
    if failed:
        print(f"\nFailed: {', '.join(failed)} (see marts.sync_runs and marts.sync_row_errors)")
    return 1 if failed else 0


def format_latest_runs(duckdb_path: Path) -> str:
    """The latest run of each sync, for the summary `make run` prints; '' if no sync ever ran."""
    if not duckdb_path.exists():
        return ""
    with connect_warehouse(duckdb_path, read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'sync_state' and table_name = 'sync_runs'"
        ).fetchall()[0][0]
        if not found:
            return ""
        rows = con.execute(
            "select sync_name, destination, target, status, sent, added, updated, removed, failed "
            "from sync_state.sync_runs "
            "qualify row_number() over (partition by sync_name order by started_at desc) = 1 "
            "order by sync_name"
        ).fetchall()
    if not rows:
        return ""
    lines = ["Syncs (latest run; marts.sync_runs)"]
    for name, destination, target, status, sent, added, updated, removed, failed in rows:
        lines.append(
            f"  {name:<28} {status:<11} sent {sent:>6}: +{added} ~{updated} -{removed} failed {failed}"
            f"  → {destination} {target}"
        )
    return "\n".join(lines)
