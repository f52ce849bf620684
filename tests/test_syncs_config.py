"""The sync configuration file, credentials from the environment, validation against the warehouse,
and the diff as a pure function (with its speed on a large segment)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orchestration.settings import DEFAULT_DUCKDB_PATH, PROJECT_DIR
from orchestration.syncs.config import (
    DEFAULT_SYNCS_PATH,
    MissingCredentialsError,
    SyncConfigError,
    SyncDefinition,
    SyncSettings,
    credentials_for,
    known_secrets,
    load_syncs,
    parse_sync,
    select_syncs,
)
from orchestration.syncs.destinations.file import FileDestination
from orchestration.syncs.destinations.registry import REGISTRY
from orchestration.syncs.destinations.retry import RetryPolicy
from orchestration.syncs.destinations.spec import BuildRequest, DestinationSpec, OptionSpec
from orchestration.syncs.destinations.unisender import UnisenderDestination
from orchestration.syncs.diff import compute_plan
from orchestration.syncs.factory import build_destination
from orchestration.syncs.source import SyncSourceError, desired_contacts, prepare_desired
from orchestration.syncs.state import DeliveredRow, ensure_state, record_batch
from tests.fake_esp.warehouse import Member, MiniWarehouse, people

BASE = {
    "name": "vip_mc",
    "segment": "vip",
    "destination": "mailchimp",
    "target": {"audience_id": "a1", "tag": "t"},
}


def test_the_shipped_config_is_two_file_syncs():
    syncs = load_syncs(DEFAULT_SYNCS_PATH)
    assert [(s.name, s.segment, s.destination, s.mode) for s in syncs] == [
        ("rfm_vip_file", "rfm_vip", "file", "mirror"),
        ("weekly_winback_file", "weekly_winback", "file", "upsert"),
    ]
    assert all(s.enabled and s.exclude_holdout and not s.require_opt_in for s in syncs)
    assert [f.destination_field for f in syncs[0].fields] == [
        "first_name",
        "city",
        "rfm_segment",
        "lifecycle_status",
        "avg_order_value",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "VIP"}, "syncs[0]: name 'VIP' must be lower_snake_case"),
        ({"colour": "red"}, "sync 'vip_mc': unknown key(s) colour (allowed: "),
        ({"segment": None}, "sync 'vip_mc': segment None must be a segment key from the catalogue"),
        (
            {"destination": "hubspot"},
            "sync 'vip_mc': destination 'hubspot' must be one of mailchimp, sendgrid, unisender, file",
        ),
        ({"mode": "replace"}, "sync 'vip_mc': mode 'replace' must be mirror (add and remove) or upsert"),
        ({"exclude_holdout": "no"}, "sync 'vip_mc': exclude_holdout must be true or false, got 'no'"),
        (
            {"target": {"audience_id": "a1"}},
            "a mailchimp target needs exactly one of tag or static_segment_id",
        ),
        (
            {"target": {"audience_id": "a1", "tag": "t", "static_segment_id": 5}},
            "a mailchimp target needs exactly one of tag or static_segment_id",
        ),
        ({"target": {"tag": "t"}}, "sync 'vip_mc': target needs audience_id for mailchimp"),
        ({"target": {"audience_id": "a1", "list_id": 3}}, "target key(s) list_id are not used by mailchimp"),
        ({"target": {"audience_id": "a1", "static_segment_id": "abc"}}, "static_segment_id must be a number"),
        ({"fields": ["first_name"]}, "fields must map destination field names to warehouse columns"),
        ({"fields": {"EMAIL": "email"}}, "the email is always sent; do not map it as a field"),
        ({"fields": {"FNAME": "first name"}}, "field 'FNAME': source 'first name' must be a column name"),
        ({"fields": {"FNAME": "first_name", "fname": "city"}}, "field 'fname' is mapped twice"),
        ({"options": {"batch_size": "big"}}, "option batch_size must be a number, got 'big'"),
        ({"options": {"batch_size": 0}}, "option batch_size must be positive, got 0"),
        (
            {"options": {"max_remove_share": 1.5}},
            "option max_remove_share is a share of the delivered contacts (at most 1), got 1.5",
        ),
        ({"options": {"lang": "ru"}}, "option 'lang' is not used by mailchimp (allowed: "),
        (
            {"options": {"status_if_new": "unsubscribed"}},
            "option status_if_new must be one of subscribed, pending",
        ),
    ],
)
def test_config_mistakes_are_named(change: dict[str, Any], message: str):
    with pytest.raises(SyncConfigError) as caught:
        parse_sync({**BASE, **change})
    assert message in str(caught.value)


def test_file_targets_are_plain_relative_folders():
    file_sync = {"name": "f", "segment": "vip", "destination": "file"}
    assert parse_sync(file_sync).file_folder(Path("/out")) == Path("/out/f")
    assert parse_sync({**file_sync, "target": {"folder": "exports/vip"}}).file_folder(Path("/o")) == Path(
        "/o/exports/vip"
    )
    for folder in ("../etc", "/abs", "a/../../b"):
        with pytest.raises(SyncConfigError, match="must be a relative path of plain names"):
            parse_sync({**file_sync, "target": {"folder": folder}})


def test_file_level_checks(tmp_path: Path):
    path = tmp_path / "syncs.yml"
    path.write_text(
        "syncs: [{name: a, segment: vip, destination: file}, {name: a, segment: x, destination: file}]"
    )
    with pytest.raises(SyncConfigError, match=r"sync name 'a' is used twice"):
        load_syncs(path)
    path.write_text(
        "syncs:\n"
        "  - {name: a, segment: vip, destination: sendgrid, target: {list_id: L1}}\n"
        "  - {name: b, segment: other, destination: sendgrid, target: {list_id: L1}}\n"
    )
    with pytest.raises(
        SyncConfigError, match=r"sync 'b': delivers to the same target as sync 'a' \(sendgrid list L1\)"
    ):
        load_syncs(path)
    path.write_text("syncs: {name: a}")
    with pytest.raises(SyncConfigError, match="expected a top-level 'syncs:' list"):
        load_syncs(path)
    path.write_text("syncs: [\n")
    with pytest.raises(SyncConfigError, match="not valid YAML"):
        load_syncs(path)
    path.write_text("")
    assert load_syncs(path) == []
    with pytest.raises(SyncConfigError, match="sync configuration not found"):
        load_syncs(tmp_path / "nope.yml")


def test_select_syncs_runs_enabled_ones_or_the_named_ones():
    a = parse_sync({"name": "a", "segment": "vip", "destination": "file"})
    b = parse_sync({"name": "b", "segment": "vip", "destination": "file", "enabled": False})
    assert select_syncs([a, b], None) == [a]
    assert select_syncs([a, b], ["b"]) == [b]
    with pytest.raises(SyncConfigError, match=r"no sync named 'c' \(configured: a, b\)"):
        select_syncs([a, b], ["c"])


def test_credentials_come_from_the_environment_and_never_show():
    env = {"SENDGRID_API_KEY": "SG.secret-value", "SENDGRID_API_URL": "http://127.0.0.1:9"}
    credentials = credentials_for("sendgrid", env)
    assert (credentials.api_key, credentials.base_url) == ("SG.secret-value", "http://127.0.0.1:9")
    assert "SG.secret-value" not in repr(credentials) and "SG.secret-value" not in str(credentials)
    with pytest.raises(MissingCredentialsError) as caught:
        credentials_for("unisender", {"UNISENDER_API_KEY": "  "})
    assert str(caught.value) == "unisender: UNISENDER_API_KEY is not set; the sync cannot authenticate"


def test_an_unknown_destination_is_refused_by_the_config_and_the_factory(tmp_path: Path):
    path = tmp_path / "syncs.yml"
    path.write_text("syncs: [{name: a, segment: vip, destination: hubspot}]")
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(path)
    assert str(caught.value) == (
        "sync 'a': destination 'hubspot' must be one of mailchimp, sendgrid, unisender, file"
    )
    # A definition built in code never reaches a client of another platform.
    definition = SyncDefinition(name="a", segment="vip", destination="hubspot", target={}, fields=())
    with pytest.raises(SyncConfigError) as caught:
        build_destination(definition, tmp_path, env={"UNISENDER_API_KEY": "k"})
    assert str(caught.value) == (
        "sync 'a': destination 'hubspot' must be one of mailchimp, sendgrid, unisender, file"
    )


class _AcmeClient(FileDestination):
    """Stands for a new platform's client; records what the factory gave it."""

    def __init__(self, request: BuildRequest) -> None:
        super().__init__(request.sync_dir, request.sync.segment)
        self.request = request


