"""What each suite measured on its last passing run, for "no collapse since last time" rules.

Kept in the warehouse (schema `quality`, written here, never by dbt) and keyed by as-of date: a run
compares itself with the latest earlier as-of date, so re-running a date compares with the same
baseline and a failed run never becomes one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb

SCHEMA = "quality"
METRICS_TABLE = f"{SCHEMA}.suite_metrics"
RESULTS_TABLE = f"{SCHEMA}.suite_results"
ROW_COUNT = "row_count"


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def previous_metrics(con: duckdb.DuckDBPyConnection, suite: str, as_of: date) -> dict[str, float]:
    if not _exists(con, METRICS_TABLE):
        return {}
    rows = con.execute(
        f"""
        select metric, value from {METRICS_TABLE}
        where suite = ? and as_of_date = (
            select max(as_of_date) from {METRICS_TABLE} where suite = ? and as_of_date < ?
        )
        """,
        [suite, suite, as_of],
    ).fetchall()
    return dict(rows)


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create table if not exists {METRICS_TABLE} "
        "(suite varchar, as_of_date date, metric varchar, value double, recorded_at timestamp)"
    )
    con.execute(
        f"create table if not exists {RESULTS_TABLE} (suite varchar, as_of_date date, checked_at timestamp, "
        "passed boolean, rows_checked bigint, failures varchar)"
    )


def record(
    con: duckdb.DuckDBPyConnection,
    suite: str,
    as_of: date,
    passed: bool,
    rows_checked: int,
    failures: str,
    metrics: dict[str, float],
) -> None:
    """Logs the result; a passing run also becomes the baseline for its as-of date."""
    now = datetime.now(UTC).replace(tzinfo=None)
    _ensure_tables(con)
    con.execute("begin")
    con.execute(
        f"insert into {RESULTS_TABLE} values (?, ?, ?, ?, ?, ?)",
        [suite, as_of, now, passed, rows_checked, failures or None],
    )
    if passed:
        con.execute(f"delete from {METRICS_TABLE} where suite = ? and as_of_date = ?", [suite, as_of])
        con.executemany(
            f"insert into {METRICS_TABLE} values (?, ?, ?, ?, ?)",
            [[suite, as_of, metric, value, now] for metric, value in metrics.items()],
        )
    con.execute("commit")
