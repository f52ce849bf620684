"""Customer archetypes: who buys when. Each customer gets one, and a timeline of day numbers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from orchestration.sample_data.clock import day_number
from orchestration.sample_data.config import GeneratorConfig


class Archetype(IntEnum):
    LEAD = 0
    ONE_TIME = 1
    OCCASIONAL = 2
    SEASONAL = 3
    MONTHLY_REGULAR = 4
    CYCLE_30D = 5
    LAPSED_BIG_SPENDER = 6
    UNSUBSCRIBER = 7


ARCHETYPE_NAMES: dict[Archetype, str] = {
    Archetype.LEAD: "lead",
    Archetype.ONE_TIME: "one_time",
    Archetype.OCCASIONAL: "occasional",
    Archetype.SEASONAL: "seasonal",
    Archetype.MONTHLY_REGULAR: "monthly_regular",
    Archetype.CYCLE_30D: "cycle_30d",
    Archetype.LAPSED_BIG_SPENDER: "lapsed_big_spender",
    Archetype.UNSUBSCRIBER: "unsubscriber",
}
ARCHETYPE_SHARES: dict[Archetype, float] = {
    Archetype.LEAD: 0.24,
    Archetype.ONE_TIME: 0.2,
    Archetype.OCCASIONAL: 0.14,
    Archetype.SEASONAL: 0.1,
    Archetype.MONTHLY_REGULAR: 0.08,
    Archetype.CYCLE_30D: 0.08,
    Archetype.LAPSED_BIG_SPENDER: 0.08,
    Archetype.UNSUBSCRIBER: 0.08,
}
# Unsubscribers who bought at least once; the rest never did.
UNSUBSCRIBER_BUYER_SHARE = 0.7
NO_DAY = -1


@dataclass(frozen=True)
class SeasonWindows:
    """Gift seasons inside the period: 23 February / 8 March, and Black Friday to New Year."""

    start: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True)
class Timeline:
    archetype: np.ndarray
    # Local day of the first purchase (NO_DAY for customers who never buy).
    first_day: np.ndarray
    # Last day the customer still buys (the end day for those still active).
    churn_day: np.ndarray
    # Day the customer signs up, for those who never buy (buyers sign up just before their first order).
    signup_day: np.ndarray
    # Index into SeasonWindows of the first purchase of seasonal buyers, else -1.
    season_window: np.ndarray
    # Day an unsubscriber leaves the mailing list, else NO_DAY.
    unsubscribe_day: np.ndarray

    @property
    def is_buyer(self) -> np.ndarray:
        return self.first_day != NO_DAY


def season_windows(config: GeneratorConfig) -> SeasonWindows:
    first, last = config.start_day + 1, config.end_day
    starts, lasts = [], []
    for year in range(config.start_date.year - 1, config.end_date.year + 1):
        for month, day, length in ((2, 12, 24), (11, 20, 40)):
            window_start = day_number(config.start_date.replace(year=year, month=month, day=day))
            window_start, window_last = max(window_start, first), min(window_start + length - 1, last)
            if window_last >= window_start + 6:
                starts.append(window_start)
                lasts.append(window_last)
    return SeasonWindows(np.array(starts, dtype=np.int64), np.array(lasts, dtype=np.int64))


def draw_archetypes(rng: np.random.Generator, size: int) -> np.ndarray:
    kinds = np.array(list(ARCHETYPE_SHARES), dtype=np.int8)
    shares = np.array(list(ARCHETYPE_SHARES.values()))
    return rng.choice(kinds, size=size, p=shares / shares.sum())


def draw_timeline(
    rng: np.random.Generator, archetype: np.ndarray, config: GeneratorConfig, windows: SeasonWindows
) -> Timeline:
    size = len(archetype)
    first = np.full(size, NO_DAY, dtype=np.int64)
    churn = np.full(size, NO_DAY, dtype=np.int64)
    season = np.full(size, -1, dtype=np.int64)
    lo, end = config.start_day + 1, config.end_day

    def fill(kind: Archetype, first_days: np.ndarray, churn_days: np.ndarray) -> None:
        mask = archetype == kind
        first[mask] = first_days[mask]
        churn[mask] = np.clip(churn_days[mask], first_days[mask], end)

    grown = _growth_days(rng, lo, end, size)
    fill(Archetype.ONE_TIME, grown, grown)

    occasional_first = _growth_days(rng, lo, end - 60, size)
    occasional_stop = occasional_first + ((end - occasional_first) * rng.uniform(0.25, 0.8, size)).astype(
        np.int64
    )
    fill(Archetype.OCCASIONAL, occasional_first, np.where(rng.random(size) < 0.65, end, occasional_stop))

    for kind, stay_share in ((Archetype.MONTHLY_REGULAR, 0.85), (Archetype.CYCLE_30D, 0.88)):
        habit_first = _uniform_days(rng, lo, end - 150, size)
        habit_stop = habit_first + 120 + ((end - habit_first) * rng.uniform(0.2, 0.6, size)).astype(np.int64)
        fill(kind, habit_first, np.where(rng.random(size) < stay_share, end, habit_stop))

    lapsed_stop = end - rng.integers(380, 721, size)
    lapsed_first = _uniform_days(rng, lo, lapsed_stop - 240, size)
    fill(Archetype.LAPSED_BIG_SPENDER, lapsed_first, np.maximum(lapsed_stop, lapsed_first + 60))

    seasonal_first, seasonal_window = _seasonal_first_days(rng, windows, size, end)
    seasonal = archetype == Archetype.SEASONAL
    if len(windows):
        fill(Archetype.SEASONAL, seasonal_first, np.full(size, end))
        season[seasonal] = seasonal_window[seasonal]
    else:
        # No gift season fits into a short period: these customers buy once.
        fill(Archetype.SEASONAL, grown, grown)

    unsubscriber = archetype == Archetype.UNSUBSCRIBER
    buying_unsubscriber = unsubscriber & (rng.random(size) < UNSUBSCRIBER_BUYER_SHARE)
    unsubscriber_first = _growth_days(rng, lo, end - 30, size)
    first[buying_unsubscriber] = unsubscriber_first[buying_unsubscriber]
    churn[buying_unsubscriber] = end

    signup = np.where(first == NO_DAY, _growth_days(rng, config.start_day, end, size), NO_DAY)
    anchor = np.where(first == NO_DAY, signup, first)
    unsubscribe = anchor + 21 + ((end - 2 - anchor - 21).clip(0) * rng.random(size)).astype(np.int64)
    unsubscribe = np.where(unsubscriber, np.minimum(unsubscribe, end), NO_DAY)
    return Timeline(archetype, first, churn, signup, season, unsubscribe)


def _uniform_days(rng: np.random.Generator, lo: int, hi: int | np.ndarray, size: int) -> np.ndarray:
    hi = np.maximum(hi, lo)
    return lo + np.floor(rng.random(size) * (hi - lo + 1)).astype(np.int64)


def _growth_days(rng: np.random.Generator, lo: int, hi: int, size: int) -> np.ndarray:
    """Days with a density rising linearly to twice its start value: the shop's customer base grows."""
    hi = max(hi, lo)
    position = np.sqrt(1 + 3 * rng.random(size)) - 1
    return np.minimum(lo + np.floor(position * (hi - lo + 1)).astype(np.int64), hi)


def _seasonal_first_days(
    rng: np.random.Generator, windows: SeasonWindows, size: int, end: int
) -> tuple[np.ndarray, np.ndarray]:
    if not len(windows):
        return np.full(size, NO_DAY, dtype=np.int64), np.full(size, -1, dtype=np.int64)
    # Seasonal buyers are acquired by a seasonal promotion, one that leaves room for a later season.
    early = np.flatnonzero(windows.last <= end - 60)
    candidates = early if len(early) else np.arange(len(windows))
    window = rng.choice(candidates, size=size)
    span = windows.last[window] - windows.start[window] + 1
    first = windows.start[window] + np.floor(rng.random(size) * span).astype(np.int64)
    return first, window
