"""RFM three ways on one warehouse and as-of date, and the check that they agree.

The project's definition (dbt_project/models/marts/customer_rfm.sql): per customer, over the staged
orders (`staging.stg_crm__orders`: the quarantined rows are already out) placed before the end of the
as-of day (UTC) and completed (`is_completed`: refunded, cancelled and pending orders don't count, so
refunds are excluded), `frequency` = the number of such orders and `monetary` = the sum of their
`amount_reporting` (each order's amount converted to the reporting currency and rounded to kopecks in
staging), as decimal(18, 2). Only customers with a completed order have a row.

- (a) the project: `marts.customer_rfm`, built by dbt (timed by the caller from run_results.json);
- (b) the pandas way: read the staged orders into pandas, filter, then a plain group-by, and
  PyMC-Marketing's `rfm_summary(..., include_first_transaction=True)`;
- (c) the floor: one hand-written DuckDB query over the same staging view computing the same result
  as `marts.customer_rfm` (recency, frequency, monetary, quantile scores, code and segment name), and
  checked column by column against it; (c′) the per-customer aggregate alone (frequency and
  monetary), timed for reference.

`rfm_summary` counts purchase *periods* (days by default), not orders: two orders on one day are one
purchase, with their amounts summed. Its `frequency` is therefore compared with the number of
distinct purchase days, and its `frequency * monetary_value` (mean spend per purchase day times
purchase days) with the total; the per-order agreement check uses the plain group-by.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from orchestration.duckdb_profile import attach_marts
from orchestration.settings import Settings

MONEY_TOLERANCE = 0.01
FLOOR_TABLE = "bench_rfm_floor"
EXAMPLES = 5
PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project.yml"

# (c′): the aggregate alone, frequency and monetary: less than the project's RFM result, timed for
# reference (what the floor was before it computed the whole result).
AGGREGATE_SQL = """
create or replace temp table bench_rfm_aggregate as
select
    customer_id,
    count(*) as frequency,
    cast(sum(amount_reporting) as decimal(18, 2)) as monetary
from staging.stg_crm__orders
where is_completed and ordered_at < ?
group by customer_id
"""
ORDERS_SQL = "select customer_id, ordered_at, is_completed, amount_reporting from staging.stg_crm__orders"


def floor_sql(bins: int, scheme: str) -> str:
    """(c): the project's whole RFM result (its columns, quantile scores and segment name) in one
    hand-written query, materialised like the project's table is. Parameters: the cut-off instant
    and the as-of date."""
    quantiles = ", ".join(str(round(k / bins, 6)) for k in range(1, bins))

    def score(metric: str, cuts: str, comparison: str) -> str:
        terms = " + ".join(f"({metric} {comparison} {cuts}[{k}])::int" for k in range(1, bins))
        return f"1 + {terms}"

    return f"""
create or replace temp table {FLOOR_TABLE} as
with buyers as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        date_diff('day', cast(max(ordered_at) as date), $as_of) as recency_days,
        count(*) as frequency,
        cast(sum(amount_reporting) as decimal(18, 2)) as monetary,
        cast(sum(amount_reporting) / count(*) as decimal(18, 2)) as avg_order_value
    from staging.stg_crm__orders
    where is_completed and ordered_at < $cutoff
    group by customer_id
),
cuts as (
    select
        quantile_cont(recency_days, [{quantiles}]) as r,
        quantile_cont(frequency, [{quantiles}]) as f,
        quantile_cont(monetary, [{quantiles}]) as m
    from buyers
),
scored as (
    select
        buyers.*,
        {score("recency_days", "r", "<")} as r_score,
        {score("frequency", "f", ">")} as f_score,
        {score("monetary", "m", ">")} as m_score
    from buyers cross join cuts
)
select
    scored.*,
    concat(scored.r_score, scored.f_score, scored.m_score) as rfm_code,
    segment_map.rfm_segment,
    $as_of as as_of_date
from scored
left join reference.rfm_segment_map as segment_map
    on segment_map.scheme = '{scheme}' and segment_map.bins = {bins}
    and scored.r_score = segment_map.r_score
    and scored.f_score = segment_map.f_score
    and scored.m_score = segment_map.m_score
"""


def project_rfm_settings(project_file: Path = PROJECT_FILE) -> tuple[int, str]:
    """The RFM vars of dbt_project.yml the floor reproduces: (bins, segment scheme). The floor is
    written for the quantile method, the project's default."""
    variables = yaml.safe_load(project_file.read_text()).get("vars", {})
    if variables.get("rfm_method", "quantile") != "quantile":
        raise ValueError(
            f"the RFM floor reproduces rfm_method 'quantile', {project_file} sets {variables['rfm_method']!r}"
        )
    return int(variables.get("rfm_bins", 4)), str(variables.get("rfm_segment_scheme", "default"))


class RfmDisagreement(AssertionError):
    """The project, pandas and the hand-written query disagree; the message shows examples."""


@dataclass
class PandasRfm:
    read_seconds: float
    groupby_seconds: float
    rfm_summary_seconds: float
    completed: pd.DataFrame
    by_customer: pd.DataFrame
    summary: pd.DataFrame


