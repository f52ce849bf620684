"""The dbt gates' findings, read back from the warehouse to explain a failed run.

The quarantine gate (`quarantine_share_within_limit` on every `stg_crm__` view) and the RFM check
(`not_empty_when_completed_orders` on `marts.customer_rfm`) are dbt tests: a failure makes `dbt build`
skip every model downstream, but dbt and Dagster only say "Got 1 result". Each test keeps its
failing rows as a view `quality.gate_*` (`store_failures_as: view`; `quality` is where the GX checks
log, no dbt model lives there, so the views are no orphans). Being views, they show what fails now,
never a stale run. `make run` and the pipeline print them once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from orchestration.duckdb_profile import connect_warehouse

SCHEMA = "quality"
PREFIX = "gate_"
QUARANTINE_PREFIX = "gate_quarantine_"


def gate_failures(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One readable paragraph per failing gate row, in view name order; [] when none fails."""
    views = con.execute(
        "select table_name from information_schema.tables where table_schema = ? "
        "and starts_with(table_name, ?) order by table_name",
        [SCHEMA, PREFIX],
    ).fetchall()
    found = []
    for (view,) in views:
        try:
            cursor = con.execute(f'select * from {SCHEMA}."{view}"')
        except duckdb.Error:  # a view over a table that is gone: nothing to say about it now
            continue
        columns = [column[0] for column in cursor.description]
        found += [describe(view, dict(zip(columns, row, strict=True))) for row in cursor.fetchall()]
    return found


def warehouse_gate_failures(path: Path) -> list[str]:
    """gate_failures of the warehouse file; [] if it cannot be read (missing, locked)."""
    if not path.exists():
        return []
    try:
        with connect_warehouse(path, read_only=True) as con:
            return gate_failures(con)
    except duckdb.Error:
        return []


def describe(view: str, row: dict[str, Any]) -> str:
    if view.startswith(QUARANTINE_PREFIX):
        return _describe_quarantine(row)
    if view == "gate_customer_rfm_not_empty":
        return (
            f"marts.customer_rfm is empty as of {row['as_of_date']}, yet staging has "
            f"{row['completed_orders']} completed order rows dated up to then "
            f"({row['quarantined_orders']} of them quarantined): no buyer would be segmented"
        )
    return f"{view}: " + ", ".join(f"{key}={value}" for key, value in row.items())


def _describe_quarantine(row: dict[str, Any]) -> str:
    scope = (
        f"the newest landing ({row['newest_files']})" if row["scope"] == "newest landing" else "all its rows"
    )
    lines = [
        f"quarantine gate: {row['table_name']}: {row['quarantined_rows']} of {row['checked_rows']} rows "
        f"quarantined ({float(row['quarantined_share']):.1%}) in {scope}, over max_quarantine_share "
        f"{float(row['max_share']):.0%}",
        f"  top reasons: {row['top_reasons']}",
        f"  e.g. {row['sample_rows']}",
    ]
    if row.get("superseded_rows"):
        lines.append(
            f"  (not counted: {row['superseded_rows']} superseded duplicates, older versions of a record)"
        )
    return "\n".join(lines)
