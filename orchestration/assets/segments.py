"""The segment catalogue as an asset: compiled against the marts, landed for the segment models."""

import dagster as dg

from orchestration.assets.failures import no_retry_on_deterministic_errors
from orchestration.assets.raw import RAW_GROUP, raw_asset_key
from orchestration.pipeline import compile_segments
from orchestration.resources import CrmSettingsResource

SEGMENT_BASE_KEY = dg.AssetKey(["intermediate", "int_segment_customer_base"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            raw_asset_key("_segment_catalog"),
            group_name=RAW_GROUP,
            description="The segment catalogue (dbt_project/segments/catalog.yml), validated and compiled",
            deps=[SEGMENT_BASE_KEY],
        ),
        dg.AssetSpec(
            raw_asset_key("_static_segment_members"),
            group_name=RAW_GROUP,
            description="Rows of the uploaded static segment lists",
            deps=[SEGMENT_BASE_KEY],
        ),
    ],
    can_subset=False,
)
def segment_catalog(context: dg.AssetExecutionContext, crm_settings: CrmSettingsResource):
    with no_retry_on_deterministic_errors():
        settings = crm_settings.for_run(context)
    # A typo in the catalogue fails here once, naming the file, the segment and the problem.
    with no_retry_on_deterministic_errors(source=settings.catalog_path):
        catalog = compile_segments(settings)
    kinds: dict[str, int] = {}
    for segment in catalog.segments:
        kinds[segment.kind] = kinds.get(segment.kind, 0) + 1
    yield dg.MaterializeResult(
        asset_key=raw_asset_key("_segment_catalog"),
        metadata={"segments": len(catalog.segments), **{f"{kind}_segments": n for kind, n in kinds.items()}},
    )
    yield dg.MaterializeResult(
        asset_key=raw_asset_key("_static_segment_members"),
        metadata={"rows": len(catalog.static_members)},
    )
