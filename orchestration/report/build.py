"""`build_report(duckdb_path, as_of, out_dir)`: reads the marts (read-only), writes
`<out_dir>/index.html` and the dated copy `<out_dir>/<as-of>.html`, returns the index's path."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from orchestration.report import charts
from orchestration.report.i18n import Translator
from orchestration.report.page import render_page
from orchestration.report.queries import Marts, Row

Block = dict[str, Any]
Section = dict[str, Any]


class ReportError(ValueError):
    """The report can't be built from this warehouse (missing, not built yet, another date)."""


def report_dir(duckdb_path: Path) -> Path:
    """Where the report of a warehouse goes: `<warehouse stem>_report/` beside it."""
    return duckdb_path.with_name(f"{duckdb_path.stem}_report")


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
    sections = [_digest(marts, t), _rfm(marts, t, specs), _quality(marts, t, specs)]
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
