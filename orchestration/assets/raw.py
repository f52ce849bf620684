"""Raw inputs as assets: the user's files under CRM_SEGMENTS_RAW_DIR, landed into the `raw` schema."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.assets.failures import no_retry_on_deterministic_errors
from orchestration.landing import find_raw_files, unclaimed_raw_files
from orchestration.pipeline import land
from orchestration.raw_contract import RAW_TABLES
from orchestration.resources import CrmSettingsResource

RAW_GROUP = "raw"
MANIFEST_NAME = "_landing_manifest"
MANIFEST_DESCRIPTION = (
    "What each landing found: files, row count, missing and ignored columns, and what changed, per table"
)


def raw_asset_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_GROUP, table_name])


# The segment catalogue compiled into dbt files (assets/segments.py): upstream of those dbt nodes.
SEGMENT_CATALOG_KEY = raw_asset_key("segment_catalog")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            raw_asset_key(table.name),
            group_name=RAW_GROUP,
            description=f"{table.name} from the raw folder, landed as text"
            + ("" if table.required else " (optional table)"),
            skippable=False,
        )
        for table in RAW_TABLES
    ]
    + [dg.AssetSpec(raw_asset_key(MANIFEST_NAME), group_name=RAW_GROUP, description=MANIFEST_DESCRIPTION)],
    can_subset=False,
)
def raw_files(context: dg.AssetExecutionContext, crm_settings: CrmSettingsResource):
    """Lands every raw file in one transaction; the metadata says how many rows and how fresh."""
    with no_retry_on_deterministic_errors():
        settings = crm_settings.for_run(context)
        landed = land(settings)
    for table in landed:
        paths = find_raw_files(settings.raw_dir, table.name)
        modified = datetime.fromtimestamp(max(path.stat().st_mtime for path in paths), UTC) if paths else None
        for warning in table.warnings:
            context.log.warning(warning)
        yield dg.MaterializeResult(
            asset_key=raw_asset_key(table.name),
            metadata={
                "rows": dg.MetadataValue.int(table.rows),
                "source_file": dg.MetadataValue.text(table.source_file or "(absent)"),
                # Freshness: when the export was written, shown by the UI as a time and an age.
                "file_modified_at": dg.MetadataValue.timestamp(modified)
                if modified
                else dg.MetadataValue.text("(absent)"),
                "missing_columns": dg.MetadataValue.text(", ".join(table.missing_columns) or "none"),
                # unchanged / appended / replaced / landed: what this landing had to read
                "change": dg.MetadataValue.text(table.change),
                "rows_added": dg.MetadataValue.int(table.rows_added),
                "as_of_date": dg.MetadataValue.text(settings.as_of.isoformat()),
            },
        )
    # Files in the raw folder that no table reads (the landing logged why): the run's landing line names them.
    unclaimed = unclaimed_raw_files(settings.raw_dir)
    yield dg.MaterializeResult(
        asset_key=raw_asset_key(MANIFEST_NAME),
        metadata={"tables": len(landed), "unclaimed_files": dg.MetadataValue.text(", ".join(unclaimed))},
    )
