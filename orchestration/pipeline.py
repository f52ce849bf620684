"""The main job, end to end: land the raw files, build and test the warehouse, summarise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from orchestration.dbt_runner import run_dbt
from orchestration.landing import LandedTable, land_raw_files
from orchestration.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    settings: Settings
    landed: list[LandedTable]
    lifecycle_counts: list[tuple[str, str, int]]
    rfm_segment_counts: list[tuple[str, int]]
    reconciliation: list[tuple[str, int, int, int]]
    orders_after_as_of: int


def land(settings: Settings) -> list[LandedTable]:
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        return land_raw_files(con, settings.raw_dir)


def build(settings: Settings, extra_vars: dict[str, object] | None = None) -> None:
    run_dbt("build", settings, extra_vars=extra_vars)


def summarise(settings: Settings, landed: list[LandedTable]) -> RunSummary:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        lifecycle = con.execute(
            "select lifecycle_stage, lifecycle_status, count(*) from marts.customer_lifecycle "
            "group by all order by 1, 3 desc"
        ).fetchall()
        segments = con.execute(
            "select rfm_segment, count(*) from marts.customer_rfm group by all order by 2 desc"
        ).fetchall()
        reconciliation = con.execute(
            "select table_name, raw_rows, staged_rows, quarantined_rows from audit.raw_row_reconciliation "
            "order by table_name"
        ).fetchall()
        (after,) = con.execute(
            "select count(*) from staging.stg_crm__orders where ordered_on > ?", [settings.as_of]
        ).fetchone()
    return RunSummary(settings, landed, lifecycle, segments, reconciliation, after)


def run(settings: Settings, extra_vars: dict[str, object] | None = None) -> RunSummary:
    log.info("raw data: %s; as of %s; warehouse: %s", settings.raw_dir, settings.as_of, settings.duckdb_path)
    landed = land(settings)
    build(settings, extra_vars)
    return summarise(settings, landed)


def format_summary(summary: RunSummary) -> str:
    lines = [
        f"crm-segments as of {summary.settings.as_of} — warehouse {summary.settings.duckdb_path}",
        "",
        "Raw rows: landed = staged + quarantined",
    ]
    for table, raw, staged, quarantined in summary.reconciliation:
        lines.append(f"  {table:<14} {raw:>9} = {staged:>9} + {quarantined:>6}")
    if summary.orders_after_as_of:
        lines.append(
            f"  ({summary.orders_after_as_of} staged orders are after the as-of date and not counted)"
        )
    warnings = [warning for table in summary.landed for warning in table.warnings]
    if warnings:
        lines += ["", "Warnings:"] + [f"  {warning}" for warning in warnings]
    lines += ["", "Customers per lifecycle status"]
    lines += [f"  {stage:<6} {status:<14} {count:>8}" for stage, status, count in summary.lifecycle_counts]
    lines += ["", "Buyers per RFM segment"]
    lines += [f"  {segment or '(unmapped)':<22} {count:>8}" for segment, count in summary.rfm_segment_counts]
    return "\n".join(lines)
