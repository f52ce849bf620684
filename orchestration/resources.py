"""Dagster resources: the run's settings (raw folder, warehouse, as-of date) and the dbt CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dbt.compat import DBT_PYTHON_VERSION

from orchestration.dbt_project import crm_dbt_project
from orchestration.settings import Settings

if TYPE_CHECKING:
    from packaging.version import Version

# A run tag carrying the as-of date (YYYY-MM-DD); the nightly schedule sets it to the day before.
AS_OF_TAG = "crm_segments/as_of"


class CrmSettingsResource(dg.ConfigurableResource):
    """Reads the README's settings from the environment; a run's as-of tag wins over CRM_SEGMENTS_AS_OF.

    A run started from Python (`runner.run_nightly`: `make run`, the tests, the benchmark) passes its
    own paths and dbt vars as this resource's config; empty fields keep the environment's values.
    """

    raw_dir: str | None = None
    duckdb_path: str | None = None
    catalog_path: str | None = None
    compiled_dir: str | None = None
    published_duckdb_path: str | None = None
    # dbt vars of this run only, as a JSON object (dbt_project.yml's values otherwise).
    dbt_vars: str | None = None

    def for_run(self, context: dg.OpExecutionContext | dg.AssetExecutionContext) -> Settings:
        settings = Settings.from_env()
        given = {
            name: Path(value)
            for name, value in (
                ("raw_dir", self.raw_dir),
                ("duckdb_path", self.duckdb_path),
                ("catalog_path", self.catalog_path),
                ("compiled_dir", self.compiled_dir),
                ("published_duckdb_path", self.published_duckdb_path),
            )
            if value
        }
        settings = replace(settings, **given)
        tagged = context.run.tags.get(AS_OF_TAG)
        if tagged:
            settings = replace(settings, as_of=date.fromisoformat(tagged))
        return settings

    def extra_vars(self) -> dict[str, object] | None:
        return json.loads(self.dbt_vars) if self.dbt_vars else None


def settings_run_config(
    settings: Settings, dbt_vars: Mapping[str, object] | None = None
) -> dict[str, object]:
    """The run config that makes the job's resource give exactly `settings` (with the as-of tag)."""
    config: dict[str, object] = {
        "raw_dir": str(settings.raw_dir),
        "duckdb_path": str(settings.duckdb_path),
        "catalog_path": str(settings.catalog_path),
        "compiled_dir": str(settings.compiled_dir),
        "published_duckdb_path": str(settings.published_path),
    }
    if dbt_vars:
        config["dbt_vars"] = json.dumps(dict(dbt_vars))
    return {"crm_settings": {"config": config}}


class VenvDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI for the venv's own dbt, whose version is the imported dbt-core's.

    dagster-dbt otherwise runs `dbt --version` in a subprocess at every run to learn it.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return DBT_PYTHON_VERSION


def build_resources() -> dict[str, object]:
    return {
        "crm_settings": CrmSettingsResource(),
        # The venv's dbt, found next to this interpreter: `make run` doesn't put the venv on PATH.
        "dbt": VenvDbtCliResource(
            project_dir=crm_dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt")
        ),
    }
