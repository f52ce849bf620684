"""Segment syncs end to end against the strict fake platforms (tests/fake_esp) on a small warehouse.

The warehouse is written directly (tests/fake_esp/warehouse.py: the tables a sync reads), so each test
takes well under a second; tests/test_syncs_warehouse.py covers a real dbt-built warehouse.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from orchestration.__main__ import main
from orchestration.settings import PROJECT_DIR
from orchestration.syncs import state
from orchestration.syncs.config import SyncDefinition, parse_sync
from orchestration.syncs.destinations.base import Contact, DeliveryResult, Destination
from orchestration.syncs.destinations.registry import REGISTRY
from orchestration.syncs.engine import SyncReport, run_syncs
from orchestration.syncs.factory import build_destination
from tests.fake_esp import FakeMailchimp, FakeSendGrid, FakeUnisender
from tests.fake_esp.warehouse import Member, MiniWarehouse, people

pytest_plugins = ["tests.fake_esp.fixtures"]

FAST = {"base_delay": 0.001, "max_delay": 0.01}
TAG = "crm:vip"
SG_LIST = "list-rfm-champions"


@pytest.fixture
def wh(tmp_path: Path) -> MiniWarehouse:
    return MiniWarehouse(tmp_path / "crm.duckdb")


@pytest.fixture
def sync_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


def mc_env(fake: FakeMailchimp) -> dict[str, str]:
    return {"MAILCHIMP_API_KEY": fake.api_key, "MAILCHIMP_API_URL": f"{fake.url}/3.0"}


def sg_env(fake: FakeSendGrid) -> dict[str, str]:
    return {"SENDGRID_API_KEY": fake.api_key, "SENDGRID_API_URL": fake.url}


def uni_env(fake: FakeUnisender) -> dict[str, str]:
    return {"UNISENDER_API_KEY": fake.api_key, "UNISENDER_API_URL": fake.url}


def mc_sync(fake: FakeMailchimp, name: str = "vip_mailchimp", **extra: Any) -> SyncDefinition:
    options = {**FAST, **extra.pop("options", {})}
    return parse_sync(
        {
            "name": name,
            "segment": "vip",
            "destination": "mailchimp",
            "target": extra.pop("target", {"audience_id": fake.list_id, "tag": TAG}),
            "fields": {"FNAME": "first_name", "CITY": "city"},
            "options": options,
            **extra,
        }
    )


def sg_sync(name: str = "vip_sendgrid", **extra: Any) -> SyncDefinition:
    return parse_sync(
        {
            "name": name,
            "segment": "vip",
            "destination": "sendgrid",
            "target": {"list_id": SG_LIST},
            "fields": {"first_name": "first_name", "city": "city", "RFM_SEGMENT": "rfm_segment"},
            "options": {**FAST, "poll_interval": 0.001},
            **extra,
        }
    )


def uni_sync(name: str = "vip_unisender", **extra: Any) -> SyncDefinition:
    return parse_sync(
        {
            "name": name,
            "segment": "vip",
            "destination": "unisender",
            "target": {"list_id": 101},
            "fields": {"Name": "first_name", "CITY": "city"},
            "options": FAST,
            **extra,
        }
    )


def file_sync(name: str = "vip_file", **extra: Any) -> SyncDefinition:
    return parse_sync(
        {
            "name": name,
            "segment": "vip",
            "destination": "file",
            "fields": {"first_name": "first_name", "city": "city", "aov": "avg_order_value"},
            **extra,
        }
    )


def sync(
    wh: MiniWarehouse, sync_dir: Path, definition: SyncDefinition, env: dict[str, str], **kw: Any
) -> SyncReport:
    [report] = run_syncs(wh.path, [definition], sync_dir, env=env, **kw)
    return report


def counts(report: SyncReport) -> tuple[str, int, int, int, int, int]:
    return (report.status, report.sent, report.added, report.updated, report.removed, report.failed)


def emails(members: Sequence[Member]) -> set[str]:
    return {m.email for m in members if m.email}


# --- The diff -------------------------------------------------------------------------------------


def test_mailchimp_first_run_sends_all_then_nothing_then_exactly_the_diff(
    wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    members = people(1200)
    wh.set_members("vip", members)
    definition = mc_sync(fake_mailchimp)

    first = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(first) == ("success", 1200, 1200, 0, 0, 0)
    assert fake_mailchimp.tagged(TAG) == emails(members)
    assert fake_mailchimp.member("person0007@example.com").merge_fields == {"FNAME": "F7", "CITY": "Lyon"}
    assert sorted(fake_mailchimp.batch_sizes) == [200, 500, 500]
    assert fake_mailchimp.concurrency_rejections == 0 and fake_mailchimp.violations == []

    requests_before = len(fake_mailchimp.requests)
    second = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(second) == ("success", 0, 0, 0, 0, 0)
    assert second.plan["unchanged"] == 1200
    # Only the read-back of opt-outs (two GETs: unsubscribed and cleaned) reached the platform.
    assert [r.method for r in fake_mailchimp.requests[requests_before:]] == ["GET", "GET"]

    changed = [*members[:5], Member("c0005", "person0005@example.com", "F5", "Paris"), *members[6:1199]]
    changed += people(2, start=5000)
    wh.set_members("vip", changed)
    third = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(third) == ("success", 4, 2, 1, 1, 0)  # 2 new, 1 moved city, c1199 left
    assert fake_mailchimp.batch_sizes[-1] == 3  # the two adds and the one update, nothing else
    assert fake_mailchimp.tagged(TAG) == emails(changed)
    assert fake_mailchimp.member("person0005@example.com").merge_fields["CITY"] == "Paris"
    left = fake_mailchimp.member("person1199@example.com")
    assert left.tags == set() and left.status == "subscribed"  # untagged, not unsubscribed
    assert wh.delivered("vip_mailchimp") == emails(changed)


def test_audit_rows_have_the_exact_counts(wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp):
    wh.set_members("vip", [*people(3), Member("c0900", "holdout@example.com", "H", holdout=True)])
    wh.set_members("other", people(1))
    sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    wh.set_members("vip", people(2))
    sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))

    runs = wh.runs("vip_mailchimp")
    columns = ("members", "excluded_holdout", "sent", "added", "updated", "removed", "failed", "status")
    assert [tuple(run[c] for c in columns) for run in runs] == [
        (4, 1, 3, 3, 0, 0, 0, "success"),
        (2, 0, 1, 0, 0, 1, 0, "success"),
    ]
    first = runs[0]
    assert (first["destination"], first["target"], first["segment_key"], first["mode"]) == (
        "mailchimp",
        f"audience {fake_mailchimp.list_id}, tag '{TAG}'",
        "vip",
        "mirror",
    )
    assert first["as_of_date"] == date(2024, 6, 30) and first["error"] is None
    assert first["started_at"] <= first["finished_at"] <= runs[1]["started_at"]


def test_holdout_members_are_never_synced(wh: MiniWarehouse, sync_dir: Path, fake_unisender: FakeUnisender):
    wh.set_members("vip", [*people(2), Member("c0100", "control@example.com", "C", holdout=True)])
    report = sync(wh, sync_dir, uni_sync(), uni_env(fake_unisender))
    assert (report.added, report.excluded_holdout) == (2, 1)
    assert fake_unisender.on_list("101") == emails(people(2))

    included = uni_sync(exclude_holdout=False)
    assert sync(wh, sync_dir, included, uni_env(fake_unisender)).added == 1
    assert "control@example.com" in fake_unisender.on_list("101")


def test_mirror_removes_and_upsert_keeps_those_who_left(
    wh: MiniWarehouse, sync_dir: Path, fake_sendgrid: FakeSendGrid, fake_unisender: FakeUnisender
):
    env = {**sg_env(fake_sendgrid), **uni_env(fake_unisender)}
    wh.set_members("vip", people(4))
    mirror, upsert = sg_sync(), uni_sync(mode="upsert")
    assert [counts(r) for r in run_syncs(wh.path, [mirror, upsert], sync_dir, env=env)] == [
        ("success", 4, 4, 0, 0, 0),
        ("success", 4, 4, 0, 0, 0),
    ]
    wh.set_members("vip", people(2))
    mirrored, upserted = run_syncs(wh.path, [mirror, upsert], sync_dir, env=env)

    assert counts(mirrored) == ("success", 2, 0, 0, 2, 0)
    assert fake_sendgrid.on_list(SG_LIST) == emails(people(2))
    assert set(fake_sendgrid.contacts) == emails(people(4))  # removed from the list, not deleted
    assert counts(upserted) == ("success", 0, 0, 0, 0, 0) and upserted.plan["kept"] == 2
    assert fake_unisender.on_list("101") == emails(people(4))
    assert fake_sendgrid.violations == [] and fake_unisender.violations == []


def test_a_mass_removal_is_refused_until_allowed(
    wh: MiniWarehouse, sync_dir: Path, fake_unisender: FakeUnisender
):
    env = uni_env(fake_unisender)
    wh.set_members("vip", people(300))
    assert counts(sync(wh, sync_dir, uni_sync(), env)) == ("success", 300, 300, 0, 0, 0)
    # A broken rule empties two thirds of the segment: 200 removals, 67% of the delivered > 50%.
    wh.set_members("vip", people(100))
    dry = sync(wh, sync_dir, uni_sync(), env, dry_run=True)
    assert dry.plan["remove"] == 200
    assert dry.warnings == [
        "a real run would be refused: it would remove 200 of the 300 delivered contacts (67%, more than "
        "option max_remove_share 50%); nothing was sent. If the segment really shrank, run again with "
        "--allow-mass-removal (Dagster: run config allow_mass_removal: true)"
    ]
    refused = sync(wh, sync_dir, uni_sync(), env)
    assert counts(refused) == ("failed", 0, 0, 0, 0, 0) and not refused.retryable
    assert refused.error is not None and refused.error.startswith("it would remove 200 of the 300")
    assert len(fake_unisender.on_list("101")) == 300 and len(wh.delivered("vip_unisender")) == 300
    # A looser limit for this sync, or the go-ahead for one run, lets it through.
    loose = uni_sync(options={**FAST, "max_remove_share": 0.7})
    assert sync(wh, sync_dir, loose, env, dry_run=True).warnings == []
    allowed = sync(wh, sync_dir, uni_sync(), env, allow_mass_removal=True)
    assert counts(allowed) == ("success", 200, 0, 0, 200, 0)
    assert fake_unisender.on_list("101") == emails(people(100))
    # 100 removals or fewer are never held back, whatever their share.
    wh.set_members("vip", [])
    assert counts(sync(wh, sync_dir, uni_sync(), env)) == ("success", 100, 0, 0, 100, 0)


def test_sendgrid_sync_lands_fields_and_custom_fields(
    wh: MiniWarehouse, sync_dir: Path, fake_sendgrid: FakeSendGrid
):
    wh.set_members("vip", [Member("c1", "Ann@Example.com", "Ann", None, rfm_segment="VIP")])
    report = sync(wh, sync_dir, sg_sync(), sg_env(fake_sendgrid))
    assert counts(report) == ("success", 1, 1, 0, 0, 0)
    contact = fake_sendgrid.contacts["ann@example.com"]
    assert (contact["first_name"], contact["city"], contact["custom_fields"]) == ("Ann", "", {"e1_T": "VIP"})


def test_mailchimp_static_segment_target(wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp):
    fake_mailchimp.add_static_segment(4242)
    definition = mc_sync(
        fake_mailchimp, target={"audience_id": fake_mailchimp.list_id, "static_segment_id": 4242}
    )
    wh.set_members("vip", people(700))
    assert counts(sync(wh, sync_dir, definition, mc_env(fake_mailchimp))) == ("success", 700, 700, 0, 0, 0)
    assert fake_mailchimp.in_segment(4242) == emails(people(700))
    assert max(fake_mailchimp.segment_call_sizes) == 500

    wh.set_members("vip", people(650))
    assert counts(sync(wh, sync_dir, definition, mc_env(fake_mailchimp))) == ("success", 50, 0, 0, 50, 0)
    assert fake_mailchimp.in_segment(4242) == emails(people(650))
    assert len(fake_mailchimp.members) == 700 and fake_mailchimp.tagged(TAG) == set()


def test_file_destination_writes_csv_and_jsonl(wh: MiniWarehouse, sync_dir: Path):
    wh.set_members(
        "vip",
        [
            Member("c2", "bea@example.com", "Bea", "Lyon", aov=Decimal("5200.50")),
            Member("c1", "al@example.com", "Al", None, aov=Decimal("100.00")),
            Member("c3", "cy@example.com", "Cy", "Oslo"),
        ],
    )
    assert counts(sync(wh, sync_dir, file_sync(), {})) == ("success", 3, 3, 0, 0, 0)
    folder = sync_dir / "vip_file"
    assert (folder / "vip.csv").read_text() == (
        "email,first_name,city,aov\n"
        "al@example.com,Al,,100\n"
        "bea@example.com,Bea,Lyon,5200.5\n"
        "cy@example.com,Cy,Oslo,\n"
    )
    wh.set_members("vip", [Member("c1", "al@example.com", "Al", "Nice", aov=Decimal("100.00"))])
    assert counts(sync(wh, sync_dir, file_sync(), {})) == ("success", 3, 0, 1, 2, 0)
    assert [json.loads(line) for line in (folder / "vip.jsonl").read_text().splitlines()] == [
        {"email": "al@example.com", "fields": {"aov": 100, "city": "Nice", "first_name": "Al"}}
    ]
    assert (folder / "vip.csv").read_text() == "email,first_name,city,aov\nal@example.com,Al,Nice,100\n"
    wh.set_members("vip", [])
    assert counts(sync(wh, sync_dir, file_sync(), {})) == ("success", 1, 0, 0, 1, 0)
    assert (folder / "vip.csv").read_text() == "email,first_name,city,aov\n"  # same header, no rows
    assert (folder / "vip.jsonl").read_text() == ""


def test_deleted_files_or_a_new_target_get_everything_again(
    wh: MiniWarehouse, sync_dir: Path, fake_unisender: FakeUnisender
):
    wh.set_members("vip", people(3))
    sync(wh, sync_dir, file_sync(), {})
    (sync_dir / "vip_file" / "vip.jsonl").unlink()
    report = sync(wh, sync_dir, file_sync(), {})
    assert counts(report) == ("success", 3, 0, 3, 0, 0)
    assert "target is empty or gone" in report.warnings[0]
    assert len((sync_dir / "vip_file" / "vip.jsonl").read_text().splitlines()) == 3

    sync(wh, sync_dir, uni_sync(), uni_env(fake_unisender))
    moved = parse_sync({**_as_dict(uni_sync()), "target": {"list_id": 202}})
    report = sync(wh, sync_dir, moved, uni_env(fake_unisender))
    assert counts(report) == ("success", 3, 3, 0, 0, 0)
    assert fake_unisender.on_list("202") == emails(people(3))
    assert "target changed" in report.warnings[0]


def _as_dict(definition: SyncDefinition) -> dict[str, Any]:
    return {
        "name": definition.name,
        "segment": definition.segment,
        "destination": definition.destination,
        "target": dict(definition.target),
        "fields": {f.destination_field: f.source for f in definition.fields},
        "mode": definition.mode,
        "options": dict(definition.options),
    }


def test_full_resync_sends_every_member(wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp):
    wh.set_members("vip", people(3))
    sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    fake_mailchimp.member("person0001@example.com").tags.clear()  # someone untagged it by hand
    report = sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp), full_resync=True)
    assert counts(report) == ("success", 3, 0, 3, 0, 0)
    assert fake_mailchimp.tagged(TAG) == emails(people(3))
    assert wh.runs("vip_mailchimp")[-1]["full_resync"] is True


def test_an_older_segment_is_not_delivered_over_a_newer_one(wh: MiniWarehouse, sync_dir: Path):
    wh.set_members("vip", people(3))
    sync(wh, sync_dir, file_sync(), {})
    wh.set_members("vip", people(1), as_of=date(2024, 5, 31))
    report = sync(wh, sync_dir, file_sync(), {})
    assert report.status == "skipped" and report.sent == 0
    assert "as of 2024-05-31, before the 2024-06-30 already delivered" in (report.error or "")
    assert len((sync_dir / "vip_file" / "vip.jsonl").read_text().splitlines()) == 3


# --- Consent --------------------------------------------------------------------------------------


def test_opted_out_contacts_are_never_subscribed_and_leave_the_tag(
    wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    members = [
        *people(3),
        Member("c0100", "unsubscribed@example.com", "U"),  # unsubscribe event in the CRM
        Member("c0101", "complained@example.com", "C"),  # complaint event
        Member("c0102", "optout@example.com", "O", opt_in=False),  # CRM opt-in false
        Member("c0103", "gone@example.com", "G"),  # unsubscribed at Mailchimp itself
        Member("c0104", "unknown@example.com", "K", opt_in=None),  # opt-in unknown: not an opt-out
    ]
    wh.set_members("vip", members)
    wh.add_event("c0100", "unsubscribe")
    wh.add_event("c0101", "complaint")
    fake_mailchimp.add_member("gone@example.com", "unsubscribed", last_changed="2024-06-01T10:00:00+00:00")

    report = sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    assert counts(report) == ("success", 4, 4, 0, 0, 0)
    assert (report.excluded_consent, report.unsubscribes_found) == (4, 1)
    assert fake_mailchimp.tagged(TAG) == {*emails(people(3)), "unknown@example.com"}
    for email in ("unsubscribed@example.com", "complained@example.com", "optout@example.com"):
        assert fake_mailchimp.member(email) is None  # never sent: never subscribed
    assert fake_mailchimp.member("gone@example.com").status == "unsubscribed"
    assert fake_mailchimp.violations == []
    # The provider's opt-out is stored as a warehouse fact for every later run and every platform.
    assert wh.query("select provider, email, kind from sync_state.provider_unsubscribes") == [
        ("mailchimp", "gone@example.com", "unsubscribed")
    ]

    # Someone delivered opts out later: the tag goes, the subscription status stays as Mailchimp has it.
    wh.add_event("c0001", "unsubscribe", at=datetime(2024, 6, 20))
    report = sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    assert counts(report) == ("success", 1, 0, 0, 1, 0)
    assert "person0001@example.com" not in fake_mailchimp.tagged(TAG)
    assert fake_mailchimp.member("person0001@example.com").status == "subscribed"
    assert fake_mailchimp.violations == []


def test_an_opt_out_is_removed_even_in_upsert_mode_and_require_opt_in(
    wh: MiniWarehouse, sync_dir: Path, fake_unisender: FakeUnisender
):
    wh.set_members("vip", [*people(2), Member("c0104", "unknown@example.com", "K", opt_in=None)])
    assert sync(wh, sync_dir, uni_sync(mode="upsert"), uni_env(fake_unisender)).added == 3
    wh.set_opt_in("c0000", False)
    report = sync(wh, sync_dir, uni_sync(mode="upsert"), uni_env(fake_unisender))
    assert counts(report) == ("success", 1, 0, 0, 1, 0)
    assert fake_unisender.on_list("101") == {"person0001@example.com", "unknown@example.com"}
    assert fake_unisender.contacts["person0000@example.com"].status == "new"  # excluded, not unsubscribed
    assert fake_unisender.violations == []

    strict = uni_sync(name="vip_unisender_opted_in", require_opt_in=True, target={"list_id": 202})
    report = sync(wh, sync_dir, strict, uni_env(fake_unisender))
    assert (report.added, report.excluded_consent) == (1, 2)
    assert fake_unisender.on_list("202") == {"person0001@example.com"}


def test_an_opt_out_read_from_one_platform_holds_on_another(
    wh: MiniWarehouse, sync_dir: Path, fake_sendgrid: FakeSendGrid, fake_unisender: FakeUnisender
):
    wh.set_members("vip", people(3))
    fake_sendgrid.global_unsubscribes["person0002@example.com"] = 1_717_000_000
    fake_sendgrid.spam_reports["person0001@example.com"] = 1_717_000_500
    env = {**sg_env(fake_sendgrid), **uni_env(fake_unisender)}
    sendgrid, unisender = run_syncs(wh.path, [sg_sync(), uni_sync()], sync_dir, env=env)
    assert (sendgrid.added, sendgrid.unsubscribes_found) == (1, 2)
    assert fake_unisender.on_list("101") == {"person0000@example.com"}  # never sent to Unisender either
    assert fake_sendgrid.global_unsubscribes == {"person0002@example.com": 1_717_000_000}  # untouched
    assert wh.query(
        "select email, kind, occurred_at from sync_state.provider_unsubscribes order by email"
    ) == [
        ("person0001@example.com", "complained", datetime(2024, 5, 29, 16, 35)),
        ("person0002@example.com", "unsubscribed", datetime(2024, 5, 29, 16, 26, 40)),
    ]
    # Read again on the next run (with an overlap): stored once.
    run_syncs(wh.path, [sg_sync()], sync_dir, env=env)
    assert wh.query("select count(*) from sync_state.provider_unsubscribes") == [(2,)]


def test_unisender_opt_outs_flow_back_once_and_are_never_sent_again(
    wh: MiniWarehouse, sync_dir: Path, fake_unisender: FakeUnisender
):
    wh.set_members("vip", people(3))
    fake_unisender.add_contact("person0002@example.com", "unsubscribed", {"101"})
    fake_unisender.add_contact("person0001@example.com", "active", set(), unsubscribed_lists={"101"})
    (report,) = run_syncs(wh.path, [uni_sync()], sync_dir, env=uni_env(fake_unisender))
    assert (report.unsubscribes_found, report.added) == (2, 1)
    assert fake_unisender.on_list("101") == {"person0000@example.com", "person0002@example.com"}
    assert fake_unisender.contacts["person0002@example.com"].status == "unsubscribed"
    stored = wh.query(
        "select email, kind, occurred_at = fetched_at from sync_state.provider_unsubscribes order by email"
    )
    # Unisender does not say when: stamped with the run that first saw them.
    assert stored == [
        ("person0001@example.com", "unsubscribed", True),
        ("person0002@example.com", "unsubscribed", True),
    ]
    # The export is read in full every run; what is already stored is not stored again.
    (again,) = run_syncs(wh.path, [uni_sync()], sync_dir, env=uni_env(fake_unisender))
    assert (again.unsubscribes_found, again.added) == (0, 0)
    assert wh.query("select count(*) from sync_state.provider_unsubscribes") == [(2,)]
    assert fake_unisender.violations == []


def test_cleaned_members_are_never_written_to_and_their_bounce_is_stored_once(
    wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    """A cleaned (bounced) member still in the segment: a write would move its `last_changed`, and the
    next read-back would take it for a new opt-out. The sync never writes to it, and stores it once."""
    bounced = "person0001@example.com"
    fake_mailchimp.add_member(bounced, "cleaned", {"FNAME": "Old"}, last_changed="2024-06-10T08:00:00+00:00")
    wh.set_members("vip", people(3))
    definition = mc_sync(fake_mailchimp)

    first = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(first) == ("success", 2, 2, 0, 0, 0)
    assert (first.excluded_consent, first.unsubscribes_found) == (1, 1)
    # The fields of every member change: the two others are updated, the cleaned one is not touched.
    wh.set_members("vip", people(3, city="Paris"))
    second = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(second) == ("success", 2, 0, 2, 0, 0)
    assert (second.excluded_consent, second.unsubscribes_found) == (1, 0)

    assert fake_mailchimp.writes_to(bounced) == []
    member = fake_mailchimp.member(bounced)
    assert (member.status, member.merge_fields, member.last_changed, member.tags) == (
        "cleaned",
        {"FNAME": "Old"},
        "2024-06-10T08:00:00+00:00",
        set(),
    )
    assert fake_mailchimp.writes_to("person0000@example.com") == ["created", "tags", "updated", "tags"]
    assert wh.query("select email_key, kind, occurred_at from sync_state.provider_unsubscribes") == [
        (bounced, "cleaned", datetime(2024, 6, 10, 8))
    ]
    assert fake_mailchimp.violations == []


def test_a_delivered_member_who_bounces_leaves_the_tag_once_and_is_then_left_alone(
    wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    wh.set_members("vip", people(2))
    definition = mc_sync(fake_mailchimp)
    sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    bounced = fake_mailchimp.member("person0000@example.com")
    bounced_at = datetime.now(UTC).replace(microsecond=0)  # a hard bounce in a campaign, just now
    bounced.status, bounced.last_changed = "cleaned", bounced_at.isoformat()

    second = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(second) == ("success", 1, 0, 0, 1, 0)  # off the tag (mirror), nothing else
    assert (second.excluded_consent, second.unsubscribes_found) == (1, 1)
    wh.set_members("vip", people(2, city="Paris"))
    third = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(third) == ("success", 1, 0, 1, 0, 0)  # only person0001's new city

    assert fake_mailchimp.writes_to("person0000@example.com") == ["created", "tags", "tags"]
    assert (bounced.status, bounced.tags, bounced.merge_fields["CITY"]) == ("cleaned", set(), "Lyon")
    assert wh.query("select email_key, kind, occurred_at from sync_state.provider_unsubscribes") == [
        ("person0000@example.com", "cleaned", bounced_at.replace(tzinfo=None))
    ]
    assert fake_mailchimp.violations == []


def test_provider_unsubscribes_hold_one_row_per_address_and_kind(tmp_path: Path):
    """Seen again with a later time (Mailchimp's last_changed moved), an opt-out is not stored again;
    duplicates an earlier version stored are merged into the earliest row."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        state.ensure_state(con)
        legacy = "insert into sync_state.provider_unsubscribes values ('mailchimp', 's', 't', ?, ?, ?, ?, ?)"
        for at in (datetime(2024, 6, 30, 21), datetime(2024, 6, 10, 8)):
            con.execute(legacy, ["A@example.com", "a@example.com", "cleaned", at, at])
        found = [
            ("a@example.com", datetime(2024, 7, 1, 3), "cleaned"),
            ("A@Example.com", datetime(2024, 7, 2, 3), "cleaned"),
            ("a@example.com", datetime(2024, 6, 1), "unsubscribed"),
            ("b@example.com", None, "cleaned"),
        ]
        added = state.store_unsubscribes(con, "mailchimp", "s", "t", found, datetime(2024, 7, 3))
        again = state.store_unsubscribes(con, "mailchimp", "s2", "t", found, datetime(2024, 7, 4))
        rows = con.execute(
            "select email_key, kind, occurred_at from sync_state.provider_unsubscribes order by all"
        ).fetchall()
    assert (added, again) == (2, 0)
    assert rows == [
        ("a@example.com", "cleaned", datetime(2024, 6, 10, 8)),
        ("a@example.com", "unsubscribed", datetime(2024, 6, 1)),
        ("b@example.com", "cleaned", datetime(2024, 7, 3)),
    ]


def test_a_sync_state_from_before_the_shared_email_count_gets_the_column(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        old = ", ".join(f"{name} {kind}" for name, kind in state.TABLES["sync_runs"][:-1])
        con.execute("create schema sync_state")
        con.execute(f"create table sync_state.sync_runs ({old})")
        con.execute("insert into sync_state.sync_runs (run_id, status) values ('r0', 'success')")
        state.ensure_state(con)
        state.ensure_state(con)  # idempotent
        columns = con.execute(
            "select column_name, lower(data_type) from information_schema.columns "
            "where table_schema = 'sync_state' and table_name = 'sync_runs' order by ordinal_position"
        ).fetchall()
        kept = con.execute("select run_id, excluded_shared_email from sync_state.sync_runs").fetchall()
    assert columns == state.TABLES["sync_runs"]
    assert kept == [("r0", None)]


SYNC_RUNS_COLUMNS = [
    ("run_id", "varchar"),
    ("sync_name", "varchar"),
    ("destination", "varchar"),
    ("target", "varchar"),
    ("segment_key", "varchar"),
    ("mode", "varchar"),
    ("as_of_date", "date"),
    ("full_resync", "boolean"),
    ("started_at", "timestamp"),
    ("finished_at", "timestamp"),
    ("members", "bigint"),
    ("excluded_holdout", "bigint"),
    ("excluded_consent", "bigint"),
    ("excluded_no_email", "bigint"),
    ("sent", "bigint"),
    ("added", "bigint"),
    ("updated", "bigint"),
    ("removed", "bigint"),
    ("failed", "bigint"),
    ("status", "varchar"),
    ("error", "varchar"),
    ("excluded_shared_email", "bigint"),
]


def test_the_sync_state_ddl_is_one_macro_that_python_and_dbt_both_run(tmp_path: Path):
    models_dir = PROJECT_DIR / "dbt_project" / "models" / "syncs"
    sources = yaml.safe_load((models_dir / "_syncs__sources.yml").read_text())["sources"]
    [source] = [s for s in sources if s["name"] == "sync_state"]
    declared = sorted(table["name"] for table in source["tables"])
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        state.ensure_state(con)
        created = con.execute(
            "select table_name, column_name, lower(data_type) from information_schema.columns "
            "where table_schema = 'sync_state' order by table_name, ordinal_position"
        ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in created:
        tables.setdefault(table, []).append((column, kind))
    assert declared == ["delivered", "provider_unsubscribes", "sync_row_errors", "sync_runs", "targets"]
    assert sorted(tables) == declared
    assert tables == state.TABLES
    assert tables["sync_runs"] == SYNC_RUNS_COLUMNS
    assert [name for name, _ in tables["provider_unsubscribes"]] == [
        "provider", "sync_name", "target", "email", "email_key", "kind", "occurred_at", "fetched_at",
    ]  # fmt: skip
    # dbt runs the same macro: the only pre-hook creating sync_state calls it, and no other SQL does.
    models = yaml.safe_load((models_dir / "_syncs__models.yml").read_text())["models"]
    hooks = {m["name"]: m.get("config", {}).get("pre_hook") for m in models}
    assert hooks == {
        "sync_runs": None,
        "sync_row_errors": None,
        "stg_sync__provider_unsubscribes": ["{{ sync_state_ddl() }}"],
    }
    assert state.DDL_PATH == PROJECT_DIR / "dbt_project" / "macros" / "sync_state_ddl.sql"
    assert "{% macro sync_state_ddl() %}" in state.DDL_PATH.read_text()
    dbt_sql = [p for p in (PROJECT_DIR / "dbt_project").rglob("*.s*l") if p != state.DDL_PATH]
    assert [str(p) for p in dbt_sql if "create table if not exists sync_state" in p.read_text()] == []


def test_no_dbt_test_lists_the_platforms():
    """Adding a platform touches no dbt YAML: no accepted_values test names a destination."""
    listed = []
    for path in (PROJECT_DIR / "dbt_project").rglob("*.yml"):
        document = yaml.safe_load(path.read_text())
        models = document.get("models") or [] if isinstance(document, dict) else []
        for model in models:
            for column in model.get("columns") or []:
                tests = [t for t in column.get("data_tests") or [] if isinstance(t, dict)]
                for test in tests:
                    values = test.get("accepted_values", {}).get("arguments", {}).get("values", [])
                    if set(map(str, values)) & set(REGISTRY):
                        listed.append(f"{model['name']}.{column['name']}")
    assert listed == []


def test_sync_counts_add_up_to_the_members(wh: MiniWarehouse, sync_dir: Path):
    """Every member is delivered or left out for exactly one reason, shared addresses included."""
    wh.set_members(
        "vip",
        [
            *people(3),
            Member("c0100", "optout@example.com", "O", opt_in=False),
            Member("c0101", "control@example.com", "C", holdout=True),
            Member("c0102", None, "N"),
            Member("c0103", "shared@example.com", "First"),
            Member("c0104", "Shared@Example.com", "Second"),
            Member("c0105", "shared@example.com", "Third"),
        ],
    )
    report = sync(wh, sync_dir, file_sync(), {})
    parts = (
        report.to_deliver,
        report.excluded_consent,
        report.excluded_holdout,
        report.excluded_no_email,
        report.excluded_shared_email,
    )
    assert (report.members, parts) == (9, (4, 1, 1, 1, 2))
    assert sum(parts) == report.members
    assert report.added == 4
    assert report.format().splitlines()[1] == (
        "  9 members as of 2024-06-30: 4 to deliver; left out 1 opted out, 1 holdout, 1 without email, "
        "2 sharing an email with another member"
    )
    assert report.metadata()["excluded_shared_email"] == 2
    [run] = wh.runs("vip_file")
    assert (run["members"], run["excluded_shared_email"]) == (9, 2)


# --- Errors ---------------------------------------------------------------------------------------


def test_rejected_rows_are_recorded_and_retried_until_accepted(
    wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    wh.set_members("vip", [*people(3), Member("c0100", "typo@example.com", "T")])
    fake_mailchimp.rejected.add("typo@example.com")
    reason = "typo@example.com looks fake or invalid, please enter a real email address."

    first = sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    assert counts(first) == ("partial", 4, 3, 0, 0, 1)
    assert wh.row_errors("vip_mailchimp") == [("typo@example.com", "upsert", reason, 1, True)]
    assert fake_mailchimp.tagged(TAG) == emails(people(3))

    second = sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    assert counts(second) == ("partial", 1, 0, 0, 0, 1)  # only the rejected row is tried again
    assert wh.row_errors("vip_mailchimp") == [("typo@example.com", "upsert", reason, 2, True)]

    fake_mailchimp.rejected.clear()
    third = sync(wh, sync_dir, mc_sync(fake_mailchimp), mc_env(fake_mailchimp))
    assert counts(third) == ("success", 1, 1, 0, 0, 0)
    assert wh.row_errors("vip_mailchimp") == [("typo@example.com", "upsert", reason, 2, False)]
    assert "typo@example.com" in fake_mailchimp.tagged(TAG)


def test_an_error_that_no_longer_applies_is_resolved(wh: MiniWarehouse, sync_dir: Path, fake_unisender):
    wh.set_members("vip", [*people(1), Member("c0100", "bad@invalid.test", "B")])
    assert sync(wh, sync_dir, uni_sync(), uni_env(fake_unisender)).status == "partial"
    wh.set_members("vip", people(1))
    assert sync(wh, sync_dir, uni_sync(), uni_env(fake_unisender)).status == "success"
    assert [row[-1] for row in wh.row_errors("vip_unisender")] == [False]


def test_platform_down_fails_loudly_with_what_was_delivered(
    wh: MiniWarehouse, sync_dir: Path, fake_unisender: FakeUnisender
):
    from tests.fake_esp import Injected

    wh.set_members("vip", people(6))
    definition = uni_sync(options={**FAST, "commit_every": 2, "max_attempts": 2, "max_connections": 1})
    imports = "importContacts"  # the opt-out export before them is not scripted
    fake_unisender.inject(
        Injected(200, passthrough=True, path_contains=imports),
        Injected(503, path_contains=imports),
        Injected(503, path_contains=imports),
    )
    report = sync(wh, sync_dir, definition, uni_env(fake_unisender))
    assert report.status == "failed" and report.retryable
    assert (report.sent, report.added, report.failed) == (4, 2, 2)
    assert report.error.startswith("unisender: upsert gave up after retries (2 attempt(s), last: HTTP 503)")
    assert report.error.endswith(
        "this run delivered 2 added, 0 updated, 0 removed before stopping; the next run sends the rest"
    )
    assert wh.delivered("vip_unisender") == emails(people(2))

    assert counts(sync(wh, sync_dir, definition, uni_env(fake_unisender))) == ("success", 4, 4, 0, 0, 0)
    assert fake_unisender.on_list("101") == emails(people(6))


# --- Crash safety ---------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class DiesAfterApplying:
    """Delegates to a real destination, and 'dies' right after the platform applied call number `fatal`:
    the worst moment, the batch is at the provider but not yet in the delivered state."""

    def __init__(self, inner: Destination, fatal: int) -> None:
        self.inner, self.fatal, self.calls = inner, fatal, 0
        self.name = inner.name

    def upsert(self, contacts: Sequence[Contact]) -> DeliveryResult:
        self.calls += 1
        result = self.inner.upsert(contacts)
        if self.calls == self.fatal:
            raise Killed("kill -9")
        return result

    def remove(self, emails: Sequence[str]) -> DeliveryResult:
        return self.inner.remove(emails)

    def fetch_unsubscribes(self, since: datetime | None = None) -> list:
        return self.inner.fetch_unsubscribes(since)

    def target_lost(self) -> bool:
        return self.inner.target_lost()

    def close(self) -> None:
        self.inner.close()


def test_crash_mid_sync_then_the_next_run_delivers_exactly_what_is_missing(
    wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    members = people(450)
    wh.set_members("vip", members)
    definition = mc_sync(fake_mailchimp, options={**FAST, "commit_every": 100})

    def dying(sync_def: SyncDefinition, folder: Path, env: Any) -> Destination:
        return DiesAfterApplying(build_destination(sync_def, folder, env), fatal=3)  # type: ignore[return-value]

    with pytest.raises(Killed):
        run_syncs(wh.path, [definition], sync_dir, env=mc_env(fake_mailchimp), destination_factory=dying)
    assert len(wh.delivered("vip_mailchimp")) == 200  # two committed batches
    assert len(fake_mailchimp.tagged(TAG)) == 300  # the third landed, its commit never happened
    assert wh.runs("vip_mailchimp")[0]["status"] == "failed"

    report = sync(wh, sync_dir, definition, mc_env(fake_mailchimp))
    assert counts(report) == ("success", 250, 250, 0, 0, 0)  # 100 again (harmless) + the 150 never sent
    assert fake_mailchimp.tagged(TAG) == emails(members)
    assert len(fake_mailchimp.members) == 450  # upserts keyed by email: no duplicates
    assert wh.delivered("vip_mailchimp") == emails(members)
    assert fake_mailchimp.violations == []


def test_a_killed_process_is_resumed_by_the_next_run(
    wh: MiniWarehouse, tmp_path: Path, sync_dir: Path, fake_mailchimp: FakeMailchimp
):
    """A real SIGKILL of `python -m orchestration.syncs` in the middle of a sync, then a normal run."""
    members = people(600)
    wh.set_members("vip", members)
    config = tmp_path / "syncs.yml"
    options = {**FAST, "commit_every": 50, "batch_size": 50, "max_connections": 2}
    config.write_text(json.dumps({"syncs": [_as_dict(mc_sync(fake_mailchimp, options=options))]}))
    env = {
        **os.environ,
        **mc_env(fake_mailchimp),
        "CRM_SEGMENTS_DUCKDB": str(wh.path),
        "CRM_SEGMENTS_SYNCS": str(config),
        "CRM_SEGMENTS_SYNC_DIR": str(sync_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.syncs"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        # Tagging batch n+1 starts after batch n was committed: at 150 tagged, at least 100 are in the state.
        while len(fake_mailchimp.tagged(TAG)) < 150 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    tagged_at_kill = len(fake_mailchimp.tagged(TAG))
    delivered = wh.delivered("vip_mailchimp")
    assert 100 <= len(delivered) < 600 and len(delivered) % 50 == 0  # whole batches only
    assert delivered <= fake_mailchimp.tagged(TAG)  # the state never claims more than the platform has
    assert tagged_at_kill < 600

    report = sync(wh, sync_dir, mc_sync(fake_mailchimp, options=options), mc_env(fake_mailchimp))
    assert counts(report) == ("success", 600 - len(delivered), 600 - len(delivered), 0, 0, 0)
    assert fake_mailchimp.tagged(TAG) == emails(members) and len(fake_mailchimp.members) == 600
    statuses = [run["status"] for run in wh.runs("vip_mailchimp")]
    assert statuses == ["interrupted", "success"]


# --- Dry run, credentials ----------------------------------------------------------------------


def test_dry_run_calls_nothing_and_changes_nothing(
    wh: MiniWarehouse,
    tmp_path: Path,
    sync_dir: Path,
    fake_mailchimp: FakeMailchimp,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    wh.set_members("vip", people(7))
    config = tmp_path / "syncs.yml"
    config.write_text(json.dumps({"syncs": [_as_dict(mc_sync(fake_mailchimp)), _as_dict(file_sync())]}))
    for name, value in {
        **mc_env(fake_mailchimp),
        "CRM_SEGMENTS_DUCKDB": str(wh.path),
        "CRM_SEGMENTS_SYNCS": str(config),
        "CRM_SEGMENTS_SYNC_DIR": str(sync_dir),
    }.items():
        monkeypatch.setenv(name, value)
    before = wh.path.read_bytes()

    assert main(["sync", "--dry-run"]) == 0
    output = capsys.readouterr().out
    assert (
        "sync vip_mailchimp: segment vip → mailchimp audience a1b2c3d4e5, tag 'crm:vip' (dry run, mirror)"
        in output
    )
    assert "would send: add 7, update 0, remove 0; unchanged 0" in output
    assert "    + person0000@example.com {CITY: 'Lyon', FNAME: 'F0'}" in output
    assert "    + … and 2 more" in output
    assert "Dry run: no API was called and nothing was changed." in output
    assert fake_mailchimp.requests == []
    assert wh.path.read_bytes() == before
    assert not sync_dir.exists()

    assert main(["sync", "--only", "vip_mailchimp"]) == 0
    wh.set_members("vip", [*people(5), Member("c0005", "person0005@example.com", "F5", "Paris")])
    requests = len(fake_mailchimp.requests)
    assert main(["sync", "--dry-run", "--only", "vip_mailchimp"]) == 0
    output = capsys.readouterr().out
    assert "would send: add 0, update 1, remove 1; unchanged 5" in output
    assert "    ~ person0005@example.com CITY: 'Lyon' → 'Paris'" in output
    assert "    - person0006@example.com (left the segment)" in output
    assert len(fake_mailchimp.requests) == requests


SECRET = "0123456789abcdef0123456789abcdef-us10"


def test_missing_key_fails_that_sync_only(wh: MiniWarehouse, sync_dir: Path, fake_mailchimp: FakeMailchimp):
    wh.set_members("vip", people(2))
    env = {"MAILCHIMP_API_URL": f"{fake_mailchimp.url}/3.0"}
    platform, local = run_syncs(wh.path, [mc_sync(fake_mailchimp), file_sync()], sync_dir, env=env)
    assert (platform.status, platform.error) == (
        "failed",
        "mailchimp: MAILCHIMP_API_KEY is not set; the sync cannot authenticate",
    )
    assert not platform.retryable
    assert counts(local) == ("success", 2, 2, 0, 0, 0)
    assert wh.runs("vip_mailchimp")[0]["error"] == platform.error
    assert fake_mailchimp.requests == []


def test_keys_never_reach_logs_errors_audit_or_metadata(
    wh: MiniWarehouse,
    sync_dir: Path,
    fake_mailchimp: FakeMailchimp,
    fake_sendgrid: FakeSendGrid,
    fake_unisender: FakeUnisender,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    wh.set_members("vip", [*people(2), Member("c0100", "bad@invalid.test", "B")])
    good = {**mc_env(fake_mailchimp), **sg_env(fake_sendgrid), **uni_env(fake_unisender)}
    wrong = {
        "MAILCHIMP_API_KEY": "fedcba9876543210fedcba9876543210-us10",
        "SENDGRID_API_KEY": "SG.wrong-key.zyxwvu",
        "UNISENDER_API_KEY": "uni-wrong-key-999",
    }
    syncs = [mc_sync(fake_mailchimp), sg_sync(), uni_sync()]
    reports = run_syncs(wh.path, syncs, sync_dir, env=good)
    reports += run_syncs(wh.path, syncs, sync_dir, env={**good, **wrong})

    assert [r.status for r in reports] == ["partial", "partial", "partial", "failed", "failed", "failed"]
    assert [r.error for r in reports[3:]] == [
        "mailchimp: the API key was refused (HTTP 401: API Key Invalid: Your API key may be invalid, "
        "or you've attempted to access the wrong datacenter.)",
        "sendgrid: the API key was refused (HTTP 401: authorization required)",
        "unisender: the API key was refused (invalid_api_key: The API key is invalid. Check the key on the "
        "'Integration and API' page.)",
    ]
    secrets = [fake_mailchimp.api_key, fake_sendgrid.api_key, fake_unisender.api_key, *wrong.values()]
    with wh.connect(read_only=True) as con:
        dumped = "".join(
            str(con.execute(f"select * from sync_state.{table}").fetchall())
            for table in ("delivered", "targets", "sync_runs", "sync_row_errors", "provider_unsubscribes")
        )
    texts = [caplog.text, dumped, *(r.format() for r in reports), *(str(r.metadata()) for r in reports)]
    for secret in secrets:
        for text in texts:
            assert secret not in text
