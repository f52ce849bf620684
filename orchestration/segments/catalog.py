"""The segment catalogue file: load, validate and compile it into SQL predicates.

The catalogue compiles against the fields of `intermediate.int_segment_customer_base` (alias
`base`): into dbt files for the build (dbt_files.py), or with a date written in for DuckDB directly
(`segments check`, `explain`). Compiling goes through the whole catalogue and reports every problem
at once (`check_catalog`); `compile_catalog` raises them together. A static list's relative path
starts from the catalogue's folder (a bare file name is also looked for in `lists/` there).
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
    did_you_mean,
    field_type_of,
)
from orchestration.settings import PROJECT_DIR

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SEGMENT_BASE = "intermediate.int_segment_customer_base"
# Its columns and their data_type, declared in its YAML, are the fields a rule can use.
SEGMENT_BASE_YAML = PROJECT_DIR / "dbt_project" / "models" / "intermediate" / "_intermediate__models.yml"
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


LISTS_FOLDER = "lists"


class CatalogError(ValueError):
    """The catalogue file itself can't be read (not YAML, wrong top-level shape)."""


class SegmentCatalogErrors(SegmentDefinitionError):
    """Every problem of a catalogue at once; a single one reads exactly as that problem."""

    def __init__(self, errors: Sequence[SegmentDefinitionError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.segment_key, first.problem, path=first.path, index=first.index)
        self.location = first.location
        if len(self.errors) > 1:
            lines = "\n".join(f"  {error}" for error in self.errors)
            self.args = (f"{len(self.errors)} problems in the segment catalogue:\n{lines}",)


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


@dataclass
class CatalogCheck:
    """A whole catalogue compiled in one pass: what compiled, and every problem found."""

    catalog: CompiledCatalog
    errors: list[SegmentDefinitionError]
    # Segments with a problem of their own or in a segment they use: their predicate is not usable.
    failed: set[str]
    # Static segment key → the resolved path of its list.
    list_paths: dict[str, Path] = field(default_factory=dict)


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


def catalog_fields(models_yaml: Path = SEGMENT_BASE_YAML) -> dict[str, FieldType]:
    """The fields a rule can use: the columns declared for the segment base, with their data_type."""
    model_name = SEGMENT_BASE.split(".")[1]
    document = yaml.safe_load(models_yaml.read_text(encoding="utf-8"))
    for model in document.get("models", []):
        if model.get("name") == model_name:
            columns = model.get("columns", [])
            untyped = [column["name"] for column in columns if not column.get("data_type")]
            if untyped:
                raise CatalogError(f"{models_yaml}: {model_name} columns without a data_type: {untyped}")
            return {column["name"]: field_type_of(column["data_type"]) for column in columns}
    raise CatalogError(f"{models_yaml}: no model {model_name} (its columns are the segment fields)")


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
    as_of: date | None,
    catalog_dir: Path,
) -> CompiledCatalog:
    """The compiled catalogue; raises SegmentCatalogErrors (every problem found) if it has any.

    `as_of` None compiles for the dbt models (they read the date when they build); a date writes it
    into the predicates, for DuckDB directly. `catalog_dir` is the catalogue file's folder: relative
    static-list paths start there.
    """
    checked = check_catalog(definitions, fields, as_of, catalog_dir)
    if checked.errors:
        raise SegmentCatalogErrors(checked.errors)
    return checked.catalog


