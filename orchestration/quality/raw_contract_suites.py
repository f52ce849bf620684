"""Raw GX suites built from the raw data contract plus the table's own suite file.

`expectations/raw_<table>.json` holds only what the contract does not say (volume bands, value sets,
formats, uniqueness, how to read a text column, which columns identify a row). The contract
(orchestration/raw_contract.py) adds, at load time:

- the relation `raw.<table>` and the Dagster asset `raw/<table>`;
- the readers of its number and date columns (`number`, `timestamp`);
- for a required table, at least one row;
- for each required column, mostly filled (`mostly` 0.5: a whole-file rule), except the columns the
  file lists under `meta.crm_segments.contract_not_null_except`;
- `newest_landing`: the column rules judge the files of the table's newest landing (the rows of its
  largest `_load_id`): what a whole file gets wrong shows there, not diluted in years of history.

The file may not restate any of these, and every column it names must be a contract or lineage column.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from orchestration.raw_contract import LINEAGE_COLUMNS, RAW_TABLES_BY_NAME, RawTable

PREFIX = "raw_"
WHOLE_FILE_MOSTLY = 0.5
KIND_READERS = {"number": "number", "date": "timestamp"}
NOT_NULL_EXCEPT = "contract_not_null_except"


class RawSuiteError(ValueError):
    """A raw suite file contradicts or restates the contract; the message names the file."""


def contract_table(path: Path) -> RawTable | None:
    """The contract table a suite file checks (`raw_<table>.json`), None for other suites."""
    if not path.stem.startswith(PREFIX):
        return None
    name = path.stem.removeprefix(PREFIX)
    if name not in RAW_TABLES_BY_NAME:
        known = ", ".join(PREFIX + table for table in RAW_TABLES_BY_NAME)
        raise RawSuiteError(f"{path.name}: {name!r} is no raw contract table; raw suites: {known}")
    return RAW_TABLES_BY_NAME[name]


def contract_readers(table: RawTable) -> dict[str, str]:
    readers = {column: KIND_READERS["number"] for column in table.number_columns}
    readers.update({column: KIND_READERS["date"] for column in table.date_columns})
    return readers


def contract_expectations(table: RawTable, not_null_except: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    expectations = []
    if table.required:
        expectations.append(_expectation("expect_table_row_count_to_be_between", {"min_value": 1}))
    expectations += [
        _expectation("expect_column_values_to_not_be_null", {"column": column, "mostly": WHOLE_FILE_MOSTLY})
        for column in table.required_columns
        if column not in not_null_except
    ]
    return expectations


def build_raw_suite(raw: dict[str, Any], table: RawTable, file_name: str) -> dict[str, Any]:
    """The suite file `raw` completed from the contract (a new dict; `raw` is left as it was)."""
    suite = copy.deepcopy(raw)
    meta = (suite.get("meta") or {}).get("crm_segments")
    if not isinstance(meta, dict):
        return suite  # the generic loader refuses it with its own message
    allowed = set(table.columns) | set(LINEAGE_COLUMNS)
    not_null_except = tuple(meta.pop(NOT_NULL_EXCEPT, None) or ())
    for column in not_null_except:
        if column not in table.required_columns:
            raise RawSuiteError(f"{file_name}: {NOT_NULL_EXCEPT} names {column!r}, no required column")
    own = list(suite.get("expectations") or [])
    generated = contract_expectations(table, not_null_except)
    restated = {_key(item) for item in generated}
    for expectation in own:
        if _key(expectation) in restated:
            raise RawSuiteError(
                f"{file_name}: {expectation.get('type')}{expectation.get('kwargs')} restates the raw "
                "contract (_sources.yml), which adds it; remove it"
            )
    derived = contract_readers(table)
    readers = dict(meta.get("columns") or {})
    for column in readers:
        if column in derived:
            raise RawSuiteError(
                f"{file_name}: columns.{column} restates the contract, which reads it as {derived[column]}"
            )
        if column not in allowed:
            raise RawSuiteError(f"{file_name}: no contract column {column!r} in {table.name}")
    meta["columns"] = {**derived, **readers}
    meta.setdefault("relation", f"raw.{table.name}")
    meta.setdefault("asset", f"raw/{table.name}")
    meta["newest_landing"] = True
    suite["expectations"] = generated + own
    return suite


def check_raw_suite(
    relation: str, asset: tuple[str, ...], columns: set[str], table: RawTable, file_name: str
) -> None:
    """A raw suite reads its contract table, named as the contract names it, and only its columns."""
    for key, value, expected in (
        ("relation", relation, f"raw.{table.name}"),
        ("asset", "/".join(asset), f"raw/{table.name}"),
    ):
        if value != expected:
            raise RawSuiteError(f"{file_name}: {key} {value!r}: a raw suite checks {expected!r}")
    unknown = sorted(columns - set(table.columns) - set(LINEAGE_COLUMNS))
    if unknown:
        raise RawSuiteError(f"{file_name}: no contract column(s) {', '.join(unknown)} in {table.name}")


def _expectation(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {}, "severity": "critical"}


def _key(expectation: dict[str, Any]) -> tuple[str, str]:
    """What makes two expectations the same rule: a not-null check of one column, whatever its
    `mostly`; any other expectation with the same kwargs."""
    kind = str(expectation.get("type"))
    kwargs = expectation.get("kwargs") or {}
    if kind == "expect_column_values_to_not_be_null":
        return kind, repr(kwargs.get("column"))
    return kind, repr(sorted(kwargs.items()))
