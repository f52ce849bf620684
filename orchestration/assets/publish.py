"""The published copy as an asset, `published/warehouse_copy`: the marts and audit tables for BI readers.

Downstream of every `marts/*` and `audit/*` asset, so the job runs it only after the dbt build and its
tests and the blocking Great Expectations checks on the marts passed: a failed step or check skips it,
and readers keep the last good copy. It does not wait for the syncs (an email platform that is down
does not hold back the marts); its low priority runs it after them when both are ready.
"""

import dagster as dg

from orchestration.assets.dbt import crm_dbt_assets
from orchestration.assets.failures import no_retry_on_deterministic_errors
from orchestration.duckdb_profile import MARTS_SCHEMAS
from orchestration.publish import ASSET_KEY_PATH, publish
from orchestration.resources import CrmSettingsResource

PUBLISHED_KEY = dg.AssetKey(list(ASSET_KEY_PATH))
PUBLISHED_GROUP = PUBLISHED_KEY.path[0]


def published_deps() -> list[dg.AssetKey]:
    """The dbt assets whose tables the copy holds (`quality.suite_results` is written by their checks)."""
    return sorted((key for key in crm_dbt_assets.keys if key.path[0] in MARTS_SCHEMAS), key=lambda k: k.path)


@dg.asset(
    key=PUBLISHED_KEY,
    group_name=PUBLISHED_GROUP,
    deps=published_deps(),
    description=(
        "A read-only DuckDB file for BI tools (`<warehouse stem>_published.duckdb`): every marts and audit "
        "table and quality.suite_results, replaced in one rename after each successful build"
    ),
    kinds={"duckdb"},
    # Lowest first among ready steps: after the syncs, so the copy's marts.sync_runs has tonight's.
    op_tags={"dagster/priority": "-1"},
)
def warehouse_copy(
    context: dg.AssetExecutionContext, crm_settings: CrmSettingsResource
) -> dg.MaterializeResult:
    with no_retry_on_deterministic_errors():
        settings = crm_settings.for_run(context)
    publication = publish(settings.duckdb_path, settings.published_path, context.run_id)
    context.log.info(f"published {publication.describe()} in {publication.seconds:.1f} s")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(publication.path)),
            "as_of_date": dg.MetadataValue.text(publication.as_of.isoformat()),
            "published_at": dg.MetadataValue.timestamp(publication.published_at),
            "tables": dg.MetadataValue.int(len(publication.tables)),
            "rows": dg.MetadataValue.json({f"{s}.{t}": rows for s, t, rows in publication.tables}),
            "seconds": dg.MetadataValue.float(round(publication.seconds or 0.0, 2)),
            "bytes": dg.MetadataValue.int(publication.path.stat().st_size),
        }
    )
