"""Campaigns and the email events they cause: sent, delivered, bounced, opened, clicked, unsubscribed.

Each campaign goes to a share of the subscribers (seasonal ones to more). Opens come at the reader's
usual local hour, in their own time zone, within a few days of the send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample_data import reference as ref
from orchestration.sample_data import text
from orchestration.sample_data.archetypes import Archetype
from orchestration.sample_data.clock import DAY, HOUR, LocalClock
from orchestration.sample_data.config import GeneratorConfig
from orchestration.sample_data.customers import Profiles, customer_ids
from orchestration.sample_data.vectors import counts_per_owner, expand, group_cumsum, last_row_per_owner

CAMPAIGN_ID_WIDTH = 4
SENT, DELIVERED, OPEN, CLICK, BOUNCE, UNSUBSCRIBE, COMPLAINT = range(7)
NO_CAMPAIGN = -1

BOUNCE_RATE = 0.015
# Neither delivered nor bounced (deferred, then dropped silently).
LOST_RATE = 0.015
UNSUBSCRIBE_RATE = 0.002
COMPLAINT_RATE = 0.0005
# Lapsed spenders stop reading about two months after their last order.
LAPSED_READING_DAYS = 60
LAPSED_OPEN_FACTOR = 0.12
# Share of event rows that name the customer only by email (an ESP that does not know CRM ids).
BY_EMAIL_SHARE = 0.05
ALIAS_SHARE = 0.02

THEMES = (
    "Weekly digest",
    "New harvest coffee",
    "Tea of the month",
    "Back in stock",
    "Brewing guide",
    "Customer favourites",
    "Weekend offer",
)


@dataclass(frozen=True)
class Campaigns:
    number: np.ndarray
    sent_ts: np.ndarray
    is_email: np.ndarray
    audience: np.ndarray
    name: list[str]
    cost: np.ndarray

    def __len__(self) -> int:
        return len(self.number)


def draw_campaigns(rng: np.random.Generator, config: GeneratorConfig) -> Campaigns:
    """About one campaign a week, mid-week mornings Moscow time; some by SMS."""
    weekly = np.arange(config.start_day + int(rng.integers(1, 7)), config.end_day + 1, 7)
    days = weekly + rng.integers(0, 3, size=len(weekly))
    days = days[days <= config.end_day]
    size = len(days)
    sent_ts = days * DAY + rng.integers(7 * HOUR, 9 * HOUR, size)
    names = [_campaign_name(int(day), k) for k, day in enumerate(days, 1)]
    seasonal = np.array([not name.startswith(THEMES) for name in names], dtype=bool)
    audience = np.where(seasonal, rng.uniform(0.4, 0.55, size), rng.uniform(0.1, 0.2, size))
    is_email = seasonal | (rng.random(size) < 0.9)
    reach = audience * config.customers * 0.6
    per_message = np.where(is_email, 0.35, 2.8)
    cost = np.rint((1500 + reach * per_message * rng.uniform(0.9, 1.1, size)) * 100) / 100
    return Campaigns(np.arange(1, size + 1), sent_ts, is_email, audience, names, cost)


def _campaign_name(day: int, number: int) -> str:
    when = date(1970, 1, 1) + timedelta(days=day)
    month, dom, year = when.month, when.day, when.year
    if month == 11 and dom >= 20:
        return f"Black Friday {year}"
    if month == 12 and dom <= 28:
        return f"New Year gifts {year}"
    if month == 2 and 12 <= dom <= 23:
        return f"23 February gifts {year}"
    if (month == 2 and dom > 23) or (month == 3 and dom <= 7):
        return f"8 March gifts {year}"
    return f"{THEMES[number % len(THEMES)]} #{number}"


def campaign_ids(numbers: np.ndarray) -> pa.Array:
    """Ids of campaign numbers (1-based; the row index in Campaigns plus one)."""
    return text.join("K", text.integers(numbers, CAMPAIGN_ID_WIDTH))


def campaigns_table(campaigns: Campaigns) -> pa.Table:
    kopecks = np.rint(campaigns.cost * 100).astype(np.int64)
    return pa.table(
        {
            "campaign_id": campaign_ids(campaigns.number),
            "name": pa.array(campaigns.name, pa.string()),
            "channel": text.pick(("sms", "email"), campaigns.is_email.astype(np.int64)),
            "sent_at": text.timestamps(campaigns.sent_ts),
            "cost": text.join(text.integers(kopecks // 100), ".", text.integers(kopecks % 100, 2)),
        }
    )


@dataclass(frozen=True)
class EmailEvents:
    owner: np.ndarray
    campaign: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    # Per customer: when they opted out of email (-1 if they did not).
    opt_out_ts: np.ndarray

    def __len__(self) -> int:
        return len(self.owner)


@dataclass(frozen=True)
class _Sends:
    owner: np.ndarray
    campaign: np.ndarray
    ts: np.ndarray

    def take(self, mask: np.ndarray) -> _Sends:
        return _Sends(self.owner[mask], self.campaign[mask], self.ts[mask])


def draw_email_events(
    rng: np.random.Generator,
    profiles: Profiles,
    created_ts: np.ndarray,
    campaigns: Campaigns,
    config: GeneratorConfig,
    clock: LocalClock,
) -> EmailEvents:
    sends = _draw_sends(rng, profiles, created_ts, campaigns, config)
    size = len(sends.owner)
    outcome = rng.random(size)
    bounced = outcome < BOUNCE_RATE
    delivered = outcome >= BOUNCE_RATE + LOST_RATE
    sends, (bounced, delivered), stop_kind = _stop_after_opt_out(rng, profiles, sends, bounced, delivered)
    sends, (bounced, delivered, stop_kind) = _cut_leavers(profiles, sends, (bounced, delivered, stop_kind))
    size = len(sends.owner)
    owner = sends.owner
    opened = delivered & (rng.random(size) < _open_probability(profiles, sends))
    clicked = opened & (rng.random(size) < profiles.click_rate[owner])

    delivered_ts = sends.ts + rng.integers(1, 90, size)
    open_ts = _open_times(rng, profiles, sends.ts, owner, clock)
    click_ts = open_ts + np.clip(rng.lognormal(4.0, 1.0, size), 5, 1800).astype(np.int64)
    reacted_ts = np.where(opened, open_ts, delivered_ts)
    unsubscribed = _leaver_unsubscribes(rng, profiles, sends, delivered, reacted_ts, config, clock)
    stop_ts = reacted_ts + np.where(
        stop_kind == UNSUBSCRIBE, rng.integers(30, 3600, size), rng.integers(600, DAY, size)
    )

    parts = [
        (np.ones(size, bool), SENT, sends.ts),
        (delivered, DELIVERED, delivered_ts),
        (bounced, BOUNCE, sends.ts + rng.integers(1, 300, size)),
        (opened, OPEN, open_ts),
        (clicked, CLICK, click_ts),
        (stop_kind >= 0, stop_kind, stop_ts),
    ]
    owners = [owner[mask] for mask, _, _ in parts] + [unsubscribed.owner]
    campaign = [sends.campaign[mask] for mask, _, _ in parts] + [unsubscribed.campaign]
    kinds = [np.broadcast_to(kind, size)[mask] for mask, kind, _ in parts] + [
        np.full(len(unsubscribed.owner), UNSUBSCRIBE)
    ]
    times = [ts[mask] for mask, _, ts in parts] + [unsubscribed.ts]
    owner_all, campaign_all = np.concatenate(owners), np.concatenate(campaign)
    kind_all, ts_all = np.concatenate(kinds).astype(np.int64), np.concatenate(times)
    # An export taken at the end date holds nothing that happened after it.
    visible = ts_all <= config.end_ts
    order = np.argsort(ts_all[visible], kind="stable")
    owner_all, campaign_all = owner_all[visible][order], campaign_all[visible][order]
    kind_all, ts_all = kind_all[visible][order], ts_all[visible][order]
    opt_out = np.full(len(profiles), -1, dtype=np.int64)
    unsubscribing = kind_all == UNSUBSCRIBE
    opt_out[owner_all[unsubscribing]] = ts_all[unsubscribing]
    return EmailEvents(owner_all, campaign_all, kind_all, ts_all, opt_out)


def _draw_sends(
    rng: np.random.Generator,
    profiles: Profiles,
    created_ts: np.ndarray,
    campaigns: Campaigns,
    config: GeneratorConfig,
) -> _Sends:
    email_campaigns = np.flatnonzero(campaigns.is_email)
    campaign_ts = campaigns.sent_ts[email_campaigns]
    unsubscribe_day = profiles.timeline.unsubscribe_day
    last_ts = np.where(unsubscribe_day >= 0, unsubscribe_day * DAY + 12 * HOUR, config.end_ts)
    first = np.searchsorted(campaign_ts, created_ts + DAY, side="left")
    last = np.searchsorted(campaign_ts, last_ts, side="right")
    counts = np.clip(last - first, 0, None) * profiles.receives_email
    owner, rank = expand(counts)
    campaign = first[owner] + rank
    chosen = rng.random(len(owner)) < campaigns.audience[email_campaigns][campaign]
    owner, campaign = owner[chosen], campaign[chosen]
    # A platform sends in batches over the best part of an hour.
    ts = campaign_ts[campaign] + rng.integers(0, 2400, len(owner))
    return _Sends(owner, email_campaigns[campaign], ts)


def _stop_after_opt_out(
    rng: np.random.Generator, profiles: Profiles, sends: _Sends, bounced: np.ndarray, delivered: np.ndarray
) -> tuple[_Sends, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Random unsubscribes and complaints; nothing is sent to that customer afterwards."""
    size = len(sends.owner)
    draw = rng.random(size)
    # Unsubscriber archetypes leave on their own schedule (_unsubscribe_leavers).
    eligible = delivered & (profiles.archetype[sends.owner] != Archetype.UNSUBSCRIBER)
    kind = np.where(
        eligible & (draw < UNSUBSCRIBE_RATE),
        UNSUBSCRIBE,
        np.where(eligible & (draw > 1 - COMPLAINT_RATE), COMPLAINT, -1),
    )
    stopped = (kind >= 0).astype(np.int64)
    counts = counts_per_owner(sends.owner, len(profiles))
    before = group_cumsum(stopped, counts) - stopped
    keep = before == 0
    return sends.take(keep), (bounced[keep], delivered[keep]), kind[keep]


