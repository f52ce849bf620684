"""Rule conditions → SQL predicates over the segment base (`int_segment_customer_base`, alias `base`).

Values never reach SQL as text a user wrote: every value is type-checked against its field and
rendered by `_literal` from a Python value (numbers from int/float, dates from `date`, strings with
quotes doubled), and field names must be columns of the base. A condition is one of:

    {field: {operator: value}}          several operators on one field are AND-ed
    {all: [condition, ...]} / {any: [...]} / {not: condition}
    {segment: key}                      members of another segment (its rule, before exclusivity)
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping
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
    """A definition the build refuses; the message names the segment, where in it, and the problem.

    `path` is where in the rule (`rule.all[0].city.in`), part of the message; `setting` is the
    setting a problem is about (`list`, `priority`) when the message names it already. `index` is
    the definition's position in the catalogue (0-based) when the key alone can't find it.
    """

    def __init__(
        self,
        segment_key: str,
        problem: str,
        *,
        path: str | None = None,
        setting: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(f"segment {segment_key!r}: {f'{path}: ' if path else ''}{problem}")
        self.segment_key = segment_key
        self.problem = problem
        self.path = path
        self.location = path or setting
        self.index = index


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest candidates, or '' if none is close."""
    close = [repr(name) for name in difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.75)]
    if not close:
        return ""
    return (
        "; did you mean " + (f"{', '.join(close[:-1])} or {close[-1]}" if len(close) > 1 else close[0]) + "?"
    )


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


# The canonical spelling is the one the README and the catalogue header document (words separated
# by spaces); the aliases are accepted too, and errors always show the canonical names.
OPERATORS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "between",
    "is null",
    "contains",
    "within last days",
)
OPERATOR_ALIASES = {
    "==": "=",
    "<>": "!=",
    "not_in": "not in",
    "is_null": "is null",
    "within_last_days": "within last days",
    "within_last": "within last days",
    "within last": "within last days",
}


def canonical_operator(raw_operator: str) -> str | None:
    """The canonical name of an operator as written in a rule (any case, spacing or alias), or None."""
    written = " ".join(str(raw_operator).lower().split())
    operator = OPERATOR_ALIASES.get(written, written)
    return operator if operator in OPERATORS else None


_COMPARABLE = {FieldType.NUMBER, FieldType.DATE, FieldType.TIMESTAMP, FieldType.TEXT}


@dataclass(frozen=True)
class RuleContext:
    segment_key: str
    fields: Mapping[str, FieldType]
    # None: the predicate is for the dbt model and reads the as-of date from dbt when it builds;
    # a date: it is for DuckDB directly (`segments check`, `explain`), with that date written in.
    as_of: date | None
    # Resolves {segment: key} to that segment's predicate (the catalogue detects cycles).
    segment_predicate: Callable[[str], str]
    # When a list: errors are appended here and compilation goes on with a placeholder (`false`), so
    # one pass reports every problem. When None: the first error is raised.
    errors: list[SegmentDefinitionError] | None = None

    def error(self, path: str, problem: str) -> SegmentDefinitionError:
        return SegmentDefinitionError(self.segment_key, problem, path=path)


def _guarded(ctx: RuleContext, compile_part: Callable[[], str]) -> str:
    if ctx.errors is None:
        return compile_part()
    try:
        return compile_part()
    except SegmentDefinitionError as error:
        ctx.errors.append(error)
        return "false"


def compile_condition(condition: Any, ctx: RuleContext, path: str = "rule") -> str:
    if not isinstance(condition, Mapping) or not condition:
        raise ctx.error(path, "a condition must be a non-empty mapping")
    parts = [
        _guarded(ctx, lambda key=key, value=value: _compile_entry(str(key), value, ctx, f"{path}.{key}"))
        for key, value in condition.items()
    ]
    return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def _compile_entry(key: str, value: Any, ctx: RuleContext, path: str) -> str:
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ctx.error(path, "expects a non-empty list of conditions")
        joined = f" {'and' if key == 'all' else 'or'} ".join(
            compile_condition(item, ctx, f"{path}[{index}]") for index, item in enumerate(value)
        )
        return f"({joined})"
    if key == "not":
        # "not X" means X is not known to hold: a customer with no data for X (NULL) is included.
        return f"(not coalesce({compile_condition(value, ctx, path)}, false))"
    if key == "segment":
        if not isinstance(value, str):
            raise ctx.error(path, "expects a segment key")
        try:
            return ctx.segment_predicate(value)
        except SegmentDefinitionError as error:
            if error.segment_key == ctx.segment_key and error.location in (None, "rule"):
                error.location = path  # an unknown segment or a cycle: point at the reference
            raise
    if key not in ctx.fields:
        # The whole field list only when nothing is close: it is long, and the suggestion is the point.
        hint = did_you_mean(key, ctx.fields) or f" (known fields: {', '.join(sorted(ctx.fields))})"
        raise ctx.error(path, f"unknown field {key!r}{hint}")
    if not isinstance(value, Mapping) or not value:
        raise ctx.error(path, "expects a mapping of operator to value, like {'>=': 5000}")
    tests = [
        _guarded(
            ctx, lambda op=op, operand=operand: _compile_test(key, str(op), operand, ctx, f"{path}.{op}")
        )
        for op, operand in value.items()
    ]
    return tests[0] if len(tests) == 1 else "(" + " and ".join(tests) + ")"


