"""`segments check` and `explain` on the tiny fixture warehouse: every problem at once with its line
and a suggestion, the same member counts as marts.segment_membership, the explanation of a known
customer, and the warehouse file left exactly as it was (values worked out from the fixture)."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from orchestration.segments.check import check_segments
from orchestration.segments.cli import explain_command, segments_command
from orchestration.segments.explain import explain_customer
from orchestration.settings import DEFAULT_CATALOG_PATH, Settings
from tests.conftest import TINY_AS_OF, TINY_RAW_DIR, query

THREE_MISTAKES = """\
segments:
  - key: high_aov
    name: Big baskets
    rule:
      avg_order_valu: {">": 5000}

  - key: recent
    name: Recent
    rule:
      all:
        - city: {in: [Moscow]}
        - last_order_at: {within_last_dys: 30}

  - key: recent_big
    name: Recent and big
    rule: {segment: recnt}

  - key: moscow
    name: Moscow
    rule: {city: {"=": Moscow}}
"""


def settings_for(warehouse: Path, catalog: Path = DEFAULT_CATALOG_PATH) -> Settings:
    # The as-of date of the settings is not the warehouse's: the check must use the warehouse's own.
    return Settings(TINY_RAW_DIR, date(2030, 1, 1), warehouse, catalog)


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_check_reports_every_problem_with_its_line_and_a_suggestion(
    tiny_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(THREE_MISTAKES, encoding="utf-8")
    report = check_segments(settings_for(tiny_warehouse, catalog))
    assert [located.format() for located in report.errors] == [
        "catalog.yml:5: segment 'high_aov': rule.avg_order_valu: unknown field 'avg_order_valu'; "
        "did you mean 'avg_order_value'?",
        "catalog.yml:12: segment 'recent': rule.all[1].last_order_at.within_last_dys: unknown operator "
        "'within_last_dys' (known: =, !=, <, <=, >, >=, in, not in, between, is null, contains, "
        "within last days); did you mean 'within last days'?",
        "catalog.yml:16: segment 'recent_big': references unknown segment 'recnt'; did you mean 'recent'?",
    ]
    counts = {count.key: (count.members, count.sample, count.note) for count in report.counts}
    assert counts == {
        "high_aov": (None, [], "see the problems above"),
        "recent": (None, [], "see the problems above"),
        "recent_big": (None, [], "see the problems above"),
        "moscow": (1, ["c1"], ""),  # the segment without a problem is still counted
    }
    assert segments_command(argparse.Namespace(), settings_for(tiny_warehouse, catalog)) == 1
    printed = capsys.readouterr().out
    assert "3 problems:" in printed
    assert "moscow 1 c1" in " ".join(printed.split())


def test_counts_are_those_of_segment_membership(tiny_warehouse: Path) -> None:
    report = check_segments(settings_for(tiny_warehouse))
    assert report.ok
    assert report.as_of == TINY_AS_OF
    counted = {count.key: (count.members, count.holdout) for count in report.counts}
    built = {
        key: (members, holdout)
        for key, members, holdout in query(
            tiny_warehouse, "select segment_key, members, holdout_members from marts.segment_catalog"
        )
    }
    assert counted == built
    samples = {count.key: count.sample for count in report.counts}
    assert samples["no_opens_6_months"] == ["c2", "c3", "c4", "c9"]
    assert samples["weekly_winback"] == ["c3"]  # also matches level1_lapsed; the exclusive group holds
    notes = {count.key: count.note for count in report.counts}
    assert notes["trade_show_2026_visitors"] == "11 list rows match no customer"


def test_check_and_explain_write_nothing(tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = fingerprint(tiny_warehouse)
    assert segments_command(argparse.Namespace(), settings_for(tiny_warehouse)) == 0
    args = argparse.Namespace(customer="c1", segment=None)
    assert explain_command(args, settings_for(tiny_warehouse)) == 0
    assert fingerprint(tiny_warehouse) == before
    assert not tiny_warehouse.with_name(tiny_warehouse.name + ".wal").exists()
    assert "No problems in 29 segments." in capsys.readouterr().out


def test_a_missing_warehouse_says_to_run_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.duckdb"
    assert segments_command(argparse.Namespace(), settings_for(missing)) == 1
    assert capsys.readouterr().err == (
        f"crm-segments: warehouse {missing} not found (CRM_SEGMENTS_DUCKDB): run `make run` first\n"
    )
    assert not missing.exists()


def test_explain_shows_each_condition_with_the_customers_value(tiny_warehouse: Path) -> None:
    settings = settings_for(tiny_warehouse)
    # c3: last order 2023-03-10, never opened an email, Sleeping whale, lapsed.
    text = explain_customer(settings, "c3").format()
    assert text.startswith("Customer c3 as of 2024-06-30\n")
    blocks = {block.split(" — ")[0]: block.splitlines() for block in text.split("\n\n")[1:]}
    assert [" ".join(line.split()) for line in blocks["bought_last_30_days"]] == [
        "bought_last_30_days — Bought in the last 30 days: not a member ✗",
        "last_order_at within last days 30 value 2023-03-10 09:00:00 ✗",
    ]
    assert [" ".join(line.split()) for line in blocks["no_opens_6_months"]] == [
        "no_opens_6_months — No opens for 6 months: member ✓",
        "all of: ✓",
        "is_emailable = true value true ✓",
        "not: ✓",
        "last_engaged_at within last days 180 value null ✗ (no value)",
    ]
    assert [" ".join(line.split()) for line in blocks["mass_mailing"]] == [
        "mass_mailing — Mass mailing audience: not a member ✗",
        "is_emailable = true value true ✓",
        "not in segment no_opens_6_months ✗",
    ]
    assert blocks["weekly_winback"][0] == (
        "weekly_winback — Weekly campaign: win-back: member ✓ (not in the 10% holdout)"
    )
    assert blocks["trade_show_2026_visitors"][1] == (
        "  not on the static list (no row matches their customer_id or email)"
    )
    # c1 matches mass_mailing, so weekly_newsletter: the group places them there, not in winback.
    only = explain_customer(settings, "c1", "weekly_newsletter").format().splitlines()
    assert only[2:] == [
        "weekly_newsletter — Weekly campaign: newsletter: member ✓",
        f"{'  in segment mass_mailing':<52} ✓",
        "  exclusive group weekly_campaign: placed here (priority 3, the lowest number among the group's "
        "segments they match)",
    ]


def test_explain_an_unknown_customer_or_segment(
    tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tiny_warehouse)
    assert explain_command(argparse.Namespace(customer="c404", segment=None), settings) == 1
    assert capsys.readouterr().err == (
        f"crm-segments: customer 'c404' is not in intermediate.int_segment_customer_base of {tiny_warehouse} "
        "(as of 2024-06-30): check the id, or whether they were created after the as-of date\n"
    )
    assert explain_command(argparse.Namespace(customer="c1", segment="rfm_vipp"), settings) == 1
    assert capsys.readouterr().err == (
        f"crm-segments: unknown segment 'rfm_vipp' in {DEFAULT_CATALOG_PATH}; did you mean 'rfm_vip'?\n"
    )


def test_a_copied_catalogue_finds_its_lists_next_to_it(tiny_warehouse: Path, tmp_path: Path) -> None:
    shutil.copy(DEFAULT_CATALOG_PATH, tmp_path / "catalog.yml")
    shutil.copytree(DEFAULT_CATALOG_PATH.parent / "lists", tmp_path / "lists")
    report = check_segments(settings_for(tiny_warehouse, tmp_path / "catalog.yml"))
    assert report.ok
    assert {count.key: count.note for count in report.counts}["trade_show_2026_visitors"] == (
        "11 list rows match no customer"
    )
    # Without its lists the copy fails, naming the line and where the list was looked for.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(DEFAULT_CATALOG_PATH, alone / "catalog.yml")
    report = check_segments(settings_for(tiny_warehouse, alone / "catalog.yml"))
    lines = DEFAULT_CATALOG_PATH.read_text(encoding="utf-8").splitlines()
    list_line = lines.index("    list: trade_show_2026.csv") + 1
    assert [located.format() for located in report.errors] == [
        f"catalog.yml:{list_line}: segment 'trade_show_2026_visitors': static list 'trade_show_2026.csv' "
        f"not found (looked for {alone / 'trade_show_2026.csv'} or "
        f"{alone / 'lists' / 'trade_show_2026.csv'}; a relative path starts from the catalogue's folder)"
    ]


def test_make_check_segments_runs_the_check() -> None:
    project = Path(__file__).resolve().parent.parent
    dry_run = subprocess.run(
        ["make", "-n", "check-segments"],
        cwd=project, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # Under `make test` make runs nested and adds "Entering/Leaving directory" lines.
    assert ".venv/bin/python -m orchestration segments check" in dry_run.splitlines()


def test_the_command_line(
    tiny_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.__main__ import main

    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(tiny_warehouse))
    monkeypatch.delenv("CRM_SEGMENTS_CATALOG", raising=False)
    assert main(["segments", "check"]) == 0
    assert "No problems in 29 segments." in capsys.readouterr().out
    assert main(["explain", "--customer", "c1", "--segment", "bought_last_30_days"]) == 0
    assert "bought_last_30_days — Bought in the last 30 days: member ✓" in capsys.readouterr().out
