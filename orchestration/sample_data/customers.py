"""Customer profiles (who they are, where, how they read email) and the customers table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample_data import reference as ref
from orchestration.sample_data import text
from orchestration.sample_data.archetypes import NO_DAY, Archetype, Timeline
from orchestration.sample_data.clock import DAY, HOUR, LocalClock
from orchestration.sample_data.config import GeneratorConfig

CUSTOMER_ID_WIDTH = 7
LEAD_STATUSES = ("new", "in_work", "refused", "junk")


class EmailKind(IntEnum):
    VALID = 0
    MIXED_CASE = 1
    # Mixed case with surrounding spaces: still a good address once trimmed and lower-cased.
    PADDED = 2
    MALFORMED = 3
    MISSING = 4


EMAIL_KIND_SHARES = {
    EmailKind.VALID: 0.88,
    EmailKind.MIXED_CASE: 0.05,
    EmailKind.PADDED: 0.015,
    EmailKind.MALFORMED: 0.01,
    EmailKind.MISSING: 0.045,
}
RECEIVING_KINDS = (EmailKind.VALID, EmailKind.MIXED_CASE, EmailKind.PADDED)


@dataclass(frozen=True)
class NamePools:
    first_cyrillic: pa.Array
    first_latin: pa.Array
    # Offsets and sizes of the male RU, female RU, male KZ, female KZ first-name pools.
    first_offset: np.ndarray
    first_size: np.ndarray
    last_cyrillic: dict[bool, pa.Array]
    last_latin: dict[bool, pa.Array]
    ru_surnames: int
    kz_surnames: int


def _name_pools() -> NamePools:
    pools = (ref.RU_MALE_FIRST, ref.RU_FEMALE_FIRST, ref.KZ_MALE_FIRST, ref.KZ_FEMALE_FIRST)
    first = [name for pool in pools for name in pool]
    sizes = np.array([len(pool) for pool in pools])
    surnames = ref.RU_SURNAMES + ref.KZ_SURNAMES
    by_gender = {False: surnames, True: [ref.feminine_surname(name) for name in surnames]}
    return NamePools(
        first_cyrillic=pa.array(first),
        first_latin=pa.array([ref.transliterate(name) for name in first]),
        first_offset=np.cumsum(sizes) - sizes,
        first_size=sizes,
        last_cyrillic={female: pa.array(names) for female, names in by_gender.items()},
        last_latin={
            female: pa.array([ref.transliterate(n) for n in names]) for female, names in by_gender.items()
        },
        ru_surnames=len(ref.RU_SURNAMES),
        kz_surnames=len(ref.KZ_SURNAMES),
    )


NAMES = _name_pools()


@dataclass(frozen=True)
class Profiles:
    number: np.ndarray
    timeline: Timeline
    city: np.ndarray
    tz: np.ndarray
    is_kz: np.ndarray
    female: np.ndarray
    first_name: pa.Array
    last_name: pa.Array
    first_latin: pa.Array
    last_latin: pa.Array
    birth_day: np.ndarray
    spend: np.ndarray
    pays_kzt: np.ndarray
    order_channel: np.ndarray
    email_kind: np.ndarray
    # As the CRM holds it, and as a mail platform would (trimmed, lower case; null when unusable).
    email: pa.Array
    email_clean: pa.Array
    subscribed: np.ndarray
    open_rate: np.ndarray
    click_rate: np.ndarray
    # Local hour the customer usually reads mail.
    open_hour: np.ndarray
    lead_status: np.ndarray

    def __len__(self) -> int:
        return len(self.number)

    @property
    def archetype(self) -> np.ndarray:
        return self.timeline.archetype

    @property
    def receives_email(self) -> np.ndarray:
        return self.subscribed & np.isin(self.email_kind, RECEIVING_KINDS)


def customer_ids(numbers: np.ndarray) -> pa.Array:
    return text.join("C", text.integers(numbers, CUSTOMER_ID_WIDTH))


def draw_profiles(rng: np.random.Generator, numbers: np.ndarray, timeline: Timeline) -> Profiles:
    size = len(numbers)
    archetype = timeline.archetype
    weights = np.array([city.weight for city in ref.CITIES])
    city = rng.choice(len(ref.CITIES), size=size, p=weights / weights.sum())
    tz = np.array([ref.TIMEZONES.index(c.timezone) for c in ref.CITIES])[city]
    is_kz = np.array([c.country == "KZ" for c in ref.CITIES])[city]
    female = rng.random(size) < 0.58
    names = _draw_names(rng, is_kz, female)
    birth_day = _draw_birth_days(rng, timeline)
    email_kind = _draw_email_kinds(rng, archetype)
    email, email_clean = _draw_emails(rng, names[2], names[3], is_kz, birth_day, email_kind)
    spend = rng.lognormal(0.0, 0.35, size) * np.where(archetype == Archetype.LAPSED_BIG_SPENDER, 1.8, 1.0)
    return Profiles(
        number=numbers,
        timeline=timeline,
        city=city,
        tz=tz,
        is_kz=is_kz,
        female=female,
        first_name=names[0],
        last_name=names[1],
        first_latin=names[2],
        last_latin=names[3],
        birth_day=birth_day,
        spend=spend,
        pays_kzt=is_kz & (rng.random(size) < 0.85),
        order_channel=rng.choice(len(ref.ORDER_CHANNELS), size=size, p=ref.ORDER_CHANNEL_WEIGHTS),
        email_kind=email_kind,
        email=email,
        email_clean=email_clean,
        subscribed=_draw_subscribed(rng, archetype),
        open_rate=_draw_open_rates(rng, archetype),
        click_rate=rng.beta(2.0, 11.0, size),
        open_hour=rng.choice(
            np.array([7, 8, 9, 10, 12, 13, 14, 18, 19, 20, 21, 22]),
            size=size,
            p=np.array([6, 10, 8, 5, 8, 8, 4, 6, 9, 11, 14, 11]) / 100,
        ),
        lead_status=_draw_lead_statuses(rng, timeline),
    )


def _draw_names(
    rng: np.random.Generator, is_kz: np.ndarray, female: np.ndarray
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    size = len(is_kz)
    kazakh_name = is_kz & (rng.random(size) < 0.7)
    pool = female.astype(np.int64) + 2 * kazakh_name
    first = NAMES.first_offset[pool] + np.floor(rng.random(size) * NAMES.first_size[pool]).astype(np.int64)
    last = np.where(
        kazakh_name,
        NAMES.ru_surnames + rng.integers(0, NAMES.kz_surnames, size),
        rng.integers(0, NAMES.ru_surnames, size),
    )
    first_index, last_index = pa.array(first), pa.array(last)
    first_cyr, first_lat = NAMES.first_cyrillic.take(first_index), NAMES.first_latin.take(first_index)
    female_mask = pa.array(female)
    last_cyr = pc.if_else(
        female_mask, NAMES.last_cyrillic[True].take(last_index), NAMES.last_cyrillic[False].take(last_index)
    )
    last_lat = pc.if_else(
        female_mask, NAMES.last_latin[True].take(last_index), NAMES.last_latin[False].take(last_index)
    )
    # A quarter of the CRM rows hold the name as typed in Latin letters.
    latin = pa.array(rng.random(size) < 0.25)
    return pc.if_else(latin, first_lat, first_cyr), pc.if_else(latin, last_lat, last_cyr), first_lat, last_lat


def _draw_birth_days(rng: np.random.Generator, timeline: Timeline) -> np.ndarray:
    size = len(timeline.archetype)
    anchor = np.where(timeline.is_buyer, timeline.first_day, timeline.signup_day)
    age_days = (rng.triangular(18, 30, 72, size) * 365.25).astype(np.int64)
    known = rng.random(size) < 0.72
    return np.where(known, anchor - age_days, NO_DAY)


def _draw_email_kinds(rng: np.random.Generator, archetype: np.ndarray) -> np.ndarray:
    kinds = np.array(list(EMAIL_KIND_SHARES), dtype=np.int8)
    shares = np.array(list(EMAIL_KIND_SHARES.values()))
    drawn = rng.choice(kinds, size=len(archetype), p=shares / shares.sum())
    # An unsubscriber must have had a working address to unsubscribe from.
    drawn = np.where(archetype == Archetype.UNSUBSCRIBER, np.int8(EmailKind.VALID), drawn)
    # Even a small sample shows each kind of bad address once.
    others = np.flatnonzero(archetype != Archetype.UNSUBSCRIBER)
    for kind in (EmailKind.MALFORMED, EmailKind.PADDED):
        if len(others) and not np.any(drawn == kind):
            drawn[rng.choice(others)] = kind
    return drawn


def _draw_emails(
    rng: np.random.Generator,
    first_latin: pa.Array,
    last_latin: pa.Array,
    is_kz: np.ndarray,
    birth_day: np.ndarray,
    kind: np.ndarray,
) -> tuple[pa.Array, pa.Array]:
    size = len(kind)
    first, last = pc.utf8_lower(first_latin), pc.utf8_lower(last_latin)
    year = np.where(birth_day != NO_DAY, (birth_day // 365.25 + 1970) % 100, rng.integers(0, 100, size))
    two_digits, number = text.integers(year, 2), text.integers(rng.integers(1, 1000, size))
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    local = pc.choose(
        pa.array(rng.choice(8, size=size, p=[0.3, 0.08, 0.12, 0.1, 0.12, 0.12, 0.08, 0.08])),
        text.join(first, ".", last),
        text.join(first, "_", last),
        text.join(initial, ".", last),
        text.join(last, ".", first),
        text.join(first, last, two_digits),
        text.join(first, ".", last, number),
        text.join(last, number),
        text.join(first, two_digits),
    )
    domain = pc.if_else(pa.array(is_kz), _domains(rng, "KZ", size), _domains(rng, "RU", size))
    clean = text.join(local, "@", domain)
    mixed = text.join(pc.utf8_capitalize(local), "@", pc.utf8_capitalize(domain))
    padded = text.join("  ", pc.utf8_capitalize(local), "@", pc.utf8_upper(domain), " ")
    malformed = _malformed(rng, local, domain)
    written = pc.choose(pa.array(kind), clean, mixed, padded, malformed, pa.nulls(size, pa.string()))
    usable = pa.array(np.isin(kind, RECEIVING_KINDS))
    return written, pc.if_else(usable, clean, pa.scalar(None, pa.string()))


def _domains(rng: np.random.Generator, country: str, size: int) -> pa.Array:
    return text.choose_weighted(rng, ref.EMAIL_DOMAINS[country], ref.EMAIL_DOMAIN_WEIGHTS[country], size)


def _malformed(rng: np.random.Generator, local: pa.Array, domain: pa.Array) -> pa.Array:
    """The typos that reach a CRM: no @, a doubled @, no top-level domain, a space, a comma for a dot."""
    size = len(local)
    without_tld = pc.utf8_slice_codeunits(domain, 0, -3)
    return pc.choose(
        pa.array(rng.integers(0, 5, size)),
        text.join(local, ".", domain),
        text.join(local, "@@", domain),
        text.join(local, "@", pc.replace_substring(without_tld, ".", "")),
        text.join(pc.replace_substring(local, ".", " "), "@", domain),
        text.join(local, "@", pc.replace_substring(domain, ".", ",")),
    )


def _draw_subscribed(rng: np.random.Generator, archetype: np.ndarray) -> np.ndarray:
    share = np.where(archetype == Archetype.LEAD, 0.72, 0.84)
    return (archetype == Archetype.UNSUBSCRIBER) | (rng.random(len(archetype)) < share)


def _draw_open_rates(rng: np.random.Generator, archetype: np.ndarray) -> np.ndarray:
    rate = rng.beta(2.0, 5.5, len(archetype))
    habitual = np.isin(archetype, (Archetype.MONTHLY_REGULAR, Archetype.CYCLE_30D))
    rate = np.where(habitual, rate * 1.3, rate)
    rate = np.where(archetype == Archetype.LEAD, rate * 0.8, rate)
    return np.clip(rate, 0.0, 0.95)


def _draw_lead_statuses(rng: np.random.Generator, timeline: Timeline) -> np.ndarray:
    """Index into LEAD_STATUSES for customers who never bought, -1 for buyers and blank statuses."""
    size = len(timeline.archetype)
    status = rng.choice(4, size=size, p=[0.4, 0.25, 0.2, 0.15])
    # Someone who later unsubscribes was not written off as junk before.
    status = np.where(timeline.archetype == Archetype.UNSUBSCRIBER, status % 2, status)
    blank = rng.random(size) < 0.08
    return np.where(timeline.is_buyer | blank, -1, status)


def signup_times(
    rng: np.random.Generator,
    profiles: Profiles,
    first_order_ts: np.ndarray,
    clock: LocalClock,
    config: GeneratorConfig,
) -> np.ndarray:
    """created_at: just before the first order (often at checkout), or on the sign-up day."""
    size = len(profiles)
    local_time = rng.integers(8 * HOUR, 23 * HOUR, size)
    signup = clock.to_utc(profiles.timeline.signup_day * DAY + local_time, profiles.tz)
    at_checkout = rng.random(size) < 0.45
    lead_time = np.where(
        at_checkout, rng.integers(60, 1800, size), (rng.exponential(12.0, size) * DAY).astype(np.int64) + 1800
    )
    before_order = np.maximum(first_order_ts - lead_time, config.start_ts)
    return np.where(profiles.timeline.is_buyer, np.minimum(before_order, first_order_ts), signup)


def update_times(
    rng: np.random.Generator,
    created_ts: np.ndarray,
    last_order_ts: np.ndarray,
    opt_out_ts: np.ndarray,
    config: GeneratorConfig,
) -> np.ndarray:
    """updated_at: the last time the record changed (an edit, an order, an opt-out)."""
    edited = created_ts + ((config.end_ts - created_ts) * rng.random(len(created_ts)) * 0.6).astype(np.int64)
    latest = np.maximum.reduce([edited, last_order_ts + 120, opt_out_ts + 30])
    return np.minimum(np.maximum(latest, created_ts), config.end_ts)


def customers_table(
    rng: np.random.Generator,
    profiles: Profiles,
    created_ts: np.ndarray,
    updated_ts: np.ndarray,
    opted_out: np.ndarray,
    clock: LocalClock,
) -> pa.Table:
    size = len(profiles)
    cities = ref.CITIES
    city_index = pa.array(profiles.city)
    native_city = pa.array(rng.random(size) < 0.08)
    city = pc.if_else(
        native_city,
        pa.array([c.native_name for c in cities]).take(city_index),
        pa.array([c.name for c in cities]).take(city_index),
    )
    opt_in = profiles.subscribed & ~opted_out
    columns = {
        "customer_id": customer_ids(profiles.number),
        "email": profiles.email,
        "phone": _phones(rng, profiles.is_kz),
        "first_name": profiles.first_name,
        "last_name": profiles.last_name,
        "gender": _genders(rng, profiles.female),
        "birth_date": text.blank_where(text.dates(profiles.birth_day), profiles.birth_day == NO_DAY),
        "city": city,
        "region": pa.array([c.region for c in cities]).take(city_index),
        "country": pa.array([c.country for c in cities]).take(city_index),
        "timezone": text.blank_where(
            pa.array(ref.TIMEZONES).take(pa.array(profiles.tz)), rng.random(size) < 0.02
        ),
        "acquisition_channel": _acquisition(rng, profiles.timeline),
        "lead_status": _lead_statuses(rng, profiles.lead_status),
        "email_opt_in": _spelled_booleans(rng, opt_in),
        "created_at": _crm_timestamps(rng, created_ts, profiles.tz, clock),
        "updated_at": _crm_timestamps(rng, updated_ts, profiles.tz, clock),
    }
    return pa.table(columns)


def _phones(rng: np.random.Generator, is_kz: np.ndarray) -> pa.Array:
    size = len(is_kz)
    kz_codes = np.array([700, 701, 702, 705, 707, 747, 771, 775, 777, 778])
    code = np.where(is_kz, kz_codes[rng.integers(0, len(kz_codes), size)], rng.integers(900, 1000, size))
    subscriber = rng.integers(0, 10_000_000, size)
    code_text, head = text.integers(code, 3), text.integers(subscriber // 10_000, 3)
    pair_one, pair_two = text.integers(subscriber // 100 % 100, 2), text.integers(subscriber % 100, 2)
    digits = text.join(code_text, head, pair_one, pair_two)
    # The same number as different systems and people type it.
    phone = pc.choose(
        pa.array(rng.choice(4, size=size, p=[0.45, 0.2, 0.25, 0.1])),
        text.join("+7", digits),
        text.join("8", digits),
        text.join("+7 (", code_text, ") ", head, "-", pair_one, "-", pair_two),
        text.join("8 ", code_text, " ", head, "-", pair_one, "-", pair_two),
    )
    return text.blank_where(phone, rng.random(size) < 0.12)


def _genders(rng: np.random.Generator, female: np.ndarray) -> pa.Array:
    size = len(female)
    weights = ref.GENDER_SPELLING_WEIGHTS
    male = text.choose_weighted(rng, ref.GENDER_SPELLINGS["male"], weights, size)
    woman = text.choose_weighted(rng, ref.GENDER_SPELLINGS["female"], weights, size)
    return text.blank_where(pc.if_else(pa.array(female), woman, male), rng.random(size) < 0.07)


def _acquisition(rng: np.random.Generator, timeline: Timeline) -> pa.Array:
    size = len(timeline.archetype)
    buyer = text.choose_weighted(rng, ref.BUYER_ACQUISITION, ref.BUYER_ACQUISITION_WEIGHTS, size)
    lead = text.choose_weighted(rng, ref.LEAD_ACQUISITION, ref.LEAD_ACQUISITION_WEIGHTS, size)
    return pc.if_else(pa.array(timeline.is_buyer), buyer, lead)


def _lead_statuses(rng: np.random.Generator, status: np.ndarray) -> pa.Array:
    spellings = [spelling for name in LEAD_STATUSES for spelling in ref.LEAD_STATUS_SPELLINGS[name]]
    variant = rng.choice(3, size=len(status), p=ref.LEAD_STATUS_SPELLING_WEIGHTS)
    written = text.pick(spellings, np.clip(status, 0, None) * 3 + variant)
    return text.blank_where(written, status < 0)


def _spelled_booleans(rng: np.random.Generator, values: np.ndarray) -> pa.Array:
    size = len(values)
    weights = ref.OPT_IN_SPELLING_WEIGHTS
    yes = text.choose_weighted(rng, ref.OPT_IN_SPELLINGS[True], weights, size)
    no = text.choose_weighted(rng, ref.OPT_IN_SPELLINGS[False], weights, size)
    return pc.if_else(pa.array(values), yes, no)


def _crm_timestamps(
    rng: np.random.Generator, utc_seconds: np.ndarray, tz: np.ndarray, clock: LocalClock
) -> pa.Array:
    """Mostly plain UTC; some rows ISO 8601 with a Z, some in local time with the zone's offset."""
    offset = clock.offset(utc_seconds, tz)
    plain = text.timestamps(utc_seconds)
    iso_utc = text.join(pc.replace_substring(plain, " ", "T"), "Z")
    local = text.join(text.timestamps(utc_seconds + offset), text.utc_offsets(offset))
    style = rng.choice(3, size=len(utc_seconds), p=[0.9, 0.05, 0.05])
    return pc.choose(pa.array(style), plain, iso_utc, local)
