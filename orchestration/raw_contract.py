"""The raw data contract: the tables and columns a user's exports may contain.

This is the project's public input interface (summarised in the README, "Raw data contract"). It is
declared once, in dbt's `dbt_project/models/staging/_sources.yml` (source `crm`, with `config.meta`
on its tables and columns); this module reads it into `RawTable`s for the landing, the raw GX suites
and the sample generator. Only the required tables and columns must exist; everything else may be
absent and lands as NULL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SOURCES_PATH = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "staging" / "_sources.yml"
SOURCE_NAME = "crm"

# Columns the landing adds to every raw table: where each row came from, and which landing brought it.
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_load_id")

# File name endings the landing reads, in the order they are looked for.
RAW_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet", ".xlsx")

DEFAULT_WHEN_ABSENT = "the features that need it come out empty"
COLUMN_KINDS = ("number", "date")
_TABLE_META_KEYS = frozenset({"required", "when_absent"})
_COLUMN_META_KEYS = frozenset({"required", "kind", "one_of", "format"})
# libyaml's safe loader when PyYAML has it: 3 ms instead of 40 ms, paid by every import.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ContractError(ValueError):
    """The contract file is malformed; the message names the file, the table and the problem."""


@dataclass(frozen=True)
class RawTable:
    name: str
    required: bool
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...]
    # Groups of columns of which at least one must be present (email events name the customer
    # either by id or by email).
    one_of_columns: tuple[tuple[str, ...], ...] = field(default=())
    # Columns holding numbers and dates: the landing reads decimal commas, thousands separators and
    # declared date orders in them (orchestration/raw_formats.py); staging types them.
    number_columns: tuple[str, ...] = field(default=())
    date_columns: tuple[str, ...] = field(default=())
    # What the run warns when an optional table has no file (None: its absence is normal, no warning).
    when_absent: str | None = DEFAULT_WHEN_ABSENT

    @property
    def columns(self) -> tuple[str, ...]:
        """Every contract column, in the order the landed table has them."""
        return self.required_columns + self.optional_columns


def load_raw_tables(path: Path = SOURCES_PATH) -> tuple[RawTable, ...]:
    """The contract tables of source `crm` in `path`, in declared order."""
    return tuple(_raw_table(path.name, table) for table in source_tables(path))


def source_tables(path: Path = SOURCES_PATH) -> list[dict[str, Any]]:
    """The contract tables of source `crm` as `path` declares them: those not starting with `_`."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as error:
        raise ContractError(f"{path.name}: not valid YAML ({error})") from error
    sources = [source for source in document.get("sources") or [] if source.get("name") == SOURCE_NAME]
    if len(sources) != 1:
        raise ContractError(f"{path.name}: expected one source named {SOURCE_NAME!r}")
    tables = [
        table for table in sources[0].get("tables") or [] if not str(table.get("name", "")).startswith("_")
    ]
    if not tables:
        raise ContractError(f"{path.name}: source {SOURCE_NAME!r} declares no contract table")
    return tables


def column_meta(column: Mapping[str, Any]) -> dict[str, Any]:
    """A column's contract meta (its `config.meta`)."""
    return dict((column.get("config") or {}).get("meta") or {})


def _meta(where: str, entry: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    if "meta" in entry:
        raise ContractError(f"{where}: put meta under config (config.meta), as dbt reads it")
    meta = column_meta(entry)
    unknown = sorted(set(meta) - allowed)
    if unknown:
        raise ContractError(
            f"{where}: unknown meta {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    return meta


def _raw_table(file_name: str, table: Mapping[str, Any]) -> RawTable:
    name = str(table["name"])
    where = f"{file_name}: table {name}"
    meta = _meta(where, table, _TABLE_META_KEYS)
    if not isinstance(meta.get("required"), bool):
        raise ContractError(f"{where}: meta required must be true or false")
    declared = [str(column["name"]) for column in table.get("columns") or []]
    if tuple(declared[-len(LINEAGE_COLUMNS) :]) != LINEAGE_COLUMNS:
        raise ContractError(f"{where}: the columns must end with the lineage {', '.join(LINEAGE_COLUMNS)}")
    required: list[str] = []
    optional: list[str] = []
    kinds: dict[str, list[str]] = {kind: [] for kind in COLUMN_KINDS}
    groups: dict[str, list[str]] = {}
    for column in (table.get("columns") or [])[: -len(LINEAGE_COLUMNS)]:
        column_name = str(column["name"])
        column_where = f"{where}, column {column_name}"
        if column_name.startswith("_"):
            raise ContractError(f"{column_where}: names starting with _ are the landing's")
        column_meta = _meta(column_where, column, _COLUMN_META_KEYS)
        if column_meta.get("required", False):
            if optional:
                raise ContractError(f"{column_where}: required columns come before the optional ones")
            required.append(column_name)
        else:
            optional.append(column_name)
        kind = column_meta.get("kind")
        if kind is not None:
            if kind not in COLUMN_KINDS:
                raise ContractError(f"{column_where}: kind {kind!r}; known: {', '.join(COLUMN_KINDS)}")
            kinds[kind].append(column_name)
        if column_meta.get("one_of"):
            groups.setdefault(str(column_meta["one_of"]), []).append(column_name)
    for group, members in groups.items():
        if len(members) < 2:
            raise ContractError(f"{where}: one_of group {group!r} needs two columns or more")
    return RawTable(
        name=name,
        required=meta["required"],
        required_columns=tuple(required),
        optional_columns=tuple(optional),
        one_of_columns=tuple(tuple(group) for group in groups.values()),
        number_columns=tuple(kinds["number"]),
        date_columns=tuple(kinds["date"]),
        when_absent=meta.get("when_absent", DEFAULT_WHEN_ABSENT),
    )


RAW_TABLES: tuple[RawTable, ...] = load_raw_tables()

RAW_TABLES_BY_NAME: dict[str, RawTable] = {table.name: table for table in RAW_TABLES}
