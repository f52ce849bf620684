"""The raw data contract: the tables and columns a user's exports may contain.

This is the project's public input interface (documented in the README, "Raw data contract").
Only the required tables and columns must exist; everything else may be absent and lands as NULL.
dbt's `_sources.yml` declares the same columns; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawTable:
    name: str
    required: bool
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...]
    # Groups of columns of which at least one must be present (email events name the customer
    # either by id or by email).
    one_of_columns: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def columns(self) -> tuple[str, ...]:
        """Every contract column, in the order the landed table has them."""
        return self.required_columns + self.optional_columns


RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        name="customers",
        required=True,
        required_columns=("customer_id",),
        optional_columns=(
            "email",
            "phone",
            "first_name",
            "last_name",
            "gender",
            "birth_date",
            "city",
            "region",
            "country",
            "timezone",
            "acquisition_channel",
            "lead_status",
            "email_opt_in",
            "created_at",
            "updated_at",
        ),
    ),
    RawTable(
        name="orders",
        required=True,
        required_columns=("order_id", "customer_id", "ordered_at", "amount"),
        optional_columns=("status", "currency", "discount_amount", "channel"),
    ),
    RawTable(
        name="order_items",
        required=False,
        required_columns=("order_id", "product_id", "quantity", "unit_price"),
        optional_columns=("category",),
    ),
    RawTable(
        name="email_events",
        required=False,
        required_columns=("event_type", "occurred_at"),
        optional_columns=("customer_id", "email", "campaign_id"),
        one_of_columns=(("customer_id", "email"),),
    ),
    RawTable(
        name="campaigns",
        required=False,
        required_columns=("campaign_id",),
        optional_columns=("name", "channel", "sent_at", "cost"),
    ),
)

RAW_TABLES_BY_NAME: dict[str, RawTable] = {table.name: table for table in RAW_TABLES}

# File name endings the landing reads, in the order they are looked for.
RAW_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")

# Columns the landing adds to every raw table: where each row came from, and which landing brought it.
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_load_id")
