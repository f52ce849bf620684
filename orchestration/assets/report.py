"""The segment report as an asset (`report/segment_report`): built after the segments, their KPIs and
the syncs, beside the warehouse (`<warehouse stem>_report/index.html` and `<as-of>.html`)."""

import dagster as dg

from orchestration.assets.failures import failure_without_retry, no_retry_on_deterministic_errors
from orchestration.assets.syncs import sync_assets
from orchestration.report import ReportError
from orchestration.report.build import build_report
from orchestration.resources import CrmSettingsResource

REPORT_GROUP = "report"
# The marts the report reads; the syncs' keys come from the sync config.
MART_DEPS = [
    dg.AssetKey(["marts", name])
    for name in (
        "segment_catalog",
        "segment_daily_sizes",
        "segment_kpis",
        "segment_uplift",
        "campaign_segment_kpis",
        "customer_rfm",
        "customer_status_history",
        "customer_predictions",
        "clv_model_fits",
        "cohort_ltv",
    )
] + [dg.AssetKey(["audit", "quarantined_rows"]), dg.AssetKey(["audit", "raw_row_reconciliation"])]
SYNC_DEPS = [key for assets in sync_assets for key in assets.keys]


@dg.asset(
    key=dg.AssetKey([REPORT_GROUP, "segment_report"]),
    group_name=REPORT_GROUP,
    deps=[*MART_DEPS, *SYNC_DEPS],
    kinds={"html"},
    description=(
        "The segment report: one self-contained HTML page (morning digest, RFM, segments, predictions, "
        "cohorts, data quality) beside the warehouse, with a dated copy per as-of date"
    ),
)
def segment_report(
    context: dg.AssetExecutionContext, crm_settings: CrmSettingsResource
) -> dg.MaterializeResult:
    with no_retry_on_deterministic_errors():
        settings = crm_settings.for_run(context)
    try:
        path = build_report(settings.duckdb_path, settings.as_of)
    except ReportError as error:
        raise failure_without_retry(str(error)) from error
    context.log.info(f"report: {path}")
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size}
    )
