"""The page's sections, top to bottom: each a list of blocks (a table, a chart or both) with the rows
they show, or the sentence that says why there is nothing to show."""

from __future__ import annotations

from typing import Any

from orchestration.report import charts
from orchestration.report.i18n import Translator
from orchestration.report.queries import Marts, Row

Block = dict[str, Any]
Section = dict[str, Any]


def column(key: str, label: str, kind: str = "text") -> dict[str, str]:
    """A table column: kind is text, int, signed (a change), money, rate (a share shown as %) or number."""
    return {"key": key, "label": label, "kind": kind}


def block(block_id: str, title: str, rows: list[Row], empty: str | None, **extra: Any) -> Block:
    """A panel: its rows (the numbers the page shows and embeds), or the sentence it shows instead."""
    return {"id": block_id, "title": title, "rows": rows, "empty": empty if not rows else None, **extra}


def digest(marts: Marts, t: Translator) -> Section:
    rows = [
        {
            **row,
            "item": t(row["item"]),
            "segment": row.get("segment_name") or t("segment_missing", key=row["segment_key"]),
        }
        for row in marts.digest()
    ]
    digest_columns = [
        column("item", t("col_item")),
        column("segment", t("col_segment")),
        column("members", t("col_size"), "int"),
        column("change", t("col_change"), "signed"),
        column("entered", t("col_entered"), "int"),
        column("exited", t("col_exited"), "int"),
        column("description", t("col_action")),
        column("owner", t("col_owner")),
    ]
    sync_columns = [
        column("sync_name", t("col_sync")),
        column("destination", t("col_destination")),
        column("segment_key", t("col_segment")),
        column("status", t("col_status")),
        column("sent", t("col_sent"), "int"),
        column("failed", t("col_failed"), "int"),
        column("error", t("col_error")),
    ]
    return {
        "id": "digest",
        "title": t("digest"),
        "intro": t("digest_intro"),
        "blocks": [
            block("digest", t("digest"), rows, None, table=True, columns=digest_columns, wide=True),
            block(
                "syncs",
                t("syncs"),
                marts.syncs(),
                t("empty_syncs"),
                table=True,
                columns=sync_columns,
                wide=True,
            ),
        ],
    }