def cutoff(as_of: date) -> datetime:
    """The first instant after the as-of day (UTC), like the project's as_of_cutoff() macro."""
    return datetime.combine(as_of + timedelta(days=1), datetime.min.time())


def run_floor(con: duckdb.DuckDBPyConnection, as_of: date) -> float:
    sql = floor_sql(*project_rfm_settings())
    started = time.perf_counter()
    con.execute(sql, {"cutoff": cutoff(as_of), "as_of": as_of})
    return time.perf_counter() - started


def run_aggregate(con: duckdb.DuckDBPyConnection, as_of: date) -> float:
    started = time.perf_counter()
    con.execute(AGGREGATE_SQL, [cutoff(as_of)])
    return time.perf_counter() - started


def run_pandas(con: duckdb.DuckDBPyConnection, as_of: date) -> PandasRfm:
    from pymc_marketing.clv.utils import rfm_summary

    started = time.perf_counter()
    orders = con.execute(ORDERS_SQL).df()
    read = time.perf_counter() - started

    started = time.perf_counter()
    completed = orders[orders["is_completed"] & (orders["ordered_at"] < pd.Timestamp(cutoff(as_of)))]
    by_customer = (
        completed.groupby("customer_id", sort=False)
        .agg(frequency=("amount_reporting", "size"), monetary=("amount_reporting", "sum"))
        .reset_index()
    )
    groupby = time.perf_counter() - started

    started = time.perf_counter()
    summary = rfm_summary(
        completed,
        customer_id_col="customer_id",
        datetime_col="ordered_at",
        monetary_value_col="amount_reporting",
        observation_period_end=as_of.isoformat(),
        include_first_transaction=True,
    )
    summarised = time.perf_counter() - started
    return PandasRfm(read, groupby, summarised, completed, by_customer, summary)


