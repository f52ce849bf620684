"""`make docs`: dbt docs as one static page, with exposures for the published copy, the report and each
sync.

The exposures come from what they describe: the syncs from the sync configuration, the published copy
from the schemas it copies (orchestration/publish.py), the report from its asset's dependencies. They
are generated into the compiled segments folder for the one `dbt docs generate` and removed afterwards,
so a sync removed from the configuration leaves no exposure behind that could break a later parse.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from orchestration.dbt_project import DOCS_TARGET_PATH, ensure_manifest, kept_target_path
from orchestration.dbt_runner import run_dbt
from orchestration.duckdb_profile import MARTS_SCHEMAS
from orchestration.publish import ASSET_KEY_PATH
from orchestration.segments.catalog import load_catalog_file
from orchestration.settings import Settings
from orchestration.syncs.config import SyncDefinition, SyncSettings, load_syncs
from orchestration.syncs.source import marts_read
from orchestration.warehouse_lock import wait_for_warehouse

EXPOSURES_FILE = Path("models") / "exposures" / "_generated_exposures.yml"
DEFAULT_OWNER = "crm-team"


def docs_dir(duckdb_path: Path) -> Path:
    """`<warehouse stem>_docs/` beside the warehouse (gitignored)."""
    return duckdb_path.parent / f"{duckdb_path.stem}_docs"


def sync_exposure(sync: SyncDefinition, owners: dict[str, str]) -> dict[str, Any]:
    state = "" if sync.enabled else " Disabled: runs only with `sync --only`."
    return {
        "name": f"sync_{sync.name}",
        "label": f"Sync {sync.name} → {sync.destination}",
        "type": "application",
        "maturity": "high" if sync.enabled else "low",
        "description": (
            f"{sync.description or 'Segment ' + sync.segment + ' pushed to ' + sync.destination + '.'} "
            f"Segment `{sync.segment}` → {sync.destination} ({sync.describe_target()}), mode {sync.mode}; "
            f"fields {', '.join(field.destination_field for field in sync.fields) or '(email only)'}; "
            f"the Dagster asset syncs/{sync.name}.{state}"
        ),
        "depends_on": [f"ref('{model}')" for model in marts_read(sync)],
        "owner": {"name": owners.get(sync.segment, DEFAULT_OWNER)},
        "tags": ["sync", sync.destination],
    }


def published_exposure(manifest: dict[str, Any]) -> dict[str, Any]:
    """The published copy reads every model of the schemas it copies."""
    models = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") in MARTS_SCHEMAS
    )
    return {
        "name": "published_copy",
        "label": "Published copy for BI tools",
        "type": "application",
        "maturity": "high",
        "description": (
            "The read-only copy BI tools, DBeaver and notebooks attach (`<warehouse stem>_published.duckdb`"
            f" beside the warehouse): every table of the schemas {', '.join(MARTS_SCHEMAS)}, replaced in"
            ' one rename after every successful nightly run (README, "Connect your BI tool"). The Dagster'
            f" asset {'/'.join(ASSET_KEY_PATH)}."
        ),
        "depends_on": [f"ref('{model}')" for model in models],
        "owner": {"name": DEFAULT_OWNER},
        "tags": ["bi"],
    }


def report_exposure(duckdb_path: Path) -> dict[str, Any]:
    """The segment report reads the marts its Dagster asset depends on; its link is relative to the docs
    page, both beside the warehouse."""
    from orchestration.assets.report import MART_DEPS, segment_report

    return {
        "name": "segment_report",
        "label": "Segment report",
        "type": "dashboard",
        "maturity": "high",
        "url": f"../{duckdb_path.stem}_report/index.html",
        "description": (
            "One self-contained HTML page for marketers, rebuilt by every nightly run beside the warehouse "
            "(`<warehouse stem>_report/index.html`, a dated copy per as-of date; `make report`): the morning "
            'digest, RFM, segments, predictions, cohorts and data quality (README, "The segment report"). '
            f"The Dagster asset {segment_report.key.to_user_string()}."
        ),
        "depends_on": [f"ref('{key.path[-1]}')" for key in MART_DEPS],
        "owner": {"name": DEFAULT_OWNER},
        "tags": ["report"],
    }


def write_exposures(settings: Settings, sync_settings: SyncSettings) -> Path:
    """The generated exposures file: the published copy, the report and every sync (disabled ones marked
    so)."""
    owners = {
        str(item.get("key")): str(item.get("owner") or DEFAULT_OWNER)
        for item in load_catalog_file(settings.catalog_path)
    }
    syncs = load_syncs(sync_settings.config_path)
    manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    path = settings.compiled_dir / EXPOSURES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated by `make docs` from {sync_settings.config_path.name}, then removed: do not edit.\n"
    exposures = [published_exposure(manifest), report_exposure(settings.duckdb_path)]
    exposures += [sync_exposure(sync, owners) for sync in syncs]
    document = {"version": 2, "exposures": exposures}
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def build_docs(settings: Settings, sync_settings: SyncSettings, say: Callable[[str], None]) -> Path:
    """`dbt docs generate --static` into `<warehouse stem>_docs/index.html`; returns that path.

    With no warehouse yet the page has the models, tests, lineage and exposures but no catalogue
    (column types, row counts); a warehouse another process holds is waited for, as `make run` does.
    """
    exposures = write_exposures(settings, sync_settings)
    target = kept_target_path(DOCS_TARGET_PATH, os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="crm_segments_docs_") as scratch:
            if settings.duckdb_path.exists():
                wait_for_warehouse(settings.duckdb_path, settings.lock_wait_seconds, say)
                run_dbt("docs generate", settings, "--static", target_path=target)
            else:
                say(f"No warehouse at {settings.duckdb_path} yet: the docs have no column types or sizes.")
                scratch_settings = replace(settings, duckdb_path=Path(scratch) / "empty.duckdb")
                run_dbt("docs generate", scratch_settings, "--static", "--empty-catalog", target_path=target)
            output = docs_dir(settings.duckdb_path)
            output.mkdir(parents=True, exist_ok=True)
            page = output / "index.html"
            shutil.copyfile(target / "static_index.html", page)
    finally:
        exposures.unlink(missing_ok=True)
    return page
