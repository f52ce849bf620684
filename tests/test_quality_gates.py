"""Great Expectations gates: suites load and judge data correctly; a broken export stops the night.

Raw suites check only what a whole file gets wrong (row-level dirt is quarantine's job, see
tests/test_quarantine_gate.py). The broken-data runs start from the warehouse of a good run (the
sample replay) and check that the job stops at the failing suite, says which expectation failed on
which rows, and leaves every table of the last good run (marts, history, audit, sync state) as it was.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.__main__ import main
from orchestration.duckdb_profile import connect_warehouse
from orchestration.quality import validation
from orchestration.quality.suites import SuiteFileError, load_suite, load_suites
from orchestration.quality.validation import read_frame, validate
from orchestration.settings import DEFAULT_RAW_DIR
from tests.conftest import SAMPLE_REPLAY_DATES, SampleReplay, copy_warehouse, query

# The landing rewrites `raw`; `quality` logs every check; everything else belongs to the last good run.
MUTABLE_SCHEMAS = ("raw", "quality")


def test_every_suite_file_loads_and_names_an_asset_and_a_table() -> None:
    suites = {spec.name: (spec.relation, "/".join(spec.asset)) for spec in load_suites()}
    assert suites["raw_orders"] == ("raw.orders", "raw/orders")
    assert suites["marts_segment_sizes"] == ("marts.segment_catalog", "marts/segment_membership")
    assert len(suites) == 8


def test_a_malformed_suite_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "raw_orders.json"
    path.write_text(json.dumps({"name": "raw_orders", "expectations": [{"type": "x"}], "meta": {}}))
    with pytest.raises(SuiteFileError, match=r"raw_orders.json: no meta.crm_segments block"):
        load_suite(path)
    path.write_text(
        json.dumps(
            {
                "name": "raw_orders",
                "expectations": [{"type": "x"}],
                "meta": {"crm_segments": {"asset": "raw/orders", "relation": "raw.orders; drop table x"}},
            }
        )
    )
    with pytest.raises(SuiteFileError, match=r"relation 'raw.orders; drop table x' must be schema.table"):
        load_suite(path)


def _raw_orders(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    con.execute("create schema if not exists raw")
    con.execute(
        f"create or replace table raw.orders as select * from (values {rows}) "
        "as t(order_id, customer_id, ordered_at, amount, status, _source_row)"
    )


def test_raw_orders_suite_lets_row_level_dirt_through(tmp_path: Path) -> None:
    """A negative amount, one that does not parse, a repeated id, a missing customer, a date in the
    future: single rows for staging to quarantine, not a broken export. The suite passes."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _raw_orders(
            con,
            "('o1', 'c1', '2024-01-01 10:00:00', '100.50', 'completed', 1), "
            "('o2', 'c1', '2024-02-01T10:00:00+03:00', '-20', 'paid', 2), "
            "('o2', null, '2099-03-01', 'abc', 'refunded', 3), "
            "('o4', 'c3', '2024-03-02', '7', 'Completed ', 4)",
        )
        outcome = validate(load_suite(_suite("raw_orders")), con, date(2024, 6, 30))
    assert outcome.rows == 4
    assert outcome.passed, outcome.describe()
    assert outcome.failed_critical == []
    assert len(outcome.expectations) == 10
    assert outcome.metrics == {"row_count": 4.0}


