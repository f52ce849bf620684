"""The segment catalogue as an asset: validated and compiled into the dbt files the segment models read."""

import dagster as dg

from orchestration.assets.failures import no_retry_on_deterministic_errors
from orchestration.assets.raw import RAW_GROUP, SEGMENT_CATALOG_KEY
from orchestration.pipeline import compile_segments
from orchestration.resources import CrmSettingsResource


# A multi-asset of one: its step is `segment_catalog`, the name the progress lines and the log use.
@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SEGMENT_CATALOG_KEY,
            group_name=RAW_GROUP,
            description=(
                "The segment catalogue (dbt_project/segments/catalog.yml) and its static lists, compiled "
                "into the seeds segment_definitions and static_segment_list_rows and the models "
                "int_segment_rule_matches and int_segment_predicates"
            ),
        )
    ]
)
def segment_catalog(
    context: dg.AssetExecutionContext, crm_settings: CrmSettingsResource
) -> dg.MaterializeResult:
    with no_retry_on_deterministic_errors():
        settings = crm_settings.for_run(context)
    # A typo in the catalogue fails here once, naming the file, the segment and the problem.
    with no_retry_on_deterministic_errors(source=settings.catalog_path):
        catalog = compile_segments(settings)
    kinds: dict[str, int] = {}
    for segment in catalog.segments:
        kinds[segment.kind] = kinds.get(segment.kind, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "segments": len(catalog.segments),
            **{f"{kind}_segments": n for kind, n in kinds.items()},
            "static_list_rows": len(catalog.static_members),
            "compiled_dir": str(settings.compiled_dir),
        }
    )
