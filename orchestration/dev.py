"""`make dev`: `dagster dev` on the project's Dagster instance, stopped cleanly by Ctrl-C or SIGTERM.

The instance is `$DAGSTER_HOME` (default `.dagster_home` in the project folder, created if missing),
the one `make run` records its runs in, so the UI shows them.

`dagster dev` starts a webserver, a daemon and a code server (which starts a gRPC server); on SIGINT
or SIGTERM it tells each of them to stop and waits for them. A command a script starts in the
background (`make dev &`) inherits SIGINT *ignored*, and Dagster maps SIGTERM onto SIGINT's handler,
so then all six processes ignore both signals and outlive them. This launcher puts both signals back
to their default before it replaces itself with `dagster dev` (no process sits in between).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import MutableMapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DAGSTER_HOME = PROJECT_DIR / ".dagster_home"
DEFAULT_PORT = 3000


def dagster_home(env: MutableMapping[str, str]) -> Path:
    """`$DAGSTER_HOME` as an absolute path (the project's `.dagster_home` if unset), created if missing."""
    home = Path(env.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    env["DAGSTER_HOME"] = str(home)
    return home


def dagster_dev_command(port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "orchestration.definitions",
        "-h",
        host,
        "-p",
        str(port),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.dev", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    home = dagster_home(os.environ)
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}); Ctrl-C stops it.", flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    command = dagster_dev_command(args.port, args.host)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
