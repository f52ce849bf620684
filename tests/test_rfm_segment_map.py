"""The bundled RFM segment map: complete, one name per code, and the rules its docstrings state."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from orchestration.rfm_segment_map import (
    DEFAULT_SEGMENTS,
    ELEVEN_SEGMENTS,
    SEED_PATH,
    TOP_TWO_BINS_SEGMENTS,
    default_segment,
    eleven_segment,
    render_seed,
    top_two_bins_segment,
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
        ("top_two_bins", "4"): 64,
        ("top_two_bins", "5"): 125,
        ("eleven", "4"): 64,
        ("eleven", "5"): 125,
    }


@pytest.mark.parametrize("bins", [4, 5])
def test_every_name_of_each_scheme_occurs(bins: int) -> None:
    codes = [(r, f, m) for r in range(1, bins + 1) for f in range(1, bins + 1) for m in range(1, bins + 1)]
    assert {default_segment(*code, bins) for code in codes} == set(DEFAULT_SEGMENTS)
    assert {top_two_bins_segment(*code, bins) for code in codes} == set(TOP_TWO_BINS_SEGMENTS)
    assert {eleven_segment(*code, bins) for code in codes} == set(ELEVEN_SEGMENTS)
    assert len(ELEVEN_SEGMENTS) == 11


def _codes_of(segment: str, bins: int = 4) -> set[str]:
    return {
        f"{r}{f}{m}"
        for r in range(1, bins + 1)
        for f in range(1, bins + 1)
        for m in range(1, bins + 1)
        if default_segment(r, f, m, bins) == segment
    }


def test_default_scheme_is_the_published_table() -> None:
    """Every code of the 4-bin table, named codes first, then the XX patterns (issue 19)."""
    assert _codes_of("VIP") == {"444", "443", "434"}
    assert _codes_of("Promising newcomers") == {"414", "424"}
    assert _codes_of("Sleeping whales") == {"144", "143", "134"}
    assert _codes_of("Lost") == {"111", "112", "121"}
    assert _codes_of("Loyal") == {f"4{f}{m}" for f in "1234" for m in "1234"} - {
        "444",
        "443",
        "434",
        "414",
        "424",
    }
    assert _codes_of("Need attention") == {f"{r}{f}{m}" for r in "23" for f in "1234" for m in "1234"}
    assert _codes_of("At risk") == {"113", "114", "122", "123", "124", "131", "132", "133", "141", "142"}


def test_default_scheme_on_five_bins_uses_five_as_the_top() -> None:
    assert _codes_of("VIP", 5) == {"555", "554", "545"}
    assert _codes_of("Promising newcomers", 5) == {"515", "525"}
    assert _codes_of("Sleeping whales", 5) == {"155", "154", "145"}
    assert _codes_of("Lost", 5) == {"111", "112", "121"}
    assert len(_codes_of("Need attention", 5)) == 3 * 25
    assert "411" in _codes_of("Need attention", 5) and "511" in _codes_of("Loyal", 5)


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
def test_top_two_bins_scheme(code: tuple[int, int, int], bins: int, segment: str) -> None:
    assert top_two_bins_segment(*code, bins) == segment


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
