"""End to end on the hand-made tiny fixture: exact rows of every mart, as of 2024-06-30.

The fixture (tests/fixtures/tiny) holds nine customers and one dirty row of each kind; the
expected values below were worked out by hand from it (amounts in KZT convert at 0.2 RUB).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from tests.conftest import BuildWarehouse, query

AS_OF = date(2024, 6, 30)


def test_customer_rfm_quantile_rows(tiny_warehouse: Path) -> None:
    rows = query(
        tiny_warehouse,
        "select customer_id, first_order_at, last_order_at, recency_days, frequency, monetary, "
        "avg_order_value, r_score, f_score, m_score, rfm_code, rfm_segment, as_of_date "
        "from marts.customer_rfm order by customer_id",
    )
    assert rows == [
        ("c1", datetime(2024, 3, 1, 12), datetime(2024, 6, 25, 12), 5, 4, Decimal("10000.00"),
         Decimal("2500.00"), 4, 4, 3, "443", "VIP", AS_OF),
        ("c2", datetime(2024, 6, 1, 8), datetime(2024, 6, 1, 8), 29, 1, Decimal("2000.00"),
         Decimal("2000.00"), 3, 1, 1, "311", "Need attention", AS_OF),
        ("c3", datetime(2023, 1, 10, 9), datetime(2023, 3, 10, 9), 478, 3, Decimal("150000.00"),
         Decimal("50000.00"), 1, 3, 4, "134", "Sleeping whales", AS_OF),
        ("c4", datetime(2023, 12, 20, 15), datetime(2024, 5, 1, 15), 60, 2, Decimal("6000.00"),
         Decimal("3000.00"), 2, 2, 2, "222", "Need attention", AS_OF),
    ]  # fmt: skip


def test_customer_lifecycle_rows(tiny_warehouse: Path) -> None:
    rows = query(
        tiny_warehouse,
        "select customer_id, lifecycle_stage, lifecycle_status, engagement_status "
        "from marts.customer_lifecycle order by customer_id",
    )
    assert rows == [
        ("c1", "buyer", "regular", "active"),
        ("c2", "buyer", "one_time", "inactive"),
        ("c3", "buyer", "lapsed", "never_engaged"),
        ("c4", "buyer", "periodic", "never_engaged"),
        ("c5", "lead", "in_work", "unsubscribed"),  # email_opt_in = false
        ("c6", "lead", "junk", "never_engaged"),
        ("c7", "lead", "refused", "unsubscribed"),  # unsubscribe event
        ("c9", "lead", "new", "never_engaged"),
    ]  # c8 was created after the as-of date


def test_dim_customers_attributes_and_metrics(tiny_warehouse: Path) -> None:
    rows = query(
        tiny_warehouse,
        "select customer_id, email, city, age_years, total_revenue, campaign_open_rate, is_emailable, "
        "rfm_segment, data_issues from marts.dim_customers order by customer_id",
    )
    assert rows == [
        ("c1", "ivan@mail.ru", "Moscow", 39, Decimal("10000.00"), 1.0, True, "VIP", None),
        ("c2", "anna.s@gmail.com", "Almaty", 34, Decimal("2000.00"), 0.5, True, "Need attention", None),
        ("c3", "oleg@yandex.ru", "Vladivostok", None, Decimal("150000.00"), 0.0, True, "Sleeping whales",
         "invalid_birth_date"),
        ("c4", "maria@mail.ru", "Kazan", None, Decimal("6000.00"), None, True, "Need attention", None),
        ("c5", "petr@mail.ru", "Samara", None, Decimal("0.00"), None, False, None, None),
        ("c6", None, None, None, Decimal("0.00"), None, False, None, "malformed_email"),
        ("c7", "olga@mail.ru", "Sochi", None, Decimal("0.00"), 0.0, False, None, None),
        ("c9", "dima@mail.ru", "Sochi", None, Decimal("0.00"), None, True, None, None),
    ]  # fmt: skip


def test_every_raw_row_is_staged_or_quarantined_with_a_reason(tiny_warehouse: Path) -> None:
    reconciliation = query(
        tiny_warehouse,
        "select table_name, raw_rows, staged_rows, quarantined_rows from audit.raw_row_reconciliation "
        "order by table_name",
    )
    assert reconciliation == [
        ("campaigns", 3, 3, 0),
        # the optional reference tables: no file, nothing landed
        ("currency_rates", 0, 0, 0),
        ("customers", 11, 9, 2),
        ("email_events", 14, 10, 4),
        ("order_items", 7, 4, 3),
        ("order_status_map", 0, 0, 0),
        ("orders", 21, 13, 8),
    ]
    reasons = query(
        tiny_warehouse,
        "select table_name, quarantine_reason, count(*) from audit.quarantined_rows "
        "group by all order by 1, 2",
    )
    assert reasons == [
        ("customers", "duplicate_customer_id", 1),
        ("customers", "missing_customer_id", 1),
        ("email_events", "duplicate_event", 1),
        ("email_events", "unknown_customer", 1),
        ("email_events", "unknown_email", 1),
        ("email_events", "unknown_event_type", 1),
        ("order_items", "duplicate_order_item", 1),
        ("order_items", "invalid_quantity", 1),
        ("order_items", "unknown_order", 1),
        ("orders", "duplicate_order_id", 1),
        ("orders", "invalid_amount", 1),
        ("orders", "invalid_ordered_at", 1),
        ("orders", "missing_order_id", 1),
        ("orders", "negative_amount", 1),
        ("orders", "unknown_currency", 1),
        ("orders", "unknown_customer", 1),
        ("orders", "unknown_status", 1),
    ]
    (unlocated,) = query(
        tiny_warehouse,
        "select count(*) from audit.quarantined_rows where source_file is null or source_row is null "
        "or raw_record is null",
    )[0]
    assert unlocated == 0


def test_duplicate_customer_keeps_the_latest_version(tiny_warehouse: Path) -> None:
    assert query(tiny_warehouse, "select city from marts.dim_customers where customer_id = 'c9'") == [
        ("Sochi",)
    ]


MART_TABLES = ("marts.customer_rfm", "marts.customer_lifecycle", "marts.dim_customers")


def test_as_of_date_before_all_data_gives_empty_marts(build_warehouse: BuildWarehouse) -> None:
    warehouse = build_warehouse(as_of=date(2020, 1, 1))
    counts = {table: query(warehouse, f"select count(*) from {table}")[0][0] for table in MART_TABLES}
    assert counts == {table: 0 for table in MART_TABLES}


# Re-running a date (the same one, an earlier one): tests/test_segments.py, on the history warehouse.
# Other RFM methods, bins and schemes on these buyers: dbt unit tests customer_rfm_tiny_buyers_*.
