"""Issue 19, item 4: the default RFM segments on the bundled sample make sense, and the cut points
that made them are recorded per as-of date and printed in the run summary.

Reuses the session's `sample_replay` (the bundled sample replayed as of 2026-10-20 and 2026-11-20
with the project's default settings: quantile cut points, 4 bins, the `default` scheme).
"""

from __future__ import annotations

from decimal import Decimal

from orchestration.rfm_cut_points import format_cut_points
from tests.conftest import SAMPLE_REPLAY_DATES, SampleReplay, query

RFM_WITH_LIFECYCLE = """
    select rfm.rfm_segment, count(*), count(*) filter (where life.lifecycle_status = 'lapsed')
    from marts.customer_rfm as rfm
    inner join marts.customer_lifecycle as life on rfm.customer_id = life.customer_id
    group by 1 order by 1
"""


def test_no_vip_or_promising_newcomer_is_lapsed(sample_replay: SampleReplay) -> None:
    segments = {
        name: (buyers, lapsed) for name, buyers, lapsed in query(sample_replay.warehouse, RFM_WITH_LIFECYCLE)
    }
    assert segments == SEGMENTS_ON_THE_LAST_DATE
    assert segments["VIP"] == (329, 0)
    assert "Promising newcomers" not in segments  # none at all on the sample, so none lapsed
    # Before issue 19 (scheme top_two_bins) code 333 was a VIP: 99 lapsed VIPs as of 2026-12-03.
    assert query(
        sample_replay.warehouse,
        "select count(*) from marts.customer_rfm where rfm_code = '333' and rfm_segment != 'Need attention'",
    ) == [(0,)]


def test_the_shipped_vip_sync_sends_no_lapsed_buyer(sample_replay: SampleReplay) -> None:
    assert query(
        sample_replay.warehouse,
        """
        select count(*), count(*) filter (where life.lifecycle_status = 'lapsed')
        from marts.segment_membership as member
        inner join marts.customer_lifecycle as life on member.customer_id = life.customer_id
        where member.segment_key = 'rfm_vip'
        """,
    ) == [(SEGMENTS_ON_THE_LAST_DATE["VIP"][0], 0)]


def test_cut_points_are_kept_per_as_of_date(sample_replay: SampleReplay) -> None:
    first, last = SAMPLE_REPLAY_DATES
    assert query(
        sample_replay.warehouse,
        "select as_of_date, count(*), sum(buyers) from marts.rfm_cut_points group by 1 order by 1",
    ) == [(first, 12, FIRST_DATE_BUYERS * 3), (last, 12, LAST_DATE_BUYERS * 3)]
    rows = query(
        sample_replay.warehouse,
        "select dimension, score, lower_bound, upper_bound, unit, rfm_method from marts.rfm_cut_points "
        "where as_of_date = ? order by dimension_order, score desc",
        [last],
    )
    assert rows == CUT_POINTS_ON_THE_LAST_DATE
    # Every buyer's value lies in its score's range (the dbt test rfm_cut_points_match_scores ran too).
    assert query(
        sample_replay.warehouse,
        """
        select count(*) from marts.customer_rfm as rfm
        inner join marts.rfm_cut_points as cut
            on cut.as_of_date = rfm.as_of_date and cut.dimension = 'recency' and cut.score = rfm.r_score
        where rfm.recency_days < cut.lower_bound or rfm.recency_days > coalesce(cut.upper_bound, 1e9)
        """,
    ) == [(0,)]


def test_the_run_summary_prints_the_cut_points(sample_replay: SampleReplay) -> None:
    line = format_cut_points(CUT_POINTS_ON_THE_LAST_DATE)
    assert line == SUMMARY_LINE
    assert line in sample_replay.output


def test_the_summary_line_of_fixed_thresholds_and_an_unreachable_score() -> None:
    rows = [
        ("recency", 4, Decimal(0), Decimal(30), "days", "threshold"),
        ("recency", 3, Decimal(31), Decimal(60), "days", "threshold"),
        ("recency", 2, Decimal(61), Decimal(90), "days", "threshold"),
        ("recency", 1, Decimal(91), None, "days", "threshold"),
        ("frequency", 4, Decimal(10), None, "orders", "threshold"),
        ("frequency", 3, Decimal(5), Decimal(9), "orders", "threshold"),
        ("frequency", 2, Decimal(2), Decimal(4), "orders", "threshold"),
        ("frequency", 1, Decimal(1), Decimal(1), "orders", "threshold"),
        ("monetary", 4, Decimal(60000), None, "RUB", "threshold"),
        ("monetary", 3, Decimal(20000), Decimal("59999.99"), "RUB", "threshold"),
        ("monetary", 2, Decimal("3.01"), Decimal(3), "RUB", "threshold"),
        ("monetary", 1, Decimal(0), Decimal("4999.99"), "RUB", "threshold"),
    ]
    assert format_cut_points(rows) == (
        "RFM cut points (threshold): R 4 ≤30d, 3 31–60d, 2 61–90d, 1 ≥91d; F 4 ≥10, 3 5–9, 2 2–4, 1 1; "
        "M 4 ≥60,000, 3 20,000–59,999.99, 2 none, 1 ≤4,999.99 RUB"
    )
    assert format_cut_points([]).startswith("RFM cut points: not recorded")


# Measured on the bundled sample as of 2026-11-20 (the last replay date): buyers and lapsed buyers
# per segment. Promising newcomers (414, 424) is empty there: no recent one- or two-order buyer is in
# the top quarter of spend (51,712 RUB and more).
SEGMENTS_ON_THE_LAST_DATE = {
    "At risk": (92, 92),
    "Lost": (330, 330),
    "Loyal": (210, 0),
    "Need attention": (1090, 840),
    "Sleeping whales": (125, 125),
    "VIP": (329, 0),
}
FIRST_DATE_BUYERS = 2153
LAST_DATE_BUYERS = 2176
CUT_POINTS_ON_THE_LAST_DATE = [
    ("recency", 4, Decimal("0.00"), Decimal("60.00"), "days", "quantile"),
    ("recency", 3, Decimal("61.00"), Decimal("271.00"), "days", "quantile"),
    ("recency", 2, Decimal("272.00"), Decimal("556.00"), "days", "quantile"),
    ("recency", 1, Decimal("557.00"), None, "days", "quantile"),
    ("frequency", 4, Decimal("12.00"), None, "orders", "quantile"),
    ("frequency", 3, Decimal("4.00"), Decimal("11.00"), "orders", "quantile"),
    ("frequency", 2, Decimal("2.00"), Decimal("3.00"), "orders", "quantile"),
    ("frequency", 1, Decimal("1.00"), Decimal("1.00"), "orders", "quantile"),
    ("monetary", 4, Decimal("51711.88"), None, "RUB", "quantile"),
    ("monetary", 3, Decimal("14018.13"), Decimal("51711.87"), "RUB", "quantile"),
    ("monetary", 2, Decimal("3941.76"), Decimal("14018.12"), "RUB", "quantile"),
    ("monetary", 1, Decimal("0.00"), Decimal("3941.75"), "RUB", "quantile"),
]
SUMMARY_LINE = (
    "RFM cut points (quantile): R 4 ≤60d, 3 61–271d, 2 272–556d, 1 ≥557d; F 4 ≥12, 3 4–11, 2 2–3, 1 1; "
    "M 4 ≥51,711.88, 3 14,018.13–51,711.87, 2 3,941.76–14,018.12, 1 ≤3,941.75 RUB"
)
