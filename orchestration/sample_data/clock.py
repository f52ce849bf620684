"""Time arithmetic on int64 epoch seconds: local wall-clock time in a customer's zone versus UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np

DAY = 86_400
HOUR = 3_600
EPOCH = date(1970, 1, 1)


def day_number(value: date) -> int:
    return (value - EPOCH).days


class LocalClock:
    """UTC offsets of a few IANA zones, tabulated per day.

    Offsets are looked up per day instead of per instant: the zones used change offset at most once
    in the period (Kazakhstan moved from UTC+6 to UTC+5 in March 2024), so only the hour around a
    switch can be off, which does not matter for simulated behaviour.
    """

    def __init__(self, timezones: Sequence[str], first_day: int, last_day: int) -> None:
        self.first_day = first_day
        days = range(first_day, last_day + 1)
        self._offsets = np.array(
            [[_offset_seconds(ZoneInfo(name), day) for day in days] for name in timezones], dtype=np.int64
        )

    def offset(self, utc_seconds: np.ndarray, tz_index: np.ndarray) -> np.ndarray:
        return self._offsets[tz_index, self._day_index(utc_seconds)]

    def to_local(self, utc_seconds: np.ndarray, tz_index: np.ndarray) -> np.ndarray:
        return utc_seconds + self.offset(utc_seconds, tz_index)

    def to_utc(self, local_seconds: np.ndarray, tz_index: np.ndarray) -> np.ndarray:
        return local_seconds - self._offsets[tz_index, self._day_index(local_seconds)]

    def _day_index(self, seconds: np.ndarray) -> np.ndarray:
        index = seconds // DAY - self.first_day
        return np.clip(index, 0, self._offsets.shape[1] - 1)


def _offset_seconds(zone: ZoneInfo, day: int) -> int:
    noon = datetime.fromtimestamp(day * DAY + DAY // 2, UTC).astimezone(zone)
    offset = noon.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def month_number(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each day number."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def month_start_day(months: np.ndarray) -> np.ndarray:
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def calendar_year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
