"""The diff: what a run must send, from what the segment is now and what the destination has.

Runs in DuckDB between the temp table `_sync_desired` (orchestration.syncs.source) and the delivered
state of the sync (`sync_state.delivered`), so only the rows to send come back to Python:

- add: in the segment, never delivered (or its last delivery was not confirmed);
- update: delivered, but the email or a mapped field changed (their hash differs);
- remove: delivered and opted out since (both modes: consent overrides `upsert`), or delivered and no
  longer in the segment (`mirror` only; it includes members now in the holdout or without an email).
A full resync sends every contact of the segment, changed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import duckdb

from orchestration.syncs.source import DESIRED, EXCLUDED, DesiredContact, decode_fields
from orchestration.syncs.state import SCHEMA as STATE_SCHEMA
from orchestration.syncs.state import state_exists

RemoveReason = Literal["opted_out", "left_segment"]
DELIVERED = "_sync_delivered"


@dataclass(frozen=True)
class Removal:
    email_key: str
    email: str
    customer_id: str | None
    reason: RemoveReason


@dataclass(frozen=True)
class Update:
    contact: DesiredContact
    previous_email: str
    previous_fields_json: str


@dataclass
class Plan:
    adds: list[DesiredContact] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    removes: list[Removal] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0  # upsert mode: delivered contacts who left the segment and stay on the target

    @property
    def upserts(self) -> list[DesiredContact]:
        """Adds then updates, each in email order: the order they are sent in."""
        return [*self.adds, *(update.contact for update in self.updates)]

    @property
    def total(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.removes)

    def counts(self) -> dict[str, int]:
        return {
            "add": len(self.adds),
            "update": len(self.updates),
            "remove": len(self.removes),
            "unchanged": self.unchanged,
            "kept": self.kept,
        }


def compute_plan(
    con: duckdb.DuckDBPyConnection,
    sync_name: str,
    mode: Literal["mirror", "upsert"],
    *,
    full_resync: bool = False,
    ignore_delivered: bool = False,
) -> Plan:
    """The plan for `sync_name` against `_sync_desired`; `ignore_delivered` treats the state as empty."""
    if ignore_delivered or not state_exists(con):
        con.execute(
            f"create or replace temp table {DELIVERED} (email_key varchar, email varchar, "
            "customer_id varchar, fields_hash varchar, fields_json varchar)"
        )
    else:
        con.execute(
            f"create or replace temp table {DELIVERED} as select email_key, email, customer_id, fields_hash, "
            f"fields_json from {STATE_SCHEMA}.delivered where sync_name = ?",
            [sync_name],
        )
    plan = Plan()
    columns = "d.email_key, d.email, d.customer_id, d.fields_json, d.fields_hash"
    plan.adds = [
        DesiredContact(*row)
        for row in con.execute(
            f"select {columns} from {DESIRED} as d anti join {DELIVERED} as s using (email_key) "
            "order by d.email_key"
        ).fetchall()
    ]
    changed = "true" if full_resync else "d.fields_hash <> s.fields_hash"
    plan.updates = [
        Update(DesiredContact(*row[:5]), row[5], row[6])
        for row in con.execute(
            f"select {columns}, s.email, s.fields_json from {DESIRED} as d "
            f"inner join {DELIVERED} as s using (email_key) where {changed} order by d.email_key"
        ).fetchall()
    ]
    plan.unchanged = con.execute(
        f"select count(*) from {DESIRED} as d inner join {DELIVERED} as s using (email_key) "
        f"where not ({changed})"
    ).fetchall()[0][0]
    gone = (
        f"from {DELIVERED} as s anti join {DESIRED} as d using (email_key) "
        f"left join {EXCLUDED} as x using (email_key)"
    )
    keep_the_rest = mode == "upsert"
    plan.removes = [
        Removal(email_key, email, customer_id, "opted_out" if opted_out else "left_segment")
        for email_key, email, customer_id, opted_out in con.execute(
            f"select s.email_key, s.email, s.customer_id, x.email_key is not null {gone} "
            "where x.email_key is not null or not ? order by s.email_key",
            [keep_the_rest],
        ).fetchall()
    ]
    if keep_the_rest:
        plan.kept = con.execute(f"select count(*) {gone} where x.email_key is null").fetchall()[0][0]
    return plan


def changed_fields(update: Update) -> dict[str, tuple[object, object]]:
    """field → (before, after) for a dry run's sample; the email counts as a field when its case changed."""
    before = decode_fields(update.previous_fields_json)
    after = update.contact.fields
    changes = {name: (before.get(name), value) for name, value in after.items() if before.get(name) != value}
    for name in before.keys() - after.keys():
        changes[name] = (before[name], None)
    if update.previous_email != update.contact.email:
        changes["email"] = (update.previous_email, update.contact.email)
    return changes
