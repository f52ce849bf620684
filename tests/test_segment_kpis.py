"""Segment KPIs end to end on a hand-made fixture: exact values, worked out by hand below.

Fixture: tests/fixtures/kpis (six customers, three campaigns) with the catalogue
tests/fixtures/kpis_catalog.yml — moscow = u1, u2, u3 with a 20% holdout that holds u3 out (stable
hash: u3's bucket is 681 < 2000; u1 5479, u2 4324); kazan = u4, u5 (no holdout); nobody = empty.
u6 (Sochi) is in no segment but receives m1, so m1's cost is shared six ways.

As of 2024-06-30 with kpi_lookback_days = 30 and kpi_attribution_window_days = 3:
  period          = 2024-06-01 00:00 .. 2024-07-01 00:00 (June)
  previous period = 2024-05-02 00:00 .. 2024-06-01 00:00

Emails (customer × campaign; one row however many events):
  m1 June promo, sent 06-01 09:00, cost 600 over 6 emails → 100 per email
    u1 sent, open ×2, click        → delivered, opened, clicked (unique: one open)
    u2 sent, click (no open event) → delivered, opened, clicked (a click implies an open)
    u3 sent, delivered, open 07-02 → delivered, NOT opened (the open is after the as-of date)
    u4 sent, open, unsubscribe     → delivered, opened, unsubscribed
    u5 sent, bounce                → not delivered
    u6 sent twice (resend), open   → one email, delivered, opened
  m2 May news, sent 05-20 09:00 (before the period), cost 300 over 3 emails → 100 per email
    u1 open; u2 nothing; u3 complaint
  m3 Kazan special, sent 06-02 09:00, cost blank (unknown): u4 sent, open
  Ignored: u1's open without a campaign_id; u2's m4 'sent' on 07-03 (after the as-of date).

Completed orders and last-touch attribution (delivered email, sent_at < ordered_at <= sent_at + 3 days):
  o1  u1 05-21 10:00   500 → m2 (05-20 09:00 + 3 days = 05-23 09:00)      previous period
  o2  u1 06-03 10:00  1000 → m1                                            period
  o3  u1 07-02 10:00  9999   after the as-of date: ignored
  o4  u2 05-15 10:00   300 → none (m2 not sent yet)                        previous period
  o5  u2 06-04 09:00  2000 → m1 (exactly 3 days after: the window is inclusive)  period
  o6  u2 06-20 10:00   500 → none                                          period
  o7  u3 05-25 10:00   400 → none (m2's window closed 05-23 09:00)         previous period
  o8  u4 06-03 08:00  3000 → m3 (m1 06-01 is in the window too; m3 06-02 is the last touch)  period
  o9  u5 06-02 10:00   700 → none (u5's only email bounced)                period
  o10 u5 cancelled: not a purchase
  o11 u4 04-01 10:00   800 → none; before the previous period: counts nowhere
  o12 u6 06-02 12:00  1200 → m1 (u6 is in no segment)

Predicted CLV: the fixture is far too thin for a fit, so no member has a predicted_clv_12m:
members_with_predicted_clv = 0 and avg_predicted_clv_12m is null everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, BuildWarehouse, query

AS_OF = date(2024, 6, 30)
JUNE_1 = date(2024, 6, 1)
KPI_VARS = {"kpi_lookback_days": 30, "kpi_attribution_window_days": 3}

SEGMENT_COLUMNS = (
    "members, members_emailed, emails_sent, emails_delivered, emails_bounced, emails_opened, "
    "emails_clicked, emails_unsubscribed, emails_complained, open_rate, click_through_rate, "
    "click_to_open_rate, unsubscribe_rate, complaint_rate, conversions, conversion_rate, "
    "attributed_orders, attributed_revenue, buyers, orders, revenue, avg_order_value, revenue_per_member, "
    "previous_period_buyers, retained_buyers, churned_buyers, retention_rate, churn_rate, "
    "members_with_predicted_clv, avg_predicted_clv_12m, campaign_cost, roi"
)
CAMPAIGN_COLUMNS = (
    "emails_sent, emails_delivered, emails_bounced, emails_opened, emails_clicked, emails_unsubscribed, "
    "emails_complained, open_rate, click_through_rate, click_to_open_rate, unsubscribe_rate, complaint_rate, "
    "conversions, conversion_rate, attributed_orders, attributed_revenue, "
    "campaign_cost, campaign_emails_sent, cost_share, roi"
)


def d(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture(scope="module")
def kpi_warehouse(build_warehouse: BuildWarehouse) -> Path:
    return build_warehouse(
        raw_dir=FIXTURES / "kpis",
        as_of=AS_OF,
        catalog_path=FIXTURES / "kpis_catalog.yml",
        extra_vars=KPI_VARS,
    )


def _segment_row(warehouse: Path, segment_key: str, member_group: str) -> tuple:
    rows = query(
        warehouse,
        f"select {SEGMENT_COLUMNS} from marts.segment_kpis where segment_key = ? and member_group = ?",
        [segment_key, member_group],
    )
    assert len(rows) == 1
    return rows[0]


def test_segment_kpis_has_three_groups_per_segment_and_the_period(kpi_warehouse: Path) -> None:
    rows = query(
        kpi_warehouse,
        "select segment_key, member_group, as_of_date, period_start, period_end from marts.segment_kpis "
        "order by segment_key, member_group",
    )
    assert rows == [
        (segment, group, AS_OF, JUNE_1, AS_OF)
        for segment in ("kazan", "moscow", "nobody")
        for group in ("all", "holdout", "treated")
    ]


def test_segment_kpis_moscow_all(kpi_warehouse: Path) -> None:
    # Members u1, u2, u3. June emails: m1 to each (m2 is May) → 3 sent, 3 delivered, 0 bounced;
    # opened u1, u2 → 2; clicked u1, u2 → 2; no unsubscribe; u3's complaint was on m2 (May) → 0.
    # open 2/3, CTR 2/3, CTO 2/2, unsubscribe 0/3, complaint 0/3.
    # Conversions: u1·m1 (o2), u2·m1 (o5) → 2 of 3 delivered; attributed o2 + o5 = 1000 + 2000.
    # June orders: o2, o5, o6 → 3 orders, 3500, buyers u1, u2; AOV 3500/3; per member 3500/3.
    # Previous period buyers u1 (o1), u2 (o4), u3 (o7) → 3; retained u1, u2 → 2/3; churned u3 → 1/3.
    # Cost 3 m1 emails × 100 = 300; ROI (3000 − 300) / 300 = 9.
    assert _segment_row(kpi_warehouse, "moscow", "all") == (
        3, 3, 3, 3, 0, 2, 2, 0, 0,
        d("0.666667"), d("0.666667"), d("1.000000"), d("0.000000"), d("0.000000"),
        2, d("0.666667"), 2, d("3000.00"),
        2, 3, d("3500.00"), d("1166.67"), d("1166.67"),
        3, 2, 1, d("0.666667"), d("0.333333"),
        0, None, d("300.00"), d("9.000000"),
    )  # fmt: skip


def test_segment_kpis_moscow_treated_against_holdout(kpi_warehouse: Path) -> None:
    # Treated u1, u2: both m1 emails opened and clicked and converted → every email rate 1 (except
    # unsubscribe/complaint 0); 3 orders, 3500, AOV 1166.67, 1750 per member; both bought in May and
    # June → retention 1, churn 0; cost 200, ROI (3000 − 200) / 200 = 14.
    assert _segment_row(kpi_warehouse, "moscow", "treated") == (
        2, 2, 2, 2, 0, 2, 2, 0, 0,
        d("1.000000"), d("1.000000"), d("1.000000"), d("0.000000"), d("0.000000"),
        2, d("1.000000"), 2, d("3000.00"),
        2, 3, d("3500.00"), d("1166.67"), d("1750.00"),
        2, 2, 0, d("1.000000"), d("0.000000"),
        0, None, d("200.00"), d("14.000000"),
    )  # fmt: skip
    # Holdout u3: m1 delivered, not opened → open 0, CTR 0, click-to-open null (no opens);
    # no conversion, no June order (AOV null, 0 per member); bought in May only → retention 0,
    # churn 1; cost 100, ROI (0 − 100) / 100 = −1.
    assert _segment_row(kpi_warehouse, "moscow", "holdout") == (
        1, 1, 1, 1, 0, 0, 0, 0, 0,
        d("0.000000"), d("0.000000"), None, d("0.000000"), d("0.000000"),
        0, d("0.000000"), 0, d("0.00"),
        0, 0, d("0.00"), None, d("0.00"),
        1, 0, 1, d("0.000000"), d("1.000000"),
        0, None, d("100.00"), d("-1.000000"),
    )  # fmt: skip


def test_segment_kpis_kazan_with_a_bounce_and_an_unknown_cost(kpi_warehouse: Path) -> None:
    # Members u4, u5, no holdout. June emails: u4·m1, u4·m3, u5·m1 → 3 sent; u5·m1 bounced → 2
    # delivered, 1 bounced; opened u4·m1, u4·m3 → 2; no click; u4 unsubscribed from m1.
    # open 2/2, CTR 0/2, CTO 0/2, unsubscribe 1/2, complaint 0/2.
    # Conversions: u4·m3 (o8, 3000) → 1 of 2. June orders o8 3000 + o9 700 → 2 orders, 3700,
    # buyers 2, AOV 1850, per member 1850. Nobody bought in the previous period (o11 is earlier) →
    # retention and churn null. m3 has no cost → the cost of the period is unknown → ROI null.
    expected = (
        2, 2, 3, 2, 1, 2, 0, 1, 0,
        d("1.000000"), d("0.000000"), d("0.000000"), d("0.500000"), d("0.000000"),
        1, d("0.500000"), 1, d("3000.00"),
        2, 2, d("3700.00"), d("1850.00"), d("1850.00"),
        0, 0, 0, None, None,
        0, None, None, None,
    )  # fmt: skip
    assert _segment_row(kpi_warehouse, "kazan", "all") == expected
    assert _segment_row(kpi_warehouse, "kazan", "treated") == expected


def test_segment_kpis_empty_groups_count_zero_and_have_no_rates(kpi_warehouse: Path) -> None:
    empty = (
        0, 0, 0, 0, 0, 0, 0, 0, 0,
        None, None, None, None, None,
        0, None, 0, d("0.00"),
        0, 0, d("0.00"), None, None,
        0, 0, 0, None, None,
        0, None, None, None,
    )  # fmt: skip
    assert _segment_row(kpi_warehouse, "kazan", "holdout") == empty
    for group in ("all", "treated", "holdout"):
        assert _segment_row(kpi_warehouse, "nobody", group) == empty


def test_campaign_segment_kpis_rows(kpi_warehouse: Path) -> None:
    rows = query(
        kpi_warehouse,
        f"select campaign_id, segment_key, member_group, {CAMPAIGN_COLUMNS} from marts.campaign_segment_kpis "
        "order by campaign_id, segment_key, member_group",
    )
    assert rows == [
        # m1 × kazan: u4 (delivered, opened, unsubscribed; its order went to m3) and u5 (bounced).
        # 2 sent, 1 delivered; open 1/1, CTR 0/1, CTO 0/1, unsubscribe 1/1; no conversion.
        # Cost share 600 × 2/6 = 200; ROI (0 − 200) / 200 = −1. No holdout row: no holdout members.
        ("m1", "kazan", "all", 2, 1, 1, 1, 0, 1, 0,
         d("1.000000"), d("0.000000"), d("0.000000"), d("1.000000"), d("0.000000"),
         0, d("0.000000"), 0, d("0.00"), d("600.00"), 6, d("200.00"), d("-1.000000")),
        ("m1", "kazan", "treated", 2, 1, 1, 1, 0, 1, 0,
         d("1.000000"), d("0.000000"), d("0.000000"), d("1.000000"), d("0.000000"),
         0, d("0.000000"), 0, d("0.00"), d("600.00"), 6, d("200.00"), d("-1.000000")),
        # m1 × moscow: as in segment_kpis (June = m1 only for Moscow): share 600 × 3/6 = 300, ROI 9;
        # treated 200, ROI 14; holdout 100, ROI −1.
        ("m1", "moscow", "all", 3, 3, 0, 2, 2, 0, 0,
         d("0.666667"), d("0.666667"), d("1.000000"), d("0.000000"), d("0.000000"),
         2, d("0.666667"), 2, d("3000.00"), d("600.00"), 6, d("300.00"), d("9.000000")),
        ("m1", "moscow", "holdout", 1, 1, 0, 0, 0, 0, 0,
         d("0.000000"), d("0.000000"), None, d("0.000000"), d("0.000000"),
         0, d("0.000000"), 0, d("0.00"), d("600.00"), 6, d("100.00"), d("-1.000000")),
        ("m1", "moscow", "treated", 2, 2, 0, 2, 2, 0, 0,
         d("1.000000"), d("1.000000"), d("1.000000"), d("0.000000"), d("0.000000"),
         2, d("1.000000"), 2, d("3000.00"), d("600.00"), 6, d("200.00"), d("14.000000")),
        # m2 × moscow (May; no lookback window here): u1 opened and converted (o1, 500), u2 did
        # nothing, u3 complained. open 1/3, CTR 0/3, CTO 0/1, complaint 1/3, conversion 1/3.
        # Share 300 × 3/3 = 300, ROI (500 − 300) / 300 = 0.666667; treated (u1, u2): open 1/2,
        # conversion 1/2, share 200, ROI 1.5; holdout (u3): complaint 1/1, share 100, ROI −1.
        ("m2", "moscow", "all", 3, 3, 0, 1, 0, 0, 1,
         d("0.333333"), d("0.000000"), d("0.000000"), d("0.000000"), d("0.333333"),
         1, d("0.333333"), 1, d("500.00"), d("300.00"), 3, d("300.00"), d("0.666667")),
        ("m2", "moscow", "holdout", 1, 1, 0, 0, 0, 0, 1,
         d("0.000000"), d("0.000000"), None, d("0.000000"), d("1.000000"),
         0, d("0.000000"), 0, d("0.00"), d("300.00"), 3, d("100.00"), d("-1.000000")),
        ("m2", "moscow", "treated", 2, 2, 0, 1, 0, 0, 0,
         d("0.500000"), d("0.000000"), d("0.000000"), d("0.000000"), d("0.000000"),
         1, d("0.500000"), 1, d("500.00"), d("300.00"), 3, d("200.00"), d("1.500000")),
        # m3 × kazan: u4 opened and converted (o8, 3000); the cost is unknown → share and ROI null.
        ("m3", "kazan", "all", 1, 1, 0, 1, 0, 0, 0,
         d("1.000000"), d("0.000000"), d("0.000000"), d("0.000000"), d("0.000000"),
         1, d("1.000000"), 1, d("3000.00"), None, 1, None, None),
        ("m3", "kazan", "treated", 1, 1, 0, 1, 0, 0, 0,
         d("1.000000"), d("0.000000"), d("0.000000"), d("0.000000"), d("0.000000"),
         1, d("1.000000"), 1, d("3000.00"), None, 1, None, None),
    ]  # fmt: skip


def test_orders_are_attributed_to_the_last_delivered_email_in_the_window(kpi_warehouse: Path) -> None:
    rows = query(
        kpi_warehouse,
        "select order_id, attributed_campaign_id, attributed_email_sent_at "
        "from intermediate.int_kpis__order_attribution order by ordered_at",
    )
    m1, m2, m3 = datetime(2024, 6, 1, 9), datetime(2024, 5, 20, 9), datetime(2024, 6, 2, 9)
    assert rows == [
        ("o11", None, None),
        ("o4", None, None),
        ("o1", "m2", m2),
        ("o7", None, None),
        ("o9", None, None),
        ("o12", "m1", m1),
        ("o8", "m3", m3),
        ("o2", "m1", m1),
        ("o5", "m1", m1),
        ("o6", None, None),
    ]
