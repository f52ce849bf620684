"""The RFM cut points a run used (marts.rfm_cut_points), as one line of the run summary.

RFM cut points (quantile): R 4 ≤73d, 3 74–284d, 2 285–569d, 1 ≥570d; F 4 ≥12, 3 4–11, …; M …
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

# (dimension, score, lower_bound, upper_bound, unit, rfm_method), recency → monetary, best score first.
CutPoint = tuple[str, int, Decimal | None, Decimal | None, str, str]

_LETTERS = {"recency": "R", "frequency": "F", "monetary": "M"}
_SUFFIXES = {"days": "d", "orders": ""}


def read_cut_points(con, as_of: date) -> list[CutPoint]:
    return con.execute(
        "select dimension, score, lower_bound, upper_bound, unit, rfm_method from marts.rfm_cut_points "
        "where as_of_date = ? order by dimension_order, score desc",
        [as_of],
    ).fetchall()


def _number(value: Decimal, unit: str, suffix: bool = True) -> str:
    if unit in _SUFFIXES:
        return f"{int(value)}{_SUFFIXES[unit] if suffix else ''}"
    text = f"{value:,.2f}"
    return text.removesuffix(".00")


def _range(lower: Decimal | None, upper: Decimal | None, unit: str, lowest: Decimal | None) -> str:
    if lower is not None and upper is not None and lower > upper:
        return "none"
    if upper is None:
        return f"≥{_number(lower, unit)}" if lower is not None else "all"
    if lower is None or lower == lowest:
        return f"≤{_number(upper, unit)}" if lower != upper else _number(upper, unit)
    if lower == upper:
        return _number(lower, unit)
    return f"{_number(lower, unit, suffix=False)}–{_number(upper, unit)}"


def format_cut_points(cut_points: list[CutPoint]) -> str:
    """One line; scores nobody can get (tied quantiles) read "none"."""
    if not cut_points:
        return "RFM cut points: not recorded for this as-of date (it is before the latest recorded one)"
    method = cut_points[0][5]
    parts = []
    for dimension in _LETTERS:
        rows = [row for row in cut_points if row[0] == dimension]
        if not rows:
            continue
        unit = rows[0][4]
        lowest = min((row[2] for row in rows if row[2] is not None), default=None)
        ranges = ", ".join(
            f"{score} {_range(lower, upper, unit, lowest)}" for _, score, lower, upper, _, _ in rows
        )
        suffix = "" if unit in _SUFFIXES else f" {unit}"
        parts.append(f"{_LETTERS[dimension]} {ranges}{suffix}")
    return f"RFM cut points ({method}): " + "; ".join(parts)
