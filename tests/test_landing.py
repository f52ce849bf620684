"""Landing the user's raw folder: the contract's required parts, optional parts, and all-or-nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.duckdb_profile import connect_warehouse
from orchestration.landing import UNCLAIMED_HINT, RawDataError, land_raw_files, unclaimed_raw_files
from orchestration.raw_contract import RAW_TABLES
from tests.conftest import TINY_RAW_DIR


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    shutil.copytree(TINY_RAW_DIR, folder)
    return folder


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "landing.duckdb")) as connection:
        yield connection


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        table.name: con.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
        for table in RAW_TABLES
    }


def test_lands_every_table_as_text_with_lineage(raw_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    landed = land_raw_files(con, raw_dir)
    assert {t.name: t.rows for t in landed} == {
        "customers": 11,
        "orders": 21,
        "order_items": 7,
        "email_events": 14,
        "campaigns": 3,
        "currency_rates": 0,
        "order_status_map": 0,
    }
    types = con.execute(
        "select distinct data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'orders' and column_name not like '\\_%' escape '\\'"
    ).fetchall()
    assert types == [("VARCHAR",)]
    first = con.execute(
        "select order_id, _source_file, _source_row from raw.orders order by _source_row limit 1"
    ).fetchone()
    assert first[1:] == ("orders.csv", 1)
    assert first[0] == pd.read_csv(raw_dir / "orders.csv", dtype=str).iloc[0]["order_id"]
    manifest = con.execute(
        "select table_name, row_count, missing_columns from raw._landing_manifest order by 1"
    ).fetchall()
    assert ("customers", 11, "phone,acquisition_channel") in manifest


def test_rows_are_numbered_in_file_order_when_the_file_is_read_in_parallel(
    raw_dir: Path, tmp_path: Path
) -> None:
    # About 35 MB: DuckDB reads a file this size on several threads, which puts rows out of file
    # order unless the landing keeps it. Each order's amount is its line number.
    rows = 1_000_000
    duckdb.sql(
        "copy (select 'o' || i as order_id, 'c' || (i % 977) as customer_id, "
        "'2024-01-01 10:00:00' as ordered_at, cast(i as varchar) as amount "
        f"from range(1, {rows} + 1) as lines(i)) to '{raw_dir / 'orders.csv'}' (header)"
    )
    # The warehouse's own settings: two threads, insertion order not kept outside the landing.
    with connect_warehouse(tmp_path / "parallel.duckdb") as con:
        landed = land_raw_files(con, raw_dir)
        numbered = con.execute(
            "select count(*), count(distinct _source_row), min(_source_row), max(_source_row), "
            "count(*) filter (where _source_row != cast(amount as bigint)) from raw.orders"
        ).fetchone()
    assert {t.name: t.rows for t in landed}["orders"] == rows
    assert numbered == (rows, rows, 1, rows, 0)


def test_a_file_no_table_reads_is_named_in_the_log_and_the_landing_line(
    raw_dir: Path, con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    """A daily drop beside the table's file instead of in its folder is not read: the landing says so."""
    (raw_dir / "orders_2024-06-30.csv").write_text((raw_dir / "orders.csv").read_text())
    (raw_dir / "leads").mkdir()
    (raw_dir / "notes.txt").write_text("not data")
    (raw_dir / "_format.yml").write_text("{}\n")
    assert unclaimed_raw_files(raw_dir) == ["leads/", "orders_2024-06-30.csv"]

    before = len((raw_dir / "orders.csv").read_text().splitlines()) - 1
    with caplog.at_level("WARNING", logger="orchestration"):
        land_raw_files(con, raw_dir)
    assert _counts(con)["orders"] == before
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert f"{raw_dir}/orders_2024-06-30.csv: {UNCLAIMED_HINT}" in warnings
    assert f"{raw_dir}/leads/: {UNCLAIMED_HINT}" in warnings

    import dagster as dg

    from orchestration.progress import _Step, describe_step

    step = _Step(started=0.0)
    step.materialized += [
        (dg.AssetKey(["raw", "orders"]), {"rows": dg.MetadataValue.int(before)}),
        (
            dg.AssetKey(["raw", "_landing_manifest"]),
            {"tables": 1, "unclaimed_files": dg.MetadataValue.text("leads/, orders_2024-06-30.csv")},
        ),
    ]
    assert describe_step("raw_files", step) == (
        f"landed the raw files: 1 table, {before:,} rows; not read, no table has that name (the log says "
        "how to name them): leads/, orders_2024-06-30.csv"
    )


