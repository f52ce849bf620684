"""`python -m orchestration.syncs [--dry-run] [--full-resync] [--only NAME]`.

The same as `python -m orchestration sync`, without loading Dagster and dbt first, so it starts in about
a second (for a cron job or a quick dry run).
"""

from __future__ import annotations

import argparse
import logging
import sys

from orchestration.settings import Settings, SettingsError
from orchestration.syncs.cli import DESCRIPTION, add_sync_arguments, sync_command
from orchestration.syncs.config import SyncConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.syncs", description=DESCRIPTION)
    add_sync_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return sync_command(args, Settings.from_env())
    except (SettingsError, SyncConfigError) as error:
        print(f"crm-segments: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
