"""Runs one sync: read the segment, diff it against the delivered state, deliver, record.

A run, in order:
1. build the destination client (a missing API key fails this sync only, naming the variable);
2. validate the sync against the warehouse (segment, source columns, consent sources);
3. read the opt-outs the provider reports back into `sync_state.provider_unsubscribes`;
4. compute the diff (orchestration.syncs.diff) — a dry run stops here, prints it and changes nothing;
5. deliver removals, then adds and updates, `commit_every` contacts per call; after each call the
   delivered state, the row errors and the run's counts are committed in one transaction. A crash
   loses at most the call in flight, which the next run sends again (every operation is idempotent);
6. close the run in `sync_state.sync_runs` (success, partial — some rows rejected —, or failed).

Nothing here ever prints, logs or stores an API key: every message that leaves a run is scrubbed of
the keys in the environment, on top of the clients' own care.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from orchestration.duckdb_profile import connect_warehouse
from orchestration.syncs import state
from orchestration.syncs.config import MASS_REMOVAL_FLOOR, SyncConfigError, SyncDefinition, known_secrets
from orchestration.syncs.destinations.base import (
    Contact,
    DeliveryResult,
    Destination,
    DestinationAuthError,
    DestinationError,
    DestinationUnavailableError,
    chunks,
    normalize_email,
    scrub,
)
from orchestration.syncs.diff import Plan, Removal, changed_fields, compute_plan
from orchestration.syncs.factory import build_destination
from orchestration.syncs.source import (
    Catalog,
    Desired,
    DesiredContact,
    SyncSourceError,
    prepare_desired,
    validate_against_warehouse,
)
from orchestration.syncs.state import DeliveredRow, utcnow

log = logging.getLogger(__name__)

DestinationFactory = Callable[[SyncDefinition, Path, Mapping[str, str] | None], Destination]
# Re-read a provider's opt-outs from a little before the last check: clocks differ, and rows are deduplicated.
UNSUBSCRIBE_OVERLAP = timedelta(hours=1)
SAMPLE_SIZE = 5


class SyncRefused(Exception):
    """The run would do something a person should confirm first (a mass removal); nothing was sent."""


class SyncAborted(Exception):
    """The platform stayed unavailable after the retries; the message says what was and was not delivered.

    Transient by nature: running again later resumes where this run stopped.
    """


@dataclass
class SyncReport:
    """The outcome of one sync run (or dry run): what the CLI prints and Dagster shows as metadata."""

    sync: SyncDefinition
    target: str
    dry_run: bool = False
    full_resync: bool = False
    allow_mass_removal: bool = False
    run_id: str | None = None
    status: str = "running"
    as_of_date: date | None = None
    members: int = 0
    to_deliver: int = 0
    excluded_holdout: int = 0
    excluded_consent: int = 0
    excluded_no_email: int = 0
    excluded_shared_email: int = 0
    plan: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    unsubscribes_found: int = 0
    error: str | None = None
    # True when the failure may pass by itself (the platform was unavailable): worth a retry.
    retryable: bool = False
    warnings: list[str] = field(default_factory=list)
    samples: dict[str, list[str]] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("success", "partial", "skipped", "dry_run")

    def metadata(self) -> dict[str, Any]:
        """Counts and non-secret facts, for Dagster (never a key: they are not in the report at all)."""
        values: dict[str, Any] = {
            "status": self.status,
            "destination": self.sync.destination,
            "target": self.target,
            "segment": self.sync.segment,
            "mode": self.sync.mode,
            "full_resync": self.full_resync,
            "as_of_date": self.as_of_date.isoformat() if self.as_of_date else "",
            "members": self.members,
            "to_deliver": self.to_deliver,
            "excluded_holdout": self.excluded_holdout,
            "excluded_consent": self.excluded_consent,
            "excluded_no_email": self.excluded_no_email,
            "excluded_shared_email": self.excluded_shared_email,
            "sent": self.sent,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "failed": self.failed,
            "unchanged": self.plan.get("unchanged", 0),
            "provider_unsubscribes_new": self.unsubscribes_found,
            "run_id": self.run_id or "",
        }
        if self.error:
            values["error"] = self.error
        return values

    def format(self) -> str:
        mode = "dry run, " if self.dry_run else ""
        head = (
            f"sync {self.sync.name}: segment {self.sync.segment} → {self.sync.destination} {self.target} "
            f"({mode}{self.sync.mode}{', full resync' if self.full_resync else ''}) — {self.status}"
        )
        lines = [head]
        if self.as_of_date is not None or self.members:
            # Each member is counted once: to deliver + the reasons left out = members.
            left_out = (
                f"{self.excluded_consent} opted out, {self.excluded_holdout} holdout, "
                f"{self.excluded_no_email} without email"
            )
            if self.excluded_shared_email:
                left_out += f", {self.excluded_shared_email} sharing an email with another member"
            lines.append(
                f"  {self.members} members as of {self.as_of_date or '-'}: {self.to_deliver} to deliver; "
                f"left out {left_out}"
            )
        if self.plan:
            p = self.plan
            verb = "would send" if self.dry_run else "diff"
            lines.append(
                f"  {verb}: add {p.get('add', 0)}, update {p.get('update', 0)}, remove {p.get('remove', 0)}; "
                f"unchanged {p.get('unchanged', 0)}"
                + (f", kept after leaving the segment (upsert) {p['kept']}" if p.get("kept") else "")
            )
        if not self.dry_run and self.status != "skipped":
            lines.append(
                f"  sent {self.sent}: added {self.added}, updated {self.updated}, removed {self.removed}, "
                f"failed {self.failed}"
            )
        for operation, rows in self.samples.items():
            for row in rows:
                lines.append(f"    {operation} {row}")
        lines += [f"  warning: {warning}" for warning in self.warnings]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


# --- One sync -----------------------------------------------------------------------------------


def run_sync(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    sync_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    full_resync: bool = False,
    dry_run: bool = False,
    allow_mass_removal: bool = False,
    destination_factory: DestinationFactory = build_destination,
    now: Callable[[], datetime] = utcnow,
) -> SyncReport:
    """Runs (or dry-runs) one sync; returns its report. Expected failures end up in the report
    (status `failed`, `error`); anything unexpected is recorded on the run and re-raised."""
    secrets = known_secrets(env)
    report = SyncReport(
        sync,
        sync.describe_target(sync_dir),
        dry_run=dry_run,
        full_resync=full_resync,
        allow_mass_removal=allow_mass_removal,
    )
    report.started_at = now()
    if not dry_run:
        state.ensure_state(con)
        report.run_id = uuid.uuid4().hex
        state.start_run(
            con,
            report.run_id,
            sync.name,
            sync.destination,
            report.target,
            sync.segment,
            sync.mode,
            full_resync,
            report.started_at,
        )
    destination: Destination | None = None
    try:
        destination = None if dry_run else destination_factory(sync, sync_dir, env)
        _run(con, sync, sync_dir, report, destination, now)
    except (SyncSourceError, SyncConfigError, DestinationError, SyncAborted, SyncRefused) as error:
        report.status = "failed"
        report.error = scrub(str(error), *secrets)
        report.retryable = isinstance(error, SyncAborted | DestinationUnavailableError)
        log.error("sync %s failed: %s", sync.name, report.error)
    except BaseException as error:  # a crash: say so on the run, then let it propagate
        report.status = "failed"
        report.error = scrub(f"{type(error).__name__}: {error}", *secrets)
        try:
            _close_run(con, report, now)
        except Exception:  # the warehouse itself may be what failed; the original error matters more
            log.exception("sync %s: could not record the failed run", sync.name)
        raise
    finally:
        if destination is not None:
            destination.close()
    _close_run(con, report, now)
    return report


def _close_run(con: duckdb.DuckDBPyConnection, report: SyncReport, now: Callable[[], datetime]) -> None:
    report.finished_at = now()
    if report.dry_run or report.run_id is None:
        return
    state.update_run(
        con,
        report.run_id,
        finished_at=report.finished_at,
        status=report.status,
        error=report.error,
        **_run_counts(report),
    )


def _run_counts(report: SyncReport) -> dict[str, Any]:
    return {
        "as_of_date": report.as_of_date,
        "members": report.members,
        "excluded_holdout": report.excluded_holdout,
        "excluded_consent": report.excluded_consent,
        "excluded_no_email": report.excluded_no_email,
        "excluded_shared_email": report.excluded_shared_email,
        "sent": report.sent,
        "added": report.added,
        "updated": report.updated,
        "removed": report.removed,
        "failed": report.failed,
    }


def _run(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    sync_dir: Path,
    report: SyncReport,
    destination: Destination | None,
    now: Callable[[], datetime],
) -> None:
    fingerprint = sync.fingerprint(sync_dir)
    target_state = state.load_target(con, sync.name)
    retargeted = target_state.fingerprint is not None and target_state.fingerprint != fingerprint
    if retargeted:
        report.warnings.append(
            "the target changed since the last run: what was delivered to the old one is forgotten "
            "(not removed there) and every member is sent to the new one"
        )
    catalog = Catalog(con)
    validate_against_warehouse(con, sync, catalog)  # before reading anything from the provider
    if retargeted and not report.dry_run:
        # Forget the old target and record the new one together: a crash right after must not leave
        # the new fingerprint next to the old target's delivered state.
        con.begin()
        try:
            state.reset_sync(con, sync.name)
            state.save_target(con, sync.name, sync.destination, report.target, fingerprint)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    if destination is not None:
        _read_unsubscribes(con, sync, report, destination, target_state, fingerprint, retargeted, now)

    desired = prepare_desired(con, sync, catalog)
    _count_desired(report, desired)
    if (
        not report.full_resync
        and not retargeted
        and target_state.last_as_of_date is not None
        and desired.as_of_date is not None
        and desired.as_of_date < target_state.last_as_of_date
    ):
        report.status = "skipped"
        report.error = (
            f"the segment is as of {desired.as_of_date}, before the {target_state.last_as_of_date} already "
            "delivered; nothing sent (run with --full-resync to deliver this older membership anyway)"
        )
        return
    full = report.full_resync
    if destination is not None and destination.target_lost() and state.delivered_count(con, sync.name):
        report.warnings.append("the target is empty or gone though members were delivered: sending them all")
        full = True
    plan = compute_plan(con, sync.name, sync.mode, full_resync=full, ignore_delivered=retargeted)
    report.plan = plan.counts()
    mass_removal = _mass_removal(sync, len(plan.removes), state.delivered_count(con, sync.name))
    if report.dry_run:
        report.status = "dry_run"
        report.samples = _samples(plan)
        if mass_removal:
            report.warnings.append(f"a real run would be refused: {mass_removal}")
        return
    if mass_removal and not report.allow_mass_removal:
        raise SyncRefused(mass_removal)

    assert destination is not None and report.run_id is not None
    state.save_target(con, sync.name, sync.destination, report.target, fingerprint)
    _deliver(con, sync, report, destination, plan, now)
    pending = {(e.email_key, "upsert") for e in plan.upserts} | {
        (r.email_key, "remove") for r in plan.removes
    }
    state.resolve_obsolete_errors(con, sync.name, pending, now())
    report.status = "partial" if report.failed else "success"
    state.save_target(
        con,
        sync.name,
        sync.destination,
        report.target,
        fingerprint,
        last_success_at=now(),
        last_as_of_date=desired.as_of_date,
    )


def _count_desired(report: SyncReport, desired: Desired) -> None:
    report.as_of_date = desired.as_of_date
    report.members = desired.members
    report.to_deliver = desired.to_deliver
    report.excluded_holdout = desired.excluded_holdout
    report.excluded_consent = desired.excluded_consent
    report.excluded_no_email = desired.excluded_no_email
    report.excluded_shared_email = desired.excluded_shared_email


def _read_unsubscribes(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    report: SyncReport,
    destination: Destination,
    target_state: state.TargetState,
    fingerprint: str,
    retargeted: bool,
    now: Callable[[], datetime],
) -> None:
    """Stores the provider's opt-outs so this run (and every later one, on any platform) honours them.

    A refused key ends the run; any other failure to read them is a warning only: the opt-outs still
    hold at the provider, because the clients never change an existing contact's subscription status.
    """
    checked_at = now()
    since = None
    if target_state.unsubscribes_checked_at is not None and not retargeted:
        since = target_state.unsubscribes_checked_at - UNSUBSCRIBE_OVERLAP
    try:
        found = destination.fetch_unsubscribes(since)
    except DestinationAuthError:
        raise
    except DestinationError as error:
        report.warnings.append(f"could not read the provider's unsubscribes: {error}")
        return
    report.unsubscribes_found = state.store_unsubscribes(
        con,
        sync.destination,
        sync.name,
        report.target,
        [(u.email, u.occurred_at, u.kind) for u in found],
        checked_at,
    )
    if report.unsubscribes_found:
        log.info(
            "sync %s: %d new opt-outs reported by %s", sync.name, report.unsubscribes_found, sync.destination
        )
    state.save_target(
        con, sync.name, sync.destination, report.target, fingerprint, unsubscribes_checked_at=checked_at
    )


def _samples(plan: Plan) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}
    if plan.adds:
        samples["+"] = [f"{c.email} {_show(c.fields)}" for c in plan.adds[:SAMPLE_SIZE]]
    if plan.updates:
        rows = []
        for update in plan.updates[:SAMPLE_SIZE]:
            changes = changed_fields(update)
            text = ", ".join(f"{k}: {before!r} → {after!r}" for k, (before, after) in changes.items())
            rows.append(f"{update.contact.email} {text or '(unchanged, full resync)'}")
        samples["~"] = rows
    if plan.removes:
        why = {"opted_out": "opted out", "left_segment": "left the segment"}
        samples["-"] = [f"{r.email} ({why[r.reason]})" for r in plan.removes[:SAMPLE_SIZE]]
    for operation, total in (("+", len(plan.adds)), ("~", len(plan.updates)), ("-", len(plan.removes))):
        if total > SAMPLE_SIZE:
            samples[operation].append(f"… and {total - SAMPLE_SIZE} more")
    return samples


def _show(fields: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in fields.items()) + "}"


# --- Delivery -----------------------------------------------------------------------------------


def _deliver(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    report: SyncReport,
    destination: Destination,
    plan: Plan,
    now: Callable[[], datetime],
) -> None:
    """Removals first (an opt-out leaves the target before anything else happens), then upserts."""
    assert report.run_id is not None
    size = sync.commit_every
    for batch in chunks(plan.removes, size):
        _remove_batch(con, sync, report, destination, batch, now)
    adds = {contact.email_key for contact in plan.adds}
    for batch in chunks(plan.upserts, size):
        _upsert_batch(con, sync, report, destination, batch, adds, now)


class _Sent:
    """Finds what was sent from the email a destination echoes (exactly as given, else normalized)."""

    def __init__(self, items: Sequence[DesiredContact | Removal]) -> None:
        self.exact = {item.email: item for item in items}
        self.by_key = {normalize_email(item.email): item for item in items}

    def find(self, email: str) -> DesiredContact | Removal | None:
        return self.exact.get(email) or self.by_key.get(normalize_email(email))

    def matched(self, emails: Sequence[str]) -> list:
        found: dict[str, DesiredContact | Removal] = {}
        for email in emails:
            item = self.find(email)
            if item is not None:
                found.setdefault(item.email_key, item)
        return list(found.values())

    def errors(self, result: DeliveryResult, operation: str) -> list[tuple[str, str, str | None, str, str]]:
        rows = []
        for error in result.errors:
            item = self.find(error.email)
            if item is not None:
                rows.append((item.email_key, item.email, item.customer_id, operation, error.reason))
        return rows


def _upsert_batch(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    report: SyncReport,
    destination: Destination,
    batch: Sequence[DesiredContact],
    adds: set[str],
    now: Callable[[], datetime],
) -> None:
    sent = _Sent(batch)
    report.sent += len(batch)
    aborted: DestinationUnavailableError | None = None
    try:
        result = destination.upsert([Contact(c.email, c.fields) for c in batch])
    except DestinationUnavailableError as error:
        result, aborted = error.partial, error
    landed: list[DesiredContact] = sent.matched(result.upserted)
    errors = sent.errors(result, "upsert")
    report.added += sum(1 for c in landed if c.email_key in adds)
    report.updated += sum(1 for c in landed if c.email_key not in adds)
    report.failed += len(errors) + (len(aborted.undelivered) if aborted else 0)
    rows = [DeliveredRow(c.email_key, c.email, c.customer_id, c.fields_hash, c.fields_json) for c in landed]
    _commit(con, sync, report, now, upserted=rows, errors=errors)
    if aborted is not None:
        raise SyncAborted(_aborted_message(aborted, report))


def _remove_batch(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    report: SyncReport,
    destination: Destination,
    batch: Sequence[Removal],
    now: Callable[[], datetime],
) -> None:
    sent = _Sent(batch)
    report.sent += len(batch)
    aborted: DestinationUnavailableError | None = None
    try:
        result = destination.remove([r.email for r in batch])
    except DestinationUnavailableError as error:
        result, aborted = error.partial, error
    removed = [item.email_key for item in sent.matched(result.removed)]
    errors = sent.errors(result, "remove")
    report.removed += len(removed)
    report.failed += len(errors) + (len(aborted.undelivered) if aborted else 0)
    _commit(con, sync, report, now, removed=removed, errors=errors)
    if aborted is not None:
        raise SyncAborted(_aborted_message(aborted, report))


def _commit(
    con: duckdb.DuckDBPyConnection,
    sync: SyncDefinition,
    report: SyncReport,
    now: Callable[[], datetime],
    *,
    upserted: Sequence[DeliveredRow] = (),
    removed: Sequence[str] = (),
    errors: Sequence[tuple[str, str, str | None, str, str]] = (),
) -> None:
    """The batch's outcome and the run's running counts, in one transaction."""
    assert report.run_id is not None
    state.record_batch(
        con,
        sync.name,
        report.run_id,
        upserted=upserted,
        removed=removed,
        errors=errors,
        now=now(),
        run_counts=_run_counts(report),
    )
    log.info(
        "sync %s: %d upserted, %d removed, %d rejected in this batch",
        sync.name,
        len(upserted),
        len(removed),
        len(errors),
    )


def _aborted_message(error: DestinationUnavailableError, report: SyncReport) -> str:
    return (
        f"{error} — this run delivered {report.added} added, {report.updated} updated, "
        f"{report.removed} removed "
        "before stopping; the next run sends the rest"
    )


def _mass_removal(sync: SyncDefinition, removes: int, delivered: int) -> str | None:
    """Why removing `removes` of the `delivered` contacts needs a person's go-ahead, or None."""
    if removes <= MASS_REMOVAL_FLOOR or removes <= sync.max_remove_share * delivered:
        return None
    return (
        f"it would remove {removes} of the {delivered} delivered contacts ({removes / delivered:.0%}, more "
        f"than option max_remove_share {sync.max_remove_share:.0%}); nothing was sent. If the segment "
        "really shrank, run again with --allow-mass-removal (Dagster: run config allow_mass_removal: true)"
    )


