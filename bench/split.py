"""The nightly run's input: the generated folder split into history and one new day.

The generator writes each table as one file covering the whole period. A real nightly run gets the
new day as a drop (orders/<day>.csv, …) next to the history it already landed, which is what the
incremental landing and staging are for. So the benchmark lands `history/` (every row except the
orders and email events of the last day, and the lines of those orders) for the full build, then
adds the last day as drops for the nightly run. Customers and campaigns are full exports: the same
file in both.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

MARKER = "_split.json"
# table -> the column whose text starts with the day for the day's rows
DATED_TABLES = {"orders": "ordered_at", "email_events": "occurred_at"}


@dataclass(frozen=True)
class SplitData:
    history: Path
    drops: Path
    day: date
    # table -> rows in history, rows in the day's drop
    rows: dict[str, tuple[int, int]]


def _file(folder: Path, table: str) -> Path | None:
    found = [path for path in folder.iterdir() if path.name.split(".")[0] == table and path.is_file()]
    return found[0] if found else None


def _reader(path: Path) -> str:
    literal = "'" + str(path).replace("'", "''") + "'"
    if path.name.endswith(".parquet"):
        return f"read_parquet({literal})"
    return f"read_csv({literal}, header = true, all_varchar = true)"


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    options = "(format parquet)" if target.name.endswith(".parquet") else "(format csv, header true)"
    con.execute(f"copy ({query}) to '{target}' {options}")
    return con.execute(f"select count(*) from {_reader(target)}").fetchone()[0]


def split_last_day(source: Path, target: Path, day: date) -> SplitData:
    """`target/history` and `target/drops` from the generated folder `source` (cached by a marker)."""
    marker = target / MARKER
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        if recorded["source"] == str(source) and recorded["day"] == day.isoformat():
            rows = {table: (history, drop) for table, (history, drop) in recorded["rows"].items()}
            return SplitData(target / "history", target / "drops", day, rows)
    shutil.rmtree(target, ignore_errors=True)
    history, drops = target / "history", target / "drops"
    history.mkdir(parents=True)
    rows: dict[str, tuple[int, int]] = {}
    prefix = day.isoformat()
    with duckdb.connect() as con:
        # Rows keep their order: _source_row is the line number.
        con.execute("set preserve_insertion_order = true")
        con.execute("set enable_progress_bar = false")
        for path in sorted(source.iterdir()):
            table = path.name.split(".")[0]
            if not path.is_file() or path.name.startswith("_") or table == "order_items":
                continue
            if table not in DATED_TABLES:
                (history / path.name).symlink_to(path)
                continue
            on_day = f"coalesce(trim({DATED_TABLES[table]}), '') like '{prefix}%'"
            every_row = f"select * from {_reader(path)}"
            rows[table] = (
                _copy(con, f"{every_row} where not ({on_day})", history / path.name),
                _copy(
                    con, f"{every_row} where {on_day}", drops / table / f"{prefix}{path.name[len(table) :]}"
                ),
            )
        items = _file(source, "order_items")
        orders = _file(drops / "orders", prefix) if (drops / "orders").is_dir() else None
        if items is not None and orders is not None:
            in_day = f"coalesce(trim(order_id) in (select trim(order_id) from {_reader(orders)}), false)"
            every_row = f"select * from {_reader(items)}"
            rows["order_items"] = (
                _copy(con, f"{every_row} where not {in_day}", history / items.name),
                _copy(
                    con,
                    f"{every_row} where {in_day}",
                    drops / "order_items" / f"{prefix}{items.name[len('order_items') :]}",
                ),
            )
    marker.write_text(
        json.dumps(
            {"source": str(source), "day": prefix, "rows": {t: list(r) for t, r in rows.items()}}, indent=2
        )
    )
    return SplitData(history, drops, day, rows)


def add_drops(split: SplitData) -> None:
    """Puts the day's drops into the history folder (what arrives before the nightly run)."""
    for folder in split.drops.iterdir():
        shutil.copytree(folder, split.history / folder.name, dirs_exist_ok=True)


def remove_drops(split: SplitData) -> None:
    """Takes the drops out again, so the next full build lands the history only."""
    for folder in split.drops.iterdir():
        shutil.rmtree(split.history / folder.name, ignore_errors=True)
