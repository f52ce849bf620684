"""The README's table of the raw data contract, generated from the contract (`_sources.yml`).

`python -m orchestration.raw_contract_readme` prints the table; `--write` replaces the one in
README.md; `--check` exits 1 when README.md's table differs from the contract.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from orchestration.raw_contract import SOURCES_PATH, column_meta, load_raw_tables, source_tables

README_PATH = SOURCES_PATH.parents[3] / "README.md"
HEADER = "| Table | Required columns | Optional columns |"


def readme_table(path: Path = SOURCES_PATH) -> str:
    """The Markdown table: one row per contract table, in declared order."""
    formats = {
        (str(table["name"]), str(column["name"])): str(column_meta(column)["format"])
        for table in source_tables(path)
        for column in table.get("columns") or []
        if "format" in column_meta(column)
    }
    rows = [HEADER, "|---|---|---|"]
    for table in load_raw_tables(path):

        def shown(column: str, table_name: str = table.name) -> str:
            note = formats.get((table_name, column))
            return f"`{column}`" + (f" ({note})" if note else "")

        in_groups = {column for group in table.one_of_columns for column in group}
        required = [shown(column) for column in table.required_columns]
        required += [" or ".join(shown(column) for column in group) for group in table.one_of_columns]
        optional = [shown(column) for column in table.optional_columns if column not in in_groups]
        kind = "required" if table.required else "optional"
        cells = [
            f"`{table.name}` ({kind})",
            _listed(required, len(table.one_of_columns)),
            ", ".join(optional),
        ]
        rows.append("|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|")
    return "\n".join(rows)


def _listed(items: Sequence[str], groups: int) -> str:
    """Comma-separated, with `and` before the one-of groups at the end."""
    if not groups or len(items) == groups:
        return ", ".join(items)
    return ", ".join(items[:-groups]) + ", and " + ", ".join(items[-groups:])


def table_span(readme: str) -> tuple[int, int]:
    """Start and end offsets of the contract table in `readme` (from HEADER to its last row)."""
    start = readme.index(HEADER)
    end = start
    for line in readme[start:].splitlines(keepends=True):
        if not line.startswith("|"):
            break
        end += len(line)
    return start, end


def with_table(readme: str, table: str) -> str:
    start, end = table_span(readme)
    return readme[:start] + table + "\n" + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    table = readme_table()
    readme = README_PATH.read_text(encoding="utf-8")
    if args == ["--check"]:
        start, end = table_span(readme)
        if readme[start:end].rstrip("\n") != table:
            print("README.md: the raw data contract table differs from _sources.yml")
            return 1
        return 0
    if args == ["--write"]:
        README_PATH.write_text(with_table(readme, table), encoding="utf-8")
        return 0
    if args:
        print("usage: python -m orchestration.raw_contract_readme [--check | --write]", file=sys.stderr)
        return 2
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
