"""Great Expectations suites (`expectations/*.json`) as Dagster asset checks.

A suite whose critical expectations fail blocks everything downstream of its asset: no mart built on a
broken export, no segment pushed to an email platform. Failed `warning` expectations are reported
with WARN severity and block nothing.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.duckdb_profile import connect_warehouse
from orchestration.quality.suites import SuiteSpec, load_suites
from orchestration.quality.validation import SuiteOutcome, validate_and_record
from orchestration.resources import CrmSettingsResource


def _metadata(outcome: SuiteOutcome) -> dict[str, dg.MetadataValue]:
    return {
        "relation": dg.MetadataValue.text(outcome.relation),
        "rows_checked": dg.MetadataValue.int(outcome.rows),
        "expectations": dg.MetadataValue.int(len(outcome.expectations)),
        "failed": dg.MetadataValue.int(len(outcome.failed_critical) + len(outcome.failed_warnings)),
        "results": dg.MetadataValue.json(
            [
                {
                    "expectation": item.expectation,
                    "column": item.column,
                    "severity": "critical" if item.critical else "warning",
                    "success": item.success,
                    "observed_value": item.observed,
                    "unexpected_count": item.unexpected_count,
                    "unexpected_percent": item.unexpected_percent,
                    "unexpected_examples": item.examples,
                    "error": item.error,
                }
                for item in outcome.expectations
            ]
        ),
    }


def run_suite(spec: SuiteSpec, settings_resource: CrmSettingsResource, context: dg.OpExecutionContext):
    settings = settings_resource.for_run(context)
    with connect_warehouse(settings.duckdb_path) as con:
        try:
            outcome = validate_and_record(spec, con, settings.as_of, datetime.now(UTC))
        except LookupError as error:
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.ERROR, description=str(error)
            )
    failed = outcome.failed_critical + outcome.failed_warnings
    if failed:
        context.log.warning(outcome.describe())
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.failed_critical else dg.AssetCheckSeverity.WARN,
        description=outcome.describe(),
        metadata=_metadata(outcome),
    )


def _suite_check(spec: SuiteSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(spec.asset)),
        name=f"gx_{spec.name}",
        blocking=spec.blocking,
        description=f"Great Expectations suite expectations/{spec.path.name} on {spec.relation}",
    )
    def suite_check(context: dg.AssetCheckExecutionContext, crm_settings: CrmSettingsResource):
        return run_suite(spec, crm_settings, context.op_execution_context)

    return suite_check


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_suite_check(spec) for spec in load_suites()]
