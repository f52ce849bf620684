"""The segment report: one self-contained HTML page (Vega-Lite charts, JS and CSS inline) built from
the warehouse's marts (README, "The segment report"). `build.build_report` builds it; this module
stays light (no chart libraries), so the command line can name the report's path cheaply."""

from __future__ import annotations

from pathlib import Path


class ReportError(ValueError):
    """The report can't be built from this warehouse (missing, not built yet, another date)."""


def report_dir(duckdb_path: Path) -> Path:
    """Where the report of a warehouse goes: `<warehouse stem>_report/` beside it."""
    return duckdb_path.with_name(f"{duckdb_path.stem}_report")
