"""Orders and order lines: when each archetype buys, what, and for how much."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample_data import reference as ref
from orchestration.sample_data import text
from orchestration.sample_data.archetypes import Archetype, SeasonWindows, Timeline
from orchestration.sample_data.clock import (
    DAY,
    HOUR,
    LocalClock,
    calendar_year,
    month_number,
    month_start_day,
)
from orchestration.sample_data.config import GeneratorConfig
from orchestration.sample_data.customers import Profiles, customer_ids
from orchestration.sample_data.vectors import expand, group_cumsum

ORDER_ID_WIDTH = 8
STATUSES = ("completed", "cancelled", "refunded", "pending")
COMPLETED, CANCELLED, REFUNDED, PENDING = range(4)  # indexes into STATUSES

# Per basket style: category probabilities (in reference.CATEGORIES order: coffee, tea, sweets, gifts,
# accessories, equipment), chance of each extra line, extra units per line.
BASKETS = {
    "default": ((0.42, 0.2, 0.18, 0.07, 0.12, 0.01), 0.22, 0.25),
    "seasonal": ((0.1, 0.15, 0.3, 0.4, 0.05, 0.0), 0.35, 0.3),
    "coffee": ((0.88, 0.02, 0.07, 0.0, 0.03, 0.0), 0.1, 0.4),
    "habit": ((0.55, 0.2, 0.15, 0.02, 0.08, 0.0), 0.22, 0.25),
    "big": ((0.32, 0.12, 0.08, 0.22, 0.22, 0.04), 0.55, 0.6),
}
BASKET_OF = {
    Archetype.SEASONAL: "seasonal",
    Archetype.CYCLE_30D: "coffee",
    Archetype.MONTHLY_REGULAR: "habit",
    Archetype.LAPSED_BIG_SPENDER: "big",
}
PRODUCT_IDS = tuple(pid for category in ref.CATEGORIES for pid, _ in ref.PRODUCTS[category])
PRODUCT_PRICES = np.array([price for category in ref.CATEGORIES for _, price in ref.PRODUCTS[category]])
PRODUCT_CATEGORY = np.repeat(np.arange(len(ref.CATEGORIES)), [len(ref.PRODUCTS[c]) for c in ref.CATEGORIES])
CATEGORY_OFFSET = np.searchsorted(PRODUCT_CATEGORY, np.arange(len(ref.CATEGORIES)))
CATEGORY_SIZE = np.bincount(PRODUCT_CATEGORY)
BULK_PRICE_LIMIT = 5000
KZT_RATE_YEARS = np.array(sorted(ref.KZT_PER_RUB))
KZT_RATES = np.array([ref.KZT_PER_RUB[year] for year in KZT_RATE_YEARS])


@dataclass(frozen=True)
class Orders:
    owner: np.ndarray
    ts: np.ndarray
    status: np.ndarray
    kzt: np.ndarray
    channel: np.ndarray
    discount: np.ndarray
    amount: np.ndarray
    # Lines: the order they belong to (row in this object), product index, units, unit price.
    line_order: np.ndarray
    line_product: np.ndarray
    line_quantity: np.ndarray
    line_price: np.ndarray

    def __len__(self) -> int:
        return len(self.owner)


def draw_orders(
    rng: np.random.Generator,
    profiles: Profiles,
    first_order_ts: np.ndarray,
    windows: SeasonWindows,
    config: GeneratorConfig,
    clock: LocalClock,
) -> Orders:
    timeline = profiles.timeline
    owner, day = _repeat_days(rng, timeline, windows, config)
    ts = clock.to_utc(day * DAY + order_time_of_day(rng, len(day)), profiles.tz[owner])
    buyers = np.flatnonzero(timeline.is_buyer)
    owner = np.concatenate([buyers, owner])
    ts = np.clip(np.concatenate([first_order_ts[buyers], ts]), config.start_ts, config.end_ts)
    is_first = np.arange(len(owner)) < len(buyers)
    order = np.lexsort((owner, ts))
    owner, ts, is_first = owner[order], ts[order], is_first[order]
    status = _statuses(rng, ts, is_first, config)
    channel = np.where(
        rng.random(len(owner)) < 0.7,
        profiles.order_channel[owner],
        rng.choice(len(ref.ORDER_CHANNELS), size=len(owner), p=ref.ORDER_CHANNEL_WEIGHTS),
    )
    kzt = profiles.pays_kzt[owner]
    line_order, product, quantity, price = _draw_lines(rng, profiles, owner, ts, kzt)
    subtotal = np.bincount(line_order, weights=quantity * price, minlength=len(owner))
    percent = np.where(rng.random(len(owner)) < 0.18, rng.choice([5, 10, 15, 20], size=len(owner)), 0)
    discount = np.rint(subtotal * percent / 100)
    return Orders(
        owner, ts, status, kzt, channel, discount, subtotal - discount, line_order, product, quantity, price
    )


def first_order_times(
    rng: np.random.Generator, profiles: Profiles, clock: LocalClock, config: GeneratorConfig
) -> np.ndarray:
    """UTC time of each buyer's first order (-1 for customers who never buy)."""
    local = profiles.timeline.first_day * DAY + order_time_of_day(rng, len(profiles))
    first = np.clip(clock.to_utc(local, profiles.tz), config.start_ts, config.end_ts)
    return np.where(profiles.timeline.is_buyer, first, -1)


