"""The segment report: one self-contained HTML page (Vega-Lite charts, JS and CSS inline) built from
the warehouse's marts (README, "The segment report")."""

from orchestration.report.build import ReportError, build_report, report_dir

__all__ = ["ReportError", "build_report", "report_dir"]
