"""The bundled RFM segment map: complete, one name per code, and the rules its docstrings state."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from orchestration.rfm_segment_map import (
    DEFAULT_SEGMENTS,
    ELEVEN_SEGMENTS,
    SEED_PATH,
    default_segment,
    eleven_segment,
    render_seed,
)


def test_committed_seed_is_what_the_rules_generate() -> None:
    assert SEED_PATH.read_text(encoding="utf-8") == render_seed()


def test_every_code_maps_to_exactly_one_name() -> None:
    with SEED_PATH.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    keys = Counter((row["scheme"], row["bins"], row["rfm_code"]) for row in rows)
    assert max(keys.values()) == 1
    per_scheme = Counter((row["scheme"], row["bins"]) for row in rows)
    assert per_scheme == {
        ("default", "4"): 64,
        ("default", "5"): 125,
        ("eleven", "4"): 64,
        ("eleven", "5"): 125,
    }


@pytest.mark.parametrize("bins", [4, 5])
def test_every_name_of_each_scheme_occurs(bins: int) -> None:
    codes = [(r, f, m) for r in range(1, bins + 1) for f in range(1, bins + 1) for m in range(1, bins + 1)]
    assert {default_segment(*code, bins) for code in codes} == set(DEFAULT_SEGMENTS)
    assert {eleven_segment(*code, bins) for code in codes} == set(ELEVEN_SEGMENTS)
    assert len(ELEVEN_SEGMENTS) == 11


@pytest.mark.parametrize(
    ("code", "bins", "segment"),
    [
        ((4, 4, 4), 4, "VIP"),
        ((3, 3, 3), 4, "VIP"),
        ((4, 4, 1), 4, "Loyal"),
        ((4, 1, 4), 4, "Promising newcomers"),
        ((1, 4, 4), 4, "Sleeping whales"),
        ((2, 3, 3), 4, "Sleeping whales"),
        ((2, 4, 2), 4, "At risk"),
        ((1, 1, 4), 4, "Lost"),
        ((2, 2, 2), 4, "Need attention"),
        ((5, 4, 4), 5, "VIP"),
        ((3, 3, 3), 5, "Need attention"),
        ((1, 5, 5), 5, "Sleeping whales"),
    ],
)
def test_default_scheme(code: tuple[int, int, int], bins: int, segment: str) -> None:
    assert default_segment(*code, bins) == segment


@pytest.mark.parametrize(
    ("code", "bins", "segment"),
    [
        ((5, 5, 5), 5, "Champions"),
        ((5, 1, 1), 5, "New customers"),
        ((1, 1, 1), 5, "Lost"),
        ((1, 5, 4), 5, "Can't lose them"),  # FM = 4.5 rounds half up to 5
        ((3, 3, 4), 5, "Loyal customers"),  # FM = 3.5 → 4
        ((3, 3, 3), 5, "Need attention"),
        ((4, 4, 4), 4, "Champions"),
        ((3, 4, 4), 4, "Loyal customers"),
        ((1, 2, 4), 4, "Can't lose them"),
    ],
)
def test_eleven_scheme(code: tuple[int, int, int], bins: int, segment: str) -> None:
    assert eleven_segment(*code, bins) == segment
