"""Dirty rows: the mistakes real exports carry, so that every quarantine reason of the staging fires.

Most kinds are extra rows (a re-exported duplicate, a row with a typo) mixed in at random places, so
the archetypes' clean behaviour is left intact; a few kinds spoil a field of an existing row where
the staging only flags it (data_issues) and keeps the row. Each kind appears at least once per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample_data import reference as ref
from orchestration.sample_data import text
from orchestration.sample_data.clock import DAY, HOUR
from orchestration.sample_data.customers import customer_ids
from orchestration.sample_data.orders import order_ids

NULL = pa.scalar(None, pa.string())


@dataclass
class DirtyContext:
    """What the dirty rows of one chunk need to know, and the order ids they use up."""

    total_customers: int
    end_ts: int
    next_order_number: int
    counts: dict[str, int] = field(default_factory=dict)

    def take_order_numbers(self, count: int) -> np.ndarray:
        numbers = self.next_order_number + np.arange(count)
        self.next_order_number += count
        return numbers

    def unknown_customer_ids(self, rng: np.random.Generator, count: int) -> pa.Array:
        # Numbers beyond the generated range: ids no customer row has.
        return customer_ids(self.total_customers + 1 + rng.integers(0, self.total_customers + 1, count))


Spoiler = Callable[[np.random.Generator, pa.Table, DirtyContext], pa.Table]


@dataclass(frozen=True)
class DirtyKind:
    name: str
    rate: float
    spoil: Spoiler
    # Extra rows are copies of sampled rows, then spoiled; otherwise sampled rows are spoiled in place.
    extra: bool = True


def apply_dirty(
    rng: np.random.Generator,
    table_name: str,
    table: pa.Table,
    kinds: tuple[DirtyKind, ...],
    context: DirtyContext,
) -> pa.Table:
    if not len(table):
        return table
    extras = []
    for kind in kinds:
        count = min(len(table), max(1, int(rng.binomial(len(table), kind.rate))))
        rows = np.sort(rng.choice(len(table), size=count, replace=False))
        key = f"{table_name}.{kind.name}"
        context.counts[key] = context.counts.get(key, 0) + count
        if kind.extra:
            extras.append(kind.spoil(rng, table.take(pa.array(rows)), context))
        else:
            table = _spoil_in_place(rng, table, rows, kind, context)
    return _interleave(rng, table, pa.concat_tables(extras)) if extras else table


def _spoil_in_place(
    rng: np.random.Generator, table: pa.Table, rows: np.ndarray, kind: DirtyKind, context: DirtyContext
) -> pa.Table:
    original = table.take(pa.array(rows))
    spoiled = kind.spoil(rng, original, context)
    for index, name in enumerate(table.column_names):
        if spoiled.column(name).equals(original.column(name)):
            continue
        values = table.column(name).to_numpy(zero_copy_only=False).copy()
        values[rows] = spoiled.column(name).to_numpy(zero_copy_only=False)
        table = table.set_column(index, name, pa.array(values, pa.string()))
    return table


def _interleave(rng: np.random.Generator, table: pa.Table, extra: pa.Table) -> pa.Table:
    """Mixes the extra rows in at random places, keeping the order of the clean rows."""
    keys = np.concatenate([np.arange(len(table), dtype=float), rng.uniform(-0.5, len(table), len(extra))])
    order = np.argsort(keys, kind="stable")
    return pa.concat_tables([table, extra]).take(pa.array(order))


def _with(table: pa.Table, **columns: pa.Array | pa.ChunkedArray | str | None) -> pa.Table:
    """The table with some columns replaced (a str or None: the same value in every row)."""
    for name, value in columns.items():
        if value is None or isinstance(value, str):
            value = pa.array([value] * len(table), pa.string())
        table = table.set_column(table.schema.get_field_index(name), name, value)
    return table


def _new_order_ids(table: pa.Table, context: DirtyContext) -> pa.Array:
    return order_ids(context.take_order_numbers(len(table)))


def _future(rng: np.random.Generator, size: int, context: DirtyContext) -> pa.Array:
    """A wrong clock on the exporting machine: up to ten months after the end date."""
    return text.timestamps(context.end_ts + rng.integers(HOUR, 300 * DAY, size))


def _russian_format(values: pa.Array) -> pa.Array:
    """`31.12.2024 14:05`: how people type timestamps in Russia, which no ISO parser reads."""
    parsed = pc.strptime(values, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    return pc.fill_null(pc.strftime(parsed, format="%d.%m.%Y %H:%M"), "01.01.2024 10:00")


def _any_of(rng: np.random.Generator, options: tuple[str, ...], size: int) -> pa.Array:
    return text.pick(options, rng.integers(0, len(options), size))


# --- customers --------------------------------------------------------------------------------------


def add_older_customer_versions(
    rng: np.random.Generator,
    table: pa.Table,
    created_ts: np.ndarray,
    updated_ts: np.ndarray,
    context: DirtyContext,
) -> pa.Table:
    """Earlier versions of some records, exported again: an older updated_at, the status before the latest."""
    candidates = np.flatnonzero(updated_ts - created_ts > HOUR)
    count = min(len(candidates), max(1, int(rng.binomial(len(table), DUPLICATE_CUSTOMER_RATE))))
    if not count:
        return table
    rows = np.sort(rng.choice(candidates, size=count, replace=False))
    context.counts["customers.duplicate_customer_id"] = (
        context.counts.get("customers.duplicate_customer_id", 0) + count
    )
    created, updated = created_ts[rows], updated_ts[rows]
    earlier = created + ((updated - created) * rng.uniform(0.05, 0.7, count)).astype(np.int64)
    older = table.take(pa.array(rows))
    earlier_status = pc.if_else(pc.is_null(older.column("lead_status")), NULL, pa.scalar("new"))
    older = _with(older, updated_at=text.timestamps(earlier), lead_status=earlier_status)
    return _interleave(rng, table, older)


def _missing_customer_id(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, customer_id=None)


def _invalid_birth_date(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    size = len(table)
    year = text.integers(rng.integers(1950, 2005, size))
    day_month = text.join(
        text.integers(rng.integers(1, 29, size), 2), ".", text.integers(rng.integers(1, 13, size), 2)
    )
    impossible = text.join(year, "-02-30")
    russian = text.join(day_month, ".", year)
    return _with(
        table, birth_date=pc.if_else(pa.array(rng.random(size) < 0.5, pa.bool_()), impossible, russian)
    )


def _unknown_lead_status(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, lead_status=_any_of(rng, ref.UNKNOWN_LEAD_STATUSES, len(table)))


def _invalid_opt_in(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, email_opt_in=_any_of(rng, ref.INVALID_OPT_INS, len(table)))


CUSTOMER_KINDS: tuple[DirtyKind, ...] = (
    DirtyKind("missing_customer_id", 0.003, _missing_customer_id),
    DirtyKind("invalid_birth_date", 0.003, _invalid_birth_date, extra=False),
    DirtyKind("unknown_lead_status", 0.003, _unknown_lead_status, extra=False),
    DirtyKind("invalid_email_opt_in", 0.002, _invalid_opt_in, extra=False),
)
DUPLICATE_CUSTOMER_RATE = 0.012


# --- orders -----------------------------------------------------------------------------------------


def _negative_amount(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    # A refund exported as a negative order.
    return _with(
        table,
        order_id=_new_order_ids(table, context),
        amount=text.join("-", table.column("amount")),
        status="refunded",
    )


def _invalid_amount(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    amount = table.column("amount").combine_chunks()
    typed = pc.choose(
        pa.array(rng.integers(0, 3, len(table))),
        text.join(amount, ",00"),
        text.join(amount, " руб."),
        pa.array(["n/a"] * len(table)),
    )
    return _with(table, order_id=_new_order_ids(table, context), amount=typed)


def _unknown_order_customer(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(
        table,
        order_id=_new_order_ids(table, context),
        customer_id=context.unknown_customer_ids(rng, len(table)),
    )


def _missing_order_customer(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, order_id=_new_order_ids(table, context), customer_id=None)


def _missing_order_id(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, order_id=None)


def _invalid_ordered_at(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    ordered_at = _russian_format(table.column("ordered_at").combine_chunks())
    return _with(table, order_id=_new_order_ids(table, context), ordered_at=ordered_at)


def _unknown_status(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    status = _any_of(rng, ref.UNKNOWN_ORDER_STATUSES, len(table))
    return _with(table, order_id=_new_order_ids(table, context), status=status)


def _unknown_currency(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    currency = _any_of(rng, ref.UNKNOWN_CURRENCIES, len(table))
    return _with(table, order_id=_new_order_ids(table, context), currency=currency)


def _exact_copy(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return table


def _future_order(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, order_id=_new_order_ids(table, context), ordered_at=_future(rng, len(table), context))


def _invalid_discount(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    percent = text.join(text.integers(rng.choice([5, 10, 15], len(table))), "%")
    return _with(table, discount_amount=percent)


ORDER_KINDS: tuple[DirtyKind, ...] = (
    DirtyKind("negative_amount", 0.003, _negative_amount),
    DirtyKind("invalid_amount", 0.003, _invalid_amount),
    DirtyKind("unknown_customer", 0.004, _unknown_order_customer),
    DirtyKind("missing_customer_id", 0.0015, _missing_order_customer),
    DirtyKind("missing_order_id", 0.0015, _missing_order_id),
    DirtyKind("invalid_ordered_at", 0.002, _invalid_ordered_at),
    DirtyKind("unknown_status", 0.003, _unknown_status),
    DirtyKind("unknown_currency", 0.002, _unknown_currency),
    DirtyKind("duplicate_order_id", 0.004, _exact_copy),
    DirtyKind("future_ordered_at", 0.002, _future_order),
    DirtyKind("invalid_discount_amount", 0.002, _invalid_discount, extra=False),
)


# --- order items ------------------------------------------------------------------------------------


def _unknown_order(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    # Lines of orders the orders export does not hold (another system's id format).
    return _with(table, order_id=text.join("ORD-", text.integers(rng.integers(10_000, 99_999, len(table)))))


def _invalid_quantity(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, quantity=_any_of(rng, ("0", "-1", "two"), len(table)))


def _invalid_unit_price(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    price = table.column("unit_price").combine_chunks()
    typed = pc.choose(
        pa.array(rng.integers(0, 3, len(table))),
        text.join(price, ",50"),
        pa.array(["бесплатно"] * len(table)),
        pa.nulls(len(table), pa.string()),
    )
    return _with(table, unit_price=typed)


def _missing_product_id(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, product_id=None)


def _missing_line_order_id(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, order_id=None)


ORDER_ITEM_KINDS: tuple[DirtyKind, ...] = (
    DirtyKind("unknown_order", 0.003, _unknown_order),
    DirtyKind("invalid_quantity", 0.003, _invalid_quantity),
    DirtyKind("invalid_unit_price", 0.002, _invalid_unit_price),
    DirtyKind("missing_product_id", 0.002, _missing_product_id),
    DirtyKind("missing_order_id", 0.0015, _missing_line_order_id),
    DirtyKind("duplicate_order_item", 0.003, _exact_copy),
)


# --- email events -----------------------------------------------------------------------------------


def _unknown_event_type(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, event_type=_any_of(rng, ref.UNKNOWN_EVENT_TYPES, len(table)))


def _invalid_occurred_at(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, occurred_at=_russian_format(table.column("occurred_at").combine_chunks()))


def _missing_event_customer(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, customer_id=None, email=None)


def _unknown_event_customer(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, customer_id=context.unknown_customer_ids(rng, len(table)), email=None)


def _unknown_email(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    # Addresses from a purchased list the CRM never had (and a mixed-case one: matching is case-blind).
    number = text.integers(rng.integers(1, 100_000, len(table)))
    email = text.join(
        pc.choose(pa.array(rng.integers(0, 2, len(table))), "subscriber", "Old.List"), number, "@example.org"
    )
    return _with(table, customer_id=None, email=email)


def _future_event(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, occurred_at=_future(rng, len(table), context))


EMAIL_EVENT_KINDS: tuple[DirtyKind, ...] = (
    DirtyKind("unknown_event_type", 0.003, _unknown_event_type),
    DirtyKind("invalid_occurred_at", 0.0015, _invalid_occurred_at),
    DirtyKind("missing_customer", 0.0015, _missing_event_customer),
    DirtyKind("unknown_customer", 0.002, _unknown_event_customer),
    DirtyKind("unknown_email", 0.0015, _unknown_email),
    DirtyKind("duplicate_event", 0.005, _exact_copy),
    DirtyKind("future_occurred_at", 0.001, _future_event),
)


# --- campaigns --------------------------------------------------------------------------------------


def _missing_campaign_id(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, campaign_id=None)


def _renamed_campaign(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    # Exported again after a rename: the later row wins.
    return _with(table, name=text.join(table.column("name").combine_chunks(), " (resend)"))


def _invalid_cost(rng: np.random.Generator, table: pa.Table, context: DirtyContext) -> pa.Table:
    return _with(table, cost=_any_of(rng, ("n/a", "1 500,00"), len(table)))


CAMPAIGN_KINDS: tuple[DirtyKind, ...] = (
    DirtyKind("missing_campaign_id", 0.005, _missing_campaign_id),
    DirtyKind("duplicate_campaign_id", 0.005, _renamed_campaign),
    DirtyKind("invalid_cost", 0.005, _invalid_cost, extra=False),
)
