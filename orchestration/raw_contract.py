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
    # Columns holding numbers and dates: the landing reads decimal commas, thousands separators and
    # declared date orders in them (orchestration/raw_formats.py); staging types them.
    number_columns: tuple[str, ...] = field(default=())
    date_columns: tuple[str, ...] = field(default=())
    # What the run warns when an optional table has no file (None: its absence is normal, no warning).
    when_absent: str | None = "the features that need it come out empty"

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
        date_columns=("birth_date", "created_at", "updated_at"),
    ),
    RawTable(
        name="orders",
        required=True,
        required_columns=("order_id", "customer_id", "ordered_at", "amount"),
        optional_columns=("status", "currency", "discount_amount", "channel"),
        number_columns=("amount", "discount_amount"),
        date_columns=("ordered_at",),
    ),
    RawTable(
        name="order_items",
        required=False,
        required_columns=("order_id", "product_id", "quantity", "unit_price"),
        optional_columns=("category",),
        number_columns=("quantity", "unit_price"),
    ),
    RawTable(
        name="email_events",
        required=False,
        required_columns=("event_type", "occurred_at"),
        optional_columns=("customer_id", "email", "campaign_id"),
        one_of_columns=(("customer_id", "email"),),
        date_columns=("occurred_at",),
    ),
    RawTable(
        name="campaigns",
        required=False,
        required_columns=("campaign_id",),
        optional_columns=("name", "channel", "sent_at", "cost"),
        number_columns=("cost",),
        date_columns=("sent_at",),
    ),
    # The shop's own exchange rates: units of the reporting currency one unit of `currency` is worth,
    # from valid_from on. They replace the bundled seed's rates for each currency they name.
    RawTable(
        name="currency_rates",
        required=False,
        required_columns=("currency", "valid_from", "rate"),
        optional_columns=(),
        number_columns=("rate",),
        date_columns=("valid_from",),
        when_absent=None,
    ),
    # The shop's own order statuses (raw spelling → completed / cancelled / refunded / pending); they
    # extend the bundled seeds/order_status_map.csv and win over it for the same spelling.
    RawTable(
        name="order_status_map",
        required=False,
        required_columns=("raw_status", "order_status"),
        optional_columns=(),
        when_absent=None,
    ),
)

RAW_TABLES_BY_NAME: dict[str, RawTable] = {table.name: table for table in RAW_TABLES}

# File name endings the landing reads, in the order they are looked for.
RAW_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet", ".xlsx")

# Columns the landing adds to every raw table: where each row came from, and which landing brought it.
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_load_id")
