"""`build_report(duckdb_path, as_of, out_dir)`: reads the marts (read-only), writes
`<out_dir>/index.html` and the dated copy `<out_dir>/<as-of>.html`, returns the index's path."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from orchestration.report import ReportError, charts, report_dir
from orchestration.report.i18n import Translator
from orchestration.report.page import render_page
from orchestration.report.queries import Marts, Row

Block = dict[str, Any]
Section = dict[str, Any]


def column(key: str, label: str, kind: str = "text") -> dict[str, str]:
    """A table column: kind is text, int, money, rate (a share shown as %) or number."""
    return {"key": key, "label": label, "kind": kind}


def block(block_id: str, title: str, rows: list[Row], empty: str | None, **extra: Any) -> Block:
    """A panel: its rows (the numbers the page shows and embeds), or the sentence it shows instead."""
    return {"id": block_id, "title": title, "rows": rows, "empty": empty if not rows else None, **extra}


def _digest(marts: Marts, t: Translator) -> Section:
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


def _rfm(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
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


def _quality(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
    quarantine = marts.quarantine()
    if quarantine:
        specs["quarantine"] = charts.quarantine_bars(quarantine, t)
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


def _segments(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
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


def _predictions(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
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


def _cohorts(marts: Marts, t: Translator, specs: dict[str, dict[str, Any]]) -> Section:
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
            block("cohort_revenue", t("cohort_revenue"), [], t("empty_cohorts") if not cohorts else None),
        ],
    }


def warehouse_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The as-of date the marts were built for (marts.segment_catalog), None before the first build."""
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'segment_catalog'"
    ).fetchone()[0]
    if not found:
        return None
    return con.execute("select max(as_of_date) from marts.segment_catalog").fetchone()[0]


def collect(
    con: duckdb.DuckDBPyConnection, as_of: date, t: Translator
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's data (sections of blocks with their rows) and its chart specs."""
    marts = Marts(con, as_of)
    specs: dict[str, dict[str, Any]] = {}
    sections = [
        _digest(marts, t),
        _rfm(marts, t, specs),
        _segments(marts, t, specs),
        _predictions(marts, t, specs),
        _cohorts(marts, t, specs),
        _quality(marts, t, specs),
    ]
    data = {
        "as_of": as_of.isoformat(),
        "previous_as_of": marts.previous_as_of.isoformat() if marts.previous_as_of else None,
        "sections": sections,
    }
    return data, specs


def _write(path: Path, text: str) -> None:
    """Written whole or not at all: a reader never sees half a page."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def build_report(
    duckdb_path: Path, as_of: date | None = None, out_dir: Path | None = None, lang: str = "en"
) -> Path:
    """Builds the report of the warehouse (read-only) as of its marts' date; returns index.html's path.

    `as_of`, when given, must be the date the marts were built for. `out_dir` defaults to
    `<warehouse stem>_report/` beside the warehouse.
    """
    duckdb_path = Path(duckdb_path)
    if not duckdb_path.exists():
        raise ReportError(f"no warehouse at {duckdb_path}: run `make run` first (or set CRM_SEGMENTS_DUCKDB)")
    t = Translator(lang)
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        built_for = warehouse_as_of(con)
        if built_for is None:
            raise ReportError(f"the warehouse {duckdb_path} has no marts yet: run `make run` first")
        if as_of is not None and as_of != built_for:
            raise ReportError(f"the warehouse {duckdb_path} is as of {built_for}, not {as_of}")
        data, specs = collect(con, built_for, t)
    html = render_page(data, specs, t)
    out_dir = out_dir or report_dir(duckdb_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / f"{built_for.isoformat()}.html", html)
    index = out_dir / "index.html"
    _write(index, html)
    return index
