"""Data-quality suites: Great Expectations suite files under `expectations/`, plus what to read.

Each file is a GX 1.x suite (`name`, `expectations`, `meta`) as `ExpectationSuite.to_json_dict()` writes
it. Its `meta.crm_segments` block says what the suite validates:

- `asset`: the Dagster asset the check belongs to, e.g. `raw/orders`;
- `relation`: the warehouse table it reads, e.g. `raw.orders`;
- `blocking`: whether a failed critical expectation stops everything downstream (default true);
- `columns`: how to read a column when it isn't used as stored: `number`, `timestamp` or `lowercase`
  (raw tables are landed as text);
- `index_columns`: columns that identify a failing row in the check's report;
- `compare_with_previous_run`: `{key, measure}` adds `previous_<measure>` and
  `<measure>_vs_previous` (this run / last passing run) per key, for "size within a band" rules;
- `seed_parameters`: `{name: [seed, column]}` makes a seed's column a suite parameter (a value set);
- `dbt_var_parameters`: names of `dbt_project.yml` vars to supply as suite parameters (`rfm_bins`);
- `newest_landing`: the rules judge only the rows of the relation's newest landing (its largest
  `_load_id`), except the row-count rules (`expect_table_row_count_*`), which count the whole relation.

A raw suite (`raw_<table>.json`) is completed from the raw data contract when it is loaded: its
asset, relation, number and date readers, and its row and not-null checks come from there, and it
judges the newest landing (orchestration/quality/raw_contract_suites.py).

Suite parameters the runner always supplies: `previous_row_count` (0 before the first passing
run), `run_started_at` (wall clock, UTC) and `as_of_end` (end of the as-of day, UTC).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.quality import raw_contract_suites
from orchestration.settings import PROJECT_DIR

SUITES_DIR = PROJECT_DIR / "expectations"
COLUMN_READERS = ("number", "timestamp", "lowercase")
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list", "column_set")
_RELATION = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class SuiteFileError(ValueError):
    """A suite file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class PreviousRunComparison:
    key: str
    measure: str

    @property
    def previous_column(self) -> str:
        return f"previous_{self.measure}"

    @property
    def ratio_column(self) -> str:
        return f"{self.measure}_vs_previous"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    path: Path
    asset: tuple[str, ...]
    relation: str
    blocking: bool
    suite_json: dict[str, Any]
    column_readers: dict[str, str] = field(default_factory=dict)
    index_columns: tuple[str, ...] = ()
    previous_run: PreviousRunComparison | None = None
    seed_parameters: dict[str, tuple[str, str]] = field(default_factory=dict)
    dbt_var_parameters: tuple[str, ...] = ()
    newest_landing: bool = False

    @property
    def expectations(self) -> list[dict[str, Any]]:
        return self.suite_json["expectations"]

    def referenced_columns(self) -> set[str]:
        """Columns named by the expectations (row conditions are resolved against the table later)."""
        columns: set[str] = set()
        for expectation in self.expectations:
            kwargs = expectation.get("kwargs", {})
            columns.update(kwargs[name] for name in _COLUMN_KWARGS if isinstance(kwargs.get(name), str))
            for name in _COLUMN_LIST_KWARGS:
                columns.update(kwargs.get(name) or [])
        columns.update(self.index_columns)
        if self.previous_run:
            columns.update({self.previous_run.key, self.previous_run.measure})
            columns -= {self.previous_run.previous_column, self.previous_run.ratio_column}
        return columns

    def row_conditions(self) -> list[str]:
        conditions = []
        for expectation in self.expectations:
            condition = expectation.get("kwargs", {}).get("row_condition")
            if isinstance(condition, dict):
                condition = condition.get("pass_through_filter")
            if condition:
                conditions.append(str(condition))
        return conditions


def load_suite(path: Path) -> SuiteSpec:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SuiteFileError(f"{path.name}: not valid JSON ({error})") from error
    try:
        contract_table = raw_contract_suites.contract_table(path)
        if contract_table is not None:
            raw = raw_contract_suites.build_raw_suite(raw, contract_table, path.name)
    except raw_contract_suites.RawSuiteError as error:
        raise SuiteFileError(str(error)) from error
    meta = (raw.get("meta") or {}).get("crm_segments")
    if not isinstance(meta, dict):
        raise SuiteFileError(f"{path.name}: no meta.crm_segments block (asset, relation)")
    name = raw.get("name")
    if name != path.stem:
        raise SuiteFileError(f"{path.name}: the suite name {name!r} must equal the file name {path.stem!r}")
    if not raw.get("expectations"):
        raise SuiteFileError(f"{path.name}: no expectations")
    relation = str(meta.get("relation", ""))
    if not _RELATION.match(relation):
        raise SuiteFileError(f"{path.name}: relation {relation!r} must be schema.table, lowercase")
    asset = tuple(str(meta.get("asset", "")).split("/"))
    if len(asset) != 2 or not all(asset):
        raise SuiteFileError(f"{path.name}: asset must be layer/name, e.g. raw/orders")
    readers = dict(meta.get("columns") or {})
    for column, reader in readers.items():
        if reader not in COLUMN_READERS:
            raise SuiteFileError(
                f"{path.name}: column {column!r} has reader {reader!r}; known: {', '.join(COLUMN_READERS)}"
            )
    comparison = meta.get("compare_with_previous_run")
    seeds = {key: tuple(value) for key, value in (meta.get("seed_parameters") or {}).items()}
    if any(len(value) != 2 for value in seeds.values()):
        raise SuiteFileError(f"{path.name}: seed_parameters values must be [seed, column]")
    spec = SuiteSpec(
        name=name,
        path=path,
        asset=asset,
        relation=relation,
        blocking=bool(meta.get("blocking", True)),
        suite_json=raw,
        column_readers=readers,
        index_columns=tuple(meta.get("index_columns") or ()),
        previous_run=PreviousRunComparison(**comparison) if comparison else None,
        seed_parameters=seeds,  # type: ignore[arg-type]
        dbt_var_parameters=tuple(meta.get("dbt_var_parameters") or ()),
        newest_landing=bool(meta.get("newest_landing", False)),
    )
    if contract_table is not None:
        try:
            raw_contract_suites.check_raw_suite(
                relation, asset, spec.referenced_columns(), contract_table, path.name
            )
        except raw_contract_suites.RawSuiteError as error:
            raise SuiteFileError(str(error)) from error
    return spec


def load_suites(directory: Path = SUITES_DIR) -> list[SuiteSpec]:
    suites = [load_suite(path) for path in sorted(directory.glob("*.json"))]
    if not suites:
        raise SuiteFileError(f"no suite files (*.json) in {directory}")
    return suites