def _acme_spec() -> DestinationSpec:
    def check(target: Any) -> str | None:
        return None if target["account"].startswith("acc-") else "account must start with acc-"

    return DestinationSpec(
        name="acme",
        build=_AcmeClient,
        describe=lambda sync, sync_dir: f"acme segment {sync.target['segment']}",
        default_commit_every=777,
        required_target=frozenset({"account", "segment"}),
        check_target=check,
        options={"region": OptionSpec(str, choices=("eu", "us")), "max_attempts": OptionSpec(int)},
        api_key_env="ACME_API_KEY",
        api_url_env="ACME_API_URL",
        default_retry=RetryPolicy(max_attempts=2),
    )


def test_a_registered_spec_drives_validation_defaults_credentials_and_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(REGISTRY, "acme", _acme_spec())
    base = {"name": "vip_acme", "segment": "vip", "destination": "acme"}

    def refused(**change: Any) -> str:
        with pytest.raises(SyncConfigError) as caught:
            parse_sync({**base, **change})
        return str(caught.value)

    assert refused(target={"account": "acc-1", "segment": "s", "list_id": 3}) == (
        "sync 'vip_acme': target key(s) list_id are not used by acme (allowed: account, segment)"
    )
    assert refused(target={"account": "acc-1"}) == "sync 'vip_acme': target needs segment for acme"
    assert refused(target={"account": "1", "segment": "s"}) == "sync 'vip_acme': account must start with acc-"
    assert refused(target={"account": "acc-1", "segment": "s"}, options={"region": "asia"}) == (
        "sync 'vip_acme': option region must be one of eu, us, got 'asia'"
    )
    assert refused(target={"account": "acc-1", "segment": "s"}, options={"lang": "en"}) == (
        "sync 'vip_acme': option 'lang' is not used by acme "
        "(allowed: commit_every, max_attempts, max_remove_share, region)"
    )
    assert refused(destination="acmee").endswith("must be one of mailchimp, sendgrid, unisender, file, acme")

    sync = parse_sync(
        {
            **base,
            "target": {"account": "acc-1", "segment": "s7"},
            "options": {"region": "eu", "max_attempts": 4, "max_remove_share": 0.9},
        }
    )
    assert (sync.commit_every, sync.describe_target(), sync.max_remove_share) == (777, "acme segment s7", 0.9)
    env = {"ACME_API_KEY": " acme-key ", "ACME_API_URL": "http://127.0.0.1:9"}
    assert known_secrets(env) == ["acme-key"]
    client = build_destination(sync, tmp_path, env)
    assert isinstance(client, _AcmeClient)
    request = client.request
    assert request.credentials is not None
    assert (request.api_key, request.base_url) == ("acme-key", "http://127.0.0.1:9")
    assert request.retry == RetryPolicy(max_attempts=4)  # the spec's default, with the sync's option
    assert dict(request.options) == {"region": "eu"}  # engine and retry options are not the client's
    with pytest.raises(MissingCredentialsError, match="^acme: ACME_API_KEY is not set"):
        build_destination(sync, tmp_path, {})


