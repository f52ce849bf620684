"""`make docs`: one static dbt docs page with exposures for the published copy and each sync."""

import json
from datetime import date
from pathlib import Path

import pytest

from orchestration.__main__ import main
from orchestration.dbt_docs import EXPOSURES_FILE, docs_dir, sync_exposure
from orchestration.dbt_project import DOCS_TARGET_PATH, kept_target_path
from orchestration.settings import DEFAULT_COMPILED_DIR, PROJECT_DIR
from orchestration.syncs.config import parse_sync
from tests.conftest import copy_warehouse

# A file sync reading a column of another mart, and a disabled Mailchimp sync.
SYNCS_YAML = """
syncs:
  - name: vip_file
    description: VIPs for the spreadsheet.
    segment: rfm_vip
    destination: file
    fields:
      first_name: first_name
      p_alive: customer_predictions.p_alive
  - name: winback_mailchimp
    segment: weekly_winback
    destination: mailchimp
    target: {audience_id: abc123, tag: winback}
    enabled: false
    fields:
      FNAME: first_name
"""


def embedded_project(page: Path) -> tuple[dict, dict]:
    """The manifest and the catalogue that `dbt docs generate --static` writes into the page."""
    text = page.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    manifest, end = decoder.raw_decode(text, text.index("{manifest:") + len("{manifest:"))
    catalog, _ = decoder.raw_decode(text, text.index("catalog:", end) + len("catalog:"))
    return manifest, catalog


def test_a_sync_exposure_depends_on_every_mart_it_reads_and_names_its_owner():
    sync = parse_sync(
        {
            "name": "vip_file",
            "segment": "regional_vip",
            "destination": "file",
            "fields": {"p_alive": "customer_predictions.p_alive", "city": "city"},
        }
    )
    exposure = sync_exposure(sync, {"regional_vip": "regional-marketing"})
    assert exposure["name"] == "sync_vip_file"
    assert exposure["label"] == "Sync vip_file → file"
    assert exposure["depends_on"] == [
        "ref('segment_membership')",
        "ref('dim_customers')",
        "ref('customer_predictions')",
    ]
    assert exposure["owner"] == {"name": "regional-marketing"}
    assert exposure["maturity"] == "high"
    assert "Segment `regional_vip` → file" in exposure["description"]
    assert "fields p_alive, city" in exposure["description"]


@pytest.fixture(scope="module")
def docs_without_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    syncs = folder / "syncs.yml"
    syncs.write_text(SYNCS_YAML, encoding="utf-8")
    warehouse = folder / "shop.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
        patch.setenv("CRM_SEGMENTS_SYNCS", str(syncs))
        code = main(["docs"])
    assert code == 0
    return warehouse


@pytest.mark.slow
def test_docs_without_a_warehouse_hold_the_lineage_and_every_exposure(docs_without_warehouse: Path):
    warehouse = docs_without_warehouse
    page = docs_dir(warehouse) / "index.html"
    assert page == warehouse.parent / "shop_docs" / "index.html"
    manifest, catalog = embedded_project(page)
    exposures = {node["name"]: node for node in manifest["exposures"].values()}
    assert set(exposures) == {"published_copy", "segment_report", "sync_vip_file", "sync_winback_mailchimp"}
    report = exposures["segment_report"]
    assert report["url"] == "../shop_report/index.html"  # beside the docs folder, shop_docs/
    assert {"model.crm_segments.customer_rfm", "model.crm_segments.segment_uplift"} <= set(
        report["depends_on"]["nodes"]
    )
    assert exposures["sync_vip_file"]["depends_on"]["nodes"] == [
        "model.crm_segments.segment_membership",
        "model.crm_segments.dim_customers",
        "model.crm_segments.customer_predictions",
    ]
    assert exposures["sync_vip_file"]["owner"]["name"] == "crm-team"
    assert exposures["sync_winback_mailchimp"]["maturity"] == "low"
    assert "audience abc123" in exposures["sync_winback_mailchimp"]["description"]
    published = exposures["published_copy"]["depends_on"]["nodes"]
    assert {"model.crm_segments.fct_orders", "model.crm_segments.segment_kpis"} <= set(published)
    assert "model.crm_segments.quarantined_rows" in published  # audit
    assert "model.crm_segments.int_emails" not in published
    # No warehouse: the lineage is there, the catalogue (types, row counts) is empty, none was created.
    assert "model.crm_segments.segment_membership" in manifest["nodes"]
    assert catalog["nodes"] == {}
    assert not warehouse.exists()
    # The generated exposures are gone: a later parse never meets a removed sync's exposure.
    assert not (DEFAULT_COMPILED_DIR / EXPOSURES_FILE).exists()


@pytest.mark.slow
def test_docs_of_a_warehouse_carry_its_columns_and_row_counts(tiny_warehouse, tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "tiny.duckdb"
    copy_warehouse(tiny_warehouse, warehouse)
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.setenv("CRM_SEGMENTS_AS_OF", date(2024, 6, 30).isoformat())
    assert main(["docs"]) == 0
    page = tmp_path / "tiny_docs" / "index.html"
    assert f"{page}" in capsys.readouterr().out
    _, catalog = embedded_project(page)
    rfm = catalog["nodes"]["model.crm_segments.customer_rfm"]
    assert {"customer_id", "rfm_segment", "monetary"} <= set(rfm["columns"])
    assert rfm["metadata"]["schema"] == "marts"


def test_make_docs_keeps_dbts_artifacts_in_one_folder() -> None:
    """Kept between runs, so the next `make docs` parses only what changed."""
    assert kept_target_path(DOCS_TARGET_PATH, {}) == PROJECT_DIR / "target" / "docs"
    assert kept_target_path(DOCS_TARGET_PATH, {"DBT_TARGET_PATH": "/tmp/elsewhere"}) == Path("/tmp/elsewhere")
