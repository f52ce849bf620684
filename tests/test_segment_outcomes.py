"""Entry cohorts and uplift (models/segments/outcomes): the confidence intervals against scipy, and the
cohorts of weekly_winback on the replayed sample.

The exact values of the hand-made fixture (entries on known dates, orders inside and outside each
window, open windows, re-entry, a customer in two segments, a segment without a holdout) are dbt
unit tests: dbt_project/models/segments/outcomes/_outcomes__unit_tests.yml, run by every `dbt build`.

The intervals are checked against the library on the same counts and values, twice:
- the uplift unit test's expected intervals are recomputed here from the rows it gives;
- segment_uplift is built by dbt on a small hand-made warehouse of per-entry outcomes (drawn at
  random with a fixed seed) and every interval compared with scipy's.
Newcombe's interval is built from scipy's Wilson intervals (scipy has no Newcombe):
  (p1 − p2) − sqrt((p1 − l1)² + (u2 − p2)²), (p1 − p2) + sqrt((u1 − p1)² + (p2 − l2)²).
Welch's is scipy.stats.ttest_ind(treated, holdout, equal_var=False).confidence_interval().
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from orchestration.duckdb_profile import connect_warehouse
from orchestration.settings import DEFAULT_RAW_DIR, PROJECT_DIR, Settings
from tests.conftest import SAMPLE_REPLAY_DATES, BuildWarehouse, RunDbt, SampleReplay, copy_warehouse, query

UNIT_TESTS = PROJECT_DIR / "dbt_project" / "models" / "segments" / "outcomes" / "_outcomes__unit_tests.yml"
AS_OF = date(2024, 6, 30)
WINDOWS = (7, 30)


def wilson(successes: int, trials: int) -> tuple[float, float]:
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def newcombe(treated_buyers: int, treated: int, holdout_buyers: int, holdout: int) -> tuple[float, float]:
    p1, p2 = treated_buyers / treated, holdout_buyers / holdout
    l1, u1 = wilson(treated_buyers, treated)
    l2, u2 = wilson(holdout_buyers, holdout)
    difference = p1 - p2
    return (
        difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def welch(treated: list[float], holdout: list[float]) -> tuple[float, float, float]:
    result = stats.ttest_ind(treated, holdout, equal_var=False)
    interval = result.confidence_interval(confidence_level=0.95)
    return float(interval.low), float(interval.high), float(result.df)


def welch_at_floor_df(treated: list[float], holdout: list[float]) -> tuple[float, float, float]:
    """Welch's interval with the t quantile at floor(df): what the model uses below 10 degrees of freedom."""
    low, high, df = welch(treated, holdout)
    difference = float(np.mean(treated) - np.mean(holdout))
    margin = (high - difference) / stats.t.ppf(0.975, df) * stats.t.ppf(0.975, math.floor(df))
    return difference - margin, difference + margin, df


# --- the unit test's expectations are scipy's ------------------------------------------------------


def _uplift_unit_test() -> dict:
    cases = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["unit_tests"]
    (case,) = [case for case in cases if case["model"] == "segment_uplift"]
    return case


def test_uplift_unit_test_expects_the_intervals_scipy_gives_on_its_rows() -> None:
    case = _uplift_unit_test()
    assert case["overrides"]["vars"]["outcome_windows_days"] == list(WINDOWS)
    (entries,) = [
        given["rows"] for given in case["given"] if given["input"] == "ref('int_segment_entry_outcomes')"
    ]
    expected = {(row["segment_key"], row["window_days"]): row for row in case["expect"]["rows"]}
    checked = []
    for (segment, window), row in sorted(expected.items()):
        revenue = {
            group: [
                float(entry[f"revenue_{window}d"])
                for entry in entries
                if entry["segment_key"] == segment
                and entry["member_group"] == group
                and not entry[f"is_open_{window}d"]
            ]
            for group in ("treated", "holdout")
        }
        treated, holdout = revenue["treated"], revenue["holdout"]
        assert (row["treated_members"], row["holdout_members"]) == (len(treated), len(holdout))
        if len(treated) < 2 or len(holdout) < 2:
            assert row["conversion_rate_difference_ci_lower"] is None
            assert row["revenue_per_member_difference_ci_lower"] is None
            continue
        buyers = (sum(value > 0 for value in treated), sum(value > 0 for value in holdout))
        assert (row["treated_buyers"], row["holdout_buyers"]) == buyers
        low, high = newcombe(buyers[0], len(treated), buyers[1], len(holdout))
        assert row["conversion_rate_difference_ci_lower"] == round(low, 6)
        assert row["conversion_rate_difference_ci_upper"] == round(high, 6)
        welch_low, welch_high, df = welch(treated, holdout)
        assert row["revenue_welch_df"] == round(df, 2)
        assert row["revenue_per_member_difference_ci_lower"] == round(welch_low, 2)
        assert row["revenue_per_member_difference_ci_upper"] == round(welch_high, 2)
        assert row["incremental_revenue_ci_lower"] == round(welch_low * len(treated), 2)
        assert row["incremental_revenue_ci_upper"] == round(welch_high * len(treated), 2)
        checked.append((segment, window))
    # a/7 and a/30 at fractional df (15.28, 13.70), c/7 and c/30 at exactly 3, e/7 at exactly 1.
    assert checked == [("a", 7), ("a", 30), ("c", 7), ("c", 30), ("e", 7)]