def test_engine_and_retry_options_never_reach_a_client(tmp_path: Path):
    sync = parse_sync(
        {
            "name": "vip_uni",
            "segment": "vip",
            "destination": "unisender",
            "target": {"list_id": 101},
            "options": {"max_remove_share": 0.7, "commit_every": 50, "base_delay": 0.25, "lang": "ru"},
        }
    )
    client = build_destination(sync, tmp_path, {"UNISENDER_API_KEY": "k"})
    assert isinstance(client, UnisenderDestination)
    assert client.lang == "ru"
    assert client._retrier.policy == RetryPolicy(max_attempts=3, base_delay=0.25)  # Unisender: 3 attempts
    client.close()


def test_sync_settings_from_the_environment(tmp_path: Path):
    defaults = SyncSettings.from_env({})
    assert defaults.config_path == PROJECT_DIR / "dbt_project" / "segments" / "syncs.yml"
    assert defaults.sync_dir == DEFAULT_DUCKDB_PATH.parent / "crm_segments_syncs"  # gitignored `*_syncs/`
    beside = SyncSettings.from_env({}, duckdb_path=tmp_path / "w.duckdb")
    assert beside.sync_dir == tmp_path / "w_syncs"
    # Two warehouses in one folder keep their file deliveries apart.
    a, b = (SyncSettings.from_env({}, duckdb_path=tmp_path / f"{n}.duckdb").sync_dir for n in "ab")
    assert (a, b) == (tmp_path / "a_syncs", tmp_path / "b_syncs")
    config = tmp_path / "s.yml"
    config.write_text("syncs: []")
    custom = SyncSettings.from_env(
        {"CRM_SEGMENTS_SYNCS": str(config), "CRM_SEGMENTS_SYNC_DIR": str(tmp_path)}
    )
    assert (custom.config_path, custom.sync_dir) == (config, tmp_path)
    with pytest.raises(SyncConfigError, match=r"CRM_SEGMENTS_SYNCS='/nope.yml' is not a file"):
        SyncSettings.from_env({"CRM_SEGMENTS_SYNCS": "/nope.yml"})
    with pytest.raises(SyncConfigError, match=r"CRM_SEGMENTS_SYNC_DIR=.* is not a folder"):
        SyncSettings.from_env({"CRM_SEGMENTS_SYNC_DIR": str(config)})