# --- Several syncs ------------------------------------------------------------------------------


def run_syncs(
    duckdb_path: Path,
    syncs: Sequence[SyncDefinition],
    sync_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    full_resync: bool | Sequence[str] = False,
    dry_run: bool = False,
    allow_mass_removal: bool = False,
    destination_factory: DestinationFactory = build_destination,
) -> list[SyncReport]:
    """Runs the syncs one after another on one warehouse connection; one failing doesn't stop the others.

    `full_resync`: True for all, or the names of the syncs to resync in full.
    """
    if not duckdb_path.exists():
        raise SyncConfigError(f"the warehouse {duckdb_path} does not exist yet: run the pipeline first")
    reports = []
    try:
        connection = connect_warehouse(duckdb_path, read_only=dry_run)
    except duckdb.IOException as error:
        raise SyncConfigError(
            f"cannot open the warehouse {duckdb_path} ({error}); another process (the nightly job, a sync, "
            "a SQL client) may be writing to it — try again when it is done"
        ) from None
    with connection as con:
        for sync in syncs:
            resync = full_resync if isinstance(full_resync, bool) else sync.name in full_resync
            reports.append(
                run_sync(
                    con,
                    sync,
                    sync_dir,
                    env=env,
                    full_resync=resync,
                    dry_run=dry_run,
                    allow_mass_removal=allow_mass_removal,
                    destination_factory=destination_factory,
                )
            )
    return reports
