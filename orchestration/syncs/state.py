"""The sync state in the warehouse: schema `sync_state`, written by Python only.

Why a schema of its own rather than tables in `marts`: dbt owns `marts` and rebuilds its relations on
every run; what a sync delivered must survive every rebuild, `--full-refresh`, or someone dropping and
rebuilding `marts`. dbt never writes to `sync_state` — it only reads it: the views `marts.sync_runs`,
`marts.sync_row_errors` and `staging.stg_sync__provider_unsubscribes` (dbt_project/models/syncs) are
defined over these tables as dbt sources, so the audit is documented and tested with the other marts
while its rows live here. The DDL of the tables is the macro dbt_project/macros/sync_state_ddl.sql:
its body is plain SQL, which `ensure_state` runs before a sync and the pre-hook of
stg_sync__provider_unsubscribes runs in dbt (so a `dbt build` finds the tables if no sync ran yet);
`TABLES` is read from its `create table` statements.

Tables:
- `delivered`: per sync and contact, what the destination has (email, hash and JSON of the mapped
  fields). The diff compares the segment with it; it changes only after a destination confirmed a batch.
- `targets`: per sync, the target fingerprint the state describes, the last successful run and the
  high-water mark of the unsubscribes read back from the provider.
- `sync_runs`, `sync_row_errors`: the audit (exposed as marts.sync_runs / marts.sync_row_errors).
- `provider_unsubscribes`: opt-outs reported by the providers (exposed as email events by
  staging.stg_sync__provider_unsubscribes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.settings import PROJECT_DIR

SCHEMA = "sync_state"
# The DDL of every table, shared with dbt: a macro whose body is plain SQL.
DDL_PATH = PROJECT_DIR / "dbt_project" / "macros" / "sync_state_ddl.sql"
DDL_MACRO = "sync_state_ddl"

_MACRO_BODY = re.compile(r"\{%-?\s*macro\s+(\w+)\(\)\s*-?%\}(.*?)\{%-?\s*endmacro\s*-?%\}", re.DOTALL)
_CREATE_TABLE = re.compile(rf"^create table if not exists {SCHEMA}\.(\w+)\s*\((.*)\)$", re.DOTALL)
_COLUMN = re.compile(r"^(\w+) (\w+)$")


def ddl_statements(path: Path = DDL_PATH) -> list[str]:
    """The statements of the sync_state DDL macro, in order, without their `;`."""
    text = path.read_text(encoding="utf-8")
    bodies = {name: body for name, body in _MACRO_BODY.findall(text)}
    if DDL_MACRO not in bodies:
        raise RuntimeError(f"{path}: no macro {DDL_MACRO}()")
    return [statement.strip() for statement in bodies[DDL_MACRO].split(";") if statement.strip()]


def parse_tables(statements: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Table → its (column, type) pairs in CREATE order, from the `create table` statements."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for statement in statements:
        match = _CREATE_TABLE.match(statement)
        if match is None:
            continue
        columns = []
        for definition in match.group(2).split(","):
            column = _COLUMN.match(" ".join(definition.split()))
            if column is None:
                raise RuntimeError(f"{DDL_PATH}: cannot read column {definition.strip()!r}")
            columns.append((column.group(1), column.group(2)))
        tables[match.group(1)] = columns
    return tables


DDL: list[str] = ddl_statements()
# Column name → DuckDB type per table, in CREATE order.
TABLES: dict[str, list[tuple[str, str]]] = parse_tables(DDL)


def utcnow() -> datetime:
    """Naive UTC, the warehouse's convention for timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def create_table_sql(table: str) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in TABLES[table])
    return f"create table if not exists {SCHEMA}.{table} ({columns})"


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    """Creates the schema and the tables that are missing, and adds columns added since (the DDL's
    `alter table … add column if not exists` statements)."""
    for statement in DDL:
        con.execute(statement)