# --- Against the warehouse ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"X": "shoe_size"}, "sync 's': field X maps 'shoe_size', which neither marts.segment_membership nor "
         "marts.dim_customers has a column 'shoe_size'"),
        ({"X": "customer_clv.p_alive"}, "sync 's': field X maps 'customer_clv.p_alive', but the warehouse "
         "has no table marts.customer_clv"),
        ({"X": "segment_catalog.members"}, "sync 's': field X maps 'segment_catalog.members', but "
         "marts.segment_catalog has no customer_id column to join on"),
        ({"X": "dim_customers.p_alive"}, "sync 's': field X maps 'dim_customers.p_alive', which "
         "marts.dim_customers does not have a column 'p_alive'"),
    ],
)  # fmt: skip
def test_source_columns_are_checked_against_the_warehouse(
    tmp_path: Path, fields: dict[str, str], message: str
):
    wh = MiniWarehouse(tmp_path / "w.duckdb")
    wh.set_members("vip", people(1))
    definition = parse_sync({"name": "s", "segment": "vip", "destination": "file", "fields": fields})
    with wh.connect() as con, pytest.raises(SyncSourceError) as caught:
        prepare_desired(con, definition)
    assert str(caught.value) == message


def test_unknown_segment_and_missing_consent_facts_are_refused(tmp_path: Path):
    wh = MiniWarehouse(tmp_path / "w.duckdb")
    wh.set_members("vip", people(1))
    with wh.connect() as con:
        with pytest.raises(
            SyncSourceError, match=r"sync 's': segment 'vipp' is not in the segment catalogue"
        ):
            prepare_desired(con, parse_sync({"name": "s", "segment": "vipp", "destination": "file"}))
        con.execute("drop table staging.stg_crm__email_events")
        with pytest.raises(
            SyncSourceError,
            match=r"consent facts unavailable \(staging.stg_crm__email_events does not exist\); refusing",
        ):
            prepare_desired(con, parse_sync({"name": "s", "segment": "vip", "destination": "file"}))


