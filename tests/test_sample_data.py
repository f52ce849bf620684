"""The sample-data generator: deterministic, on the raw contract, archetypes that behave, dirt that shows."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from orchestration.landing import land_raw_files
from orchestration.raw_contract import RAW_TABLES_BY_NAME
from orchestration.sample_data import ARCHETYPE_NAMES, GenerationReport, GeneratorConfig, generate
from orchestration.sample_data.__main__ import main
from orchestration.sample_data.generator import TABLES
from orchestration.settings import PROJECT_DIR

N = 300
SEED = 7
END = pd.Timestamp("2026-11-20 23:59:59")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
VALID_EMAIL = re.compile(r"[^@ ]+@[^@ ]+[.][^@ .]{2,}")


def _seed(name: str) -> pd.DataFrame:
    return pd.read_csv(PROJECT_DIR / "seeds" / f"{name}.csv", dtype=str)


def _config(out: Path, **changes: object) -> GeneratorConfig:
    settings: dict[str, object] = {"customers": N, "seed": SEED, "out_dir": out, "truth": True}
    settings.update(changes)
    return GeneratorConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("sample")
    return out, generate(_config(out))


@pytest.fixture(scope="module")
def raw(sample: tuple[Path, GenerationReport]) -> dict[str, pd.DataFrame]:
    out, _report = sample
    tables = {name: pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False) for name in TABLES}
    tables["truth"] = pd.read_csv(out / "_truth" / "customers_archetype.csv", dtype=str)
    return tables


@pytest.fixture(scope="module")
def clean_orders(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The orders the staging would keep and count (no dirty copies, nothing after the end date)."""
    orders = raw["orders"].copy()
    orders["ts"] = pd.to_datetime(orders["ordered_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    orders["amount_value"] = pd.to_numeric(orders["amount"], errors="coerce")
    statuses = set(_seed("order_status_map")["raw_status"]) | {""}
    currencies = set(_seed("currency_rates")["currency"]) | {"RUR", ""}
    usable = (
        orders["order_id"].ne("")
        & orders["customer_id"].isin(raw["truth"]["customer_id"])
        & orders["ts"].le(END)
        & orders["amount_value"].ge(0)
        & orders["status"].str.lower().isin(statuses)
        & orders["currency"].str.upper().isin(currencies)
    )
    orders = orders[usable].drop_duplicates("order_id")
    archetype = dict(zip(raw["truth"]["customer_id"], raw["truth"]["archetype"], strict=True))
    orders = orders.assign(archetype=orders["customer_id"].map(archetype)).sort_values(["customer_id", "ts"])
    return orders.assign(gap_days=orders.groupby("customer_id")["ts"].diff().dt.total_seconds() / 86_400)


def _members(raw: dict[str, pd.DataFrame], archetype: str) -> set[str]:
    truth = raw["truth"]
    return set(truth.loc[truth["archetype"] == archetype, "customer_id"])


def _events_by_customer(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Email events with the customer resolved the way the staging does (id, else cleaned email)."""
    customers = raw["customers"].drop_duplicates("customer_id", keep="last")
    by_email = dict(zip(customers["email"].str.strip().str.lower(), customers["customer_id"], strict=True))
    events = raw["email_events"]
    resolved = events["customer_id"].where(
        events["customer_id"].ne(""), events["email"].str.strip().str.lower().map(by_email)
    )
    event_map = _seed("email_event_type_map")
    kind = (
        events["event_type"]
        .str.lower()
        .map(dict(zip(event_map["raw_event_type"], event_map["event_type"], strict=True)))
    )
    return events.assign(
        customer=resolved, kind=kind, ts=pd.to_datetime(events["occurred_at"], errors="coerce")
    )


# --- determinism and format --------------------------------------------------------------------------


def test_same_seed_writes_identical_bytes(sample: tuple[Path, GenerationReport], tmp_path: Path) -> None:
    out, _report = sample
    generate(_config(tmp_path))
    for name in [f"{table}.csv" for table in TABLES] + ["_truth/customers_archetype.csv"]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_another_seed_writes_other_data(sample: tuple[Path, GenerationReport], tmp_path: Path) -> None:
    out, _report = sample
    generate(_config(tmp_path, seed=SEED + 1, truth=False))
    for table in TABLES:
        assert (tmp_path / f"{table}.csv").read_bytes() != (out / f"{table}.csv").read_bytes(), table
    assert not (tmp_path / "_truth").exists()


def test_files_have_exactly_the_contract_columns_in_order(sample: tuple[Path, GenerationReport]) -> None:
    out, _report = sample
    for table in (RAW_TABLES_BY_NAME[name] for name in TABLES):
        header = (out / f"{table.name}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert tuple(header.split(",")) == table.columns
    assert sorted(path.name for path in out.iterdir()) == ["_truth"] + sorted(f"{t}.csv" for t in TABLES)


def test_report_counts_the_rows_written(
    sample: tuple[Path, GenerationReport], raw: dict[str, pd.DataFrame]
) -> None:
    _out, report = sample
    assert report.rows == {name: len(raw[name]) for name in TABLES}
    assert sum(report.archetype_counts.values()) == N
    assert len(raw["truth"]) == N and raw["truth"]["customer_id"].is_unique


def test_parquet_holds_the_same_values_and_lands(
    sample: tuple[Path, GenerationReport], raw: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    out, _report = sample
    generate(_config(tmp_path, output_format="parquet", truth=False))
    for table in (RAW_TABLES_BY_NAME[name] for name in TABLES):
        from_parquet = pq.read_table(tmp_path / f"{table.name}.parquet").to_pandas().fillna("")
        from_csv = pd.read_csv(out / f"{table.name}.csv", dtype=str, keep_default_na=False)
        assert tuple(from_parquet.columns) == table.columns
        pd.testing.assert_frame_equal(from_parquet.astype(str), from_csv.astype(str), check_dtype=False)
    with duckdb.connect() as con:
        landed = land_raw_files(con, tmp_path)
    assert all(not table.warnings for table in landed)
    # The generator writes the shop's exports; the optional reference tables land empty.
    assert {table.name: table.rows for table in landed} == {
        **{name: len(raw[name]) for name in TABLES},
        "currency_rates": 0,
        "order_status_map": 0,
    }


def test_timestamps_are_utc_text_inside_the_period(
    raw: dict[str, pd.DataFrame], clean_orders: pd.DataFrame
) -> None:
    assert raw["campaigns"]["sent_at"].str.fullmatch(TIMESTAMP).all()
    assert clean_orders["ts"].between(pd.Timestamp("2023-01-01"), END).all()
    events = raw["email_events"]["occurred_at"]
    # Everything else is a dirty row on purpose (a Russian-style date).
    assert events.str.fullmatch(TIMESTAMP).mean() > 0.99
    created = raw["customers"]["created_at"]
    assert created.str.fullmatch(TIMESTAMP).mean() > 0.8
    assert created.str.endswith("Z").any() and created.str.contains(r"\+0[2-9]:00$").any()


def test_chunks_continue_the_ids(tmp_path: Path) -> None:
    report = generate(_config(tmp_path, chunk_size=70, truth=False))
    customers = pd.read_csv(tmp_path / "customers.csv", dtype=str, keep_default_na=False)
    orders = pd.read_csv(tmp_path / "orders.csv", dtype=str, keep_default_na=False)
    ids = customers.loc[customers["customer_id"].ne(""), "customer_id"].unique()
    assert len(ids) == N and ids.min() == "C0000001" and ids.max() == "C0000300"
    # Only the re-exported duplicates repeat an order id.
    repeated = orders.loc[orders["order_id"].ne(""), "order_id"].duplicated().sum()
    assert repeated == report.dirty_counts["orders.duplicate_order_id"]


# --- archetypes --------------------------------------------------------------------------------------


def test_every_archetype_is_present(raw: dict[str, pd.DataFrame]) -> None:
    counts = raw["truth"]["archetype"].value_counts()
    assert set(counts.index) == set(ARCHETYPE_NAMES.values())
    assert counts.min() >= 10
    assert 0.15 < counts["lead"] / N < 0.33


def test_leads_never_buy_and_carry_every_lead_status(raw: dict[str, pd.DataFrame]) -> None:
    leads = _members(raw, "lead")
    assert not raw["orders"]["customer_id"].isin(leads).any()
    status_map = _seed("lead_status_map")
    customers = raw["customers"][raw["customers"]["customer_id"].isin(leads)]
    mapped = (
        customers["lead_status"]
        .str.lower()
        .map(dict(zip(status_map["raw_status"], status_map["lead_status"], strict=True)))
    )
    assert set(mapped.dropna()) == {"new", "in_work", "refused", "junk"}


def test_one_time_buyers_order_once(clean_orders: pd.DataFrame, raw: dict[str, pd.DataFrame]) -> None:
    per_customer = clean_orders[clean_orders["archetype"] == "one_time"].groupby("customer_id").size()
    assert len(per_customer) == len(_members(raw, "one_time"))
    assert (per_customer == 1).all()


def test_cycle_buyers_come_back_every_30_days(clean_orders: pd.DataFrame) -> None:
    gaps = clean_orders.loc[clean_orders["archetype"] == "cycle_30d", "gap_days"].dropna()
    assert 25 <= gaps.median() <= 35
    # Small jitter: the cycle is what sets them apart from monthly regulars.
    assert gaps.between(25, 35.5).mean() > 0.95


def test_monthly_regulars_buy_about_monthly(clean_orders: pd.DataFrame) -> None:
    orders = clean_orders[clean_orders["archetype"] == "monthly_regular"]
    assert 25 <= orders["gap_days"].median() <= 40
    assert orders.groupby("customer_id").size().median() >= 6


def test_lapsed_big_spenders_bought_often_and_big_then_stopped(clean_orders: pd.DataFrame) -> None:
    lapsed = clean_orders[clean_orders["archetype"] == "lapsed_big_spender"]
    others = clean_orders[
        ~clean_orders["archetype"].isin(["lapsed_big_spender"]) & clean_orders["currency"].ne("KZT")
    ]
    assert lapsed["ts"].max() < END - pd.Timedelta(days=365)
    assert lapsed.groupby("customer_id").size().min() >= 3
    rub = lapsed[lapsed["currency"].ne("KZT")]
    assert rub["amount_value"].median() > 2.5 * others["amount_value"].median()


def test_seasonal_buyers_buy_in_gift_seasons(clean_orders: pd.DataFrame) -> None:
    ts = clean_orders.loc[clean_orders["archetype"] == "seasonal", "ts"]
    month, day = ts.dt.month, ts.dt.day
    in_season = (
        ((month == 11) & (day >= 19))
        | (month == 12)
        | ((month == 2) & (day >= 11))
        | ((month == 3) & (day <= 8))
    )
    assert len(ts) > 30 and in_season.all()


def test_unsubscribers_unsubscribe_and_are_not_emailed_after(raw: dict[str, pd.DataFrame]) -> None:
    leavers = _members(raw, "unsubscriber")
    events = _events_by_customer(raw)
    theirs = events[events["customer"].isin(leavers)]
    unsubscribed_at = theirs[theirs["kind"] == "unsubscribe"].groupby("customer")["ts"].min()
    assert set(unsubscribed_at.index) == leavers
    # Rows with an unreadable time are dirty copies; the staging quarantines them.
    sent = theirs[(theirs["kind"] == "sent") & theirs["ts"].notna()]
    assert (sent["ts"] <= sent["customer"].map(unsubscribed_at)).all()
    customers = raw["customers"].drop_duplicates("customer_id", keep="last")
    opt_in = customers.loc[customers["customer_id"].isin(leavers), "email_opt_in"].str.lower()
    assert not opt_in.isin(["true", "yes", "1", "да"]).any()
    assert opt_in.isin(["false", "no", "0", "нет"]).mean() > 0.9


# --- email behaviour ---------------------------------------------------------------------------------


def test_email_funnel_rates(raw: dict[str, pd.DataFrame]) -> None:
    kinds = _events_by_customer(raw)["kind"].value_counts()
    assert kinds["sent"] > 2000
    assert 0.95 < kinds["delivered"] / kinds["sent"] < 0.99
    assert 0.005 < kinds["bounce"] / kinds["sent"] < 0.03
    assert 0.15 < kinds["open"] / kinds["delivered"] < 0.4
    assert 0.05 < kinds["click"] / kinds["open"] < 0.3
    # Every unsubscriber archetype leaves once, on top of a rare random unsubscribe or complaint.
    assert kinds["unsubscribe"] >= len(_members(raw, "unsubscriber"))
    assert kinds.get("complaint", 0) / kinds["delivered"] < 0.002


def test_opens_cluster_around_each_readers_local_hour(raw: dict[str, pd.DataFrame]) -> None:
    customers = raw["customers"].drop_duplicates("customer_id", keep="last")
    zone = dict(zip(customers["customer_id"], customers["timezone"], strict=True))
    events = _events_by_customer(raw)
    opens = events[
        (events["kind"] == "open")
        & events["customer"].map(zone).isin(["Asia/Vladivostok", "Europe/Kaliningrad"])
    ]
    local_hour = pd.Series(
        [
            ts.tz_localize("UTC").tz_convert(zone[c]).hour + ts.minute / 60
            for c, ts in zip(opens["customer"], opens["ts"], strict=True)
        ],
        index=opens.index,
    )
    spread = local_hour.groupby(opens["customer"]).agg(
        lambda hours: (abs(hours - hours.median()) <= 2).mean()
    )
    counts = opens.groupby("customer").size()
    assert (counts >= 5).sum() >= 3
    assert spread[counts >= 5].median() >= 0.7


# --- places, names, money ----------------------------------------------------------------------------


def test_cities_regions_countries_and_zones_agree(raw: dict[str, pd.DataFrame]) -> None:
    customers = raw["customers"][raw["customers"]["timezone"].ne("")]
    latin = customers[customers["city"].str.match(r"[A-Za-z]")]
    assert (latin.groupby("city")[["region", "country", "timezone"]].nunique() == 1).all().all()
    almaty = latin[latin["city"] == "Almaty"].iloc[0]
    assert (almaty["region"], almaty["country"], almaty["timezone"]) == ("Almaty", "KZ", "Asia/Almaty")
    assert {
        "Europe/Moscow",
        "Asia/Yekaterinburg",
        "Asia/Novosibirsk",
        "Asia/Vladivostok",
        "Asia/Almaty",
    } <= set(customers["timezone"])


def test_names_in_both_scripts_and_emails_from_names(raw: dict[str, pd.DataFrame]) -> None:
    customers = raw["customers"]
    assert customers["first_name"].str.match("[А-ЯЁ]").mean() > 0.5
    assert customers["first_name"].str.match("[A-Z]").mean() > 0.1
    emails = customers["email"].str.strip().str.lower()
    latin_named = customers[customers["first_name"].str.match("[A-Z]") & emails.str.fullmatch(VALID_EMAIL)]
    from_name = [
        first.lower() in email or last.lower() in email
        for first, last, email in zip(
            latin_named["first_name"], latin_named["last_name"], emails[latin_named.index], strict=True
        )
    ]
    assert np.mean(from_name) > 0.95
    genders = customers["gender"].str.lower()
    assert genders.isin(
        ["m", "male", "man", "м", "муж", "мужской", "f", "female", "woman", "ж", "жен", "женский", ""]
    ).all()


def test_kazakh_customers_mostly_pay_in_tenge(
    raw: dict[str, pd.DataFrame], clean_orders: pd.DataFrame
) -> None:
    country = dict(zip(raw["customers"]["customer_id"], raw["customers"]["country"], strict=False))
    currency = clean_orders["currency"].str.upper().replace({"": "RUB", "RUR": "RUB"})
    from_country = clean_orders["customer_id"].map(country)
    assert (currency[from_country == "KZ"] == "KZT").mean() > 0.6
    assert (currency[from_country == "RU"] == "RUB").all()


def test_order_lines_add_up_to_the_amount(raw: dict[str, pd.DataFrame], clean_orders: pd.DataFrame) -> None:
    items = raw["order_items"]
    line = pd.to_numeric(items["quantity"], errors="coerce") * pd.to_numeric(
        items["unit_price"], errors="coerce"
    )
    subtotal = line.groupby(items["order_id"]).sum()
    orders = clean_orders.set_index("order_id")
    discount = pd.to_numeric(orders["discount_amount"], errors="coerce").fillna(0)
    paid = (subtotal.reindex(orders.index) - discount).dropna()
    # Dirty extra lines may add to an order; the clean ones match exactly for nearly all orders.
    assert (paid == orders.loc[paid.index, "amount_value"]).mean() > 0.95
    rub = orders[orders["currency"].isin(["RUB", ""])]["amount_value"]
    assert 500 <= rub.median() <= 10_000 and rub.quantile(0.9) < 40_000
    assert set(items["category"]) >= {"coffee", "tea", "sweets", "gifts", "accessories"}


# --- dirty rows --------------------------------------------------------------------------------------


def test_each_kind_of_dirty_row_is_present(
    raw: dict[str, pd.DataFrame], sample: tuple[Path, GenerationReport]
) -> None:
    customers, orders, items, events = (
        raw["customers"],
        raw["orders"],
        raw["order_items"],
        raw["email_events"],
    )
    known_customers = set(customers["customer_id"]) - {""}
    amount = pd.to_numeric(orders["amount"], errors="coerce")
    emails = customers["email"].str.strip().str.lower()
    with_id = customers[customers["customer_id"].ne("")]
    duplicated = with_id[with_id["customer_id"].duplicated(keep=False)]
    found = {
        "duplicate customer rows with differing updated_at": int(
            (duplicated.groupby("customer_id")["updated_at"].nunique() > 1).sum()
        ),
        "customers without id": int(customers["customer_id"].eq("").sum()),
        "malformed emails": int((emails.ne("") & ~emails.str.fullmatch(VALID_EMAIL)).sum()),
        "mixed-case emails with spaces": int(
            (
                customers["email"].ne(customers["email"].str.strip())
                & customers["email"].str.contains("[A-Z]")
            ).sum()
        ),
        "negative amounts": int((amount < 0).sum()),
        "non-numeric amounts": int((amount.isna()).sum()),
        "orders of unknown customers": int(
            (orders["customer_id"].ne("") & ~orders["customer_id"].isin(known_customers)).sum()
        ),
        "orders without id": int(orders["order_id"].eq("").sum()),
        "future orders": int((pd.to_datetime(orders["ordered_at"], errors="coerce") > END).sum()),
        "future events": int((pd.to_datetime(events["occurred_at"], errors="coerce") > END).sum()),
        "unknown order statuses": int(
            (~orders["status"].str.lower().isin(set(_seed("order_status_map")["raw_status"]) | {""})).sum()
        ),
        "unknown currencies": int(
            (
                ~orders["currency"].str.upper().isin(set(_seed("currency_rates")["currency"]) | {"RUR", ""})
            ).sum()
        ),
        "unknown event types": int(
            (~events["event_type"].str.lower().isin(_seed("email_event_type_map")["raw_event_type"])).sum()
        ),
        "events naming no customer": int((events["customer_id"].eq("") & events["email"].eq("")).sum()),
        "lines of unknown orders": int(
            (items["order_id"].ne("") & ~items["order_id"].isin(orders["order_id"])).sum()
        ),
        "lines with a bad quantity": int((~(pd.to_numeric(items["quantity"], errors="coerce") > 0)).sum()),
    }
    assert {kind: count for kind, count in found.items() if count == 0} == {}
    _out, report = sample
    assert {key: count for key, count in report.dirty_counts.items() if count == 0} == {}
    # A small share: the sample stays mostly clean.
    assert found["duplicate customer rows with differing updated_at"] < 0.03 * N
    assert (amount.isna() | (amount < 0)).mean() < 0.02


# --- command line ------------------------------------------------------------------------------------


def test_command_line_writes_parquet_and_replaces_other_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--customers", "120", "--seed", "3", "--start-date", "2024-01-01", "--end-date", "2025-06-30"]
    assert main([*base, "--out", str(tmp_path)]) == 0
    assert main([*base, "--out", str(tmp_path), "--format", "parquet"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    assert "Sample of 120 customers, 2024-01-01..2025-06-30, seed 3" in capsys.readouterr().out
    orders = pq.read_table(tmp_path / "orders.parquet").to_pandas()
    ordered = pd.to_datetime(orders["ordered_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce").dropna()
    assert ordered.min() >= pd.Timestamp("2024-01-01")
    assert tuple(orders.columns) == RAW_TABLES_BY_NAME["orders"].columns


def test_command_line_refuses_a_too_short_period(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--start-date", "2024-01-01", "--end-date", "2024-02-01", "--out", str(tmp_path)])
    assert "shorter than 90 days" in capsys.readouterr().err
    assert GeneratorConfig().end_date == date(2026, 11, 20)
