"""The generator's settings and the simulated period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from orchestration.sample_data.clock import DAY, day_number

DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "raw"
OutputFormat = Literal["csv", "parquet"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("csv", "parquet")
# The archetypes need room: a lapsed spender stops a year before the end after months of buying.
MIN_PERIOD_DAYS = 90


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int = 3000
    seed: int = 42
    start_date: date = date(2023, 1, 1)
    end_date: date = date(2026, 11, 20)
    output_format: OutputFormat = "csv"
    out_dir: Path = DEFAULT_OUT_DIR
    truth: bool = False
    # Customers generated (and held in memory) at a time; the output does depend on it.
    chunk_size: int = 50_000

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError(f"customers must be at least 1, got {self.customers}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(OUTPUT_FORMATS)}, got {self.output_format!r}")
        if (self.end_date - self.start_date).days < MIN_PERIOD_DAYS:
            raise ValueError(
                f"the period {self.start_date}..{self.end_date} is shorter than {MIN_PERIOD_DAYS} days"
            )

    @property
    def start_day(self) -> int:
        return day_number(self.start_date)

    @property
    def end_day(self) -> int:
        return day_number(self.end_date)

    @property
    def start_ts(self) -> int:
        return self.start_day * DAY

    @property
    def end_ts(self) -> int:
        """The last second of the end date (UTC): nothing regular happens after it."""
        return (self.end_day + 1) * DAY - 1
