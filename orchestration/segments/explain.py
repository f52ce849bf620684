"""Why a customer is, or is not, in a segment: each condition of the rule with the customer's value.

Read-only, on the existing warehouse, with the catalogue compiled as `segments check` compiles it:
every condition (and each all/any/not around it, each segment it refers to, the parent, include and
exclude, the static list) is evaluated for that one customer with the same SQL the segment models
run, then the exclusive group and the holdout say what became of a match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from orchestration.segments.catalog import (
    SEGMENT_BASE,
    CatalogCheck,
    CatalogError,
    CompiledSegment,
    catalog_fields,
)
from orchestration.segments.check import (
    STATIC_MATCH_SQL,
    base_ctes,
    checked_catalog,
    membership_query,
    open_warehouse,
    warehouse_as_of,
)
from orchestration.segments.rules import (
    FieldType,
    RuleContext,
    canonical_operator,
    compile_condition,
    did_you_mean,
)
from orchestration.settings import Settings

HOLDS, FAILS = "✓", "✗"
LABEL_WIDTH = 52


class ExplainError(CatalogError):
    """An unknown customer or segment; the message says which."""


@dataclass
class Condition:
    depth: int
    label: str
    sql: str
    field: str | None = None
    result: bool | None = None
    value: Any = None


@dataclass
class SegmentExplanation:
    segment: CompiledSegment
    conditions: list[Condition] = field(default_factory=list)
    matched: bool = False  # the segment's definition holds (before the exclusive group)
    member: bool = False
    holdout: bool = False
    group_winner: str | None = None  # the segment of the exclusive group the customer landed in
    list_rows: list[tuple[str, int, str]] = field(default_factory=list)  # file, row, matched by
    problem: str | None = None
    last_run_member: bool | None = None  # marts.segment_membership, if the warehouse has it

    def format(self) -> str:
        segment = self.segment
        head = f"{segment.key} — {segment.name}: "
        if self.problem is not None:
            return head + f"not evaluated: {self.problem}"
        status = f"member {HOLDS}" if self.member else f"not a member {FAILS}"
        if self.member and segment.holdout_share:
            status += (
                " (holdout: kept out of syncs)"
                if self.holdout
                else f" (not in the {segment.holdout_share:.0%} holdout)"
            )
        lines = [head + status]
        for condition in self.conditions:
            lines.append(_format_condition(condition))
        if segment.kind == "static":
            if self.list_rows:
                lines += [
                    f"  on the list: {file} row {row} (matched by {matched_by})"
                    for file, row, matched_by in self.list_rows
                ]
            else:
                lines.append("  not on the static list (no row matches their customer_id or email)")
        if segment.exclusive_group is not None and self.matched:
            if self.group_winner == segment.key:
                lines.append(
                    f"  exclusive group {segment.exclusive_group}: placed here (priority {segment.priority}, "
                    "the lowest number among the group's segments they match)"
                )
            elif self.group_winner is not None:
                lines.append(
                    f"  exclusive group {segment.exclusive_group}: matches, but the customer is placed in "
                    f"{self.group_winner} (lower priority number)"
                )
        if self.last_run_member is not None and self.last_run_member != self.member:
            said = "a member" if self.last_run_member else "not a member"
            lines.append(
                f"  note: marts.segment_membership (the last run) says {said}: the catalogue or the "
                "data changed since"
            )
        return "\n".join(lines)


@dataclass
class Explanation:
    customer_id: str
    as_of: date
    segments: list[SegmentExplanation]

    def format(self) -> str:
        lines = [f"Customer {self.customer_id} as of {self.as_of}", ""]
        return "\n".join(lines) + "\n" + "\n\n".join(segment.format() for segment in self.segments)


def explain_customer(settings: Settings, customer_id: str, segment_key: str | None = None) -> Explanation:
    customer_id = customer_id.strip()
    with open_warehouse(settings.duckdb_path) as con:
        as_of = warehouse_as_of(con, settings.as_of)
        definitions, checked = checked_catalog(con, settings.catalog_path, as_of)
        fields = catalog_fields()
        by_key = {
            definition["key"]: definition
            for definition in definitions
            if isinstance(definition.get("key"), str)
        }
        segments = checked.catalog.segments
        if segment_key is not None:
            segments = [segment for segment in segments if segment.key == segment_key]
            if not segments:
                hint = did_you_mean(segment_key, [segment.key for segment in checked.catalog.segments])
                raise ExplainError(f"unknown segment {segment_key!r} in {settings.catalog_path}{hint}")
        row = _customer_row(con, customer_id)
        if row is None:
            raise ExplainError(
                f"customer {customer_id!r} is not in {SEGMENT_BASE} of {settings.duckdb_path} "
                f"(as of {as_of}): check the id, or whether they were created after the as-of date"
            )
        sql, tables = membership_query(checked, customer_filter=True)
        for name, table in tables.items():
            con.register(name, table)
        try:
            ranks = {
                key: (rank, holdout) for key, _, rank, holdout in con.execute(sql, [customer_id]).fetchall()
            }
            list_rows = con.execute(
                f"select segment_key, source_file, source_row, matched_by from ({STATIC_MATCH_SQL}) "
                "where customer_id = $1 order by segment_key, source_row",
                [customer_id],
            ).fetchall()
            explanations = [
                _explain_segment(
                    con, checked, by_key.get(segment.key, {}), segment, customer_id, row, fields, as_of
                )
                for segment in segments
            ]
        finally:
            for name in tables:
                con.unregister(name)
        last_run = _last_run_memberships(con, customer_id)
    winners = {}
    for segment in checked.catalog.segments:
        rank = ranks.get(segment.key)
        if rank and rank[0] == 1 and segment.exclusive_group is not None:
            winners[segment.exclusive_group] = segment.key
    for explanation in explanations:
        segment = explanation.segment
        rank, holdout = ranks.get(segment.key, (None, False))
        explanation.matched = rank is not None
        explanation.member = rank == 1
        explanation.holdout = bool(holdout) and rank == 1
        explanation.group_winner = winners.get(segment.exclusive_group) if segment.exclusive_group else None
        explanation.list_rows = [
            (file, number, by) for key, file, number, by in list_rows if key == segment.key
        ]
        if last_run is not None and explanation.problem is None:
            explanation.last_run_member = segment.key in last_run
    return Explanation(customer_id, as_of, explanations)


def _customer_row(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any] | None:
    cursor = con.execute(f"select * from {SEGMENT_BASE} where customer_id = ?", [customer_id])
    found = cursor.fetchall()
    if not found:
        return None
    return dict(zip([column[0] for column in cursor.description], found[0], strict=True))


def _last_run_memberships(con: duckdb.DuckDBPyConnection, customer_id: str) -> set[str] | None:
    try:
        rows = con.execute(
            "select segment_key from marts.segment_membership where customer_id = ?", [customer_id]
        ).fetchall()
    except duckdb.CatalogException:
        return None
    return {key for (key,) in rows}


def _explain_segment(
    con: duckdb.DuckDBPyConnection,
    checked: CatalogCheck,
    definition: Mapping[str, Any],
    segment: CompiledSegment,
    customer_id: str,
    row: Mapping[str, Any],
    fields: Mapping[str, FieldType],
    as_of: date,
) -> SegmentExplanation:
    explanation = SegmentExplanation(segment)
    problems = [error for error in checked.errors if error.segment_key == segment.key]
    if problems:
        explanation.problem = str(problems[0]) + (
            f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        )
        return explanation
    if segment.key in checked.failed:
        explanation.problem = "it uses a segment with a problem (run `segments check`)"
        return explanation
    predicates = {compiled.key: compiled.predicate_sql for compiled in checked.catalog.segments}
    conditions = _conditions(definition, segment, predicates, fields, as_of)
    if conditions:
        values = con.execute(
            f"{base_ctes(customer_filter=True)} select "
            + ", ".join(f"cast(({condition.sql}) as boolean)" for condition in conditions)
            + " from base",
            [customer_id],
        ).fetchall()[0]
        for condition, result in zip(conditions, values, strict=True):
            condition.result = result
            if condition.field is not None:
                condition.value = row.get(condition.field)
    explanation.conditions = conditions
    return explanation


def _conditions(
    definition: Mapping[str, Any],
    segment: CompiledSegment,
    predicates: Mapping[str, str],
    fields: Mapping[str, FieldType],
    as_of: date,
) -> list[Condition]:
    ctx = RuleContext(segment.key, fields, as_of, lambda key: predicates[key])
    conditions: list[Condition] = []
    depth = 1
    if segment.parent is not None:
        conditions.append(Condition(depth, f"parent segment {segment.parent}", predicates[segment.parent]))
    if "rule" in definition:
        conditions += _rule_conditions(definition["rule"], ctx, depth)
    includes = _keys(definition.get("include"))
    for key in includes:
        conditions.append(Condition(depth, f"or in segment {key}", predicates[key]))
    for key in _keys(definition.get("exclude")):
        conditions.append(
            Condition(depth, f"not in segment {key}", f"(not coalesce({predicates[key]}, false))")
        )
    return conditions


def _rule_conditions(condition: Any, ctx: RuleContext, depth: int) -> list[Condition]:
    if len(condition) > 1:
        children = [
            line
            for key, value in condition.items()
            for line in _rule_conditions({key: value}, ctx, depth + 1)
        ]
        return [Condition(depth, "all of:", compile_condition(condition, ctx)), *children]
    ((key, value),) = condition.items()
    key = str(key)
    own = compile_condition({key: value}, ctx)
    if key in ("all", "any"):
        children = [line for item in value for line in _rule_conditions(item, ctx, depth + 1)]
        return [Condition(depth, f"{key} of:", own), *children]
    if key == "not":
        return [Condition(depth, "not:", own), *_rule_conditions(value, ctx, depth + 1)]
    if key == "segment":
        return [Condition(depth, f"in segment {value}", own)]
    tests = [
        Condition(
            depth + (len(value) > 1),
            f"{key} {canonical_operator(str(operator))} {_operand(operand)}",
            compile_condition({key: {operator: operand}}, ctx),
            field=key,
        )
        for operator, operand in value.items()
    ]
    return [Condition(depth, "all of:", own), *tests] if len(tests) > 1 else tests


def _keys(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value or [] if isinstance(item, str)]


def _operand(operand: Any) -> str:
    if isinstance(operand, list):
        return "[" + ", ".join(_operand(item) for item in operand) + "]"
    if isinstance(operand, bool):
        return "true" if operand else "false"
    return str(operand)


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Decimal | int | date):
        return str(value)
    return str(value)


def _format_condition(condition: Condition) -> str:
    label = "  " * condition.depth + condition.label
    value = f"value {_value(condition.value)}" if condition.field is not None else ""
    if condition.result is None:
        mark = f"{FAILS} (no value)" if condition.field is not None else f"{FAILS} (unknown)"
    else:
        mark = HOLDS if condition.result else FAILS
    return (
        f"{label:<{LABEL_WIDTH}} {value:<28} {mark}".rstrip() if value else f"{label:<{LABEL_WIDTH}} {mark}"
    )
