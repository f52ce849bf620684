"""The steps the nightly job's assets call (landing, the segment catalogue), `run` (those steps and one
dbt build in-process), and the run summary read back from the warehouse."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from orchestration.dbt_runner import run_dbt
from orchestration.duckdb_profile import connect_warehouse
from orchestration.landing import LandedTable, land_raw_files
from orchestration.publish import Publication
from orchestration.rfm_cut_points import CutPoint, format_cut_points, read_cut_points
from orchestration.segments.catalog import CompiledCatalog
from orchestration.segments.dbt_files import write_dbt_files
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
    segment_sizes: list[tuple[str, int]]
    history_latest: date | None
    # (table, reason, rows) from audit.quarantined_rows, most frequent first.
    quarantine_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    # (table, issue, rows) of the staged rows' data_issues (kept, but with a field problem).
    data_issues: list[tuple[str, str, int]] = field(default_factory=list)
    # marts.rfm_cut_points of this as-of date (orchestration/rfm_cut_points.py).
    rfm_cut_points: list[CutPoint] = field(default_factory=list)
    # The copy BI tools read, when the run published one (the Dagster job's last step).
    published: Publication | None = None


def land(settings: Settings) -> list[LandedTable]:
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with connect_warehouse(settings.duckdb_path) as con:
        return land_raw_files(con, settings.raw_dir)


def compile_segments(settings: Settings) -> CompiledCatalog:
    """Validates the segment catalogue and writes it as dbt files (raises naming every problem)."""
    return write_dbt_files(settings.catalog_path, settings.compiled_dir)


def summarise(settings: Settings) -> RunSummary:
    """What the warehouse says after a run (read back from it, so any runner can print it)."""
    with connect_warehouse(settings.duckdb_path, read_only=True) as con:

        def rows(sql: str, params: list[object] | None = None) -> list[tuple]:
            return con.execute(sql, params or []).fetchall()

        landed = [
            LandedTable(name, source_file, count, _split(missing), _split(ignored))
            for name, source_file, count, missing, ignored in rows(
                "select table_name, source_file, row_count, missing_columns, ignored_columns "
                "from raw._landing_manifest order by table_name"
            )
        ]
        return RunSummary(
            settings=settings,
            landed=landed,
            lifecycle_counts=rows(
                "select lifecycle_stage, lifecycle_status, count(*) from marts.customer_lifecycle "
                "group by all order by 1, 3 desc"
            ),
            rfm_segment_counts=rows(
                "select rfm_segment, count(*) from marts.customer_rfm group by all order by 2 desc"
            ),
            reconciliation=rows(
                "select table_name, raw_rows, staged_rows, quarantined_rows "
                "from audit.raw_row_reconciliation order by table_name"
            ),
            orders_after_as_of=rows(
                "select count(*) from staging.stg_crm__orders where ordered_on > ?", [settings.as_of]
            )[0][0],
            segment_sizes=rows("select segment_key, members from marts.segment_catalog order by segment_key"),
            history_latest=rows("select max(as_of_date) from audit.segment_history_runs")[0][0],
            quarantine_reasons=rows(
                "select table_name, quarantine_reason, count(*) from audit.quarantined_rows "
                "group by all order by 1, 3 desc, 2"
            ),
            data_issues=_data_issues(con),
            rfm_cut_points=read_cut_points(con, settings.as_of),
        )


def _data_issues(con) -> list[tuple[str, str, int]]:
    """Counts of each data issue of the staged rows, per table (data_issues is comma-separated)."""
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.columns where table_schema = 'staging' "
            "and column_name = 'data_issues' and starts_with(table_name, 'stg_crm__') order by 1"
        ).fetchall()
    ]
    if not tables:
        return []
    unioned = " union all ".join(
        f"select '{table.removeprefix('stg_crm__')}' as table_name, unnest(string_split(data_issues, ',')) "
        f"as issue from staging.{table} where data_issues is not null"
        for table in tables
    )
    return con.execute(
        f"select table_name, issue, count(*) from ({unioned}) group by all order by 1, 3 desc, 2"
    ).fetchall()


def _split(joined: str | None) -> tuple[str, ...]:
    return tuple(part for part in (joined or "").split(",") if part)


def history_latest_date(settings: Settings) -> date | None:
    """The latest as-of date the history was built for, or None before the first run."""
    if not settings.duckdb_path.exists():
        return None
    with connect_warehouse(settings.duckdb_path, read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'audit' and table_name = 'segment_history_runs'"
        ).fetchone()[0]
        if not found:
            return None
        return con.execute("select max(as_of_date) from audit.segment_history_runs").fetchone()[0]


def build(settings: Settings, extra_vars: dict[str, object] | None = None) -> None:
    """The segment catalogue compiled into dbt files, then one `dbt build` of everything."""
    compile_segments(settings)
    run_dbt("build", settings, extra_vars=extra_vars)


def run(settings: Settings, extra_vars: dict[str, object] | None = None) -> RunSummary:
    """Landing, catalogue and the one dbt build in this process: the nightly job's steps without its GX
    checks and syncs (the tests' and the benchmark's path; `make run` runs the Dagster job)."""
    log.info("raw data: %s; as of %s; warehouse: %s", settings.raw_dir, settings.as_of, settings.duckdb_path)
    land(settings)
    build(settings, extra_vars)
    return summarise(settings)


def format_summary(summary: RunSummary) -> str:
    lines = [f"crm-segments as of {summary.settings.as_of} — warehouse {summary.settings.duckdb_path}"]
    if summary.published is not None:
        lines.append(f"Published for BI tools: {summary.published.describe()}")
    lines += [
        "",
        "Raw rows: landed = staged + quarantined",
    ]
    for table, raw, staged, quarantined in summary.reconciliation:
        lines.append(f"  {table:<16} {raw:>9} = {staged:>9} + {quarantined:>6}")
        reasons = [
            f"{reason} {count}" + (" (superseded)" if reason.startswith("duplicate") else "")
            for name, reason, count in summary.quarantine_reasons
            if name == table
        ]
        if reasons:
            lines.append(f"    quarantined: {', '.join(reasons)}")
        issues = [f"{issue} {count}" for name, issue, count in summary.data_issues if name == table]
        if issues:
            lines.append(f"    staged with data issues: {', '.join(issues)}")
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
    lines.append(f"  {format_cut_points(summary.rfm_cut_points)}")
    lines += ["", "Segment sizes (marts.segment_catalog)"]
    lines += [f"  {key:<32} {count:>8}" for key, count in summary.segment_sizes]
    if summary.history_latest and summary.history_latest > summary.settings.as_of:
        lines += [
            "",
            f"History not updated: it already runs to {summary.history_latest}, after this as-of date "
            "(the marts above do show this date).",
        ]
    return "\n".join(lines)