# --- segment_uplift built by dbt on a hand-made warehouse ------------------------------------------

# segment: (treated, holdout, treated buy probability, holdout buy probability)
SEGMENTS = {
    "big": (400, 120, 0.15, 0.08),  # df well above 10: the Cornish-Fisher quantile
    "small": (6, 3, 0.5, 0.4),  # df below 10: the exact quantile at floor(df)
    "flat": (50, 40, 0.0, 0.0),  # nobody buys: no revenue interval, a Newcombe interval around 0
    "lone": (30, 0, 0.2, 0.0),  # no holdout
}


def _draw_entries() -> list[tuple]:
    rng = np.random.default_rng(21)
    rows = []
    for segment, (treated, holdout, p_treated, p_holdout) in SEGMENTS.items():
        for group, size, p in (("treated", treated, p_treated), ("holdout", holdout, p_holdout)):
            for index in range(size):
                revenue = {}
                for window in WINDOWS:
                    buys = rng.random() < p * (2 if window == 30 else 1)
                    revenue[window] = round(float(rng.lognormal(7, 0.8)), 2) if buys else 0.0
                rows.append(
                    (
                        segment,
                        f"{segment}-{group}-{index}",
                        group,
                        *[
                            value
                            for window in WINDOWS
                            for value in (int(revenue[window] > 0), revenue[window])
                        ],
                    )
                )
    # "small" must have buyers on both sides with different spends, or it tests nothing.
    small = [row for row in rows if row[0] == "small"]
    assert {row[2] for row in small if row[3]} == {"treated", "holdout"}
    return rows


@pytest.fixture(scope="module")
def uplift_warehouse(
    dbt_at_one_path: RunDbt, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[tuple]]:
    warehouse = tmp_path_factory.mktemp("uplift") / "uplift.duckdb"
    rows = _draw_entries()
    window_columns = ", ".join(
        f"is_open_{w}d boolean, is_contacted_{w}d boolean, orders_{w}d bigint, revenue_{w}d decimal(18, 2), "
        f"emails_without_cost_{w}d bigint, email_cost_{w}d double"
        for w in WINDOWS
    )
    with connect_warehouse(warehouse) as con:
        con.execute("create schema staging; create schema intermediate")
        con.execute("create table staging.stg_segments__catalog (segment_key varchar)")
        con.executemany("insert into staging.stg_segments__catalog values (?)", [[key] for key in SEGMENTS])
        con.execute(
            "create table intermediate.int_segment_entry_outcomes (segment_key varchar, customer_id varchar, "
            f"member_group varchar, entry_week date, {window_columns})"
        )
        con.executemany(
            "insert into intermediate.int_segment_entry_outcomes values "
            "(?, ?, ?, date '2024-03-04', false, false, ?, ?, 0, 0, false, false, ?, ?, 0, 0)",
            [list(row) for row in rows],
        )
    settings = Settings(raw_dir=DEFAULT_RAW_DIR, as_of=AS_OF, duckdb_path=warehouse)
    dbt_at_one_path(
        "run",
        settings,
        "--select",
        "segment_uplift",
        extra_vars={"outcome_windows_days": list(WINDOWS), "uplift_min_holdout_members": 30},
    )
    return warehouse, rows


def _revenues(rows: list[tuple], segment: str, group: str, window: int) -> list[float]:
    column = 4 if window == WINDOWS[0] else 6
    return [row[column] for row in rows if row[0] == segment and row[2] == group]


UPLIFT_COLUMNS = (
    "treated_members, holdout_members, treated_buyers, holdout_buyers, conversion_rate_difference, "
    "conversion_rate_difference_ci_lower, conversion_rate_difference_ci_upper, "
    "revenue_per_member_difference, "
    "revenue_per_member_difference_ci_lower, revenue_per_member_difference_ci_upper, revenue_welch_df, "
    "is_holdout_too_small, conversion_verdict, revenue_verdict"
)