def _examples(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> list[tuple]:
    return con.execute(f"{sql} limit {EXAMPLES}", params or []).fetchall()


def check_agreement(con: duckdb.DuckDBPyConnection, as_of: date, pandas_rfm: PandasRfm) -> dict[str, Any]:
    """Every customer's frequency (exact) and monetary (within 0.01) agree across (a), (b), (c).

    Raises RfmDisagreement naming what differs, with examples; returns the counts it checked.
    """
    project_dates = [
        row[0] for row in con.execute("select distinct as_of_date from marts.customer_rfm").fetchall()
    ]
    if project_dates and project_dates != [as_of]:
        raise RfmDisagreement(f"marts.customer_rfm is as of {project_dates}, not {as_of}: rebuild it first")
    completed = pandas_rfm.completed
    days = (
        completed.assign(purchase_day=completed["ordered_at"].dt.floor("D"))
        .groupby("customer_id", sort=False)["purchase_day"]
        .nunique()
        .rename("purchase_days")
        .reset_index()
    )
    con.register("bench_rfm_pandas", pandas_rfm.by_customer)
    con.register("bench_rfm_days", days)
    con.register("bench_rfm_summary", pandas_rfm.summary)
    joined = f"""
        select
            coalesce(a.customer_id, b.customer_id, c.customer_id) as customer_id,
            a.frequency as project_frequency, b.frequency as pandas_frequency, c.frequency as sql_frequency,
            a.monetary as project_monetary, b.monetary as pandas_monetary, c.monetary as sql_monetary,
            a.recency_days as project_recency_days, c.recency_days as sql_recency_days,
            a.rfm_code as project_rfm_code, c.rfm_code as sql_rfm_code,
            a.rfm_segment as project_rfm_segment, c.rfm_segment as sql_rfm_segment,
            a.first_order_at as project_first_order_at, c.first_order_at as sql_first_order_at,
            a.avg_order_value as project_avg_order_value, c.avg_order_value as sql_avg_order_value
        from marts.customer_rfm as a
        full join bench_rfm_pandas as b on a.customer_id = b.customer_id
        full join {FLOOR_TABLE} as c on coalesce(a.customer_id, b.customer_id) = c.customer_id
    """
    tolerance = MONEY_TOLERANCE
    problems = {
        "missing": "project_frequency is null or pandas_frequency is null or sql_frequency is null",
        "frequency": "project_frequency <> pandas_frequency or project_frequency <> sql_frequency",
        "monetary": (
            f"abs(cast(project_monetary as double) - pandas_monetary) > {tolerance} "
            f"or abs(cast(project_monetary as double) - cast(sql_monetary as double)) > {tolerance}"
        ),
        # The project and the hand-written query compute the same result: every column, exactly.
        "recency, scores and segment (project vs hand-written query)": (
            "project_recency_days is distinct from sql_recency_days "
            "or project_rfm_code is distinct from sql_rfm_code "
            "or project_rfm_segment is distinct from sql_rfm_segment "
            "or project_first_order_at is distinct from sql_first_order_at "
            "or project_monetary is distinct from sql_monetary "
            "or project_avg_order_value is distinct from sql_avg_order_value"
        ),
    }
    counts = {
        name: con.execute(f"select count(*) from ({joined}) where {where}").fetchall()[0][0]
        for name, where in problems.items()
    }
    customers = con.execute(f"select count(*) from ({joined})").fetchall()[0][0]
    failures = [
        f"{counts[name]} customers differ in {name}; e.g. "
        f"{_examples(con, f'select * from ({joined}) where {where} order by customer_id')}"
        for name, where in problems.items()
        if counts[name]
    ]

    summary_joined = """
        select
            b.customer_id, b.frequency as orders, b.monetary, d.purchase_days,
            s.frequency as summary_frequency, s.frequency * s.monetary_value as summary_monetary
        from bench_rfm_pandas as b
        full join bench_rfm_days as d on b.customer_id = d.customer_id
        full join bench_rfm_summary as s on coalesce(b.customer_id, d.customer_id) = s.customer_id
    """
    summary_problems = {
        "rfm_summary missing": "orders is null or purchase_days is null or summary_frequency is null",
        "rfm_summary frequency (purchase days)": "summary_frequency <> purchase_days",
        "rfm_summary monetary (frequency * monetary_value)": (
            f"abs(summary_monetary - monetary) > {tolerance}"
        ),
    }
    for name, where in summary_problems.items():
        count = con.execute(f"select count(*) from ({summary_joined}) where {where}").fetchall()[0][0]
        counts[name] = count
        if count:
            failures.append(
                f"{count} customers differ in {name}; e.g. "
                f"{_examples(con, f'select * from ({summary_joined}) where {where} order by customer_id')}"
            )
    same_day_customers, merged_orders = con.execute(
        f"select count(*) filter (where purchase_days < orders), coalesce(sum(orders - purchase_days), 0) "
        f"from ({summary_joined})"
    ).fetchall()[0]
    for name in ("bench_rfm_pandas", "bench_rfm_days", "bench_rfm_summary"):
        con.unregister(name)
    if failures:
        raise RfmDisagreement(
            f"RFM as of {as_of}: the three computations disagree:\n  " + "\n  ".join(failures)
        )
    return {
        "customers": customers,
        "completed_orders": len(completed),
        "mismatches": counts,
        "rfm_summary_same_day_customers": int(same_day_customers),
        "rfm_summary_merged_orders": int(merged_orders),
        "ok": True,
    }


# The relations marts.customer_rfm reads (views: computed from the raw tables on every read).
UPSTREAM_VIEWS = (
    "staging.stg_crm__orders",
    "intermediate.int_orders__as_of",
)


def upstream_costs(duckdb_path: Path, config: dict[str, object] | None = None) -> dict[str, float]:
    """Seconds to materialise each view the RFM chain reads, alone: what reading the staged orders costs."""
    costs = {}
    with duckdb.connect(str(duckdb_path), read_only=True, config=config or {}) as con:
        attach_marts(con, duckdb_path, read_only=True)
        for relation in UPSTREAM_VIEWS:
            started = time.perf_counter()
            con.execute(f"create or replace temp table bench_upstream as select * from {relation}")
            costs[relation] = time.perf_counter() - started
            con.execute("drop table bench_upstream")
    return costs


def build_rfm_only(settings: Settings) -> dict[str, float]:
    """Lands the raw files and builds `marts.customer_rfm` with what it is made of, without tests or
    segments: enough for the agreement check in seconds (tests/test_bench.py), and the benchmark's
    fallback when the full pipeline does not finish. Returns the seconds of each part."""
    from orchestration import pipeline
    from orchestration.dbt_runner import run_dbt

    started = time.perf_counter()
    pipeline.land(settings)
    landed = time.perf_counter()
    run_dbt(
        "build",
        settings,
        "--select",
        "+customer_rfm",
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    )
    return {"land": landed - started, "dbt": time.perf_counter() - landed}


def compare(
    duckdb_path: Path, as_of: date, config: dict[str, object] | None = None, repeat: int = 1
) -> dict[str, Any]:
    """Times (b) and (c) `repeat` times each on the warehouse and checks the agreement with (a).

    The warehouse is opened read-only (the floor's result is a temp table); `config` should be the
    profile's DuckDB settings so the hand-written query runs under the same limits as dbt.
    """
    timings: dict[str, list[float]] = {
        "floor": [],
        "aggregate": [],
        "pandas_read": [],
        "pandas_groupby": [],
        "rfm_summary": [],
    }
    with duckdb.connect(str(duckdb_path), read_only=True, config=config or {}) as con:
        attach_marts(con, duckdb_path, read_only=True)
        pandas_rfm = None
        for _ in range(max(repeat, 1)):
            timings["floor"].append(run_floor(con, as_of))
            timings["aggregate"].append(run_aggregate(con, as_of))
            pandas_rfm = None  # free the previous frames before reading again
            pandas_rfm = run_pandas(con, as_of)
            timings["pandas_read"].append(pandas_rfm.read_seconds)
            timings["pandas_groupby"].append(pandas_rfm.groupby_seconds)
            timings["rfm_summary"].append(pandas_rfm.rfm_summary_seconds)
        agreement = check_agreement(con, as_of, pandas_rfm)
    return {"as_of": as_of.isoformat(), "seconds": timings, "agreement": agreement}
