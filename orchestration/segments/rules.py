"""Rule conditions → SQL predicates over the segment base (`int_segment_customer_base`, alias `base`).

Values never reach SQL as text a user wrote: every value is type-checked against its field and
rendered by `_literal` from a Python value (numbers from int/float, dates from `date`, strings with
quotes doubled), and field names must be columns of the base. A condition is one of:

    {field: {operator: value}}          several operators on one field are AND-ed
    {all: [condition, ...]} / {any: [...]} / {not: condition}
    {segment: key}                      members of another segment (its rule, before exclusivity)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any


class FieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOLEAN = "boolean"


class SegmentDefinitionError(ValueError):
    """A definition the build refuses; the message names the segment and the problem."""

    def __init__(self, segment_key: str, problem: str) -> None:
        super().__init__(f"segment {segment_key!r}: {problem}")
        self.segment_key = segment_key
        self.problem = problem


def field_type_of(sql_type: str) -> FieldType:
    """Maps a warehouse column type (information_schema.data_type) to a rule field type."""
    upper = sql_type.upper()
    if upper.startswith(("VARCHAR", "TEXT", "STRING", "CHAR")):
        return FieldType.TEXT
    if upper.startswith("TIMESTAMP"):
        return FieldType.TIMESTAMP
    if upper == "DATE":
        return FieldType.DATE
    if upper.startswith("BOOL"):
        return FieldType.BOOLEAN
    return FieldType.NUMBER


OPERATOR_ALIASES = {
    "==": "=",
    "<>": "!=",
    "not in": "not_in",
    "is null": "is_null",
    "within last days": "within_last_days",
    "within_last": "within_last_days",
}
OPERATORS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not_in",
    "between",
    "is_null",
    "contains",
    "within_last_days",
)
_COMPARABLE = {FieldType.NUMBER, FieldType.DATE, FieldType.TIMESTAMP, FieldType.TEXT}


@dataclass(frozen=True)
class RuleContext:
    segment_key: str
    fields: Mapping[str, FieldType]
    as_of: date
    # Resolves {segment: key} to that segment's predicate (the catalogue detects cycles).
    segment_predicate: Callable[[str], str]
    dialect: str = "duckdb"


def compile_condition(condition: Any, ctx: RuleContext, path: str = "rule") -> str:
    if not isinstance(condition, Mapping) or not condition:
        raise SegmentDefinitionError(ctx.segment_key, f"{path}: a condition must be a non-empty mapping")
    parts = [_compile_entry(str(key), value, ctx, f"{path}.{key}") for key, value in condition.items()]
    return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def _compile_entry(key: str, value: Any, ctx: RuleContext, path: str) -> str:
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise SegmentDefinitionError(ctx.segment_key, f"{path}: expects a non-empty list of conditions")
        joined = f" {'and' if key == 'all' else 'or'} ".join(
            compile_condition(item, ctx, f"{path}[{index}]") for index, item in enumerate(value)
        )
        return f"({joined})"
    if key == "not":
        # "not X" means X is not known to hold: a customer with no data for X (NULL) is included.
        return f"(not coalesce({compile_condition(value, ctx, path)}, false))"
    if key == "segment":
        if not isinstance(value, str):
            raise SegmentDefinitionError(ctx.segment_key, f"{path}: expects a segment key")
        return ctx.segment_predicate(value)
    if key not in ctx.fields:
        known = ", ".join(sorted(ctx.fields))
        raise SegmentDefinitionError(
            ctx.segment_key, f"{path}: unknown field {key!r} (known fields: {known})"
        )
    if not isinstance(value, Mapping) or not value:
        raise SegmentDefinitionError(
            ctx.segment_key, f"{path}: expects a mapping of operator to value, like {{'>=': 5000}}"
        )
    tests = [_compile_test(key, str(op), operand, ctx, f"{path}.{op}") for op, operand in value.items()]
    return tests[0] if len(tests) == 1 else "(" + " and ".join(tests) + ")"


def _compile_test(field: str, raw_operator: str, operand: Any, ctx: RuleContext, path: str) -> str:
    operator = OPERATOR_ALIASES.get(raw_operator.strip().lower(), raw_operator.strip().lower())
    if operator not in OPERATORS:
        raise SegmentDefinitionError(
            ctx.segment_key, f"{path}: unknown operator {raw_operator!r} (known: {', '.join(OPERATORS)})"
        )
    field_type = ctx.fields[field]
    column = f"base.{field}"

    def literal(value: Any) -> str:
        return _literal(value, field_type, ctx, path)

    if operator == "is_null":
        if not isinstance(operand, bool):
            raise SegmentDefinitionError(ctx.segment_key, f"{path}: expects true or false")
        return f"{column} is {'' if operand else 'not '}null"
    if operator in ("=", "!="):
        return f"{_comparable(column, field_type)} {'=' if operator == '=' else '<>'} {literal(operand)}"
    if operator in ("<", "<=", ">", ">="):
        if field_type not in _COMPARABLE:
            raise SegmentDefinitionError(
                ctx.segment_key, f"{path}: {field} ({field_type.value}) can't be ordered"
            )
        return f"{_comparable(column, field_type)} {operator} {literal(operand)}"
    if operator in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise SegmentDefinitionError(ctx.segment_key, f"{path}: expects a non-empty list")
        values = ", ".join(literal(item) for item in operand)
        return f"{_comparable(column, field_type)} {'in' if operator == 'in' else 'not in'} ({values})"
    if operator == "between":
        if not isinstance(operand, list) or len(operand) != 2:
            raise SegmentDefinitionError(ctx.segment_key, f"{path}: expects a list of two values [low, high]")
        low, high = operand
        return f"{_comparable(column, field_type)} between {literal(low)} and {literal(high)}"
    if operator == "contains":
        if field_type is not FieldType.TEXT or not isinstance(operand, str) or not operand:
            raise SegmentDefinitionError(
                ctx.segment_key, f"{path}: contains needs a text field and a non-empty text value"
            )
        # position() instead of LIKE: no wildcard in the value can widen the match.
        return f"position({_text_literal(operand.lower(), ctx)} in lower({column})) > 0"
    # within_last_days
    if field_type not in (FieldType.DATE, FieldType.TIMESTAMP):
        raise SegmentDefinitionError(
            ctx.segment_key, f"{path}: within_last_days needs a date or timestamp field"
        )
    if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
        raise SegmentDefinitionError(ctx.segment_key, f"{path}: expects a whole number of days (0 or more)")
    since = ctx.as_of - timedelta(days=operand)
    return (
        f"{_comparable(column, FieldType.DATE)} between date '{since.isoformat()}' "
        f"and date '{ctx.as_of.isoformat()}'"
    )


def _comparable(column: str, field_type: FieldType) -> str:
    # Timestamps compare by calendar date: analysts write dates, and "before 2024-06-01" means the day.
    return f"cast({column} as date)" if field_type in (FieldType.TIMESTAMP, FieldType.DATE) else column


def _literal(value: Any, field_type: FieldType, ctx: RuleContext, path: str) -> str:
    def wrong(expected: str) -> SegmentDefinitionError:
        return SegmentDefinitionError(ctx.segment_key, f"{path}: expects {expected}, got {value!r}")

    if field_type is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise wrong("a number")
        return repr(value)
    if field_type is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return "true" if value else "false"
    if field_type in (FieldType.DATE, FieldType.TIMESTAMP):
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise wrong("a date written YYYY-MM-DD") from None
        if not isinstance(value, date):
            raise wrong("a date written YYYY-MM-DD")
        return f"date '{value.isoformat()}'"
    if not isinstance(value, str):
        raise wrong("a text value (quote it)")
    return _text_literal(value, ctx)


def _text_literal(value: str, ctx: RuleContext) -> str:
    if any(ord(character) < 32 and character not in "\t" for character in value):
        raise SegmentDefinitionError(ctx.segment_key, f"text value {value!r} contains control characters")
    escaped = value.replace("'", "''")
    if ctx.dialect == "spark":
        # Spark SQL reads backslash escapes inside string literals; the other engines don't.
        escaped = escaped.replace("\\", "\\\\")
    return f"'{escaped}'"