def test_fields_from_dim_customers_and_shared_addresses(tmp_path: Path):
    wh = MiniWarehouse(tmp_path / "w.duckdb")
    wh.set_members(
        "vip",
        [
            Member("c2", "shared@example.com", "Second"),
            Member("c1", "Shared@Example.com", "First", aov=Decimal("5200.50")),
            Member("c3", None, "NoMail"),
            Member("c4", "not-an-email", "Bad"),
            Member("c5", "whole@example.com", "Whole", aov=Decimal("2500.00")),
        ],
    )
    fields = {"N": "first_name", "LAST": "last_order_at", "AOV": "avg_order_value", "HOLD": "is_holdout"}
    definition = parse_sync({"name": "s", "segment": "vip", "destination": "file", "fields": fields})
    with wh.connect() as con:
        desired = prepare_desired(con, definition)
        contacts = desired_contacts(con)
    assert (desired.members, desired.to_deliver, desired.excluded_no_email) == (5, 2, 2)
    shared, whole = contacts
    assert (shared.email_key, shared.email, shared.customer_id) == (
        "shared@example.com",
        "Shared@Example.com",
        "c1",
    )
    assert shared.fields_json == '{"AOV":5200.50,"HOLD":"false","LAST":"2024-06-01 12:00:00","N":"First"}'
    assert shared.fields == {"AOV": 5200.5, "HOLD": "false", "LAST": "2024-06-01 12:00:00", "N": "First"}
    assert whole.fields["AOV"] == 2500 and isinstance(whole.fields["AOV"], int)
    assert len(shared.fields_hash) == 64


# --- The diff ------------------------------------------------------------------------------------


def _deliver_everything(con, sync_name: str) -> None:
    ensure_state(con)
    rows = [
        DeliveredRow(c.email_key, c.email, c.customer_id, c.fields_hash, c.fields_json)
        for c in desired_contacts(con)
    ]
    record_batch(con, sync_name, "run-0", upserted=rows)


def test_the_diff_in_both_modes(tmp_path: Path):
    wh = MiniWarehouse(tmp_path / "w.duckdb")
    definition = parse_sync({"name": "s", "segment": "vip", "destination": "file", "fields": {"C": "city"}})
    wh.set_members("vip", people(5))
    with wh.connect() as con:
        prepare_desired(con, definition)
        _deliver_everything(con, "s")
    wh.set_members(
        "vip", [*people(1), *people(1, start=1, city="Nice"), *people(2, start=2), *people(1, start=7)]
    )
    wh.add_event("c0003", "unsubscribe")
    with wh.connect() as con:
        prepare_desired(con, definition)
        mirror = compute_plan(con, "s", "mirror")
        upsert = compute_plan(con, "s", "upsert")
        full = compute_plan(con, "s", "mirror", full_resync=True)
        fresh = compute_plan(con, "s", "mirror", ignore_delivered=True)

    assert [c.email for c in mirror.adds] == ["person0007@example.com"]
    assert [u.contact.email for u in mirror.updates] == ["person0001@example.com"]
    assert [(r.email, r.reason) for r in mirror.removes] == [
        ("person0003@example.com", "opted_out"),
        ("person0004@example.com", "left_segment"),
    ]
    assert mirror.counts() == {"add": 1, "update": 1, "remove": 2, "unchanged": 2, "kept": 0}
    assert [(r.email, r.reason) for r in upsert.removes] == [("person0003@example.com", "opted_out")]
    assert upsert.kept == 1
    assert full.counts()["update"] == 3 and full.counts()["unchanged"] == 0
    assert fresh.counts() == {"add": 4, "update": 0, "remove": 0, "unchanged": 0, "kept": 0}


def test_preparing_and_diffing_50k_members_takes_a_fraction_of_a_second(tmp_path: Path):
    wh = MiniWarehouse(tmp_path / "w.duckdb")
    definition = parse_sync(
        {"name": "s", "segment": "vip", "destination": "file", "fields": {"N": "first_name", "C": "city"}}
    )
    wh.set_members("vip", people(50_000))
    with wh.connect() as con:
        prepare_desired(con, definition)
        _deliver_everything(con, "s")
    changed = [Member(m.customer_id, m.email, m.first_name, "Nice" if i % 100 == 0 else m.city)
               for i, m in enumerate(people(52_500))]  # fmt: skip
    wh.set_members("vip", changed[1_000:])
    with wh.connect() as con:
        started = time.perf_counter()
        prepare_desired(con, definition)
        plan = compute_plan(con, "s", "mirror")
        elapsed = time.perf_counter() - started
    assert plan.counts() == {"add": 2_500, "update": 490, "remove": 1_000, "unchanged": 48_510, "kept": 0}
    # ~0.3 s (200k members: ~0.9 s); only the 4k rows to send reach Python. A generous bound for busy CI.
    assert elapsed < 5, f"prepare + diff took {elapsed:.2f}s"