def order_time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    """Local seconds after midnight: a lunchtime peak and an evening peak."""
    evening = rng.random(size) < 0.4
    hours = np.where(evening, rng.normal(20.5, 1.5, size), rng.normal(13.5, 2.5, size))
    return (np.clip(hours, 7.0, 23.9) * HOUR).astype(np.int64)


def _repeat_days(
    rng: np.random.Generator, timeline: Timeline, windows: SeasonWindows, config: GeneratorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Local days of every order after the first, per archetype."""
    parts = [
        _cycle_days(rng, timeline, Archetype.CYCLE_30D),
        _monthly_days(rng, timeline, Archetype.MONTHLY_REGULAR),
        _random_days(rng, timeline, Archetype.OCCASIONAL, per_year=(0.8, 2.5), minimum=1),
        _random_days(rng, timeline, Archetype.UNSUBSCRIBER, per_year=(0.3, 1.2), minimum=0),
        _lapsed_days(rng, timeline),
        _seasonal_days(rng, timeline, windows, config),
    ]
    owner = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    return owner, day


def _members(timeline: Timeline, kind: Archetype) -> np.ndarray:
    return np.flatnonzero((timeline.archetype == kind) & timeline.is_buyer)


def _cycle_days(
    rng: np.random.Generator, timeline: Timeline, kind: Archetype
) -> tuple[np.ndarray, np.ndarray]:
    """Coffee-like: a bag runs out every ~30 days; the gap barely varies."""
    members = _members(timeline, kind)
    first, churn = timeline.first_day[members], timeline.churn_day[members]
    counts = (churn - first) // 26 + 1
    group, _rank = expand(counts)
    gaps = np.clip(np.rint(rng.normal(30, 1.5, len(group))), 26, 34).astype(np.int64)
    day = first[group] + group_cumsum(gaps, counts)
    keep = day <= churn[group]
    return members[group[keep]], day[keep]


def _monthly_days(
    rng: np.random.Generator, timeline: Timeline, kind: Archetype
) -> tuple[np.ndarray, np.ndarray]:
    """Around the same day each month (payday), skipping a month now and then."""
    members = _members(timeline, kind)
    first, churn = timeline.first_day[members], timeline.churn_day[members]
    first_month = month_number(first) + 1
    counts = np.clip(month_number(churn) - first_month + 1, 0, None)
    group, rank = expand(counts)
    day_of_month = rng.integers(1, 29, len(members))[group]
    day = month_start_day(first_month[group] + rank) + day_of_month - 1
    day += np.rint(rng.normal(0, 2.5, len(group))).astype(np.int64)
    keep = (rng.random(len(group)) > 0.1) & (day > first[group] + 10) & (day <= churn[group])
    return members[group[keep]], day[keep]


def _random_days(
    rng: np.random.Generator, timeline: Timeline, kind: Archetype, per_year: tuple[float, float], minimum: int
) -> tuple[np.ndarray, np.ndarray]:
    """Now and then, at no particular rhythm, until they drift away (churn_day)."""
    members = _members(timeline, kind)
    first, churn = timeline.first_day[members], timeline.churn_day[members]
    span = churn - first
    rate = rng.uniform(*per_year, len(members))
    counts = np.clip(rng.poisson(rate * span / 365.25), minimum, 15) * (span > 0)
    group, _rank = expand(counts)
    day = first[group] + 1 + np.floor(rng.random(len(group)) * span[group]).astype(np.int64)
    return members[group], day


def _lapsed_days(rng: np.random.Generator, timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Frequent big orders, every two to five weeks, until they stopped more than a year ago."""
    members = _members(timeline, Archetype.LAPSED_BIG_SPENDER)
    first, churn = timeline.first_day[members], timeline.churn_day[members]
    counts = (churn - first) // 4 + 1
    group, _rank = expand(counts)
    mean_gap = rng.uniform(12, 35, len(members))[group]
    gaps = (4 + rng.exponential(mean_gap)).astype(np.int64)
    day = first[group] + group_cumsum(gaps, counts)
    keep = day <= churn[group]
    return members[group[keep]], day[keep]


def _seasonal_days(
    rng: np.random.Generator, timeline: Timeline, windows: SeasonWindows, config: GeneratorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Gifts for 23 February / 8 March and for New Year: most seasons they come back, once or twice."""
    members = np.flatnonzero(timeline.season_window >= 0)
    if not len(members) or not len(windows):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    window = timeline.season_window[members]
    counts = len(windows) - 1 - window
    group, rank = expand(counts)
    later = window[group] + 1 + rank
    loyalty = rng.uniform(0.55, 0.95, len(members))[group]
    visits = np.where(rng.random(len(group)) < loyalty, 1 + (rng.random(len(group)) < 0.3), 0)
    group, later = np.repeat(group, visits), np.repeat(later, visits)
    span = windows.last[later] - windows.start[later] + 1
    day = windows.start[later] + np.floor(rng.random(len(group)) * span).astype(np.int64)
    keep = day <= config.end_day
    return members[group[keep]], day[keep]


def _statuses(
    rng: np.random.Generator, ts: np.ndarray, is_first: np.ndarray, config: GeneratorConfig
) -> np.ndarray:
    size = len(ts)
    status = rng.choice(3, size=size, p=[0.91, 0.05, 0.04])
    recent = ts > config.end_ts - 4 * DAY
    status = np.where(recent & (rng.random(size) < 0.4), PENDING, status)
    # The first order completed: every buyer archetype is a buyer in the marts.
    return np.where(is_first, COMPLETED, status)


def _draw_lines(
    rng: np.random.Generator, profiles: Profiles, owner: np.ndarray, ts: np.ndarray, kzt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    basket_names = list(BASKETS)
    basket_of_archetype = np.zeros(len(Archetype), dtype=np.int64)
    for archetype, basket in BASKET_OF.items():
        basket_of_archetype[archetype] = basket_names.index(basket)
    basket = basket_of_archetype[profiles.archetype[owner]]
    category_cdf = np.cumsum([BASKETS[name][0] for name in basket_names], axis=1)
    extra_line = np.array([BASKETS[name][1] for name in basket_names])
    extra_units = np.array([BASKETS[name][2] for name in basket_names])

    lines = 1 + rng.binomial(3, extra_line[basket])
    line_order, _rank = expand(lines)
    line_basket = basket[line_order]
    category = (rng.random(len(line_order))[:, None] > category_cdf[line_basket]).sum(axis=1)
    category = np.minimum(category, len(ref.CATEGORIES) - 1)
    # A few products in each category sell most: skew the pick towards the first ones.
    position = np.floor(rng.random(len(line_order)) ** 1.6 * CATEGORY_SIZE[category]).astype(np.int64)
    product = CATEGORY_OFFSET[category] + position
    # One line per product and order: a repeated pick is dropped.
    order = np.lexsort((product, line_order))
    line_order, product, line_basket = line_order[order], product[order], line_basket[order]
    unique = np.ones(len(line_order), dtype=bool)
    unique[1:] = (line_order[1:] != line_order[:-1]) | (product[1:] != product[:-1])
    line_order, product, line_basket = line_order[unique], product[unique], line_basket[unique]

    # Several bags of coffee in one order, yes; several coffee machines, rarely.
    affordable = np.where(PRODUCT_PRICES[product] <= BULK_PRICE_LIMIT, 1.0, 0.1)
    units = extra_units[line_basket] * profiles.spend[owner[line_order]] * affordable
    quantity = 1 + rng.poisson(units)
    return line_order, product, quantity, _unit_prices(product, ts[line_order], kzt[line_order])


def _unit_prices(product: np.ndarray, ts: np.ndarray, kzt: np.ndarray) -> np.ndarray:
    years = ts / (365.25 * DAY) + 1970 - ref.PRICE_BASE_YEAR
    rub = PRODUCT_PRICES[product] * (1 + ref.YEARLY_PRICE_GROWTH) ** np.clip(years, 0, None)
    rate_index = np.clip(calendar_year(ts // DAY) - KZT_RATE_YEARS[0], 0, len(KZT_RATE_YEARS) - 1)
    tenge = rub * KZT_RATES[rate_index]
    return np.where(kzt, np.rint(tenge / 50) * 50, np.rint(rub / 10) * 10)


def orders_table(
    rng: np.random.Generator, orders: Orders, profiles: Profiles, first_order_id: int
) -> pa.Table:
    size = len(orders)
    return pa.table(
        {
            "order_id": order_ids(first_order_id + np.arange(size)),
            "customer_id": customer_ids(profiles.number[orders.owner]),
            "ordered_at": text.timestamps(orders.ts),
            "amount": text.money(orders.amount),
            "status": _status_text(rng, orders.status),
            "currency": _currency_text(rng, orders.kzt),
            "discount_amount": text.blank_where(
                text.money(orders.discount), (orders.discount == 0) & (rng.random(size) < 0.3)
            ),
            "channel": text.pick(ref.ORDER_CHANNELS, orders.channel),
        }
    )


def order_items_table(orders: Orders, first_order_id: int) -> pa.Table:
    category = PRODUCT_CATEGORY[orders.line_product]
    return pa.table(
        {
            "order_id": order_ids(first_order_id + orders.line_order),
            "product_id": text.pick(PRODUCT_IDS, orders.line_product),
            "category": text.pick(ref.CATEGORIES, category),
            "quantity": text.integers(orders.line_quantity),
            "unit_price": text.money(orders.line_price),
        }
    )


def order_ids(numbers: np.ndarray) -> pa.Array:
    return text.join("O", text.integers(numbers, ORDER_ID_WIDTH))


def _status_text(rng: np.random.Generator, status: np.ndarray) -> pa.Array:
    size = len(status)
    written = pc.choose(
        pa.array(status),
        *[
            text.choose_weighted(
                rng, ref.ORDER_STATUS_SPELLINGS[name], ref.ORDER_STATUS_SPELLING_WEIGHTS[name], size
            )
            for name in STATUSES
        ],
    )
    # A blank status means completed to the staging; some exports leave it out.
    return text.blank_where(written, (status == COMPLETED) & (rng.random(size) < 0.02))


def _currency_text(rng: np.random.Generator, kzt: np.ndarray) -> pa.Array:
    size = len(kzt)
    rub = text.choose_weighted(rng, ("RUB", "rub", "RUR", ""), (0.93, 0.02, 0.02, 0.03), size)
    rub = pc.if_else(pc.equal(rub, ""), pa.scalar(None, pa.string()), rub)
    tenge = text.choose_weighted(rng, ("KZT", "kzt"), (0.97, 0.03), size)
    return pc.if_else(pa.array(kzt), tenge, rub)