def _last_delivered_to_leavers(profiles: Profiles, sends: _Sends, delivered: np.ndarray) -> np.ndarray:
    """Per customer, the row of the last email delivered to an unsubscriber (-1 otherwise)."""
    leaver = profiles.archetype == Archetype.UNSUBSCRIBER
    rows = np.flatnonzero(delivered & leaver[sends.owner])
    last = last_row_per_owner(sends.owner[rows], len(profiles))
    return np.where(last >= 0, rows[np.clip(last, 0, None)], -1)


def _cut_leavers(
    profiles: Profiles, sends: _Sends, flags: tuple[np.ndarray, ...]
) -> tuple[_Sends, tuple[np.ndarray, ...]]:
    """Unsubscribers leave from the last email delivered to them: nothing is sent after it."""
    last = _last_delivered_to_leavers(profiles, sends, flags[1])
    cutoff = np.full(len(profiles), np.iinfo(np.int64).max)
    cutoff[last >= 0] = sends.ts[last[last >= 0]]
    keep = sends.ts <= cutoff[sends.owner]
    return sends.take(keep), tuple(flag[keep] for flag in flags)


def _leaver_unsubscribes(
    rng: np.random.Generator,
    profiles: Profiles,
    sends: _Sends,
    delivered: np.ndarray,
    reacted_ts: np.ndarray,
    config: GeneratorConfig,
    clock: LocalClock,
) -> _Sends:
    """The unsubscribe link in the last email, soon after opening it; or the preference centre."""
    last = _last_delivered_to_leavers(profiles, sends, delivered)
    with_email = np.flatnonzero(last >= 0)
    rows = last[with_email]
    from_email = reacted_ts[rows] + rng.integers(30, 2 * HOUR, len(with_email))
    leaver = profiles.archetype == Archetype.UNSUBSCRIBER
    without_email = np.flatnonzero(leaver & (last < 0))
    local = profiles.timeline.unsubscribe_day[without_email] * DAY
    local += rng.integers(9 * HOUR, 23 * HOUR, len(without_email))
    from_centre = clock.to_utc(local, profiles.tz[without_email])
    return _Sends(
        np.concatenate([with_email, without_email]),
        np.concatenate([sends.campaign[rows], np.full(len(without_email), NO_CAMPAIGN)]),
        # The export is taken at the end date; a leaver's unsubscribe is in it.
        np.minimum(np.concatenate([from_email, from_centre]), config.end_ts),
    )