def state_exists(con: duckdb.DuckDBPyConnection) -> bool:
    # Always fetch to the end: DuckDB refuses other work on a connection with an unfinished result.
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'delivered'",
        [SCHEMA],
    ).fetchall()
    return bool(found[0][0])


def _arrow(table: str, rows: Sequence[Sequence[object]], columns: Sequence[str] | None = None) -> pa.Table:
    names = list(columns or [name for name, _ in TABLES[table]])
    types = dict(TABLES[table])
    arrow_types = {
        "varchar": pa.string(),
        "timestamp": pa.timestamp("us"),
        "date": pa.date32(),
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "boolean": pa.bool_(),
    }
    arrays = [
        pa.array([row[i] for row in rows], type=arrow_types[types[name]]) for i, name in enumerate(names)
    ]
    return pa.Table.from_arrays(arrays, names=names)


# --- Delivered state ----------------------------------------------------------------------------


def delivered_count(con: duckdb.DuckDBPyConnection, sync_name: str) -> int:
    if not state_exists(con):
        return 0
    rows = con.execute(f"select count(*) from {SCHEMA}.delivered where sync_name = ?", [sync_name]).fetchall()
    return int(rows[0][0])


@dataclass(frozen=True)
class DeliveredRow:
    email_key: str
    email: str
    customer_id: str | None
    fields_hash: str
    fields_json: str


def record_batch(
    con: duckdb.DuckDBPyConnection,
    sync_name: str,
    run_id: str,
    *,
    upserted: Iterable[DeliveredRow] = (),
    removed: Iterable[str] = (),
    errors: Iterable[tuple[str, str, str | None, str, str]] = (),
    now: datetime | None = None,
    run_counts: dict[str, object] | None = None,
) -> None:
    """One destination answer, applied in one transaction: what landed, what left, what was refused,
    and (`run_counts`) the run's counts so far.

    `errors` are (email_key, email, customer_id, operation, reason). A contact that succeeds has its
    open error for that operation resolved. Either all of it is recorded or none (a crash mid-way
    leaves the previous state, and the next run sends the batch again — harmless, it is idempotent).
    """
    now = now or utcnow()
    upserted = list(upserted)
    removed = list(removed)
    errors = list(errors)
    con.begin()
    try:
        keys = [row.email_key for row in upserted] + removed
        if keys:
            batch_keys = pa.Table.from_arrays([pa.array(keys, type=pa.string())], names=["email_key"])
            con.register("_sync_batch_keys", batch_keys)
            con.execute(
                f"delete from {SCHEMA}.delivered where sync_name = ? "
                "and email_key in (select email_key from _sync_batch_keys)",
                [sync_name],
            )
            con.unregister("_sync_batch_keys")
        if upserted:
            table = _arrow(
                "delivered",
                [
                    (
                        sync_name,
                        r.email_key,
                        r.email,
                        r.customer_id,
                        r.fields_hash,
                        r.fields_json,
                        now,
                        run_id,
                    )
                    for r in upserted
                ],
            )
            con.register("_sync_batch_rows", table)
            con.execute(f"insert into {SCHEMA}.delivered select * from _sync_batch_rows")
            con.unregister("_sync_batch_rows")
        done = [(row.email_key, "upsert") for row in upserted] + [(key, "remove") for key in removed]
        if done:
            table = pa.Table.from_arrays(
                [pa.array([k for k, _ in done], pa.string()), pa.array([o for _, o in done], pa.string())],
                names=["email_key", "operation"],
            )
            con.register("_sync_batch_done", table)
            con.execute(
                f"update {SCHEMA}.sync_row_errors as e set resolved_at = ? from _sync_batch_done as d "
                "where e.sync_name = ? and e.resolved_at is null "
                "and e.email_key = d.email_key and e.operation = d.operation",
                [now, sync_name],
            )
            con.unregister("_sync_batch_done")
        if errors:
            _record_errors(con, sync_name, run_id, errors, now)
        if run_counts:
            update_run(con, run_id, **run_counts)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _record_errors(
    con: duckdb.DuckDBPyConnection,
    sync_name: str,
    run_id: str,
    errors: list[tuple[str, str, str | None, str, str]],
    now: datetime,
) -> None:
    """Open errors get one more attempt and the latest reason; new ones start at attempt 1."""
    latest = {(key, op): (key, email, customer, op, reason) for key, email, customer, op, reason in errors}
    names = ["email_key", "email", "customer_id", "operation", "reason"]
    table = pa.Table.from_arrays(
        [pa.array([row[i] for row in latest.values()], pa.string()) for i in range(len(names))], names=names
    )
    con.register("_sync_batch_errors", table)
    try:
        con.execute(
            f"update {SCHEMA}.sync_row_errors as e set reason = n.reason, attempts = e.attempts + 1, "
            "last_seen_at = ?, last_run_id = ?, email = n.email, customer_id = n.customer_id "
            "from _sync_batch_errors as n where e.sync_name = ? and e.resolved_at is null "
            "and e.email_key = n.email_key and e.operation = n.operation",
            [now, run_id, sync_name],
        )
        con.execute(
            f"insert into {SCHEMA}.sync_row_errors select ?, n.email_key, n.email, n.customer_id, "
            "n.operation, "
            "n.reason, 1, ?, ?, ?, null from _sync_batch_errors as n where not exists (select 1 from "
            f"{SCHEMA}.sync_row_errors as e where e.sync_name = ? and e.resolved_at is null "
            "and e.email_key = n.email_key and e.operation = n.operation)",
            [sync_name, now, now, run_id, sync_name],
        )
    finally:
        con.unregister("_sync_batch_errors")


