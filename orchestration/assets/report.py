"""The segment report as an asset (`report/segment_report`): built after the marts it reads, beside the
warehouse (`<warehouse stem>_report/index.html` and `<as-of>.html`). It does not wait for the syncs (a
failed one would skip it, and the digest is where a marketer reads that a sync failed); its low
priority runs it after them when both are ready."""

import dagster as dg

from orchestration.assets.failures import failure_without_retry, no_retry_on_deterministic_errors
from orchestration.report import ReportError
from orchestration.report.build import build_report
from orchestration.resources import CrmSettingsResource

REPORT_GROUP = "report"
# The marts the report reads (marts.sync_runs and sync_row_errors are views over the sync state).
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


@dg.asset(
    key=dg.AssetKey([REPORT_GROUP, "segment_report"]),
    group_name=REPORT_GROUP,
    deps=MART_DEPS,
    # Lowest first among ready steps: after the syncs and the published copy.
    op_tags={"dagster/priority": "-2"},
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
