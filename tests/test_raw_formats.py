"""The files real shops and CRMs export: CSV dialects, Windows-1251, .xlsx, decimal commas, slashed dates,
and `_format.yml` (orchestration/raw_formats.py). Each test writes its own small raw folder."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import openpyxl
import pytest

from orchestration.landing import RawDataError, land_raw_files

CUSTOMERS = "customer_id,email\nc1,a@example.com\nc2,b@example.com\n"


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "landing.duckdb")) as connection:
        yield connection


def _raw(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    for name, content in {"customers.csv": CUSTOMERS, **files}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def _rows(con: duckdb.DuckDBPyConnection, table: str, columns: str) -> list[tuple]:
    return con.execute(f"select {columns} from raw.{table} order by _source_file, _source_row").fetchall()


# --- CSV dialects and encodings ----------------------------------------------------------------------


def test_semicolons_bom_crlf_and_quoted_newlines(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    orders = (
        "\ufefforder_id;customer_id;ordered_at;amount;channel\r\n"
        'o1;c1;2024-01-05 10:00:00;10.50;"web\r\nshop"\r\n'
        "o2;c2;2024-01-06;7;phone\r\n"
    )
    land_raw_files(con, _raw(tmp_path, {"orders.csv": orders}))
    assert _rows(con, "orders", "order_id, customer_id, ordered_at, amount, channel, _source_row") == [
        ("o1", "c1", "2024-01-05 10:00:00", "10.50", "web\r\nshop", 1),
        ("o2", "c2", "2024-01-06", "7", "phone", 2),
    ]


def test_tab_delimited(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    orders = "order_id\tcustomer_id\tordered_at\tamount\no1\tc1\t2024-01-05\t1,5\no2\tc2\t2024-01-06\t2\n"
    land_raw_files(con, _raw(tmp_path, {"orders.csv": orders}))
    assert _rows(con, "orders", "order_id, amount") == [("o1", "1.5"), ("o2", "2")]


def test_windows_1251_is_transcoded(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    customers = (
        "customer_id;first_name;city\r\nc1;Иван;Москва\r\nc2;Пётр «Ёжик»;Санкт\u00a0Петербург — №1\r\n"
    )
    orders = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05,1\n"
    raw = _raw(tmp_path, {"customers.csv": customers.encode("cp1251"), "orders.csv": orders})
    land_raw_files(con, raw)
    assert _rows(con, "customers", "customer_id, first_name, city") == [
        ("c1", "Иван", "Москва"),
        ("c2", "Пётр «Ёжик»", "Санкт\u00a0Петербург — №1"),
    ]


def test_windows_1251_after_the_first_megabyte(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    # The leading bytes are ASCII; DuckDB finds the Windows-1251 line only when it reads the whole file.
    lines = [f"c{i};Ivan;Moscow" for i in range(60_000)] + ["c_last;Ольга;Тверь"]
    customers = ("customer_id;first_name;city\n" + "\n".join(lines) + "\n").encode("cp1251")
    assert len(customers) > 1 << 20
    orders = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05,1\n"
    land_raw_files(con, _raw(tmp_path, {"customers.csv": customers, "orders.csv": orders}))
    assert con.execute("select count(*), max(_source_row) from raw.customers").fetchone() == (60_001, 60_001)
    assert _rows(con, "customers", "first_name, city, _source_row")[-1] == ("Ольга", "Тверь", 60_001)


def test_an_undecidable_encoding_is_refused(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    customers = "customer_id,city\nc1,München\nc2,Besançon\n".encode("latin-1")
    orders = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05,1\n"
    with pytest.raises(RawDataError, match=r"customers\.csv: not UTF-8.*`encoding: cp1251`"):
        land_raw_files(con, _raw(tmp_path, {"customers.csv": customers, "orders.csv": orders}))


def test_declared_encoding_is_used_without_detection(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    # All capitals: detection would doubt it (KOI8-R reads as capitals), the declaration settles it.
    customers = "customer_id,city\nc1,ООО РОМАШКА МОСКВА САНКТ-ПЕТЕРБУРГ\n".encode("cp1251")
    orders = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05,1\n"
    raw = _raw(tmp_path, {"customers.csv": customers, "orders.csv": orders})
    with pytest.raises(RawDataError, match=r"capital letters"):
        land_raw_files(con, raw)
    (raw / "_format.yml").write_text("customers:\n  encoding: cp1251\n", encoding="utf-8")
    land_raw_files(con, raw)
    assert _rows(con, "customers", "city") == [("ООО РОМАШКА МОСКВА САНКТ-ПЕТЕРБУРГ",)]


def test_declared_utf8_that_is_not_is_refused(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    customers = "customer_id,city\nc1,Москва\n".encode("cp1251")
    orders = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05,1\n"
    raw = _raw(tmp_path, {"customers.csv": customers, "orders.csv": orders})
    (raw / "_format.yml").write_text("customers:\n  encoding: utf-8\n", encoding="utf-8")
    with pytest.raises(RawDataError, match=r"customers\.csv: declared `encoding: utf-8`.*not UTF-8"):
        land_raw_files(con, raw)


# --- numbers -----------------------------------------------------------------------------------------


def _orders_with_amounts(amounts: list[str], discounts: list[str] | None = None) -> str:
    discounts = discounts or [""] * len(amounts)
    lines = [
        f'o{i};c1;2024-01-05;"{amount}";"{discount}"'
        for i, (amount, discount) in enumerate(zip(amounts, discounts, strict=True), start=1)
    ]
    return "order_id;customer_id;ordered_at;amount;discount_amount\n" + "\n".join(lines) + "\n"


def test_decimal_commas_and_thousands_separators(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    given = {
        "1 234,50": "1234.50",
        "1234,50": "1234.50",
        "1\u00a0234,50": "1234.50",
        "1\u202f234\u202f567,5": "1234567.5",
        "1.234,50": "1234.50",
        "1.234.567": "1234567",
        "-0,5": "-0.5",
        "12 345": "12345",
        "1234,567": "1234.567",
        "0,123": "0.123",
        "1,234": "1.234",  # ambiguous; the file's decimal comma settles it
        "99": "99",
        "n/a": "n/a",
        "1234.00,50": "1234.00,50",
        "500 руб.": "500 руб.",
        "12 34": "12 34",
    }
    land_raw_files(con, _raw(tmp_path, {"orders.csv": _orders_with_amounts(list(given))}))
    assert [amount for (amount,) in _rows(con, "orders", "amount")] == list(given.values())


def test_comma_thousands_with_decimal_points(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    amounts = ["1,234.50", "1,234", "1,234,567", "12.5"]
    land_raw_files(con, _raw(tmp_path, {"orders.csv": _orders_with_amounts(amounts)}))
    assert [a for (a,) in _rows(con, "orders", "amount")] == ["1234.50", "1234", "1234567", "12.5"]


def test_ambiguous_values_without_evidence_are_refused(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    raw = _raw(tmp_path, {"orders.csv": _orders_with_amounts(["100", "1,234", "7"])})
    with pytest.raises(
        RawDataError,
        match=r"orders\.csv: column amount: '1,234' \(row 2\) may be a thousand.*`decimal: \",\"`",
    ):
        land_raw_files(con, raw)
    (raw / "_format.yml").write_text('orders:\n  decimal: "."\n', encoding="utf-8")
    land_raw_files(con, raw)
    assert [a for (a,) in _rows(con, "orders", "amount")] == ["100", "1234", "7"]


def test_conflicting_separators_with_ambiguous_values_are_refused(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    orders = _orders_with_amounts(["1,5", "1,234", "2.5"])
    with pytest.raises(RawDataError, match=r"both a decimal comma and a decimal point"):
        land_raw_files(con, _raw(tmp_path, {"orders.csv": orders}))


def test_mixed_separators_without_ambiguous_values_convert_each_value(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    # Nothing may be a thousand, so each value's own form decides: no refusal, no guess.
    orders = _orders_with_amounts(["1,5", "2.25", "1 234,5", "1,234.5", "7"])
    land_raw_files(con, _raw(tmp_path, {"orders.csv": orders}))
    assert [a for (a,) in _rows(con, "orders", "amount")] == ["1.5", "2.25", "1234.5", "1234.5", "7"]


def test_the_decimal_is_inferred_across_the_files_number_columns(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    # amount's "1.234" is ambiguous alone; discount_amount's "0,5" says the file writes decimal commas.
    orders = _orders_with_amounts(["1.234", "1 000"], ["0,5", ""])
    land_raw_files(con, _raw(tmp_path, {"orders.csv": orders}))
    assert _rows(con, "orders", "amount, discount_amount") == [("1234", "0.5"), ("1000", None)]


def test_declared_decimal_comma_reads_dots_as_thousands(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    raw = _raw(tmp_path, {"orders.csv": _orders_with_amounts(["1.234", "5"])})
    (raw / "_format.yml").write_text('orders:\n  decimal: ","\n', encoding="utf-8")
    land_raw_files(con, raw)
    assert [a for (a,) in _rows(con, "orders", "amount")] == ["1234", "5"]


def test_plain_numbers_land_exactly_as_written(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    amounts = ["1.234", "12.50", " 7 ", "-3", "1e3"]
    land_raw_files(con, _raw(tmp_path, {"orders.csv": _orders_with_amounts(amounts)}))
    assert [a for (a,) in _rows(con, "orders", "amount")] == amounts


# --- dates -------------------------------------------------------------------------------------------


def _orders_with_dates(dates: list[str]) -> str:
    lines = [f"o{i},c1,{date},1" for i, date in enumerate(dates, start=1)]
    return "order_id,customer_id,ordered_at,amount\n" + "\n".join(lines) + "\n"


def test_slashed_dates_day_first_are_inferred(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    dates = [
        "01/02/2024",
        "13/02/2024 10:00",
        "5/3/2024 9:07:30",
        "2024-02-01 10:00:00",
        "01.02.2024",
        "31/02/2024",
    ]
    land_raw_files(con, _raw(tmp_path, {"orders.csv": _orders_with_dates(dates)}))
    assert [d for (d,) in _rows(con, "orders", "ordered_at")] == [
        "2024-02-01",
        "2024-02-13 10:00:00",
        "2024-03-05 09:07:30",
        "2024-02-01 10:00:00",
        "01.02.2024",  # staging parses dotted dates
        "31/02/2024",  # no such day: staging quarantines it as written
    ]


def test_slashed_dates_month_first_are_inferred(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    land_raw_files(con, _raw(tmp_path, {"orders.csv": _orders_with_dates(["01/02/2024", "02/13/2024"])}))
    assert [d for (d,) in _rows(con, "orders", "ordered_at")] == ["2024-01-02", "2024-02-13"]


def test_slashed_dates_without_evidence_are_refused(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    raw = _raw(tmp_path, {"orders.csv": _orders_with_dates(["2024-01-01", "01/02/2024"])})
    with pytest.raises(
        RawDataError,
        match=r"orders\.csv: slashed dates.*ordered_at '01/02/2024' \(row 2\).*`date_order: dmy`",
    ):
        land_raw_files(con, raw)
    (raw / "_format.yml").write_text("orders:\n  date_order: mdy\n", encoding="utf-8")
    land_raw_files(con, raw)
    assert [d for (d,) in _rows(con, "orders", "ordered_at")] == ["2024-01-01", "2024-01-02"]


def test_each_daily_drop_infers_its_own_date_order(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    raw = _raw(tmp_path, {"orders/2024-01-13.csv": _orders_with_dates(["13/01/2024", "02/01/2024"])})
    land_raw_files(con, raw)
    (raw / "orders" / "2024-01-14.csv").write_text(_orders_with_dates(["01/14/2024", "01/02/2024"]))
    landed = {t.name: t for t in land_raw_files(con, raw)}
    assert (landed["orders"].change, landed["orders"].rows_added) == ("appended", 2)
    assert [d for (d,) in _rows(con, "orders", "ordered_at")] == [
        "2024-01-13",
        "2024-01-02",
        "2024-01-14",
        "2024-01-02",
    ]


def test_conflicting_slashed_dates_are_refused(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    raw = _raw(tmp_path, {"orders.csv": _orders_with_dates(["13/01/2024", "01/13/2024"])})
    with pytest.raises(
        RawDataError, match=r"'13/01/2024' \(row 1\) is day-first but.*'01/13/2024' \(row 2\)"
    ):
        land_raw_files(con, raw)


# --- .xlsx -------------------------------------------------------------------------------------------


def _write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    """A workbook as Excel writes it: one sheet per entry, dates and numbers as typed cells."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)