def resolve_obsolete_errors(
    con: duckdb.DuckDBPyConnection, sync_name: str, still_pending: set[tuple[str, str]], now: datetime
) -> None:
    """After a complete run: open errors whose contact no longer needs that operation are closed."""
    pending = pa.Table.from_arrays(
        [
            pa.array([k for k, _ in still_pending], pa.string()),
            pa.array([o for _, o in still_pending], pa.string()),
        ],
        names=["email_key", "operation"],
    )
    con.register("_sync_pending", pending)
    try:
        con.execute(
            f"update {SCHEMA}.sync_row_errors as e set resolved_at = ? where e.sync_name = ? "
            "and e.resolved_at is null and not exists (select 1 from _sync_pending as p "
            "where p.email_key = e.email_key and p.operation = e.operation)",
            [now, sync_name],
        )
    finally:
        con.unregister("_sync_pending")


def reset_sync(con: duckdb.DuckDBPyConnection, sync_name: str) -> None:
    """Forget what was delivered (the target changed): the next diff sends everything."""
    con.execute(f"delete from {SCHEMA}.delivered where sync_name = ?", [sync_name])


# --- Targets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetState:
    fingerprint: str | None
    last_success_at: datetime | None
    last_as_of_date: date | None
    unsubscribes_checked_at: datetime | None


def load_target(con: duckdb.DuckDBPyConnection, sync_name: str) -> TargetState:
    if not state_exists(con):
        return TargetState(None, None, None, None)
    rows = con.execute(
        f"select fingerprint, last_success_at, last_as_of_date, unsubscribes_checked_at "
        f"from {SCHEMA}.targets where sync_name = ?",
        [sync_name],
    ).fetchall()
    return TargetState(*rows[0]) if rows else TargetState(None, None, None, None)


def save_target(
    con: duckdb.DuckDBPyConnection,
    sync_name: str,
    destination: str,
    target: str,
    fingerprint: str,
    *,
    last_success_at: datetime | None = None,
    last_as_of_date: date | None = None,
    unsubscribes_checked_at: datetime | None = None,
) -> None:
    """Upserts the target row; None arguments keep the stored value (unless the fingerprint changed)."""
    current = load_target(con, sync_name)
    same = current.fingerprint == fingerprint
    con.execute(f"delete from {SCHEMA}.targets where sync_name = ?", [sync_name])
    con.execute(
        f"insert into {SCHEMA}.targets values (?, ?, ?, ?, ?, ?, ?)",
        [
            sync_name,
            destination,
            target,
            fingerprint,
            last_success_at or (current.last_success_at if same else None),
            last_as_of_date or (current.last_as_of_date if same else None),
            unsubscribes_checked_at or current.unsubscribes_checked_at,
        ],
    )


