"""Real exports' money and statuses: orders in the reporting currency need no rate, whatever their
date; other currencies before their first rate take the earliest one and say so; the shop's own
rates and statuses, dropped in the raw folder, override and extend the bundled seeds."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.settings import DEFAULT_CATALOG_PATH, Settings
from tests.conftest import BuildWarehouse, SampleReplay, copy_warehouse, query


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def nineties_log(tmp_path_factory: pytest.TempPathFactory, build_warehouse: BuildWarehouse) -> Path:
    """A 1990s order log with only the required columns: no currency, so the reporting currency."""
    raw = tmp_path_factory.mktemp("nineties")
    _write(raw, "customers.csv", "customer_id\n1\n2\n3\n")
    _write(
        raw,
        "orders.csv",
        "order_id,customer_id,ordered_at,amount\n"
        "1,1,1997-01-05,100.50\n"
        "2,1,1997-03-10,200\n"
        "3,1,1998-06-30,50\n"
        "4,2,1997-02-01,1000\n"
        "5,3,1997-05-05,300\n"
        "6,3,1997-05-05,20\n",
    )
    return build_warehouse(raw_dir=raw, as_of=date(1998, 6, 30))


def test_an_order_log_from_the_nineties_lands_whole(nineties_log: Path) -> None:
    assert query(
        nineties_log,
        "select table_name, raw_rows, staged_rows, quarantined_rows from audit.raw_row_reconciliation "
        "where table_name in ('customers', 'orders') order by 1",
    ) == [("customers", 3, 3, 0), ("orders", 6, 6, 0)]
    assert query(
        nineties_log,
        "select currency, rate_to_reporting, count(*), max(data_issues) from staging.stg_crm__orders "
        "group by all",
    ) == [("RUB", 1.0, 6, None)]
    assert query(
        nineties_log,
        "select customer_id, frequency, monetary, recency_days from marts.customer_rfm order by 1",
    ) == [
        ("1", 3, Decimal("350.50"), 0),
        ("2", 1, Decimal("1000.00"), 514),
        ("3", 2, Decimal("320.00"), 421),
    ]


@pytest.fixture(scope="module")
def foreign_currencies(
    tmp_path_factory: pytest.TempPathFactory, build_warehouse: BuildWarehouse
) -> tuple[Settings, Path]:
    raw = tmp_path_factory.mktemp("foreign") / "raw"
    _write(raw, "customers.csv", "customer_id,email\nc1,c1@example.com\nc2,c2@example.com\n")
    _write(
        raw,
        "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency,status\n"
        "o1,c1,2010-05-01 10:00,10,USD,paid\n"
        "o2,c1,2024-02-01 10:00,10,USD,paid\n"
        "o3,c2,2024-02-01 10:00,10,EUR,отгружен\n"
        "o4,c2,2024-03-01 10:00,500,RUB,shipped\n",
    )
    warehouse = raw.parent / "crm.duckdb"
    settings = Settings(
        raw_dir=raw, as_of=date(2024, 6, 30), duckdb_path=warehouse, catalog_path=DEFAULT_CATALOG_PATH
    )
    build_warehouse(raw_dir=raw, as_of=settings.as_of, duckdb_path=warehouse)
    return settings, warehouse


def _orders(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "select order_id, order_status, rate_to_reporting, amount_reporting, data_issues, quarantine_reason "
        "from staging.base_crm__orders order by order_id",
    )


def test_an_order_before_its_currencys_first_rate_takes_the_earliest_and_says_so(
    foreign_currencies: tuple[Settings, Path],
) -> None:
    _settings, warehouse = foreign_currencies
    # The bundled seed: USD 70 from 2023, 90 from 2024; EUR 98 from 2024. отгружен and shipped
    # (shipped goods) are completed in the bundled map.
    assert _orders(warehouse) == [
        ("o1", "completed", 70.0, Decimal("700.00"), "rate_before_first_known", None),
        ("o2", "completed", 90.0, Decimal("900.00"), None, None),
        ("o3", "completed", 98.0, Decimal("980.00"), None, None),
        ("o4", "completed", 1.0, Decimal("500.00"), None, None),
    ]
    assert query(warehouse, "select customer_id, monetary from marts.customer_rfm order by 1") == [
        ("c1", Decimal("1600.00")),
        ("c2", Decimal("1480.00")),
    ]


@pytest.mark.slow
def test_the_shops_own_rates_and_statuses_override_the_seeds_and_restage_the_orders(
    foreign_currencies: tuple[Settings, Path], tmp_path: Path, build_warehouse: BuildWarehouse
) -> None:
    settings, warehouse = foreign_currencies
    raw = tmp_path / "raw"
    shutil.copytree(settings.raw_dir, raw)
    copy = tmp_path / "crm.duckdb"
    copy_warehouse(warehouse, copy)
    _write(raw, "currency_rates.csv", "currency,valid_from,rate\nUSD,2009-01-01,30\nusd,2024-01-01,92.5\n")
    _write(
        raw,
        "order_status_map.csv",
        "raw_status,order_status\nОтгружен,pending\nв пути,pending\nshipped,half-done\n",
    )
    build_warehouse(raw_dir=raw, as_of=settings.as_of, duckdb_path=copy)

    # USD takes the shop's rates only; EUR keeps the seed's; отгружен is pending now, and the
    # shop's invalid mapping of shipped is quarantined, so the bundled one still applies.
    assert _orders(copy) == [
        ("o1", "completed", 30.0, Decimal("300.00"), None, None),
        ("o2", "completed", 92.5, Decimal("925.00"), None, None),
        ("o3", "pending", 98.0, Decimal("980.00"), None, None),
        ("o4", "completed", 1.0, Decimal("500.00"), None, None),
    ]
    assert query(
        copy,
        "select table_name, raw_rows, staged_rows, quarantined_rows from audit.raw_row_reconciliation "
        "where table_name in ('currency_rates', 'order_status_map') order by 1",
    ) == [("currency_rates", 2, 2, 0), ("order_status_map", 3, 2, 1)]
    assert query(
        copy,
        "select source_file, source_row, quarantine_reason from audit.quarantined_rows "
        "where table_name = 'order_status_map'",
    ) == [("order_status_map.csv", 3, "unknown_order_status")]


def test_the_samples_day_first_dates_are_staged(sample_replay: SampleReplay) -> None:
    """The bundled sample writes 42 orders as `DD.MM.YYYY HH:MM`; they parse, day first."""
    warehouse = sample_replay.warehouse
    assert query(
        warehouse,
        """
        select
            count(*),
            count(staged.order_id),
            min(strftime(staged.ordered_at, '%d.%m.%Y %H:%M') = raw.ordered_at)
        from raw.orders as raw
        left join staging.stg_crm__orders as staged
            on raw._source_file = staged._source_file and raw._source_row = staged._source_row
        where raw.ordered_at like '__.__.____ __:__'
        """,
    ) == [(42, 42, True)]
    assert query(
        warehouse,
        "select count(*) from audit.quarantined_rows where quarantine_reason = 'invalid_ordered_at'",
    ) == [(0,)]
