"""`build_report(duckdb_path, as_of, out_dir)`: reads the marts (read-only), writes
`<out_dir>/index.html` and the dated copy `<out_dir>/<as-of>.html`, returns the index's path."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from orchestration.duckdb_profile import connect_warehouse
from orchestration.report import ReportError, report_dir
from orchestration.report.i18n import Translator
from orchestration.report.page import render_page
from orchestration.report.queries import Marts
from orchestration.report.sections import all_sections


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
    sections = all_sections(marts, t, specs)
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
    with connect_warehouse(duckdb_path, read_only=True) as con:
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
