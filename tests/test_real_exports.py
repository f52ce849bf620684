"""A shop's own export, end to end: Windows-1251, `;`, CRLF, Russian headers mapped in
`_format.yml`, decimal commas with no-break-space thousands, dotted dates, Russian statuses, a status
of the shop's own and an .xlsx of order lines land whole and reach the marts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import BuildWarehouse, query

FORMAT_YML = """\
customers:
  columns:
    customer_id: "ID клиента"
    email: "E-mail"
    city: "Город"
orders:
  columns:
    order_id: "Номер"
    customer_id: "ID клиента"
    ordered_at: "Дата заказа"
    amount: "Сумма"
    status: "Статус"
"""

CUSTOMERS = "ID клиента;E-mail;Город\r\n1;Ivan@Mail.ru ;Москва\r\n2;anna@mail.ru;Казань\r\n3;;Омск\r\n"

ORDERS = (
    "Номер;ID клиента;Дата заказа;Сумма;Статус;Комментарий\r\n"
    '101;1;05.06.2024 14:30;1\u00a0234,50;Выполнен;"позвонить\r\nдо обеда"\r\n'
    "102;1;01.02.2024;500;Сделка успешна;\r\n"
    "103;2;15.03.2024 09:05:10;2 000,00;в пути;\r\n"
    "104;2;16.03.2024;750,5;Отменён;\r\n"
    "105;3;20.06.2024;99,90;оплачен;\r\n"
)


@pytest.fixture(scope="module")
def shop_export(tmp_path_factory: pytest.TempPathFactory, build_warehouse: BuildWarehouse) -> Path:
    raw = tmp_path_factory.mktemp("shop_export")
    (raw / "_format.yml").write_text(FORMAT_YML, encoding="utf-8")
    (raw / "customers.csv").write_bytes(CUSTOMERS.encode("cp1251"))
    (raw / "orders.csv").write_bytes(ORDERS.encode("cp1251"))
    (raw / "order_status_map.csv").write_text("raw_status,order_status\nв пути,pending\n", encoding="utf-8")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Товары"
    sheet.append(["order_id", "product_id", "quantity", "unit_price", "category"])
    sheet.append([101, "SKU-1", 1, 1234.5, "Кофе"])
    sheet.append([102, "SKU-2", 2, "250,00", "Чай"])
    workbook.save(raw / "order_items.xlsx")
    return build_warehouse(raw_dir=raw, as_of=date(2024, 6, 30))


def test_every_row_lands_and_reconciles(shop_export: Path) -> None:
    assert query(
        shop_export,
        "select table_name, raw_rows, staged_rows, quarantined_rows from audit.raw_row_reconciliation "
        "where raw_rows > 0 order by 1",
    ) == [
        ("customers", 3, 3, 0),
        ("order_items", 2, 2, 0),
        ("order_status_map", 1, 1, 0),
        ("orders", 5, 5, 0),
    ]


def test_values_are_read_as_the_shop_wrote_them(shop_export: Path) -> None:
    assert query(
        shop_export,
        "select order_id, customer_id, ordered_at, amount, order_status, _source_row "
        "from staging.stg_crm__orders order by order_id",
    ) == [
        ("101", "1", datetime.fromisoformat("2024-06-05 14:30:00"), Decimal("1234.50"), "completed", 1),
        ("102", "1", datetime.fromisoformat("2024-02-01 00:00:00"), Decimal("500.00"), "completed", 2),
        ("103", "2", datetime.fromisoformat("2024-03-15 09:05:10"), Decimal("2000.00"), "pending", 3),
        ("104", "2", datetime.fromisoformat("2024-03-16 00:00:00"), Decimal("750.50"), "cancelled", 4),
        ("105", "3", datetime.fromisoformat("2024-06-20 00:00:00"), Decimal("99.90"), "completed", 5),
    ]
    assert query(
        shop_export, "select customer_id, email, city from staging.stg_crm__customers order by 1"
    ) == [("1", "ivan@mail.ru", "Москва"), ("2", "anna@mail.ru", "Казань"), ("3", None, "Омск")]
    assert query(
        shop_export,
        "select order_id, quantity, unit_price, category from staging.stg_crm__order_items order by 1",
    ) == [
        ("101", Decimal("1.00"), Decimal("1234.50"), "кофе"),
        ("102", Decimal("2.00"), Decimal("250.00"), "чай"),
    ]


def test_the_marts_hold_the_shops_purchases(shop_export: Path) -> None:
    assert query(
        shop_export, "select customer_id, frequency, monetary from marts.customer_rfm order by 1"
    ) == [("1", 2, Decimal("1734.50")), ("3", 1, Decimal("99.90"))]
