"""The segment catalogue file: load, validate, compile, and land it in the warehouse.

Each run compiles the catalogue against the columns of `intermediate.int_segment_customer_base`
and the run's as-of date, then writes `raw._segment_catalog` (one row per segment with its SQL
predicate) and `raw._static_segment_members`; the dbt models under models/segments read them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import yaml

from orchestration.segments.rules import (
    FieldType,
    RuleContext,
    SegmentDefinitionError,
    compile_condition,
    field_type_of,
)

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SEGMENT_BASE = "intermediate.int_segment_customer_base"
CATALOG_TABLE = "raw._segment_catalog"
STATIC_MEMBERS_TABLE = "raw._static_segment_members"
_ALLOWED_KEYS = {
    "key",
    "name",
    "description",
    "owner",
    "rule",
    "list",
    "parent",
    "include",
    "exclude",
    "group",
    "priority",
    "holdout_share",
}


class CatalogError(ValueError):
    """The catalogue file itself can't be read (not YAML, wrong top-level shape)."""


@dataclass(frozen=True)
class StaticMember:
    segment_key: str
    customer_id: str | None
    email: str | None
    source_file: str
    source_row: int


@dataclass(frozen=True)
class CompiledSegment:
    key: str
    name: str
    description: str
    owner: str
    kind: str  # rule | static | union
    parent: str | None
    exclusive_group: str | None
    priority: int | None
    holdout_share: float
    definition_text: str
    predicate_sql: str


@dataclass
class CompiledCatalog:
    segments: list[CompiledSegment]
    static_members: list[StaticMember] = field(default_factory=list)


