"""A minimal warehouse for sync tests: only the tables a sync reads, written directly (no dbt build).

Same names and column types as the real marts and staging relations the syncs read
(marts.segment_membership, marts.segment_catalog, marts.dim_customers, staging.stg_crm__customers,
staging.stg_crm__email_events), so the sync code runs unchanged; tests/test_syncs_warehouse.py runs
the syncs on a real dbt-built warehouse as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.duckdb_profile import connect_warehouse

AS_OF = date(2024, 6, 30)

_DDL = [
    "create schema if not exists marts",
    "create schema if not exists staging",
    "create table marts.segment_catalog (segment_key varchar, members bigint)",
    "create table marts.segment_membership (segment_key varchar, customer_id varchar, as_of_date date, "
    "is_holdout boolean, email varchar, first_name varchar, city varchar, timezone varchar, "
    "is_emailable boolean, rfm_segment varchar, lifecycle_status varchar)",
    "create table marts.dim_customers (customer_id varchar, email varchar, avg_order_value decimal(18, 2), "
    "email_opt_in boolean, last_order_at timestamp)",
    "create table staging.stg_crm__customers (customer_id varchar, email varchar, email_opt_in boolean)",
    "create table staging.stg_crm__email_events (customer_id varchar, campaign_id varchar, "
    "event_type varchar, occurred_at timestamp)",
]


@dataclass(frozen=True)
class Member:
    customer_id: str
    email: str | None
    first_name: str | None = None
    city: str | None = None
    holdout: bool = False
    opt_in: bool | None = True
    aov: Decimal | None = None
    rfm_segment: str | None = "VIP"


def people(n: int, start: int = 0, city: str = "Lyon") -> list[Member]:
    return [Member(f"c{i:04d}", f"person{i:04d}@example.com", f"F{i}", city) for i in range(start, start + n)]


class MiniWarehouse:
    def __init__(self, path: Path, as_of: date = AS_OF) -> None:
        self.path = path
        self.as_of = as_of
        with self.connect() as con:
            for statement in _DDL:
                con.execute(statement)

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect_warehouse(self.path, read_only=read_only)

    def set_members(self, segment: str, members: Iterable[Member], as_of: date | None = None) -> None:
        """The segment's members become exactly `members`; their customer records are upserted."""
        members = list(members)
        as_of = as_of or self.as_of
        ids = [m.customer_id for m in members]
        customers = pa.table(
            {
                "customer_id": ids,
                "email": [m.email for m in members],
                "email_opt_in": pa.array([m.opt_in for m in members], pa.bool_()),
                "avg_order_value": pa.array([m.aov for m in members], pa.decimal128(18, 2)),
                "first_name": [m.first_name for m in members],
                "city": pa.array([m.city for m in members], pa.string()),
                "is_holdout": [m.holdout for m in members],
                "rfm_segment": pa.array([m.rfm_segment for m in members], pa.string()),
            }
        )
        with self.connect() as con:
            con.register("new_members", customers)
            for table in ("staging.stg_crm__customers", "marts.dim_customers"):
                con.execute(f"delete from {table} where customer_id in (select customer_id from new_members)")
            con.execute("delete from marts.segment_membership where segment_key = ?", [segment])
            con.execute("delete from marts.segment_catalog where segment_key = ?", [segment])
            con.execute("insert into marts.segment_catalog values (?, ?)", [segment, len(members)])
            con.execute(
                "insert into staging.stg_crm__customers "
                "select customer_id, email, email_opt_in from new_members"
            )
            con.execute(
                "insert into marts.dim_customers select customer_id, email, avg_order_value, email_opt_in, "
                "timestamp '2024-06-01 12:00:00' from new_members"
            )
            con.execute(
                "insert into marts.segment_membership select ?, customer_id, ?, is_holdout, email, "
                "first_name, city, 'Europe/Paris', email is not null and email_opt_in is distinct from false,"
                " rfm_segment, 'regular' from new_members",
                [segment, as_of],
            )
            con.unregister("new_members")

    def add_event(self, customer_id: str, event_type: str, at: datetime = datetime(2024, 6, 10)) -> None:
        with self.connect() as con:
            con.execute(
                "insert into staging.stg_crm__email_events values (?, null, ?, ?)",
                [customer_id, event_type, at],
            )

    def set_opt_in(self, customer_id: str, value: bool | None) -> None:
        with self.connect() as con:
            con.execute(
                "update staging.stg_crm__customers set email_opt_in = ? where customer_id = ?",
                [value, customer_id],
            )

    def query(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def delivered(self, sync_name: str) -> set[str]:
        rows = self.query("select email_key from sync_state.delivered where sync_name = ?", [sync_name])
        return {key for (key,) in rows}

    def runs(self, sync_name: str) -> list[dict[str, object]]:
        with self.connect(read_only=True) as con:
            cursor = con.execute(
                "select * from sync_state.sync_runs where sync_name = ? order by started_at", [sync_name]
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def row_errors(self, sync_name: str) -> list[tuple]:
        return self.query(
            "select email, operation, reason, attempts, resolved_at is null from sync_state.sync_row_errors "
            "where sync_name = ? order by email, operation",
            [sync_name],
        )