def test_raw_orders_suite_blocks_a_file_whose_amounts_broke_and_shows_the_rows(tmp_path: Path) -> None:
    """Three of four amounts do not parse (75% > the 50% a whole-file rule allows)."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _raw_orders(
            con,
            "('o1', 'c1', '2024-01-01 10:00:00', '100.50', 'completed', 1), "
            "('o2', 'c1', '2024-02-01 10:00:00', 'n/a', 'completed', 2), "
            "('o3', 'c2', '2024-03-01', '12 EUR', 'completed', 3), "
            "('o4', 'c3', '2024-03-02', '', 'completed', 4)",
        )
        outcome = validate(load_suite(_suite("raw_orders")), con, date(2024, 6, 30))
    assert not outcome.passed
    [failed] = outcome.failed_critical
    assert (failed.expectation, failed.column, failed.unexpected_count) == (
        "expect_column_values_to_not_be_null",
        "amount",
        3,
    )
    assert failed.unexpected_percent == 75.0
    assert failed.examples == [
        {"amount": None, "_source_row": 2, "order_id": "o2"},
        {"amount": None, "_source_row": 3, "order_id": "o3"},
        {"amount": None, "_source_row": 4, "order_id": "o4"},
    ]


def test_raw_suites_judge_the_newest_landing_and_count_the_whole_table(tmp_path: Path) -> None:
    """Column rules read the files of the largest _load_id; the row-count rules, and the baseline the
    next run compares with, count every row. A broken daily drop fails although the table, five good
    rows and three broken ones, is mostly fine; broken old rows do not fail a good drop again."""
    good = ", ".join(
        f"('o{number}', 'c{number % 3}', '2024-01-0{number}', '{number * 10}', 'completed', {number}, 1)"
        for number in range(1, 6)
    )
    broken_drop = ", ".join(
        f"('o{number}', 'c1', '2024-02-01', '{amount}', 'completed', {number - 5}, 2)"
        for number, amount in ((6, "n/a"), (7, ""), (8, "12 EUR"))
    )
    spec = load_suite(_suite("raw_orders"))
    assert spec.newest_landing
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema raw")
        columns = "order_id, customer_id, ordered_at, amount, status, _source_row, _load_id"
        con.execute(
            f"create table raw.orders as select * from (values {good}, {broken_drop}) as t({columns})"
        )
        outcome = validate(spec, con, date(2024, 6, 30))
        assert (outcome.rows, outcome.table_rows, outcome.metrics) == (3, 8, {"row_count": 8.0})
        [failed] = outcome.failed_critical
        assert (failed.expectation, failed.column, failed.unexpected_count) == (
            "expect_column_values_to_not_be_null",
            "amount",
            3,
        )
        assert outcome.describe().splitlines()[0] == (
            "raw_orders: 1 of 10 expectations failed on the newest landing of raw.orders (3 of its 8 rows)"
        )
        row_count = next(item for item in outcome.expectations if item.expectation.startswith("expect_table"))
        assert (row_count.success, row_count.observed) == (True, 8)

        # The next night lands two good orders: the broken drop stays in the table, judged once.
        con.execute(
            "insert into raw.orders values ('o9', 'c1', '2024-03-01', '5', 'completed', 1, 3), "
            "('o10', 'c2', '2024-03-01', '6', 'completed', 2, 3)"
        )
        outcome = validate(spec, con, date(2024, 6, 30))
    assert outcome.passed, outcome.describe()
    assert outcome.describe() == (
        "raw_orders: 10 expectations met on the newest landing of raw.orders (2 of its 10 rows)"
    )
    assert sorted(item.expectation for item in outcome.expectations) == sorted(
        item["type"] for item in spec.expectations
    )


def test_a_landing_larger_than_the_cap_is_validated_on_one_row_in_k_of_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two files of 4 and 7 rows landed together, a cap of 5 rows: one row in 3 of each file is read
    (rows 1, 4 and 1, 4, 7), and every amount of the second file is broken."""
    monkeypatch.setattr(validation, "MAX_VALIDATED_ROWS", 5)
    rows = [
        f"('{file}-{row}', 'c1', '2024-01-01', '{amount}', 'completed', '{file}', {row}, 1)"
        for file, count, amount in (("a.csv", 4, "10"), ("b.csv", 7, "n/a"))
        for row in range(1, count + 1)
    ]
    spec = load_suite(_suite("raw_orders"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema raw")
        columns = "order_id, customer_id, ordered_at, amount, status, _source_file, _source_row, _load_id"
        con.execute(f"create table raw.orders as select * from (values {', '.join(rows)}) as t({columns})")
        assert sorted(read_frame(spec, con)["order_id"]) == [
            "a.csv-1",
            "a.csv-4",
            "b.csv-1",
            "b.csv-4",
            "b.csv-7",
        ]
        outcome = validate(spec, con, date(2024, 6, 30))
    [failed] = outcome.failed_critical
    assert (failed.column, failed.unexpected_count) == ("amount", 3)
    assert outcome.describe().splitlines()[0] == (
        "raw_orders: 1 of 10 expectations failed on a sample of the newest landing of raw.orders "
        "(one row in 3 of each file: 5 of the landing's 11 rows, 11 in the table)"
    )
    assert outcome.metrics == {"row_count": 11.0}


def test_dotted_day_first_timestamps_parse(tmp_path: Path) -> None:
    """A Russian export writes DD.MM.YYYY[ HH:MM[:SS]]; read day first, it is not a broken file."""
    spec = load_suite(_suite("raw_orders"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _raw_orders(
            con,
            "('o1', 'c1', '05.03.2024', '1', 'completed', 1), "
            "('o2', 'c1', '05.03.2024 14:30', '2', 'completed', 2), "
            "('o3', 'c1', '31.12.2023 23:59:59', '3', 'completed', 3)",
        )
        assert [str(value) for value in read_frame(spec, con)["ordered_at"]] == [
            "2024-03-05 00:00:00",
            "2024-03-05 14:30:00",
            "2023-12-31 23:59:59",
        ]
        assert validate(spec, con, date(2024, 6, 30)).passed


def test_segment_sizes_fail_when_a_segment_drops_to_zero(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    spec = load_suite(_suite("marts_segment_sizes"))
    with connect_warehouse(warehouse) as con:
        con.execute("create table marts.segment_catalog (segment_key varchar, members bigint)")
        con.execute("insert into marts.segment_catalog values ('vip', 100), ('tiny', 5)")
        first = validate(spec, con, date(2024, 6, 1))
        assert first.passed
        from orchestration.quality import baselines

        baselines.record(con, spec.name, date(2024, 6, 1), True, first.rows, "", first.metrics)
        # 'tiny' (under 20 members before) may vanish; 'vip' may not.
        con.execute("update marts.segment_catalog set members = 0")
        second = validate(spec, con, date(2024, 6, 2))
    [failed] = second.failed_critical
    assert failed.column == "members_vs_previous"
    assert failed.examples == [{"members_vs_previous": 0.0, "segment_key": "vip"}]


def _suite(name: str) -> Path:
    return next(spec.path for spec in load_suites() if spec.name == name)


def _break_orders(raw_dir: Path) -> None:
    path = raw_dir / "orders.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::2]:
        row["amount"] = f"-{row['amount'].lstrip('-')}"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _empty_customers(raw_dir: Path) -> None:
    path = raw_dir / "customers.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0]
    path.write_text(header + "\n", encoding="utf-8")


def _fingerprint(warehouse: Path) -> dict[str, tuple[int, int]]:
    with connect_warehouse(warehouse, read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": con.execute(
                f'select count(*), sum(hash(t)) from "{schema}"."{name}" as t'
            ).fetchone()
            for schema, name in tables
            if schema not in MUTABLE_SCHEMAS
        }


@pytest.mark.parametrize(
    ("breakage", "suite", "expected"),
    [
        # Every other order made negative, plus the few negative ones the sample has (staging
        # quarantines those): just over half the file, which a whole-file rule (mostly 0.5) refuses.
        (
            _break_orders,
            "gx_raw_orders",
            r"expect_column_values_to_be_between\(amount\): 99\d\d unexpected rows \(50\.2%\), e\.g\. "
            r"\[\{'amount': -8990\.0, '_source_row': 1, 'order_id': 'O00000001'\}",
        ),
        (_empty_customers, "gx_raw_customers", r"expect_table_row_count_to_be_between: observed 0"),
    ],
    ids=["half-the-orders-negative", "customers-file-empty"],
)
def test_broken_raw_data_stops_at_the_check_and_keeps_the_last_good_run(
    sample_replay: SampleReplay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    breakage,
    suite: str,
    expected: str,
) -> None:
    raw_dir = tmp_path / "raw"
    shutil.copytree(DEFAULT_RAW_DIR, raw_dir)
    breakage(raw_dir)
    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(sample_replay.warehouse, warehouse)
    before = _fingerprint(warehouse)
    assert {"marts.customer_rfm", "marts.segment_membership", "marts.segment_membership_history"} <= set(
        before
    )

    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(raw_dir))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.setenv("CRM_SEGMENTS_AS_OF", "2026-11-21")
    assert main(["run"]) == 1

    error = capsys.readouterr().err
    assert f"check raw/{suite.removeprefix('gx_raw_')}:{suite} failed" in error
    assert re.search(expected, error), error[-3000:]
    assert _fingerprint(warehouse) == before
    last_good = SAMPLE_REPLAY_DATES[-1]
    assert query(warehouse, "select max(as_of_date) from marts.segment_membership") == [(last_good,)]
    assert query(
        warehouse,
        "select passed from quality.suite_results where suite = ? and as_of_date = '2026-11-21'",
        [suite.removeprefix("gx_")],
    ) == [(False,)]