def _open_probability(profiles: Profiles, sends: _Sends) -> np.ndarray:
    rate = profiles.open_rate[sends.owner]
    churn_ts = (profiles.timeline.churn_day[sends.owner] + LAPSED_READING_DAYS) * DAY
    lapsed = profiles.archetype[sends.owner] == Archetype.LAPSED_BIG_SPENDER
    return np.where(lapsed & (sends.ts > churn_ts), rate * LAPSED_OPEN_FACTOR, rate)


def _open_times(
    rng: np.random.Generator, profiles: Profiles, sent_ts: np.ndarray, owner: np.ndarray, clock: LocalClock
) -> np.ndarray:
    """Opens cluster around each reader's usual local hour, on the day of the send or a few days later."""
    size = len(sent_ts)
    tz = profiles.tz[owner]
    local_sent = clock.to_local(sent_ts, tz)
    delay = rng.choice(4, size=size, p=[0.55, 0.25, 0.12, 0.08])
    minute = np.clip(rng.normal(0, 40 * 60, size), -3 * HOUR, 3 * HOUR).astype(np.int64)
    local_open = (local_sent // DAY + delay) * DAY + profiles.open_hour[owner] * HOUR + minute
    local_open = np.where(local_open < local_sent + 120, local_open + DAY, local_open)
    return clock.to_utc(local_open, tz)


def email_events_table(rng: np.random.Generator, events: EmailEvents, profiles: Profiles) -> pa.Table:
    size = len(events)
    by_email = rng.random(size) < BY_EMAIL_SHARE
    canonical = text.pick(ref.EVENT_TYPES, events.kind)
    alias = text.pick(ref.EVENT_TYPE_ALIASES, events.kind)
    campaign = campaign_ids(np.clip(events.campaign, 0, None) + 1)
    return pa.table(
        {
            "customer_id": text.blank_where(customer_ids(profiles.number[events.owner]), by_email),
            "email": text.blank_where(profiles.email_clean.take(pa.array(events.owner)), ~by_email),
            "campaign_id": text.blank_where(campaign, events.campaign == NO_CAMPAIGN),
            "event_type": pc.if_else(pa.array(rng.random(size) < ALIAS_SHARE), alias, canonical),
            "occurred_at": text.timestamps(events.ts),
        }
    )
