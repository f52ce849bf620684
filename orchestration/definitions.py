"""The Dagster code location of crm-segments: the one `Definitions` entry point."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import crm_dbt_assets
from orchestration.assets.publish import warehouse_copy
from orchestration.assets.raw import raw_files
from orchestration.assets.report import segment_report
from orchestration.assets.segments import segment_catalog
from orchestration.assets.syncs import sync_assets
from orchestration.checks import build_quality_checks
from orchestration.jobs import nightly_job
from orchestration.resources import build_resources
from orchestration.schedules import build_nightly_schedule

defs = dg.Definitions(
    assets=[raw_files, crm_dbt_assets, segment_catalog, *sync_assets, warehouse_copy, segment_report],
    asset_checks=build_quality_checks(),
    jobs=[nightly_job],
    schedules=[build_nightly_schedule()],
    resources=build_resources(),
)
