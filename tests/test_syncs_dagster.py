"""The syncs as Dagster assets: keys, lineage, metadata, failures, the full-resync tag."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from orchestration.assets.syncs import (
    FULL_RESYNC_TAG,
    MEMBERSHIP_KEY,
    build_sync_assets,
    load_sync_assets,
    sync_asset_key,
)
from orchestration.resources import CrmSettingsResource
from orchestration.syncs.config import load_syncs
from tests.fake_esp import FakeMailchimp
from tests.fake_esp.warehouse import MiniWarehouse, people

pytest_plugins = ["tests.fake_esp.fixtures"]


def test_the_code_location_has_one_asset_per_shipped_sync_after_segment_membership():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for name in ("rfm_vip_file", "weekly_winback_file"):
        node = graph.get(sync_asset_key(name))
        assert MEMBERSHIP_KEY in node.parent_keys
        assert node.group_name == "syncs"
    assert sync_asset_key("rfm_vip_file") in defs.resolve_job_def("nightly").asset_layer.executable_asset_keys


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_mailchimp: FakeMailchimp):
    wh = MiniWarehouse(tmp_path / "crm.duckdb")
    wh.set_members("vip", people(3))
    config = tmp_path / "syncs.yml"
    mailchimp = {
        "name": "vip_mailchimp",
        "segment": "vip",
        "destination": "mailchimp",
        "target": {"audience_id": fake_mailchimp.list_id, "tag": "vip"},
        "fields": {"FNAME": "first_name"},
        "options": {"base_delay": 0.001},
    }
    files = {"name": "vip_file", "segment": "vip", "destination": "file", "fields": {"city": "city"}}
    config.write_text(json.dumps({"syncs": [mailchimp, files]}))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(wh.path))
    monkeypatch.setenv("CRM_SEGMENTS_SYNCS", str(config))
    monkeypatch.setenv("CRM_SEGMENTS_SYNC_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("MAILCHIMP_API_URL", f"{fake_mailchimp.url}/3.0")
    monkeypatch.setenv("MAILCHIMP_API_KEY", fake_mailchimp.api_key)
    return wh, config, build_sync_assets(load_syncs(config))


def _materialize(assets: list, **kwargs: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, resources={"crm_settings": CrmSettingsResource()}, raise_on_error=False, **kwargs
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {
        event.asset_key.path[-1]: {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


def test_each_sync_materialises_with_its_counts(setup, fake_mailchimp: FakeMailchimp):
    wh, _, assets = setup
    result = _materialize(assets)
    assert result.success
    metadata = _metadata(result)
    assert {name: (m["status"], m["sent"], m["added"], m["removed"]) for name, m in metadata.items()} == {
        "vip_mailchimp": ("success", 3, 3, 0),
        "vip_file": ("success", 3, 3, 0),
    }
    assert metadata["vip_mailchimp"]["target"] == f"audience {fake_mailchimp.list_id}, tag 'vip'"
    assert fake_mailchimp.api_key not in json.dumps(metadata, default=str)

    again = _metadata(_materialize(assets, tags={FULL_RESYNC_TAG: "vip_file"}))
    assert (again["vip_mailchimp"]["sent"], again["vip_file"]["sent"]) == (0, 3)
    assert again["vip_file"]["full_resync"] is True
    assert wh.query("select count(*) from sync_state.sync_runs") == [(4,)]

    only = _metadata(_materialize(assets, selection=[sync_asset_key("vip_file")]))
    assert list(only) == ["vip_file"]


def test_a_failing_sync_fails_the_step_without_stopping_the_others_or_leaking(
    setup, monkeypatch: pytest.MonkeyPatch, fake_mailchimp: FakeMailchimp
):
    monkeypatch.setenv("MAILCHIMP_API_KEY", "fedcba9876543210fedcba9876543210-us10")
    _, _, assets = setup
    # The nightly job retries failed steps; a refused key won't heal, so the step must not be retried.
    job = dg.define_asset_job("with_retries", op_retry_policy=dg.RetryPolicy(max_retries=2))
    defs = dg.Definitions(assets=assets, jobs=[job], resources={"crm_settings": CrmSettingsResource()})
    result = defs.resolve_job_def("with_retries").execute_in_process(raise_on_error=False)
    assert not result.success
    assert list(_metadata(result)) == ["vip_file"]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    text = failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
    assert "vip_mailchimp: mailchimp: the API key was refused (HTTP 401: API Key Invalid" in text
    assert "fedcba9876543210fedcba9876543210-us10" not in text
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []


def test_syncs_do_not_run_when_the_segments_fail(setup, fake_mailchimp: FakeMailchimp):
    _, _, assets = setup

    @dg.asset(key=MEMBERSHIP_KEY)
    def broken_membership() -> None:
        raise RuntimeError("dbt test failed")

    job = dg.define_asset_job("nightly_like", selection=dg.AssetSelection.all())
    defs = dg.Definitions(
        assets=[broken_membership, *assets], jobs=[job], resources={"crm_settings": CrmSettingsResource()}
    )
    result = defs.resolve_job_def("nightly_like").execute_in_process(raise_on_error=False)
    assert not result.success
    assert result.get_asset_materialization_events() == []
    assert fake_mailchimp.requests == []


def test_a_broken_config_fails_its_own_asset_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "syncs.yml"
    config.write_text("syncs: [{name: x, segment: vip, destination: pigeon}]")
    monkeypatch.setenv("CRM_SEGMENTS_SYNCS", str(config))
    [asset] = load_sync_assets()
    assert asset.key == sync_asset_key("_config")
    result = _materialize([asset])
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert (
        "sync 'x': destination 'pigeon' must be one of mailchimp" in failure.step_failure_data.error.message
    )