def rfm(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
    grid = marts.rfm_grid()
    segments = marts.rfm_segments()
    over_time = marts.rfm_sizes_over_time()
    movement = marts.rfm_movement()
    if grid:
        specs["rfm_grid"] = charts.rfm_heatmaps(grid, t)
    if segments:
        specs["rfm_segments"] = charts.rfm_segments(segments, t)
    dates = {row["as_of_date"] for row in over_time}
    if len(dates) < 2:
        over_time = []  # one point per line is not a trend: the panel says why
    else:
        specs["rfm_over_time"] = charts.lines_over_time(
            over_time, "rfm_segment", "customers", t, t("rfm_segment")
        )
    if movement:
        specs["rfm_movement"] = charts.movement_matrix(movement, t, t("rfm_from"), t("rfm_to"))
    movement_title = t("rfm_movement", from_date=marts.previous_as_of or "—", to_date=marts.as_of)
    segment_columns = [
        column("rfm_segment", t("rfm_segment")),
        column("customers", t("customers"), "int"),
        column("revenue", t("revenue"), "money"),
        column("avg_order_value", t("aov"), "money"),
    ]
    return {
        "id": "rfm",
        "title": t("rfm"),
        "blocks": [
            block(
                "rfm_grid",
                f"{t('rfm_grid_customers')} · {t('rfm_grid_revenue')}",
                grid,
                t("empty_rfm"),
                wide=True,
            ),
            block(
                "rfm_segments",
                t("rfm_segments"),
                segments,
                t("empty_rfm"),
                table=True,
                columns=segment_columns,
            ),
            block("rfm_over_time", t("rfm_sizes_over_time"), over_time, t("empty_history")),
            block(
                "rfm_movement",
                movement_title,
                movement,
                t("empty_movement") if marts.previous_as_of is None else t("empty_rfm"),
            ),
        ],
    }


def quality(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
    quarantine = marts.quarantine()
    if quarantine:
        specs["quarantine"] = charts.quarantine_bars(quarantine, t)
    quarantine_over_time = marts.quarantine_over_time()
    if quarantine_over_time:
        specs["quarantine_over_time"] = charts.quarantine_over_time(quarantine_over_time, t)
    missing_audit = None if marts.has("audit.raw_row_reconciliation") else t("empty_warehouse", table="audit")
    return {
        "id": "quality",
        "title": t("quality"),
        "blocks": [
            block(
                "reconciliation",
                t("reconciliation"),
                marts.reconciliation(),
                missing_audit,
                table=True,
                columns=[
                    column("table_name", t("col_table")),
                    column("raw_rows", t("col_raw"), "int"),
                    column("staged_rows", t("col_staged"), "int"),
                    column("quarantined_rows", t("col_quarantined"), "int"),
                ],
            ),
            block("quarantine", t("quarantine"), quarantine, t("empty_quarantine")),
            block(
                "quarantine_over_time",
                t("quarantine_over_time"),
                quarantine_over_time,
                t("empty_quarantine"),
            ),
            block(
                "gx_results",
                t("gx_results"),
                marts.gx_results(),
                t("empty_gx"),
                table=True,
                columns=[
                    column("suite", t("col_suite")),
                    column("status", t("col_status")),
                    column("rows_checked", t("col_rows_checked"), "int"),
                    column("failures", t("col_failures")),
                ],
            ),
            block(
                "sync_errors",
                t("sync_errors"),
                marts.sync_errors(),
                t("empty_sync_errors"),
                table=True,
                columns=[
                    column("sync_name", t("col_sync")),
                    column("operation", t("col_status")),
                    column("reason", t("col_reason")),
                    column("error_rows", t("col_rows"), "int"),
                ],
            ),
        ],
    }


def segments(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
    sizes = marts.segment_sizes()
    flows = marts.segment_flows()
    uplift = marts.segment_uplift()
    roi = marts.campaign_roi()
    if len({row["as_of_date"] for row in flows}) < 2:
        flows = []
    else:
        specs["segment_flows"] = charts.segment_flows(flows, t, default_segment="churn_risk_high")
    if roi:
        specs["campaign_roi"] = charts.bars(roi, "segment_key", "roi", (t("col_segment"), t("col_roi")))
    verdicts = ", ".join(
        f"{row['conversion_verdict']} {row['segment_windows']}" for row in marts.uplift_verdicts()
    )
    uplift_empty = t("empty_uplift") + (f" ({verdicts})" if verdicts else "")
    return {
        "id": "segments",
        "title": t("segments"),
        "blocks": [
            block(
                "segment_sizes",
                t("segment_sizes"),
                sizes,
                t("empty_segments"),
                table=True,
                columns=[
                    column("segment_key", t("col_segment")),
                    column("segment_name", t("col_name")),
                    column("owner", t("col_owner")),
                    column("members", t("members"), "int"),
                    column("holdout_members", t("holdout_members"), "int"),
                    column("emailable_members", t("col_emailable"), "int"),
                ],
            ),
            block("segment_flows", t("segment_flows"), flows, t("empty_history")),
            block(
                "segment_uplift",
                t("segment_uplift"),
                uplift,
                uplift_empty,
                table=True,
                wide=True,
                columns=[
                    column("segment_key", t("col_segment")),
                    column("window_days", t("col_window"), "int"),
                    column("treated_members", t("col_treated"), "int"),
                    column("holdout_members", t("col_holdout"), "int"),
                    column("treated_conversion_rate", f"{t('col_treated')}: {t('col_conversion')}", "rate"),
                    column("holdout_conversion_rate", f"{t('col_holdout')}: {t('col_conversion')}", "rate"),
                    column("conversion_rate_difference", t("col_uplift"), "rate"),
                    column("conversion_rate_difference_ci_lower", t("col_ci_lower"), "rate"),
                    column("conversion_rate_difference_ci_upper", t("col_ci_upper"), "rate"),
                    column("incremental_revenue", t("col_incremental_revenue"), "money"),
                    column("conversion_verdict", t("col_verdict")),
                ],
            ),
            block(
                "campaign_roi",
                t("campaign_roi"),
                roi,
                t("empty_campaigns"),
                table=True,
                wide=True,
                columns=[
                    column("segment_key", t("col_segment")),
                    column("emails_delivered", t("col_delivered"), "int"),
                    column("conversions", t("col_conversions"), "int"),
                    column("attributed_revenue", t("revenue"), "money"),
                    column("campaign_cost", t("col_cost"), "money"),
                    column("roi", t("col_roi"), "number"),
                ],
            ),
        ],
    }


def predictions(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
    histogram = marts.clv_histogram()
    risk = marts.churn_risk()
    if histogram:
        specs["clv_distribution"] = charts.histogram(histogram, t)
    if any(row["risk"] != "not predicted" for row in risk):
        specs["churn_distribution"] = charts.bars(
            risk, "risk", "customers", (t("churn_risk"), t("customers")), None
        )
    else:
        risk = []
    return {
        "id": "predictions",
        "title": t("predictions"),
        "blocks": [
            block("clv_distribution", t("clv_distribution"), histogram, t("empty_predictions")),
            block("churn_distribution", t("churn_distribution"), risk, t("empty_predictions")),
            block(
                "top_clv",
                t("top_clv"),
                marts.top_clv(),
                t("empty_predictions"),
                table=True,
                columns=[
                    column("customer_id", t("col_customer")),
                    column("predicted_clv_12m", t("predicted_clv"), "money"),
                    column("p_alive", t("col_p_alive"), "rate"),
                    column("expected_purchases_30d", t("col_expected_purchases"), "number"),
                    column("churn_risk", t("churn_risk")),
                    column("clv_frequency", t("col_frequency"), "int"),
                ],
            ),
            block(
                "model_fits",
                t("model_fits"),
                marts.model_fits(),
                t("empty_model_fits"),
                table=True,
                columns=[
                    column("model", t("col_model")),
                    column("parameter", t("col_parameter")),
                    column("value", t("col_value"), "number"),
                    column("n_customers", t("customers"), "int"),
                    column("converged", t("col_converged")),
                    column("status", t("col_status")),
                    column("status_message", t("col_message")),
                ],
            ),
        ],
    }


def cohorts(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
    cohorts = marts.cohorts()
    if cohorts:
        specs["cohort_retention"] = charts.cohort_heatmap(cohorts, "active_rate", t, ".1%", "greens")
        specs["cohort_revenue"] = charts.cohort_heatmap(
            cohorts, "cumulative_revenue_per_customer", t, ",.0f", "purples"
        )
    return {
        "id": "cohorts",
        "title": t("cohorts"),
        "blocks": [
            # One copy of the rows: both heat maps read the same cohort rows.
            block("cohort_retention", t("cohort_retention"), cohorts, t("empty_cohorts")),
            block(
                "cohort_revenue",
                t("cohort_revenue"),
                [],
                t("empty_cohorts") if not cohorts else None,
                rows_from="cohort_retention",
            ),
        ],
    }


def all_sections(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> list[Section]:
    """Every section in page order; the chart specs go into `specs`, keyed by block id."""
    return [
        digest(marts, t),
        rfm(marts, t, specs),
        segments(marts, t, specs),
        predictions(marts, t, specs),
        cohorts(marts, t, specs),
        quality(marts, t, specs),
    ]
