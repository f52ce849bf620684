"""The RFM code → segment name mapping shipped as the seed `seeds/rfm_segment_map.csv`.

The seed is what dbt reads, and analysts may edit it by hand; this module only documents the rules
the bundled mapping follows and regenerates it (`python -m orchestration.rfm_segment_map`).
Scores run 1..bins with higher better (recent, frequent, big spender); every code of both bin
counts (4 and 5) maps to exactly one name per scheme, which a dbt test checks on the seed itself.
Schemes (var rfm_segment_scheme): `default` (the published table), `top_two_bins` (the earlier
default) and `eleven` (the common 11-segment grid).
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

SEED_PATH = Path(__file__).resolve().parent.parent / "seeds" / "rfm_segment_map.csv"
SEED_COLUMNS = ("scheme", "bins", "rfm_code", "r_score", "f_score", "m_score", "rfm_segment")
BIN_COUNTS = (4, 5)

DEFAULT_SEGMENTS = (
    "VIP",
    "Loyal",
    "Promising newcomers",
    "Sleeping whales",
    "At risk",
    "Need attention",
    "Lost",
)
TOP_TWO_BINS_SEGMENTS = DEFAULT_SEGMENTS

# The common 11-segment scheme on recency × the rounded mean of frequency and monetary, both on a
# 1..5 scale. Rows are recency 5 (top) down to 1; columns are FM 1..5.
_ELEVEN_GRID = (
    ("New customers", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
    ("Promising", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
    ("Promising", "About to sleep", "Need attention", "Loyal customers", "Loyal customers"),
    ("Hibernating", "About to sleep", "At risk", "At risk", "Can't lose them"),
    ("Lost", "Hibernating", "At risk", "Can't lose them", "Can't lose them"),
)
ELEVEN_SEGMENTS = tuple(dict.fromkeys(name for row in _ELEVEN_GRID for name in row))


def default_segment(r: int, f: int, m: int, bins: int) -> str:
    """The default scheme: the published RFM table the product is built on (4 bins; scores 1..4).

    Named codes win over the XX patterns: VIP = 444, 443, 434; Promising newcomers = 414, 424;
    Sleeping whales = 144, 143, 134; Lost = 111, 112, 121; then Loyal = the rest of 4XX and
    Need attention = 2XX and 3XX. The table leaves the other 1XX codes unnamed (113, 114, 122,
    123, 124, 131, 132, 133, 141, 142): they are "At risk", long-gone buyers who were worth more
    than Lost (F + M >= 4) without being sleeping whales; a win-back is still worth a try.
    With 5 bins the same rules apply with 5 as the top score (VIP = 555, 554, 545; Promising
    newcomers = 515, 525; Sleeping whales = 155, 154, 145; Loyal = the rest of 5XX; Need
    attention = 2XX..4XX; Lost = 111, 112, 121; At risk = the rest of 1XX).
    """
    top = bins
    if r == top:
        if (f, m) in ((top, top), (top, top - 1), (top - 1, top)):
            return "VIP"
        if (f, m) in ((1, top), (2, top)):
            return "Promising newcomers"
        return "Loyal"
    if r == 1:
        if (f, m) in ((top, top), (top, top - 1), (top - 1, top)):
            return "Sleeping whales"
        if (f, m) in ((1, 1), (1, 2), (2, 1)):
            return "Lost"
        return "At risk"
    return "Need attention"


def top_two_bins_segment(r: int, f: int, m: int, bins: int) -> str:
    """The earlier default scheme: the top two bins count as high and the
    bottom two as low (so with 4 bins 333 is a VIP), whatever the cut points mean in days."""

    def high(score: int) -> bool:
        return score >= bins - 1

    def low(score: int) -> bool:
        return score <= 2

    if high(r) and high(f):
        return "VIP" if high(m) else "Loyal"
    if high(r) and low(f):
        return "Promising newcomers"
    if low(r) and high(f):
        # Bought often and big, but long ago: worth a personal win-back.
        return "Sleeping whales" if high(m) else "At risk"
    if r == 1 and low(f):
        return "Lost"
    return "Need attention"


def _half_up(value: float) -> int:
    # Python's round() sends halves to the even neighbour, which would split symmetric cases.
    return int(value + 0.5)


def eleven_segment(r: int, f: int, m: int, bins: int) -> str:
    """The 11-segment grid on 1..5 scales; 4-bin scores are spread so that every name can occur
    (recency 4 → 5 and 3 → 3; the mean of F and M from 1..4 in halves onto 1..5)."""
    if bins == 5:
        r5, fm5 = r, _half_up((f + m) / 2)
    else:
        r5 = {1: 1, 2: 2, 3: 3, 4: 5}[r]
        fm5 = 1 + _half_up((f + m - 2) * 4 / 6)
    return _ELEVEN_GRID[5 - r5][fm5 - 1]


SCHEMES = {"default": default_segment, "top_two_bins": top_two_bins_segment, "eleven": eleven_segment}


def rows() -> Iterator[dict[str, object]]:
    for scheme, segment_of in SCHEMES.items():
        for bins in BIN_COUNTS:
            for r, f, m in itertools.product(range(bins, 0, -1), repeat=3):
                yield {
                    "scheme": scheme,
                    "bins": bins,
                    "rfm_code": f"{r}{f}{m}",
                    "r_score": r,
                    "f_score": f,
                    "m_score": m,
                    "rfm_segment": segment_of(r, f, m, bins),
                }


def render_seed() -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SEED_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows())
    return buffer.getvalue()


def main() -> int:
    SEED_PATH.write_text(render_seed(), encoding="utf-8")
    print(f"wrote {SEED_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