def check_catalog(
    definitions: Sequence[Mapping[str, Any]],
    fields: Mapping[str, FieldType],
    as_of: date | None,
    catalog_dir: Path,
) -> CatalogCheck:
    """Compiles every segment, going on after a problem so that one pass finds them all."""
    errors: list[SegmentDefinitionError] = []
    by_key = _index_by_key(definitions, errors)
    compiled_predicates: dict[str, str] = {}
    uses: dict[str, set[str]] = {key: set() for key in by_key}
    resolving: list[str] = []

    def predicate_of(key: str, referenced_by: str, path: str | None) -> str:
        if referenced_by != key:
            uses[referenced_by].add(key)
        if key not in by_key:
            raise SegmentDefinitionError(
                referenced_by, f"references unknown segment {key!r}{did_you_mean(key, by_key)}", setting=path
            )
        if key in compiled_predicates:
            return compiled_predicates[key]
        if key in resolving:
            cycle = " → ".join([*resolving[resolving.index(key) :], key])
            raise SegmentDefinitionError(referenced_by, f"cycle between segments: {cycle}", setting=path)
        resolving.append(key)
        try:
            predicate = _segment_predicate(by_key[key], fields, as_of, predicate_of, errors)
        except SegmentDefinitionError as error:
            errors.append(error)
            predicate = "false"
        finally:
            resolving.pop()
        compiled_predicates[key] = predicate
        return predicate

    segments = []
    static_members: list[StaticMember] = []
    list_paths: dict[str, Path] = {}
    for key, definition in by_key.items():
        predicate = predicate_of(key, key, None)
        segments.append(_compiled_segment(definition, predicate, errors))
        if "list" in definition:
            try:
                path = resolve_list_path(key, definition["list"], catalog_dir)
                static_members += _read_static_list(key, definition["list"], path)
                list_paths[key] = path
            except SegmentDefinitionError as error:
                errors.append(error)
    _check_groups(segments, errors)
    failed = {error.segment_key for error in errors if error.segment_key in by_key}
    changed = True
    while changed:
        changed = False
        for key, used in uses.items():
            if key not in failed and used & failed:
                failed.add(key)
                changed = True
    return CatalogCheck(CompiledCatalog(segments, static_members), errors, failed, list_paths)


def _index_by_key(
    definitions: Sequence[Mapping[str, Any]], errors: list[SegmentDefinitionError]
) -> dict[str, Mapping[str, Any]]:
    """The definitions by key; those without a usable key (or with a taken one) are left out."""
    by_key: dict[str, Mapping[str, Any]] = {}
    for index, definition in enumerate(definitions):
        key = definition.get("key")
        label = key if isinstance(key, str) else f"#{index + 1}"

        def problem(text: str, setting: str | None = None, label: str = label, index: int = index) -> None:
            errors.append(SegmentDefinitionError(label, text, setting=setting, index=index))

        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            problem("key must be lower-case letters, digits and underscores, starting with a letter", "key")
            continue
        if key in by_key:
            problem("duplicate key: two segments share it", "key")
            continue
        for setting in sorted(set(definition) - _ALLOWED_KEYS):
            hint = (
                did_you_mean(str(setting), _ALLOWED_KEYS) or f" (allowed: {', '.join(sorted(_ALLOWED_KEYS))})"
            )
            problem(f"unknown setting {setting!r}{hint}", str(setting))
        if not isinstance(definition.get("name"), str) or not definition["name"].strip():
            problem("needs a name", "name")
        if "rule" in definition and "list" in definition:
            problem("has both a rule and a static list; choose one")
        if not any(part in definition for part in ("rule", "list", "include")):
            problem("needs a rule, a static list or segments to include")
        by_key[key] = definition
    return by_key


def _segment_predicate(
    definition: Mapping[str, Any],
    fields: Mapping[str, FieldType],
    as_of: date | None,
    predicate_of: Any,
    errors: list[SegmentDefinitionError],
) -> str:
    key = definition["key"]

    def guarded(compile_part: Any) -> str:
        try:
            return compile_part()
        except SegmentDefinitionError as error:
            errors.append(error)
            return "false"

    def reference(other: str, path: str) -> str:
        return guarded(lambda: predicate_of(other, key, path))

    ctx = RuleContext(key, fields, as_of, lambda other: predicate_of(other, key, "rule"), errors)
    if "rule" in definition:
        own: str | None = guarded(lambda: compile_condition(definition["rule"], ctx))
    elif "list" in definition:
        own = static_list_predicate(key)
    else:
        own = None
    included = [reference(other, "include") for other in _key_list(definition, "include", errors)]
    if own is None:
        own = "(" + " or ".join(included) + ")" if included else "false"
    elif included:
        own = "(" + " or ".join([own, *included]) + ")"
    parts = [own]
    if definition.get("parent") is not None:
        parent = definition["parent"]
        if isinstance(parent, str):
            parts.insert(0, reference(parent, "parent"))
        else:
            errors.append(SegmentDefinitionError(key, "parent must be a segment key", setting="parent"))
    parts += [
        f"(not coalesce({reference(other, 'exclude')}, false))"
        for other in _key_list(definition, "exclude", errors)
    ]
    return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def static_list_predicate(key: str) -> str:
    """A static segment's predicate; the query around it provides `static_members` (matched rows)."""
    return f"base.customer_id in (select customer_id from static_members where segment_key = '{key}')"


