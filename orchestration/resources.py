"""Dagster resources: the run's settings (raw folder, warehouse, as-of date) and the dbt CLI."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.dbt_project import crm_dbt_project
from orchestration.settings import Settings

# A run tag carrying the as-of date (YYYY-MM-DD); the nightly schedule sets it to the day before.
AS_OF_TAG = "crm_segments/as_of"


class CrmSettingsResource(dg.ConfigurableResource):
    """Reads the README's settings from the environment; a run's as-of tag wins over CRM_SEGMENTS_AS_OF."""

    def for_run(self, context: dg.OpExecutionContext | dg.AssetExecutionContext) -> Settings:
        settings = Settings.from_env()
        tagged = context.run.tags.get(AS_OF_TAG)
        if tagged:
            settings = replace(settings, as_of=date.fromisoformat(tagged))
        return settings


def build_resources() -> dict[str, object]:
    return {
        "crm_settings": CrmSettingsResource(),
        # The venv's dbt, found next to this interpreter: `make run` doesn't put the venv on PATH.
        "dbt": DbtCliResource(
            project_dir=crm_dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt")
        ),
    }
