"""How a table cell shows a value of each column kind."""

from __future__ import annotations

from typing import Any


def format_value(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "int":
        return f"{value:,.0f}" if abs(value) == int(abs(value)) else f"{value:,.2f}"
    if kind == "signed":
        return f"{value:+,}"
    if kind == "money":
        return f"{value:,.0f}"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "number":
        return f"{value:,.4g}"
    return str(value)