def _compile_test(field: str, raw_operator: str, operand: Any, ctx: RuleContext, path: str) -> str:
    operator = canonical_operator(raw_operator)
    if operator is None:
        known = ", ".join(OPERATORS)
        raise ctx.error(
            path, f"unknown operator {raw_operator!r} (known: {known}){_operator_hint(raw_operator)}"
        )
    field_type = ctx.fields[field]
    column = f"base.{field}"

    def literal(value: Any) -> str:
        return _literal(value, field_type, ctx, path)

    if operator == "is null":
        if not isinstance(operand, bool):
            raise ctx.error(path, "expects true or false")
        return f"{column} is {'' if operand else 'not '}null"
    if operator in ("=", "!="):
        return f"{_comparable(column, field_type)} {'=' if operator == '=' else '<>'} {literal(operand)}"
    if operator in ("<", "<=", ">", ">="):
        if field_type not in _COMPARABLE:
            raise ctx.error(path, f"{field} ({field_type.value}) can't be ordered")
        return f"{_comparable(column, field_type)} {operator} {literal(operand)}"
    if operator in ("in", "not in"):
        if not isinstance(operand, list) or not operand:
            raise ctx.error(path, "expects a non-empty list")
        values = ", ".join(literal(item) for item in operand)
        return f"{_comparable(column, field_type)} {operator} ({values})"
    if operator == "between":
        if not isinstance(operand, list) or len(operand) != 2:
            raise ctx.error(path, "expects a list of two values [low, high]")
        low, high = operand
        return f"{_comparable(column, field_type)} between {literal(low)} and {literal(high)}"
    if operator == "contains":
        if field_type is not FieldType.TEXT or not isinstance(operand, str) or not operand:
            raise ctx.error(path, "contains needs a text field and a non-empty text value")
        # position() instead of LIKE: no wildcard in the value can widen the match.
        return f"position({_text_literal(operand.lower(), ctx, path)} in lower({column})) > 0"
    # within last days
    if field_type not in (FieldType.DATE, FieldType.TIMESTAMP):
        raise ctx.error(path, "within last days needs a date or timestamp field")
    if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
        raise ctx.error(path, "expects a whole number of days (0 or more)")
    return (
        f"{_comparable(column, FieldType.DATE)} between {_days_before_as_of(ctx, operand)} "
        f"and {_days_before_as_of(ctx, 0)}"
    )


def _days_before_as_of(ctx: RuleContext, days: int) -> str:
    if ctx.as_of is None:
        return f"date '{{{{ as_of_days_ago({days}) }}}}'"
    return f"date '{(ctx.as_of - timedelta(days=days)).isoformat()}'"


def _operator_hint(raw_operator: str) -> str:
    # Aliases count as near misses too ('is_nul' → 'is_null'), but the suggestion is the canonical name.
    written = " ".join(raw_operator.lower().split())
    names = {name: name for name in OPERATORS} | {
        alias: OPERATOR_ALIASES[alias] for alias in OPERATOR_ALIASES
    }
    close = difflib.get_close_matches(written, list(names), n=3, cutoff=0.75)
    suggestions = list(dict.fromkeys(names[name] for name in close))
    return did_you_mean(suggestions[0], suggestions) if suggestions else ""


def _comparable(column: str, field_type: FieldType) -> str:
    # Timestamps compare by calendar date: analysts write dates, and "before 2024-06-01" means the day.
    return f"cast({column} as date)" if field_type in (FieldType.TIMESTAMP, FieldType.DATE) else column


def _literal(value: Any, field_type: FieldType, ctx: RuleContext, path: str) -> str:
    def wrong(expected: str) -> SegmentDefinitionError:
        return ctx.error(path, f"expects {expected}, got {value!r}")

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
    return _text_literal(value, ctx, path)


def _text_literal(value: str, ctx: RuleContext, path: str) -> str:
    if any(ord(character) < 32 and character not in "\t" for character in value):
        raise ctx.error(path, f"text value {value!r} contains control characters")
    if ctx.as_of is None and ("{" in value or "\\" in value):
        # Jinja would read braces; engines differ on backslashes: dbt quotes these (a JSON string is
        # a valid Jinja string).
        return f"{{{{ segment_text_literal({json.dumps(value, ensure_ascii=False)}) }}}}"
    return "'" + value.replace("'", "''") + "'"
