"""A warehouse file locked by another process: one clear wait, then one clear failure.

DuckDB lets one process write a database file, and a process that holds it open, even read-only (a BI
tool, DBeaver, a second `make run`), keeps every other process from writing it. `connect_warehouse`
turns DuckDB's lock error into `WarehouseLockedError`, one sentence naming the holder's PID;
`wait_for_warehouse`, at the start of `run_nightly`, waits for the holder to let go (up to
CRM_SEGMENTS_LOCK_WAIT_SECONDS) before the Dagster job starts, so the job's retries don't each meet
the lock and the user reads one line while it waits and one sentence if it never ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import LOCK_WAIT_ENV

POLL_SECONDS = 0.5

# duckdb 2.0: `IO Error: Could not set lock on file "<path>": Conflicting lock is held in <program>
# (PID <n>). [However, you would be able to open this database in read-only mode, …] See also …`
_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in (?P<program>.+?) '
    r"\(PID (?P<pid>\d+)\)"
)


@dataclass(frozen=True)
class LockHolder:
    path: Path
    pid: int
    program: str


def lock_holder(message: str) -> LockHolder | None:
    """The holder DuckDB's lock error names, from any text that quotes it (dbt's output, say)."""
    match = _LOCK.search(message)
    if match is None:
        return None
    return LockHolder(Path(match["path"]), int(match["pid"]), match["program"].strip())


def _what_to_do() -> str:
    return (
        "close that program's connection to it (a BI tool or DBeaver holding the file open) or wait for "
        f"the other run to end, then run again ({LOCK_WAIT_ENV} sets how long a run waits)"
    )


def locked_sentence(holder: LockHolder, waited: float | None = None) -> str:
    still = f" and still was after {waited:g} s" if waited else ""
    return (
        f"the warehouse {holder.path} is locked by PID {holder.pid} ({holder.program}){still}: "
        + _what_to_do()
    )


class WarehouseLockedError(duckdb.IOException):
    """Another process holds the warehouse file. A duckdb.Error still, for code that catches those."""

    def __init__(self, holder: LockHolder, waited: float | None = None) -> None:
        super().__init__(locked_sentence(holder, waited))
        self.holder = holder
        self.waited = waited


def as_locked_error(error: duckdb.Error) -> WarehouseLockedError | None:
    holder = lock_holder(str(error))
    return WarehouseLockedError(holder) if holder is not None else None


def wait_for_warehouse(
    path: Path,
    wait_seconds: float,
    say: Callable[[str], None],
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Returns once this process can open `path` for writing; WarehouseLockedError after `wait_seconds`.

    `say` gets one line when the wait starts and one when it ends with the file free.
    """
    from orchestration.duckdb_profile import connect_warehouse

    if not path.exists():  # nobody holds a file that isn't there; the landing creates it
        return
    started = time.monotonic()
    announced = False
    while True:
        try:
            connect_warehouse(path).close()
        except WarehouseLockedError as error:
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise WarehouseLockedError(error.holder, round(waited) if wait_seconds else None) from None
            if not announced:
                say(
                    f"crm-segments: the warehouse {path} is locked by PID {error.holder.pid} "
                    f"({error.holder.program}); waiting up to {wait_seconds:g} s for it to be released…"
                )
                announced = True
            time.sleep(min(poll_seconds, max(wait_seconds - waited, 0.01)))
        else:
            if announced:
                say(f"crm-segments: the warehouse is free after {time.monotonic() - started:.1f} s; going on")
            return
