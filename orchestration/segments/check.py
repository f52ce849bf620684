"""The segment catalogue checked against the existing warehouse, without a dbt build and read-only.

`check_segments` compiles the catalogue against the columns and as-of date of the warehouse that
is already built, reports every problem (file, line, segment, where in it, a suggestion for a
near-miss name), and counts each segment's members the way `marts.segment_membership` does: the
same predicates over the same base as `int_segment_rule_matches`, static lists matched as
`int_static_segment_members` matches them, then exclusive groups and holdouts. The static list
rows and the catalogue's group settings reach DuckDB as registered in-memory tables, so the
warehouse file is opened read-only and nothing is written to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from orchestration.duckdb_profile import connect_warehouse
from orchestration.segments.catalog import (
    SEGMENT_BASE,
    CatalogCheck,
    CatalogError,
    catalog_fields,
    check_catalog,
    load_catalog_file,
)
from orchestration.segments.rules import SegmentDefinitionError
from orchestration.settings import Settings

CUSTOMERS_AS_OF = "intermediate.int_customers__as_of"
SAMPLE_SIZE = 5


class WarehouseNotReadyError(CatalogError):
    """The warehouse to check against is missing, unbuilt or locked; the message says what to do."""


@dataclass(frozen=True)
class LocatedError:
    file: Path
    line: int | None
    error: SegmentDefinitionError

    def format(self) -> str:
        where = f"{self.file.name}:{self.line}" if self.line else self.file.name
        return f"{where}: {self.error}"


@dataclass(frozen=True)
class SegmentCount:
    key: str
    name: str
    kind: str
    members: int | None  # None: not evaluated (the segment, or one it uses, has a problem)
    holdout: int
    sample: list[str]
    note: str = ""


@dataclass(frozen=True)
class CheckReport:
    catalog_path: Path
    duckdb_path: Path
    as_of: date
    errors: list[LocatedError]
    counts: list[SegmentCount]

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        lines = [
            f"Segment catalogue {self.catalog_path}",
            f"checked against {self.duckdb_path} as of {self.as_of} (read-only; nothing was written)",
            "",
        ]
        if self.errors:
            lines.append(f"{len(self.errors)} problem{'s' if len(self.errors) > 1 else ''}:")
            lines += [f"  {located.format()}" for located in self.errors]
        else:
            lines.append(f"No problems in {len(self.counts)} segments.")
        if self.counts:
            lines += ["", f"Members (before syncs; up to {SAMPLE_SIZE} sample customer ids)"]
            width = max(len(count.key) for count in self.counts)
            for count in self.counts:
                if count.members is None:
                    lines.append(f"  {count.key:<{width}}       —  not counted: {count.note}")
                    continue
                holdout = f" ({count.holdout} holdout)" if count.holdout else ""
                sample = ", ".join(count.sample)
                note = f"  [{count.note}]" if count.note else ""
                lines.append(f"  {count.key:<{width}} {count.members:>7}{holdout}  {sample}{note}".rstrip())
        return "\n".join(lines)


@contextmanager
def open_warehouse(duckdb_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a built warehouse, or a WarehouseNotReadyError saying what to do."""
    if not duckdb_path.is_file():
        raise WarehouseNotReadyError(
            f"warehouse {duckdb_path} not found (CRM_SEGMENTS_DUCKDB): run `make run` first"
        )
    try:
        con = connect_warehouse(duckdb_path, read_only=True)
    except duckdb.IOException as error:
        raise WarehouseNotReadyError(
            f"can't open warehouse {duckdb_path} read-only (is a run writing to it?): {error}"
        ) from None
    try:
        schema, table = SEGMENT_BASE.split(".")
        found = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
        if not found:
            raise WarehouseNotReadyError(
                f"warehouse {duckdb_path} has no {SEGMENT_BASE} yet: run `make run` first"
            )
        yield con
    finally:
        con.close()


def warehouse_as_of(con: duckdb.DuckDBPyConnection, default: date) -> date:
    """The as-of date the warehouse was built for (the base's as_of_date), else `default`."""
    try:
        found = con.execute(f"select max(as_of_date) from {SEGMENT_BASE}").fetchall()[0][0]
    except duckdb.Error:
        return default
    return found if isinstance(found, date) else default