def test_xlsx_first_sheet_as_text(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    raw = _raw(tmp_path, {})
    _write_xlsx(
        raw / "orders.xlsx",
        {
            "Orders": [
                ["Order_ID", "customer_id", "ordered_at", "amount", "discount_amount", "status"],
                [1001, "c1", dt.datetime(2024, 3, 5, 10, 0), 1234.5, 0, "оплачен"],
                [None, None, None, None, None, None],
                ["A-2", "c2", dt.date(2024, 3, 5), 79161234567, 0.1, None],
            ],
            "Other": [["x"], [1]],
        },
    )
    land_raw_files(con, raw)
    assert _rows(
        con, "orders", "order_id, customer_id, ordered_at, amount, discount_amount, status, _source_row"
    ) == [
        ("1001", "c1", "2024-03-05 10:00:00", "1234.5", "0", "оплачен", 1),
        ("A-2", "c2", "2024-03-05", "79161234567", "0.1", None, 2),
    ]
    assert con.execute("select distinct _source_file from raw.orders").fetchall() == [("orders.xlsx",)]


def test_xlsx_named_sheet_and_mapped_headers(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    raw = _raw(tmp_path, {})
    _write_xlsx(
        raw / "orders.xlsx",
        {
            "Сводка": [["итого"], [5]],
            "Заказы": [
                ["Номер заказа", "ID клиента", "Дата заказа", "Сумма", "Комментарий"],
                ["17", "c1", "05/03/2024", "1 234,50", "звонить после 18"],
            ],
        },
    )
    (raw / "_format.yml").write_text(
        'orders:\n  sheet: "Заказы"\n  date_order: dmy\n  columns:\n'
        '    order_id: "Номер заказа"\n    customer_id: "ID клиента"\n'
        '    ordered_at: "Дата заказа"\n    amount: "сумма "\n',
        encoding="utf-8",
    )
    landed = {t.name: t for t in land_raw_files(con, raw)}
    assert _rows(con, "orders", "order_id, customer_id, ordered_at, amount") == [
        ("17", "c1", "2024-03-05", "1234.50")
    ]
    assert landed["orders"].ignored_columns == ("Комментарий",)  # as the file spells it
    (raw / "_format.yml").write_text('orders:\n  sheet: "Orders"\n', encoding="utf-8")
    with pytest.raises(
        RawDataError, match=r"orders\.xlsx: no sheet 'Orders' \(sheets: Сводка, Заказы\); set `sheet`"
    ):
        land_raw_files(con, raw)


# --- _format.yml -------------------------------------------------------------------------------------

ORDERS = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05,1\n"


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("deals:\n  delimiter: ';'\n", r"_format\.yml: unknown table 'deals'"),
        ("orders:\n  separator: ';'\n", r"_format\.yml: orders: unknown key\(s\) separator"),
        ("orders:\n  delimiter: '#'\n", r"_format\.yml: orders\.delimiter: '#' is not one of"),
        ("orders:\n  encoding: koi8-r\n", r"_format\.yml: orders\.encoding: 'koi8-r' is not one of"),
        ("orders:\n  decimal: ' '\n", r"_format\.yml: orders\.decimal"),
        ("orders:\n  date_order: ymd\n", r"_format\.yml: orders\.date_order: 'ymd'"),
        (
            "orders:\n  columns:\n    total: Сумма\n",
            r"_format\.yml: orders\.columns: 'total' is not a column of orders",
        ),
        ("orders:\n  columns:\n    amount: ''\n", r"_format\.yml: orders\.columns\.amount"),
        ("orders: [1, 2]\n", r"_format\.yml: orders: expected settings"),
        ("orders:\n  delimiter: [\n", r"_format\.yml: not valid UTF-8 YAML"),
    ],
)
def test_format_yml_is_validated_strictly(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, declaration: str, message: str
) -> None:
    raw = _raw(tmp_path, {"orders.csv": ORDERS, "_format.yml": declaration})
    with pytest.raises(RawDataError, match=message):
        land_raw_files(con, raw)