def _key_list(definition: Mapping[str, Any], setting: str, errors: list[SegmentDefinitionError]) -> list[str]:
    value = definition.get(setting, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors.append(
            SegmentDefinitionError(
                definition["key"], f"{setting} must be a list of segment keys", setting=setting
            )
        )
        return []
    return value


def _compiled_segment(
    definition: Mapping[str, Any], predicate: str, errors: list[SegmentDefinitionError]
) -> CompiledSegment:
    key = definition["key"]
    group = definition.get("group")
    priority = definition.get("priority")

    def problem(text: str, setting: str) -> None:
        errors.append(SegmentDefinitionError(key, text, setting=setting))

    if group is not None and (not isinstance(group, str) or not KEY_PATTERN.match(group)):
        problem("group must be lower-case letters, digits and underscores", "group")
        group = None
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        problem(f"priority must be a whole number, got {priority!r}", "priority")
        priority = None
    elif group is not None and priority is None:
        problem(f"is in exclusive group {group!r} but has no priority", "group")
    holdout = definition.get("holdout_share", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout < 1:
        problem(f"holdout_share must be a number from 0 to below 1, got {holdout!r}", "holdout_share")
        holdout = 0
    shown = {
        part: definition[part]
        for part in ("rule", "list", "parent", "include", "exclude")
        if part in definition
    }
    kind = "rule" if "rule" in definition else "static" if "list" in definition else "union"
    name = definition.get("name")
    return CompiledSegment(
        key=key,
        name=name.strip() if isinstance(name, str) else key,
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


def _check_groups(segments: Sequence[CompiledSegment], errors: list[SegmentDefinitionError]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for segment in segments:
        if segment.exclusive_group is None or segment.priority is None:
            continue
        slot = (segment.exclusive_group, segment.priority)
        if slot in seen:
            errors.append(
                SegmentDefinitionError(
                    segment.key,
                    f"has the same priority {segment.priority} as {seen[slot]!r} "
                    f"in group {segment.exclusive_group!r}",
                    setting="priority",
                )
            )
        else:
            seen[slot] = segment.key


def resolve_list_path(key: str, list_path: Any, catalog_dir: Path) -> Path:
    """Where a static list is: an absolute path as it is; a relative one from the catalogue's folder,
    or else (a bare file name, as the shipped catalogue writes it) from `lists/` in that folder."""
    if not isinstance(list_path, str) or not list_path.strip():
        raise SegmentDefinitionError(key, "list must be the path of a CSV file", setting="list")
    written = Path(list_path.strip()).expanduser()
    if written.is_absolute():
        candidates = [written]
    else:
        candidates = [catalog_dir / written, catalog_dir / LISTS_FOLDER / written]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = " or ".join(str(candidate) for candidate in candidates)
    raise SegmentDefinitionError(
        key,
        f"static list {list_path!r} not found (looked for {looked}; a relative path starts from the "
        "catalogue's folder)",
        setting="list",
    )


def _read_static_list(key: str, list_path: str, path: Path) -> list[StaticMember]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "customer_id" not in columns and "email" not in columns:
            raise SegmentDefinitionError(
                key, f"static list {list_path!r} needs a customer_id or email column", setting="list"
            )
        members = []
        for row_number, row in enumerate(reader, start=1):
            customer_id = (row.get(columns.get("customer_id", ""), "") or "").strip() or None
            email = (row.get(columns.get("email", ""), "") or "").strip().lower() or None
            members.append(StaticMember(key, customer_id, email, path.name, row_number))
    return members