def checked_catalog(
    con: duckdb.DuckDBPyConnection, catalog_path: Path, as_of: date
) -> tuple[list[dict[str, Any]], CatalogCheck]:
    definitions = load_catalog_file(catalog_path)
    return definitions, check_catalog(definitions, catalog_fields(), as_of, catalog_path.parent)


def check_segments(settings: Settings) -> CheckReport:
    with open_warehouse(settings.duckdb_path) as con:
        as_of = warehouse_as_of(con, settings.as_of)
        definitions, checked = checked_catalog(con, settings.catalog_path, as_of)
        counts = count_members(con, checked)
    located = locate_errors(settings.catalog_path, definitions, checked.errors)
    return CheckReport(settings.catalog_path, settings.duckdb_path, as_of, located, counts)


def count_members(con: duckdb.DuckDBPyConnection, checked: CatalogCheck) -> list[SegmentCount]:
    sql, tables = membership_query(checked)
    for name, table in tables.items():
        con.register(name, table)
    try:
        rows = con.execute(
            f"with membership as ({sql}) "
            "select segment_key, count(*), count(*) filter (where is_holdout), "
            f"list(customer_id order by customer_id)[1:{SAMPLE_SIZE}] "
            "from membership where group_rank = 1 group by segment_key"
        ).fetchall()
        unmatched = dict(
            con.execute(
                f"select segment_key, count(*) filter (where not is_matched) from ({STATIC_MATCH_SQL}) "
                "group by segment_key"
            ).fetchall()
        )
    finally:
        for name in tables:
            con.unregister(name)
    found = {key: (members, holdout, sample) for key, members, holdout, sample in rows}
    groups_with_problems = {
        segment.exclusive_group for segment in checked.catalog.segments if segment.key in checked.failed
    }
    counts = []
    for segment in checked.catalog.segments:
        if segment.key in checked.failed:
            counts.append(
                SegmentCount(
                    segment.key, segment.name, segment.kind, None, 0, [], _why_failed(segment.key, checked)
                )
            )
            continue
        members, holdout, sample = found.get(segment.key, (0, 0, []))
        notes = []
        if segment.key in unmatched and unmatched[segment.key]:
            rows = unmatched[segment.key]
            notes.append(f"{rows} list row{'s match' if rows > 1 else ' matches'} no customer")
        if segment.exclusive_group is not None and segment.exclusive_group in groups_with_problems:
            notes.append(f"group {segment.exclusive_group} has a segment with a problem")
        counts.append(
            SegmentCount(
                segment.key, segment.name, segment.kind, members, holdout, list(sample), "; ".join(notes)
            )
        )
    return counts


def _why_failed(key: str, checked: CatalogCheck) -> str:
    if any(error.segment_key == key for error in checked.errors):
        return "see the problems above"
    return "it uses a segment with a problem"


