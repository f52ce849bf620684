"""Generates the whole sample: campaigns once, then customers chunk by chunk with all their activity."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.raw_contract import RAW_FILE_SUFFIXES, RAW_TABLES_BY_NAME
from orchestration.sample_data import customers as cust
from orchestration.sample_data import dirty, email, orders
from orchestration.sample_data.archetypes import (
    ARCHETYPE_NAMES,
    Archetype,
    SeasonWindows,
    draw_archetypes,
    draw_timeline,
    season_windows,
)
from orchestration.sample_data.clock import LocalClock
from orchestration.sample_data.config import GeneratorConfig
from orchestration.sample_data.reference import TIMEZONES
from orchestration.sample_data.writer import TableWriter

TABLES = ("customers", "orders", "order_items", "email_events", "campaigns")
TRUTH_DIR = "_truth"
TRUTH_FILE = "customers_archetype.csv"
TRUTH_COLUMNS = ("customer_id", "archetype")
# Separate random streams: the campaigns do not depend on the chunking, each chunk on its index only.
CAMPAIGN_STREAM, CHUNK_STREAM = 0, 1
# Enough days around the period for early sign-ups and for future-dated dirty rows.
CLOCK_MARGIN_DAYS = 800


@dataclass
class GenerationReport:
    config: GeneratorConfig
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    dirty_counts: dict[str, int] = field(default_factory=dict)
    archetype_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bytes_on_disk(self) -> int:
        return sum(path.stat().st_size for path in self.files.values())


@dataclass(frozen=True)
class _Shared:
    config: GeneratorConfig
    clock: LocalClock
    windows: SeasonWindows
    campaigns: email.Campaigns


def generate(config: GeneratorConfig) -> GenerationReport:
    started = time.perf_counter()
    report = GenerationReport(config)
    out_dir = config.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_other_formats(out_dir, config)
    clock = LocalClock(TIMEZONES, config.start_day - CLOCK_MARGIN_DAYS, config.end_day + CLOCK_MARGIN_DAYS)
    campaigns = email.draw_campaigns(_rng(config, CAMPAIGN_STREAM), config)
    shared = _Shared(config, clock, season_windows(config), campaigns)
    context = dirty.DirtyContext(total_customers=config.customers, end_ts=config.end_ts, next_order_number=1)
    suffix = ".parquet" if config.output_format == "parquet" else ".csv"
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(
                TableWriter(
                    out_dir / f"{name}{suffix}", RAW_TABLES_BY_NAME[name].columns, config.output_format
                )
            )
            for name in TABLES
        }
        truth = None
        if config.truth:
            (out_dir / TRUTH_DIR).mkdir(exist_ok=True)
            truth = stack.enter_context(TableWriter(out_dir / TRUTH_DIR / TRUTH_FILE, TRUTH_COLUMNS, "csv"))
        campaign_rng = _rng(config, CAMPAIGN_STREAM, 1)
        campaign_table = email.campaigns_table(campaigns)
        writers["campaigns"].write(
            dirty.apply_dirty(campaign_rng, "campaigns", campaign_table, dirty.CAMPAIGN_KINDS, context)
        )
        for index, numbers in enumerate(_chunks(config)):
            tables, archetypes = _generate_chunk(_rng(config, CHUNK_STREAM, index), numbers, shared, context)
            for name, table in tables.items():
                writers[name].write(table)
            for kind, count in zip(*np.unique(archetypes, return_counts=True), strict=True):
                name = ARCHETYPE_NAMES[Archetype(kind)]
                report.archetype_counts[name] = report.archetype_counts.get(name, 0) + int(count)
            if truth is not None:
                truth.write(_truth_table(numbers, archetypes))
    report.rows = {name: writer.rows for name, writer in writers.items()}
    report.files = {name: writer.path for name, writer in writers.items()}
    report.dirty_counts = dict(sorted(context.counts.items()))
    report.seconds = time.perf_counter() - started
    return report


def _rng(config: GeneratorConfig, *stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *stream])


def _chunks(config: GeneratorConfig) -> Iterator[np.ndarray]:
    for first in range(1, config.customers + 1, config.chunk_size):
        yield np.arange(first, min(first + config.chunk_size, config.customers + 1), dtype=np.int64)


def _remove_other_formats(out_dir: Path, config: GeneratorConfig) -> None:
    """The landing refuses a folder with two files for one table: drop the sample's files in other formats."""
    keep = ".parquet" if config.output_format == "parquet" else ".csv"
    for name in TABLES:
        for suffix in RAW_FILE_SUFFIXES:
            if suffix != keep:
                (out_dir / f"{name}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class _Chunk:
    profiles: cust.Profiles
    created_ts: np.ndarray
    updated_ts: np.ndarray
    orders: orders.Orders
    events: email.EmailEvents


def _generate_chunk(
    rng: np.random.Generator, numbers: np.ndarray, shared: _Shared, context: dirty.DirtyContext
) -> tuple[dict[str, pa.Table], np.ndarray]:
    chunk = _simulate(rng, numbers, shared)
    return _dirty_tables(rng, chunk, shared, context), chunk.profiles.archetype


def _simulate(rng: np.random.Generator, numbers: np.ndarray, shared: _Shared) -> _Chunk:
    """Who the customers are and everything they do, as numbers (no text yet)."""
    config, clock = shared.config, shared.clock
    timeline = draw_timeline(rng, draw_archetypes(rng, len(numbers)), config, shared.windows)
    profiles = cust.draw_profiles(rng, numbers, timeline)
    first_order_ts = orders.first_order_times(rng, profiles, clock, config)
    created_ts = cust.signup_times(rng, profiles, first_order_ts, clock, config)
    chunk_orders = orders.draw_orders(rng, profiles, first_order_ts, shared.windows, config, clock)
    events = email.draw_email_events(rng, profiles, created_ts, shared.campaigns, config, clock)
    last_order_ts = np.full(len(profiles), -1, dtype=np.int64)
    np.maximum.at(last_order_ts, chunk_orders.owner, chunk_orders.ts)
    updated_ts = cust.update_times(rng, created_ts, last_order_ts, events.opt_out_ts, config)
    return _Chunk(profiles, created_ts, updated_ts, chunk_orders, events)


def _dirty_tables(
    rng: np.random.Generator, chunk: _Chunk, shared: _Shared, context: dirty.DirtyContext
) -> dict[str, pa.Table]:
    """The chunk as text tables of the raw contract, dirty rows mixed in."""
    profiles = chunk.profiles
    opted_out = chunk.events.opt_out_ts >= 0
    customers = cust.customers_table(
        rng, profiles, chunk.created_ts, chunk.updated_ts, opted_out, shared.clock
    )
    customers = dirty.add_older_customer_versions(rng, customers, chunk.created_ts, chunk.updated_ts, context)
    _count_email_kinds(profiles, context)
    first_order_number = int(context.take_order_numbers(len(chunk.orders))[0]) if len(chunk.orders) else 0
    order_table = orders.orders_table(rng, chunk.orders, profiles, first_order_number)
    item_table = orders.order_items_table(chunk.orders, first_order_number)
    event_table = email.email_events_table(rng, chunk.events, profiles)
    return {
        "customers": dirty.apply_dirty(rng, "customers", customers, dirty.CUSTOMER_KINDS, context),
        "orders": dirty.apply_dirty(rng, "orders", order_table, dirty.ORDER_KINDS, context),
        "order_items": dirty.apply_dirty(rng, "order_items", item_table, dirty.ORDER_ITEM_KINDS, context),
        "email_events": dirty.apply_dirty(rng, "email_events", event_table, dirty.EMAIL_EVENT_KINDS, context),
    }


def _count_email_kinds(profiles: cust.Profiles, context: dirty.DirtyContext) -> None:
    for kind, name in (
        (cust.EmailKind.MALFORMED, "malformed_email"),
        (cust.EmailKind.PADDED, "padded_mixed_case_email"),
    ):
        key = f"customers.{name}"
        context.counts[key] = context.counts.get(key, 0) + int(np.sum(profiles.email_kind == kind))


def _truth_table(numbers: np.ndarray, archetypes: np.ndarray) -> pa.Table:
    names = [ARCHETYPE_NAMES[Archetype(kind)] for kind in range(len(Archetype))]
    return pa.table(
        {
            "customer_id": cust.customer_ids(numbers),
            "archetype": pa.array(names).take(pa.array(archetypes.astype(np.int64))),
        }
    )