def _uplift(warehouse: Path, segment: str, window: int) -> dict:
    names = [name.strip() for name in UPLIFT_COLUMNS.split(",")]
    (row,) = query(
        warehouse,
        f"select {UPLIFT_COLUMNS} from marts.segment_uplift where segment_key = ? and window_days = ?",
        [segment, window],
    )
    return {
        name: (float(value) if hasattr(value, "as_tuple") else value)
        for name, value in zip(names, row, strict=True)
    }


@pytest.mark.parametrize("window", WINDOWS)
def test_large_groups_match_scipy(uplift_warehouse: tuple[Path, list[tuple]], window: int) -> None:
    warehouse, rows = uplift_warehouse
    treated, holdout = _revenues(rows, "big", "treated", window), _revenues(rows, "big", "holdout", window)
    buyers = (sum(v > 0 for v in treated), sum(v > 0 for v in holdout))
    row = _uplift(warehouse, "big", window)
    assert (row["treated_members"], row["holdout_members"]) == (400, 120)
    assert (row["treated_buyers"], row["holdout_buyers"]) == buyers
    low, high = newcombe(buyers[0], 400, buyers[1], 120)
    assert row["conversion_rate_difference_ci_lower"] == pytest.approx(low, abs=5e-7)
    assert row["conversion_rate_difference_ci_upper"] == pytest.approx(high, abs=5e-7)
    welch_low, welch_high, df = welch(treated, holdout)
    assert df > 10
    assert row["revenue_welch_df"] == pytest.approx(df, abs=0.005)
    assert row["revenue_per_member_difference_ci_lower"] == pytest.approx(welch_low, abs=0.005)
    assert row["revenue_per_member_difference_ci_upper"] == pytest.approx(welch_high, abs=0.005)
    assert row["is_holdout_too_small"] is False


def test_large_groups_values_and_verdicts(uplift_warehouse: tuple[Path, list[tuple]]) -> None:
    # The draws of seed 21 (so the comparisons above cannot pass on an empty or constant table):
    # within 7 days 61 of 400 against 13 of 120 bought, an interval across 0; within 30 days 111
    # against 17, both intervals above 0.
    short, long = _uplift(uplift_warehouse[0], "big", 7), _uplift(uplift_warehouse[0], "big", 30)
    assert (short["treated_buyers"], short["holdout_buyers"]) == (61, 13)
    assert (short["conversion_rate_difference_ci_lower"], short["conversion_rate_difference_ci_upper"]) == (
        -0.031149,
        0.102589,
    )
    assert (short["conversion_verdict"], short["revenue_verdict"]) == (
        "no_clear_difference",
        "no_clear_difference",
    )
    assert (long["treated_buyers"], long["holdout_buyers"]) == (111, 17)
    assert (
        long["revenue_per_member_difference_ci_lower"],
        long["revenue_per_member_difference_ci_upper"],
    ) == (
        181.11,
        473.97,
    )
    assert (long["conversion_verdict"], long["revenue_verdict"]) == ("treated_higher", "treated_higher")


@pytest.mark.parametrize("window", WINDOWS)
def test_small_groups_use_the_exact_quantile_at_floor_df(
    uplift_warehouse: tuple[Path, list[tuple]], window: int
) -> None:
    warehouse, rows = uplift_warehouse
    treated, holdout = (
        _revenues(rows, "small", "treated", window),
        _revenues(rows, "small", "holdout", window),
    )
    row = _uplift(warehouse, "small", window)
    buyers = (sum(v > 0 for v in treated), sum(v > 0 for v in holdout))
    low, high = newcombe(buyers[0], 6, buyers[1], 3)
    assert row["conversion_rate_difference_ci_lower"] == pytest.approx(low, abs=5e-7)
    assert row["conversion_rate_difference_ci_upper"] == pytest.approx(high, abs=5e-7)
    scipy_low, scipy_high, df = welch(treated, holdout)
    floor_low, floor_high, _ = welch_at_floor_df(treated, holdout)
    assert df < 10
    assert row["revenue_welch_df"] == pytest.approx(df, abs=0.005)
    assert row["revenue_per_member_difference_ci_lower"] == pytest.approx(floor_low, abs=0.005)
    assert row["revenue_per_member_difference_ci_upper"] == pytest.approx(floor_high, abs=0.005)
    # never narrower than scipy's exact interval
    assert row["revenue_per_member_difference_ci_lower"] <= round(scipy_low, 2)
    assert row["revenue_per_member_difference_ci_upper"] >= round(scipy_high, 2)
    assert (row["is_holdout_too_small"], row["conversion_verdict"]) == (True, "holdout_too_small")