# --- Runs ---------------------------------------------------------------------------------------


def start_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    sync_name: str,
    destination: str,
    target: str,
    segment_key: str,
    mode: str,
    full_resync: bool,
    started_at: datetime,
) -> None:
    # A run still marked running was killed before it could say how it ended.
    con.execute(
        f"update {SCHEMA}.sync_runs set status = 'interrupted', "
        "error = coalesce(error, 'the process ended before the run finished; the next run resumed it') "
        "where sync_name = ? and status = 'running'",
        [sync_name],
    )
    con.execute(
        f"insert into {SCHEMA}.sync_runs (run_id, sync_name, destination, target, segment_key, mode, "
        "full_resync, started_at, status, sent, added, updated, removed, failed) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, 'running', 0, 0, 0, 0, 0)",
        [run_id, sync_name, destination, target, segment_key, mode, full_resync, started_at],
    )


def update_run(con: duckdb.DuckDBPyConnection, run_id: str, **values: object) -> None:
    allowed = {name for name, _ in TABLES["sync_runs"]} - {"run_id"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown sync_runs columns: {sorted(unknown)}")
    if not values:
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    con.execute(f"update {SCHEMA}.sync_runs set {assignments} where run_id = ?", [*values.values(), run_id])


# --- Provider unsubscribes ----------------------------------------------------------------------


def store_unsubscribes(
    con: duckdb.DuckDBPyConnection,
    provider: str,
    sync_name: str,
    target: str,
    found: Sequence[tuple[str, datetime | None, str]],
    fetched_at: datetime,
) -> int:
    """Adds the (email, occurred_at, kind) opt-outs not stored yet; returns how many were new.

    One row per provider, target, address and kind: the first time an opt-out is seen. Reading it
    again later adds nothing, even with another time: Mailchimp reports a member's `last_changed`,
    which any later change to the member moves, and that is not a second opt-out. An opt-out
    without a time (the provider does not say when) is stored at `fetched_at`. Rows that earlier
    versions stored twice are merged into the earliest.
    """
    if not found:
        return 0
    rows: dict[tuple[str, str], tuple] = {}
    for email, occurred_at, kind in found:
        key = (email.strip().lower(), kind)
        row = (
            provider,
            sync_name,
            target,
            email,
            key[0],
            kind,
            _naive_utc(occurred_at or fetched_at),
            _naive_utc(fetched_at),
        )
        if key not in rows or row[6] < rows[key][6]:
            rows[key] = row
    _merge_duplicate_unsubscribes(con)
    con.register("_sync_unsubscribes", _arrow("provider_unsubscribes", list(rows.values())))
    try:
        added = con.execute(
            f"insert into {SCHEMA}.provider_unsubscribes select n.* from _sync_unsubscribes as n "
            f"where not exists (select 1 from {SCHEMA}.provider_unsubscribes as o where "
            "o.provider = n.provider and o.target = n.target and o.email_key = n.email_key "
            "and o.kind = n.kind) returning 1"
        ).fetchall()
    finally:
        con.unregister("_sync_unsubscribes")
    return len(added)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _merge_duplicate_unsubscribes(con: duckdb.DuckDBPyConnection) -> None:
    """Keeps the earliest row per provider, target, address and kind (older versions added one per
    `last_changed` Mailchimp reported)."""
    con.execute(
        f"delete from {SCHEMA}.provider_unsubscribes where rowid in (select rowid from "
        f"{SCHEMA}.provider_unsubscribes qualify row_number() over (partition by provider, target, "
        "email_key, kind order by occurred_at, fetched_at) > 1)"
    )