def load_catalog_file(path: Path) -> list[dict[str, Any]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: segment catalogue not found") from None
    except yaml.YAMLError as error:
        raise CatalogError(f"{path}: not valid YAML: {error}") from None
    segments = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(segments, list):
        raise CatalogError(f"{path}: expected a top-level 'segments:' list")
    for index, item in enumerate(segments):
        if not isinstance(item, dict):
            raise CatalogError(f"{path}: segments[{index}] is not a mapping")
    return segments


def warehouse_fields(con: duckdb.DuckDBPyConnection) -> dict[str, FieldType]:
    schema, table = SEGMENT_BASE.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not rows:
        raise CatalogError(f"{SEGMENT_BASE} does not exist yet: build the marts before compiling segments")
    return {name: field_type_of(data_type) for name, data_type in rows}


def compile_catalog(
    definitions: Sequence[Mapping[str, Any]],
    fields: Mapping[str, FieldType],
    as_of: date,
    lists_dir: Path,
    dialect: str = "duckdb",
) -> CompiledCatalog:
    by_key = _index_by_key(definitions)
    compiled_predicates: dict[str, str] = {}
    resolving: list[str] = []

    def predicate_of(key: str, referenced_by: str) -> str:
        if key not in by_key:
            raise SegmentDefinitionError(referenced_by, f"references unknown segment {key!r}")
        if key in compiled_predicates:
            return compiled_predicates[key]
        if key in resolving:
            cycle = " → ".join([*resolving[resolving.index(key) :], key])
            raise SegmentDefinitionError(referenced_by, f"cycle between segments: {cycle}")
        resolving.append(key)
        compiled_predicates[key] = _segment_predicate(by_key[key], fields, as_of, dialect, predicate_of)
        resolving.pop()
        return compiled_predicates[key]

    segments = []
    for key, definition in by_key.items():
        predicate = predicate_of(key, key)
        segments.append(_compiled_segment(definition, predicate))
    static_members = [
        member
        for definition in by_key.values()
        if "list" in definition
        for member in _read_static_list(definition["key"], definition["list"], lists_dir)
    ]
    _check_groups(segments)
    return CompiledCatalog(segments, static_members)


def _index_by_key(definitions: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    by_key: dict[str, Mapping[str, Any]] = {}
    for index, definition in enumerate(definitions):
        key = definition.get("key")
        label = key if isinstance(key, str) else f"#{index + 1}"
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise SegmentDefinitionError(
                label, "key must be lower-case letters, digits and underscores, starting with a letter"
            )
        if key in by_key:
            raise SegmentDefinitionError(key, "duplicate key: two segments share it")
        unknown = sorted(set(definition) - _ALLOWED_KEYS)
        if unknown:
            raise SegmentDefinitionError(
                key, f"unknown setting(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_ALLOWED_KEYS))})"
            )
        if not isinstance(definition.get("name"), str) or not definition["name"].strip():
            raise SegmentDefinitionError(key, "needs a name")
        sources = [part for part in ("rule", "list", "include") if part in definition]
        if "rule" in definition and "list" in definition:
            raise SegmentDefinitionError(key, "has both a rule and a static list; choose one")
        if not sources:
            raise SegmentDefinitionError(key, "needs a rule, a static list or segments to include")
        by_key[key] = definition
    return by_key


def _segment_predicate(
    definition: Mapping[str, Any],
    fields: Mapping[str, FieldType],
    as_of: date,
    dialect: str,
    predicate_of: Any,
) -> str:
    key = definition["key"]
    ctx = RuleContext(key, fields, as_of, lambda other: predicate_of(other, key), dialect)
    if "rule" in definition:
        own = compile_condition(definition["rule"], ctx)
    elif "list" in definition:
        own = f"base.customer_id in (select customer_id from static_members where segment_key = '{key}')"
    else:
        own = None
    included = [predicate_of(other, key) for other in _key_list(definition, "include")]
    if own is None:
        own = "(" + " or ".join(included) + ")"
    elif included:
        own = "(" + " or ".join([own, *included]) + ")"
    parts = [own]
    if definition.get("parent") is not None:
        parent = definition["parent"]
        if not isinstance(parent, str):
            raise SegmentDefinitionError(key, "parent must be a segment key")
        parts.insert(0, predicate_of(parent, key))
    parts += [
        f"(not coalesce({predicate_of(other, key)}, false))" for other in _key_list(definition, "exclude")
    ]
    return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def _key_list(definition: Mapping[str, Any], setting: str) -> list[str]:
    value = definition.get(setting, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SegmentDefinitionError(definition["key"], f"{setting} must be a list of segment keys")
    return value


def _compiled_segment(definition: Mapping[str, Any], predicate: str) -> CompiledSegment:
    key = definition["key"]
    group = definition.get("group")
    priority = definition.get("priority")
    if group is not None and (not isinstance(group, str) or not KEY_PATTERN.match(group)):
        raise SegmentDefinitionError(key, "group must be lower-case letters, digits and underscores")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise SegmentDefinitionError(key, f"priority must be a whole number, got {priority!r}")
    if group is not None and priority is None:
        raise SegmentDefinitionError(key, f"is in exclusive group {group!r} but has no priority")
    holdout = definition.get("holdout_share", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout < 1:
        raise SegmentDefinitionError(
            key, f"holdout_share must be a number from 0 to below 1, got {holdout!r}"
        )
    shown = {
        part: definition[part]
        for part in ("rule", "list", "parent", "include", "exclude")
        if part in definition
    }
    kind = "rule" if "rule" in definition else "static" if "list" in definition else "union"
    return CompiledSegment(
        key=key,
        name=definition["name"].strip(),
        description=str(definition.get("description", "")).strip(),
        owner=str(definition.get("owner", "")).strip(),
        kind=kind,
        parent=definition.get("parent"),
        exclusive_group=group,
        priority=priority,
        holdout_share=float(holdout),
        definition_text=yaml.safe_dump(
            shown, sort_keys=False, allow_unicode=True, default_flow_style=True
        ).strip(),
        predicate_sql=predicate,
    )


def _check_groups(segments: Sequence[CompiledSegment]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for segment in segments:
        if segment.exclusive_group is None:
            continue
        slot = (segment.exclusive_group, segment.priority or 0)
        if slot in seen:
            raise SegmentDefinitionError(
                segment.key,
                f"has the same priority {segment.priority} as {seen[slot]!r} "
                f"in group {segment.exclusive_group!r}",
            )
        seen[slot] = segment.key


def _read_static_list(key: str, list_path: Any, lists_dir: Path) -> list[StaticMember]:
    if not isinstance(list_path, str):
        raise SegmentDefinitionError(key, "list must be the path of a CSV file")
    path = (lists_dir / list_path).resolve()
    if not path.is_file():
        raise SegmentDefinitionError(key, f"static list {list_path!r} not found in {lists_dir}")
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "customer_id" not in columns and "email" not in columns:
            raise SegmentDefinitionError(
                key, f"static list {list_path!r} needs a customer_id or email column"
            )
        members = []
        for row_number, row in enumerate(reader, start=1):
            customer_id = (row.get(columns.get("customer_id", ""), "") or "").strip() or None
            email = (row.get(columns.get("email", ""), "") or "").strip().lower() or None
            members.append(StaticMember(key, customer_id, email, path.name, row_number))
    return members


def land_catalog(con: duckdb.DuckDBPyConnection, catalog: CompiledCatalog) -> None:
    """Replaces the landed catalogue and static lists in one transaction."""
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists raw")
        con.execute(
            f"create or replace table {CATALOG_TABLE} (segment_key varchar, segment_name varchar, "
            "description varchar, owner varchar, kind varchar, parent_key varchar, exclusive_group varchar, "
            "priority integer, holdout_share double, definition_text varchar, predicate_sql varchar)"
        )
        con.executemany(
            f"insert into {CATALOG_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    s.key,
                    s.name,
                    s.description,
                    s.owner,
                    s.kind,
                    s.parent,
                    s.exclusive_group,
                    s.priority,
                    s.holdout_share,
                    s.definition_text,
                    s.predicate_sql,
                )
                for s in catalog.segments
            ],
        )
        con.execute(
            f"create or replace table {STATIC_MEMBERS_TABLE} (segment_key varchar, customer_id varchar, "
            "email varchar, source_file varchar, source_row bigint)"
        )
        if catalog.static_members:
            con.executemany(
                f"insert into {STATIC_MEMBERS_TABLE} values (?, ?, ?, ?, ?)",
                [
                    (m.segment_key, m.customer_id, m.email, m.source_file, m.source_row)
                    for m in catalog.static_members
                ],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