def test_a_mapped_header_missing_from_the_file(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    raw = _raw(tmp_path, {"orders.csv": ORDERS, "_format.yml": "orders:\n  columns:\n    amount: Сумма\n"})
    with pytest.raises(
        RawDataError,
        match=r"orders\.csv: column 'Сумма' \(mapped to amount in _format\.yml\) not found; "
        r"found: order_id, customer_id, ordered_at, amount",
    ):
        land_raw_files(con, raw)


def test_messages_name_the_headers_as_the_file_spells_them(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    export = "\ufeffНомер заказа;Клиент;Дата;Сумма \n17;c1;05.03.2024;1 234,50\n"
    raw = _raw(tmp_path, {"orders.csv": export})
    with pytest.raises(
        RawDataError,
        match=r"orders\.csv: required column\(s\) order_id, customer_id, ordered_at, amount missing "
        r"\(found: Номер заказа, Клиент, Дата, Сумма; map other headers",
    ):
        land_raw_files(con, raw)


def test_settings_apply_to_every_daily_drop_and_a_new_declaration_relands(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    header = "Номер;Клиент;Дата;Сумма\n"
    raw = _raw(
        tmp_path,
        {
            "orders/2024-01-01.csv": (header + "1;c1;02/01/2024;1.500\n").encode("cp1251"),
            "orders/2024-01-02.csv": (header + "2;c2;03/01/2024;2.250\n").encode("cp1251"),
        },
    )
    mapping = (
        "  columns:\n    order_id: Номер\n    customer_id: Клиент\n    ordered_at: Дата\n    amount: Сумма\n"
    )
    settings = 'orders:\n  delimiter: ";"\n  encoding: cp1251\n  date_order: dmy\n'
    (raw / "_format.yml").write_text(settings + '  decimal: ","\n' + mapping, encoding="utf-8")
    land_raw_files(con, raw)
    assert _rows(con, "orders", "order_id, ordered_at, amount, _source_file") == [
        ("1", "2024-01-02", "1500", "orders/2024-01-01.csv"),
        ("2", "2024-01-03", "2250", "orders/2024-01-02.csv"),
    ]
    assert {t.name: t.change for t in land_raw_files(con, raw)}["orders"] == "unchanged"
    (raw / "_format.yml").write_text(settings + '  decimal: "."\n' + mapping, encoding="utf-8")
    landed = {t.name: t for t in land_raw_files(con, raw)}
    assert (landed["orders"].change, landed["customers"].change) == ("replaced", "unchanged")
    assert [a for (a,) in _rows(con, "orders", "amount")] == ["1.500", "2.250"]


def test_a_folder_without_format_yml_keeps_its_fingerprints(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    raw = _raw(tmp_path, {"orders.csv": ORDERS})
    land_raw_files(con, raw)
    (raw / "_format.yml").write_text("# nothing declared yet\n", encoding="utf-8")
    os.utime(raw / "orders.csv")  # same bytes, new mtime: the fingerprint changes for that reason only
    changes = {t.name: t.change for t in land_raw_files(con, raw)}
    assert (changes["customers"], changes["orders"]) == ("unchanged", "replaced")