def test_nobody_buying_gives_a_newcombe_interval_around_zero_no_welch_interval_and_no_verdict(
    uplift_warehouse: tuple[Path, list[tuple]],
) -> None:
    row = _uplift(uplift_warehouse[0], "flat", 7)
    low, high = newcombe(0, 50, 0, 40)
    assert (low, high) == pytest.approx((-0.087622, 0.071348), abs=5e-7)
    assert row["conversion_rate_difference"] == 0
    assert row["conversion_rate_difference_ci_lower"] == pytest.approx(low, abs=5e-7)
    assert row["conversion_rate_difference_ci_upper"] == pytest.approx(high, abs=5e-7)
    assert row["revenue_per_member_difference"] == 0
    assert row["revenue_per_member_difference_ci_lower"] is None
    assert row["revenue_welch_df"] is None
    # No buyer expected in the holdout at the pooled rate (0): too small to tell anything.
    assert row["is_holdout_too_small"] is True
    assert (row["conversion_verdict"], row["revenue_verdict"]) == ("holdout_too_small", "holdout_too_small")


def test_a_segment_without_holdout_has_no_difference(uplift_warehouse: tuple[Path, list[tuple]]) -> None:
    row = _uplift(uplift_warehouse[0], "lone", 7)
    assert (row["treated_members"], row["holdout_members"]) == (30, 0)
    assert row["conversion_rate_difference"] is None
    assert row["conversion_rate_difference_ci_lower"] is None
    assert row["revenue_per_member_difference_ci_upper"] is None
    assert (row["is_holdout_too_small"], row["conversion_verdict"], row["revenue_verdict"]) == (
        True,
        "no_holdout",
        "no_holdout",
    )


# --- the replayed sample ---------------------------------------------------------------------------


def test_replayed_sample_has_weekly_winback_cohorts_with_treated_and_holdout(
    sample_replay: SampleReplay, build_warehouse: BuildWarehouse, tmp_path: Path
) -> None:
    _, last = SAMPLE_REPLAY_DATES
    # The members of the first history date were already there; 44 entered weekly_winback on the
    # second (2026-11-20, the week of 11-16), 37 treated and 7 held out. Every window is still open
    # on that date: marked open, no measure read as 0.
    assert query(
        sample_replay.warehouse,
        "select entry_week, member_group, first_entered_on, entered, is_open_7d, buyers_7d, revenue_30d "
        "from marts.segment_entry_outcomes where segment_key = 'weekly_winback' order by member_group",
    ) == [
        (date(2026, 11, 16), "holdout", last, 7, True, None, None),
        (date(2026, 11, 16), "treated", last, 37, True, None, None),
    ]

    # One more nightly run, on 2026-12-03, closes the 7-day window of the week of 11-16 (11-22 + 7):
    # nobody of them was emailed (the sample's campaigns end on 11-10) or bought within 7 days, now
    # 0 rather than unknown; the 30-day window stays open. The week of 11-30 is a new cohort.
    later = tmp_path / "crm.duckdb"
    copy_warehouse(sample_replay.warehouse, later)
    build_warehouse(raw_dir=DEFAULT_RAW_DIR, as_of=date(2026, 12, 3), duckdb_path=later)
    assert query(
        later,
        "select entry_week, member_group, entered, is_open_7d, contacted_7d, buyers_7d, orders_7d, "
        "is_open_30d, buyers_30d from marts.segment_entry_outcomes where segment_key = 'weekly_winback' "
        "order by entry_week, member_group",
    ) == [
        (date(2026, 11, 16), "holdout", 7, False, 0, 0, 0, True, None),
        (date(2026, 11, 16), "treated", 37, False, 0, 0, 0, True, None),
        (date(2026, 11, 30), "holdout", 3, True, None, None, None, True, None),
        (date(2026, 11, 30), "treated", 17, True, None, None, None, True, None),
    ]
    # The uplift pools the closed cohorts only; a holdout of 7 is too small to tell anything.
    assert query(
        later,
        "select window_days, treated_members, holdout_members, entries_in_open_windows, treated_buyers, "
        "holdout_buyers, is_holdout_too_small, conversion_verdict from marts.segment_uplift "
        "where segment_key = 'weekly_winback' order by window_days",
    ) == [
        (7, 37, 7, 20, 0, 0, True, "holdout_too_small"),
        (30, 0, 0, 64, 0, 0, True, "no_closed_entries"),
        (90, 0, 0, 64, 0, 0, True, "no_closed_entries"),
    ]