def test_missing_required_table_is_a_clear_error(raw_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    (raw_dir / "orders.csv").unlink()
    with pytest.raises(RawDataError, match=r"the required table 'orders' is missing"):
        land_raw_files(con, raw_dir)


def test_missing_required_column_names_the_file_and_column(
    raw_dir: Path, con: duckdb.DuckDBPyConnection
) -> None:
    orders = pd.read_csv(raw_dir / "orders.csv", dtype=str).drop(columns=["amount"])
    orders.to_csv(raw_dir / "orders.csv", index=False)
    with pytest.raises(RawDataError, match=r"orders\.csv: required column\(s\) amount missing"):
        land_raw_files(con, raw_dir)


def test_email_events_need_customer_id_or_email(raw_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    events = pd.read_csv(raw_dir / "email_events.csv", dtype=str).drop(columns=["customer_id", "email"])
    events.to_csv(raw_dir / "email_events.csv", index=False)
    with pytest.raises(RawDataError, match=r"needs at least one of the columns customer_id, email"):
        land_raw_files(con, raw_dir)


def test_optional_tables_may_be_absent_with_a_warning(raw_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    for name in ("order_items", "email_events", "campaigns"):
        (raw_dir / f"{name}.csv").unlink()
    landed = {t.name: t for t in land_raw_files(con, raw_dir)}
    assert _counts(con) == {
        "customers": 11,
        "orders": 21,
        "order_items": 0,
        "email_events": 0,
        "campaigns": 0,
        "currency_rates": 0,
        "order_status_map": 0,
    }
    assert landed["campaigns"].warnings == ["campaigns: no file; the features that need it come out empty"]


def test_column_names_are_matched_case_insensitively_and_extra_columns_reported(
    raw_dir: Path, con: duckdb.DuckDBPyConnection
) -> None:
    campaigns = pd.read_csv(raw_dir / "campaigns.csv", dtype=str)
    campaigns = campaigns.rename(columns={"campaign_id": " Campaign_ID "}).assign(utm_source="x")
    campaigns.to_csv(raw_dir / "campaigns.csv", index=False)
    landed = {t.name: t for t in land_raw_files(con, raw_dir)}
    assert landed["campaigns"].ignored_columns == ("utm_source",)
    assert con.execute("select count(campaign_id) from raw.campaigns").fetchone() == (3,)


def test_parquet_input_lands_like_csv(raw_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    for name in ("customers", "orders"):
        frame = pd.read_csv(raw_dir / f"{name}.csv", dtype=str)
        frame.to_parquet(raw_dir / f"{name}.parquet", index=False)
        (raw_dir / f"{name}.csv").unlink()
    land_raw_files(con, raw_dir)
    assert _counts(con)["orders"] == 21
    assert con.execute("select distinct _source_file from raw.customers").fetchall() == [
        ("customers.parquet",)
    ]


def test_two_files_for_one_table_is_an_error(raw_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    pd.read_csv(raw_dir / "orders.csv", dtype=str).to_parquet(raw_dir / "orders.parquet", index=False)
    with pytest.raises(RawDataError, match=r"more than one file for table 'orders'"):
        land_raw_files(con, raw_dir)


def test_a_broken_folder_changes_nothing(
    raw_dir: Path, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    land_raw_files(con, raw_dir)
    before = _counts(con)
    broken = tmp_path / "broken"
    shutil.copytree(raw_dir, broken)
    (broken / "customers.csv").write_text("customer_id\nonly-one\n", encoding="utf-8")
    (broken / "orders.csv").write_text("order_id,customer_id\n1,2\n", encoding="utf-8")
    with pytest.raises(RawDataError):
        land_raw_files(con, broken)
    assert _counts(con) == before


def test_missing_folder_is_a_clear_error(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(RawDataError, match=r"raw data folder not found"):
        land_raw_files(con, tmp_path / "nowhere")