def membership_query(checked: CatalogCheck, customer_filter: bool = False) -> tuple[str, dict[str, pa.Table]]:
    """SQL for every (segment, customer) match of the usable segments, with the customer's rank in
    the segment's exclusive group (1 = member) and holdout flag, as segment_membership computes them.

    The SQL reads the tables it returns (register them on the connection first); with
    `customer_filter`, it takes one parameter, the customer id, and looks at that customer only.
    """
    usable = [segment for segment in checked.catalog.segments if segment.key not in checked.failed]
    catalog = pa.table(
        {
            "segment_key": pa.array([s.key for s in usable], pa.string()),
            "exclusive_group": pa.array([s.exclusive_group for s in usable], pa.string()),
            "priority": pa.array([s.priority for s in usable], pa.int64()),
            "holdout_share": pa.array([s.holdout_share for s in usable], pa.float64()),
        }
    )
    static = checked.catalog.static_members
    static_rows = pa.table(
        {
            "segment_key": pa.array([m.segment_key for m in static], pa.string()),
            "customer_id": pa.array([m.customer_id for m in static], pa.string()),
            "email": pa.array([m.email for m in static], pa.string()),
            "source_file": pa.array([m.source_file for m in static], pa.string()),
            "source_row": pa.array([m.source_row for m in static], pa.int64()),
        }
    )
    matches = [
        f"select '{segment.key}' as segment_key, base.customer_id from base where {segment.predicate_sql}"
        for segment in usable
    ]
    matches.append("select cast(null as varchar) as segment_key, base.customer_id from base where 1 = 0")
    sql = f"""
        {base_ctes(customer_filter)},
        matches as (
            select distinct segment_key, customer_id from ({" union all ".join(matches)})
        ),
        ranked as (
            select
                matches.segment_key,
                matches.customer_id,
                catalog.holdout_share,
                row_number() over (
                    partition by coalesce(catalog.exclusive_group, matches.segment_key), matches.customer_id
                    order by catalog.priority, matches.segment_key
                ) as group_rank
            from matches
            inner join check_catalog as catalog on matches.segment_key = catalog.segment_key
        )
        select
            segment_key,
            customer_id,
            group_rank,
            coalesce(
                (cast(('0x' || substr(md5(segment_key || '|' || customer_id), 1, 8)) as bigint) % 10000)
                < holdout_share * 10000,
                false
            ) as is_holdout
        from ranked
    """
    return sql, {"check_catalog": catalog, "check_static_rows": static_rows}


def base_ctes(customer_filter: bool) -> str:
    """`with` CTEs for evaluating predicates: `base` (one customer's row with `customer_filter`,
    parameter $1) and `static_members` (the matched list rows), as int_segment_rule_matches has."""
    where = "where customer_id = $1" if customer_filter else ""
    return f"""
        with check_static_members as ({STATIC_MATCH_SQL}),
        base as (
            select * from {SEGMENT_BASE} {where}
        ),
        static_members as (
            select segment_key, customer_id from check_static_members where is_matched
        )"""


# The static list rows (registered as check_static_rows) matched to the customers known on the
# as-of date by customer_id, else by email, as int_static_segment_members matches them.
STATIC_MATCH_SQL = f"""
    select
        list_rows.segment_key,
        list_rows.source_file,
        list_rows.source_row,
        list_rows.customer_id as listed_customer_id,
        list_rows.email as listed_email,
        coalesce(by_id.customer_id, by_email.customer_id) as customer_id,
        coalesce(by_id.customer_id, by_email.customer_id) is not null as is_matched,
        case when by_id.customer_id is not null then 'customer_id' when by_email.customer_id is not null
            then 'email' end as matched_by
    from check_static_rows as list_rows
    left join (select customer_id, email from {CUSTOMERS_AS_OF}) as by_id
        on list_rows.customer_id = by_id.customer_id
    left join (select customer_id, email from {CUSTOMERS_AS_OF}) as by_email
        on list_rows.customer_id is null and list_rows.email = by_email.email
"""


def locate_errors(
    catalog_path: Path, definitions: Sequence[dict[str, Any]], errors: Sequence[SegmentDefinitionError]
) -> list[LocatedError]:
    """Each problem with the line of the catalogue it is about (best effort: else the segment's)."""
    try:
        nodes = _segment_nodes(catalog_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        nodes = []
    first_index: dict[str, int] = {}
    for index, definition in enumerate(definitions):
        key = definition.get("key")
        if isinstance(key, str):
            first_index.setdefault(key, index)
    located = []
    for error in errors:
        index = error.index if error.index is not None else first_index.get(error.segment_key)
        line = None
        if index is not None and index < len(nodes):
            line = _line_of(nodes[index], error.location)
        located.append(LocatedError(catalog_path, line, error))
    return sorted(located, key=lambda item: item.line or 0)


def _segment_nodes(text: str) -> list[yaml.Node]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "segments" and isinstance(value_node, yaml.SequenceNode):
                return list(value_node.value)
    return []


def _line_of(node: yaml.Node, location: str | None) -> int:
    line = node.start_mark.line + 1
    for index, name in re.findall(r"\[(\d+)\]|([^.\[\]]+)", location or ""):
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        elif name and isinstance(node, yaml.MappingNode):
            match = next((pair for pair in node.value if str(pair[0].value) == name), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        else:
            break
    return line
