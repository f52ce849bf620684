"""The SQL of each panel: aggregated in DuckDB, read from the marts as of the report's date.

Every function returns plain rows (dicts of str, int, float, None): what the page embeds and shows.
No customer-level rows leave here except `top_clv` (20 rows). A table the warehouse lacks (a young
or partial warehouse) reads as no rows; the panel says so.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

Row = dict[str, Any]

# The digest's actionable segments: message id → catalogue key (a catalogue without one says so).
DIGEST_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("digest_ready_to_buy", "likely_to_buy_soon"),
    ("digest_due_repeat", "due_for_repurchase"),
    ("digest_churn_risk", "churn_risk_high"),
    ("digest_new_vips", "rfm_vip"),
    ("digest_newly_lapsed", "level1_lapsed"),
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


class Marts:
    """A read-only connection to the warehouse and the report's as-of date."""

    def __init__(self, con: duckdb.DuckDBPyConnection, as_of: date) -> None:
        self.con = con
        self.as_of = as_of
        self._tables = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        self.previous_as_of = self._previous_as_of()

    def has(self, *tables: str) -> bool:
        return all(table in self._tables for table in tables)

    def rows(self, sql: str, params: list[Any] | None = None, *tables: str) -> list[Row]:
        """The query's rows as dicts; none when one of `tables` is missing."""
        if not self.has(*tables):
            return []
        cursor = self.con.execute(sql, params or [])
        names = [column[0] for column in cursor.description]
        return [
            {name: _plain(value) for name, value in zip(names, row, strict=True)} for row in cursor.fetchall()
        ]

    def _previous_as_of(self) -> date | None:
        if not self.has("audit.segment_history_runs"):
            return None
        return self.con.execute(
            "select max(as_of_date) from audit.segment_history_runs where as_of_date < ?", [self.as_of]
        ).fetchone()[0]

    # --- Morning digest ------------------------------------------------------------------------
    def digest(self) -> list[Row]:
        keys = [key for _, key in DIGEST_SEGMENTS]
        found = {
            row["segment_key"]: row
            for row in self.rows(
                """
                select
                    c.segment_key, c.segment_name, c.description, c.owner, c.members,
                    d.entered, d.exited, p.members as previous_members
                from marts.segment_catalog as c
                left join marts.segment_daily_sizes as d
                    on d.segment_key = c.segment_key and d.as_of_date = ?
                left join marts.segment_daily_sizes as p
                    on p.segment_key = c.segment_key and p.as_of_date = ?
                where c.segment_key in (select unnest(?))
                """,
                [self.as_of, self.previous_as_of, keys],
                "marts.segment_catalog",
                "marts.segment_daily_sizes",
            )
        }
        digest = []
        for message_id, key in DIGEST_SEGMENTS:
            row = found.get(key)
            change = None
            if row is not None and row["previous_members"] is not None:
                change = row["members"] - row["previous_members"]
            digest.append({"item": message_id, "segment_key": key, "change": change, **(row or {})})
        return digest

    def syncs(self) -> list[Row]:
        return self.rows(
            """
            select sync_name, destination, segment_key, status, sent, failed, error
            from marts.sync_runs
            where as_of_date = ?
            qualify row_number() over (partition by sync_name order by started_at desc) = 1
            order by sync_name
            """,
            [self.as_of],
            "marts.sync_runs",
        )

    # --- RFM ---------------------------------------------------------------------------------
    def rfm_grid(self) -> list[Row]:
        """Buyers and revenue per (R, F, M) score: at most bins³ rows; the page sums over M."""
        return self.rows(
            """
            select
                r_score, f_score, m_score,
                count(*) as customers,
                sum(monetary) as revenue,
            from marts.customer_rfm
            group by all
            order by all
            """,
            [],
            "marts.customer_rfm",
        )

    def rfm_segments(self) -> list[Row]:
        return self.rows(
            """
            select
                coalesce(rfm_segment, '(unmapped)') as rfm_segment,
                count(*) as customers,
                sum(monetary) as revenue,
                sum(monetary) / sum(frequency) as avg_order_value,
            from marts.customer_rfm
            group by all
            order by customers desc, rfm_segment
            """,
            [],
            "marts.customer_rfm",
        )

    def rfm_sizes_over_time(self) -> list[Row]:
        """Buyers per RFM segment on each history date (the status history's versions valid then)."""
        return self.rows(
            """
            select h.as_of_date, s.rfm_segment, count(*) as customers,
            from audit.segment_history_runs as h
            inner join marts.customer_status_history as s
                on s.valid_from <= h.as_of_date and (s.valid_to is null or s.valid_to > h.as_of_date)
            where s.rfm_segment is not null and h.as_of_date <= ?
            group by all
            order by all
            """,
            [self.as_of],
            "audit.segment_history_runs",
            "marts.customer_status_history",
        )

    def rfm_movement(self) -> list[Row]:
        """Customers per (RFM segment on the previous run, on this one): buyers on either date."""
        if self.previous_as_of is None:
            return []
        return self.rows(
            """
            with
            status_on as (
                select customer_id, rfm_segment, valid_from, valid_to,
                from marts.customer_status_history
            ),
            before as (
                select customer_id, rfm_segment from status_on
                where valid_from <= ? and (valid_to is null or valid_to > ?)
            ),
            after as (
                select customer_id, rfm_segment from status_on
                where valid_from <= ? and (valid_to is null or valid_to > ?)
            )
            select
                coalesce(b.rfm_segment, '(none)') as from_segment,
                coalesce(a.rfm_segment, '(none)') as to_segment,
                count(*) as customers,
            from before as b
            full outer join after as a on a.customer_id = b.customer_id
            where b.rfm_segment is not null or a.rfm_segment is not null
            group by all
            order by all
            """,
            [self.previous_as_of, self.previous_as_of, self.as_of, self.as_of],
            "marts.customer_status_history",
        )

    # --- Data quality ------------------------------------------------------------------------
    def reconciliation(self) -> list[Row]:
        return self.rows(
            """
            select table_name, sum(raw_rows) as raw_rows, sum(staged_rows) as staged_rows,
                sum(quarantined_rows) as quarantined_rows,
            from audit.raw_row_reconciliation
            group by all
            order by table_name
            """,
            [],
            "audit.raw_row_reconciliation",
        )

    def quarantine(self) -> list[Row]:
        return self.rows(
            """
            select table_name, quarantine_reason, count(*) as quarantined_rows,
            from audit.quarantined_rows
            group by all
            order by table_name, quarantined_rows desc, quarantine_reason
            """,
            [],
            "audit.quarantined_rows",
        )

    def quarantine_over_time(self) -> list[Row]:
        """Quarantined rows per table by the day of the run that staged them (each daily drop is staged
        by the run that lands it)."""
        return self.rows(
            """
            select cast(_staged_in_run as date) as staged_on, table_name, count(*) as quarantined_rows,
            from audit.quarantined_rows
            group by all
            order by staged_on, table_name
            """,
            [],
            "audit.quarantined_rows",
        )

    def gx_results(self) -> list[Row]:
        return self.rows(
            """
            select suite, case when passed then 'passed' else 'failed' end as status, rows_checked, failures,
            from quality.suite_results
            where as_of_date = ?
            qualify row_number() over (partition by suite order by checked_at desc) = 1
            order by passed, suite
            """,
            [self.as_of],
            "quality.suite_results",
        )

    def sync_errors(self) -> list[Row]:
        return self.rows(
            """
            select sync_name, operation, reason, count(*) as error_rows,
            from marts.sync_row_errors
            where is_open
            group by all
            order by sync_name, error_rows desc, reason
            """,
            [],
            "marts.sync_row_errors",
        )

    # --- Segments ----------------------------------------------------------------------------
    def segment_sizes(self) -> list[Row]:
        return self.rows(
            """
            select segment_key, segment_name, owner, members, holdout_members, emailable_members,
            from marts.segment_catalog
            order by members desc, segment_key
            """,
            [],
            "marts.segment_catalog",
        )

    def segment_flows(self) -> list[Row]:
        """Members, entered and exited per segment and history date (entered/exited null on the first)."""
        return self.rows(
            """
            select as_of_date, segment_key, members, entered, exited,
            from marts.segment_daily_sizes
            where as_of_date <= ?
            order by segment_key, as_of_date
            """,
            [self.as_of],
            "marts.segment_daily_sizes",
        )

    def segment_uplift(self) -> list[Row]:
        """Treated against holdout per segment and window, where an entry's window has closed."""
        return self.rows(
            """
            select
                segment_key, window_days, treated_members, holdout_members,
                treated_conversion_rate, holdout_conversion_rate, conversion_rate_difference,
                conversion_rate_difference_ci_lower, conversion_rate_difference_ci_upper,
                incremental_revenue, roi, conversion_verdict,
            from marts.segment_uplift
            where as_of_date = ? and conversion_verdict != 'no_closed_entries'
            order by segment_key, window_days
            """,
            [self.as_of],
            "marts.segment_uplift",
        )

    def uplift_verdicts(self) -> list[Row]:
        return self.rows(
            "select conversion_verdict, count(*) as segment_windows from marts.segment_uplift "
            "where as_of_date = ? group by all order by all",
            [self.as_of],
            "marts.segment_uplift",
        )

    def campaign_roi(self) -> list[Row]:
        """The campaigns' return per segment over the KPI period (segment_kpis, every member)."""
        return self.rows(
            """
            select
                segment_key, emails_delivered, conversions, attributed_revenue, campaign_cost, roi,
            from marts.segment_kpis
            where as_of_date = ? and member_group = 'all' and campaign_cost > 0
            order by roi desc nulls last, segment_key
            """,
            [self.as_of],
            "marts.segment_kpis",
        )

    # --- Predictions -------------------------------------------------------------------------
    def clv_histogram(self, bins: int = 20) -> list[Row]:
        """Customers per equal-width bin of predicted CLV up to the 99th percentile; the last bin also
        counts everything above it (is_open_ended)."""
        return self.rows(
            """
            with
            predicted as (
                select predicted_clv_12m as clv from marts.customer_predictions
                where predicted_clv_12m is not null
            ),
            bounds as (
                select greatest(quantile_cont(clv, 0.99), 1e-9) / ? as width, from predicted
            ),
            binned as (
                select least(floor(clv / width), ? - 1)::integer as bin, width,
                from predicted cross join bounds
            )
            select
                bin,
                bin * width as bin_start,
                (bin + 1) * width as bin_end,
                bin = ? - 1 as is_open_ended,
                count(*) as customers,
            from binned
            group by all
            order by bin
            """,
            [bins, bins, bins],
            "marts.customer_predictions",
        )

    def churn_risk(self) -> list[Row]:
        return self.rows(
            """
            select coalesce(churn_risk, 'not predicted') as risk, count(*) as customers,
            from marts.customer_predictions
            group by churn_risk
            order by case churn_risk when 'low' then 1 when 'medium' then 2 when 'high' then 3 else 4 end
            """,
            [],
            "marts.customer_predictions",
        )

    def top_clv(self) -> list[Row]:
        """The only customer-level rows of the report: the 20 highest predicted CLVs."""
        return self.rows(
            """
            select customer_id, predicted_clv_12m, p_alive, expected_purchases_30d, churn_risk, clv_frequency,
            from marts.customer_predictions
            where predicted_clv_12m is not null
            order by predicted_clv_12m desc, customer_id
            limit 20
            """,
            [],
            "marts.customer_predictions",
        )

    def model_fits(self) -> list[Row]:
        return self.rows(
            """
            select model, parameter, value, n_customers, converged, status, status_message,
            from marts.clv_model_fits
            where as_of_date = ?
            order by model, parameter
            """,
            [self.as_of],
            "marts.clv_model_fits",
        )

    # --- Cohorts -----------------------------------------------------------------------------
    def cohorts(self) -> list[Row]:
        return self.rows(
            """
            select
                strftime(cohort_month, '%Y-%m') as cohort_month, months_since_first_order, cohort_customers,
                active_rate, cumulative_revenue_per_customer, is_complete_month,
            from marts.cohort_ltv
            where as_of_date = ?
            order by cohort_month, months_since_first_order
            """,
            [self.as_of],
            "marts.cohort_ltv",
        )
