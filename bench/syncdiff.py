"""The sync diff for a 1% membership change, on the built `marts.segment_membership`.

The whole membership (every segment) is treated as one sync's contacts, keyed by segment and
customer, so the diff runs over the largest set a nightly run could have to compare. The delivered
state is the same set with ~1% of rows changed: a third missing (→ adds), a third with another
fields hash (→ updates), and as many delivered rows that are no longer members (→ removes, `mirror`).

If `orchestration.syncs.diff.compute_plan` is importable (the sync engine's diff: DuckDB between the
temp table `_sync_desired` and `sync_state.delivered`, only the changed rows come back to Python),
that is what is timed; otherwise the equivalent DuckDB anti-joins are, and the result says so. The
anti-joins are timed in both cases as the floor. Everything happens in an in-memory database with a
copy of the membership, so the benchmark warehouse is only read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

from orchestration.duckdb_profile import marts_path, quoted_path

SYNC_NAME = "bench_1pct"
# hash(key) % BUCKETS: bucket 0 → not delivered yet (add), 1 → changed fields (update),
# 2 → also delivered under another key that left the segment (remove). 3 of 300 buckets = 1%.
BUCKETS = 300

DESIRED_SQL = """
create or replace temp table _sync_desired as
select
    email_key, email, customer_id, fields_json,
    sha256(email || chr(10) || fields_json) as fields_hash
from (
    select
        segment_key || '|' || customer_id as email_key,
        coalesce(trim(email), '') as email,
        customer_id,
        cast(to_json(struct_pack(
            first_name := first_name, city := city, region := region, timezone := timezone,
            rfm_segment := rfm_segment, lifecycle_status := lifecycle_status
        )) as varchar) as fields_json
    from membership
)
"""
DELIVERED_ROWS_SQL = f"""
select ? as sync_name, email_key, email, customer_id,
    case when hash(email_key) % {BUCKETS} = 1 then 'stale' else fields_hash end as fields_hash,
    fields_json
from _sync_desired where hash(email_key) % {BUCKETS} <> 0
union all
select ?, 'left|' || email_key, email, customer_id, fields_hash, fields_json
from _sync_desired where hash(email_key) % {BUCKETS} = 2
"""
ANTI_JOIN_SQL = {
    "add": "select count(*) from _sync_desired as d anti join sync_state.delivered as s using (email_key)",
    "update": (
        "select count(*) from _sync_desired as d inner join sync_state.delivered as s using (email_key) "
        "where d.fields_hash <> s.fields_hash"
    ),
    "remove": "select count(*) from sync_state.delivered as s anti join _sync_desired as d using (email_key)",
}


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> Any:
    return con.execute(sql, params or []).fetchall()[0][0]


def _prepare(con: duckdb.DuckDBPyConnection, warehouse: Path) -> dict[str, Any]:
    con.execute(f"attach {quoted_path(warehouse)} as warehouse (read_only)")
    con.execute(f"attach {quoted_path(marts_path(warehouse))} as warehouse_marts (read_only)")
    started = time.perf_counter()
    con.execute("create table membership as select * from warehouse_marts.marts.segment_membership")
    copy_seconds = time.perf_counter() - started
    con.execute("detach warehouse")
    started = time.perf_counter()
    con.execute(DESIRED_SQL)
    desired_seconds = time.perf_counter() - started
    con.execute("create or replace temp table _sync_excluded_keys (email_key varchar)")
    con.execute("create schema if not exists sync_state")
    try:
        from orchestration.syncs.state import create_table_sql

        con.execute(create_table_sql("delivered"))
    except ImportError:
        con.execute(
            "create table sync_state.delivered (sync_name varchar, email_key varchar, email varchar, "
            "customer_id varchar, fields_hash varchar, fields_json varchar)"
        )
    con.execute(
        "insert into sync_state.delivered "
        "(sync_name, email_key, email, customer_id, fields_hash, fields_json) " + DELIVERED_ROWS_SQL,
        [SYNC_NAME, SYNC_NAME],
    )
    return {
        "membership_rows": _one(con, "select count(*) from membership"),
        "segments": _one(con, "select count(distinct segment_key) from membership"),
        "delivered_rows": _one(con, "select count(*) from sync_state.delivered"),
        "copy_seconds": copy_seconds,
        "desired_seconds": desired_seconds,
        "expected": {name: _one(con, sql) for name, sql in ANTI_JOIN_SQL.items()},
    }


def measure(warehouse: Path, config: dict[str, object] | None = None, repeat: int = 3) -> dict[str, Any]:
    with duckdb.connect(":memory:", config=config or {}) as con:
        result = _prepare(con, warehouse)
        changed = sum(result["expected"].values())
        result["changed_share"] = changed / max(result["membership_rows"], 1)

        anti_join = []
        for _ in range(repeat):
            started = time.perf_counter()
            for sql in ANTI_JOIN_SQL.values():
                _one(con, sql)
            anti_join.append(time.perf_counter() - started)
        result["anti_join_seconds"] = anti_join

        try:
            from orchestration.syncs.diff import compute_plan
        except ImportError as error:
            result["method"] = "anti-join"
            result["note"] = f"orchestration.syncs.diff.compute_plan is not importable ({error})"
            return result
        plan_seconds, counts = [], {}
        for _ in range(repeat):
            started = time.perf_counter()
            plan = compute_plan(con, SYNC_NAME, "mirror")
            plan_seconds.append(time.perf_counter() - started)
            counts = plan.counts()
        result["method"] = "orchestration.syncs.diff.compute_plan (mirror mode)"
        result["compute_plan_seconds"] = plan_seconds
        result["plan_counts"] = counts
        got = {name: counts.get(name) for name in result["expected"]}
        if got != result["expected"]:
            raise AssertionError(f"compute_plan found {got}, the anti-joins {result['expected']}")
    return result
