"""The segment catalogue compiler: every bad definition names the segment and the problem, and
values only ever reach SQL as typed, escaped literals."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.segments.catalog import (
    CatalogError,
    SegmentCatalogErrors,
    check_catalog,
    compile_catalog,
    load_catalog_file,
)
from orchestration.segments.rules import OPERATORS, FieldType, SegmentDefinitionError, canonical_operator
from orchestration.settings import DEFAULT_CATALOG_PATH

FIELDS = {
    "customer_id": FieldType.TEXT,
    "city": FieldType.TEXT,
    "avg_order_value": FieldType.NUMBER,
    "last_order_at": FieldType.TIMESTAMP,
    "birth_date": FieldType.DATE,
    "is_emailable": FieldType.BOOLEAN,
}
AS_OF = date(2024, 6, 30)


def compile_one(rule: Any, tmp_path: Path, **extra: Any) -> str:
    definitions = [{"key": "s", "name": "S", "rule": rule, **extra}]
    return compile_catalog(definitions, FIELDS, AS_OF, tmp_path).segments[0].predicate_sql


def test_operators_compile_to_typed_predicates(tmp_path: Path) -> None:
    rule = {
        "all": [
            {"avg_order_value": {">": 5000, "<=": 20000.5}},
            {"city": {"in": ["Moscow", "Sochi"]}},
            {"last_order_at": {"within last days": 30}},
            {"birth_date": {"between": ["1980-01-01", "1990-12-31"]}},
            {"is_emailable": {"=": True}},
            {"any": [{"city": {"is null": True}}, {"city": {"contains": "Peter"}}]},
        ]
    }
    assert compile_one(rule, tmp_path) == (
        "((base.avg_order_value > 5000 and base.avg_order_value <= 20000.5)"
        " and base.city in ('Moscow', 'Sochi')"
        " and cast(base.last_order_at as date) between date '2024-05-31' and date '2024-06-30'"
        " and cast(base.birth_date as date) between date '1980-01-01' and date '1990-12-31'"
        " and base.is_emailable = true"
        " and (base.city is null or position('peter' in lower(base.city)) > 0))"
    )


def test_not_and_exclude_treat_unknown_as_not_holding(tmp_path: Path) -> None:
    definitions = [
        {"key": "moscow", "name": "M", "rule": {"city": {"=": "Moscow"}}},
        {"key": "elsewhere", "name": "E", "rule": {"not": {"segment": "moscow"}}},
        {
            "key": "emailable_outside",
            "name": "X",
            "rule": {"is_emailable": {"=": True}},
            "exclude": ["moscow"],
        },
    ]
    compiled = {
        s.key: s.predicate_sql for s in compile_catalog(definitions, FIELDS, AS_OF, tmp_path).segments
    }
    assert compiled["elsewhere"] == "(not coalesce(base.city = 'Moscow', false))"
    assert compiled["emailable_outside"] == (
        "(base.is_emailable = true and (not coalesce(base.city = 'Moscow', false)))"
    )


def test_an_injection_attempt_is_a_plain_value(tmp_path: Path) -> None:
    predicate = compile_one({"city": {"=": "x' or 1=1 --"}}, tmp_path)
    assert predicate == "base.city = 'x'' or 1=1 --'"


def test_parent_and_include_compose(tmp_path: Path) -> None:
    definitions = [
        {"key": "buyers", "name": "B", "rule": {"avg_order_value": {">": 0}}},
        {"key": "sochi", "name": "S", "rule": {"city": {"=": "Sochi"}}},
        {"key": "buyers_in_sochi", "name": "BS", "parent": "buyers", "rule": {"segment": "sochi"}},
        {"key": "either", "name": "E", "include": ["buyers", "sochi"]},
    ]
    compiled = {s.key: s for s in compile_catalog(definitions, FIELDS, AS_OF, tmp_path).segments}
    assert compiled["buyers_in_sochi"].predicate_sql == "(base.avg_order_value > 0 and base.city = 'Sochi')"
    assert compiled["either"].predicate_sql == "(base.avg_order_value > 0 or base.city = 'Sochi')"
    assert compiled["either"].kind == "union"


@pytest.mark.parametrize(
    ("definitions", "message"),
    [
        (
            [{"key": "s", "name": "S", "rule": {"shoe_size": {">": 40}}}],
            r"segment 's': rule\.shoe_size: unknown field 'shoe_size' \(known fields: avg_order_value,",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"city": {"like": "M%"}}}],
            r"segment 's': rule\.city\.like: unknown operator 'like' \(known: =, !=,",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"avg_order_value": {">": "5000"}}}],
            r"segment 's': rule\.avg_order_value\.>: expects a number, got '5000'",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"last_order_at": {">=": "last tuesday"}}}],
            r"segment 's': rule\.last_order_at\.>=: expects a date written YYYY-MM-DD",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"is_emailable": {"=": "yes"}}}],
            r"segment 's': rule\.is_emailable\.=: expects true or false, got 'yes'",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"city": {"within last days": 30}}}],
            r"segment 's': rule\.city\.within last days: within last days needs a date or timestamp field",
        ),
        (
            [
                {"key": "a", "name": "A", "rule": {"segment": "b"}},
                {"key": "b", "name": "B", "rule": {"segment": "c"}},
                {"key": "c", "name": "C", "rule": {"segment": "a"}},
            ],
            r"segment '[abc]': cycle between segments: a → b → c → a",
        ),
        (
            [
                {"key": "s", "name": "S", "rule": {"city": {"=": "A"}}},
                {"key": "s", "name": "T", "list": "x.csv"},
            ],
            r"segment 's': duplicate key: two segments share it",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"segment": "missing"}}],
            r"segment 's': references unknown segment 'missing'",
        ),
        ([{"key": "Bad Key", "name": "S", "rule": {"city": {"=": "A"}}}], r"segment 'Bad Key': key must be"),
        ([{"key": "s", "name": "S"}], r"segment 's': needs a rule, a static list or segments to include"),
        (
            [{"key": "s", "name": "S", "rule": {"city": {"=": "A"}}, "colour": "red"}],
            r"segment 's': unknown setting 'colour' \(allowed: description, exclude,",
        ),
        (
            [{"key": "s", "name": "S", "rule": {"city": {"=": "A"}}, "group": "weekly"}],
            r"segment 's': is in exclusive group 'weekly' but has no priority",
        ),
        (
            [
                {"key": "a", "name": "A", "rule": {"city": {"=": "A"}}, "group": "g", "priority": 1},
                {"key": "b", "name": "B", "rule": {"city": {"=": "B"}}, "group": "g", "priority": 1},
            ],
            r"segment 'b': has the same priority 1 as 'a' in group 'g'",
        ),
        (
            [{"key": "s", "name": "S", "list": "missing.csv"}],
            r"segment 's': static list 'missing.csv' not found",
        ),
    ],
)
def test_bad_definitions_name_the_segment_and_the_problem(
    definitions: list[dict[str, Any]], message: str, tmp_path: Path
) -> None:
    with pytest.raises(SegmentDefinitionError, match=message):
        compile_catalog(definitions, FIELDS, AS_OF, tmp_path)


def test_static_lists_match_by_id_or_email(tmp_path: Path) -> None:
    (tmp_path / "vip.csv").write_text("customer_id,email\nc1,\n, Anna.S@Gmail.com \n", encoding="utf-8")
    catalog = compile_catalog([{"key": "vips", "name": "V", "list": "vip.csv"}], FIELDS, AS_OF, tmp_path)
    assert [(m.customer_id, m.email, m.source_row) for m in catalog.static_members] == [
        ("c1", None, 1),
        (None, "anna.s@gmail.com", 2),
    ]
    assert catalog.segments[0].kind == "static"


def test_catalogue_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"segment catalogue not found"):
        load_catalog_file(tmp_path / "none.yml")
    (tmp_path / "bad.yml").write_text("segments: {a: 1}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"expected a top-level 'segments:' list"):
        load_catalog_file(tmp_path / "bad.yml")


def test_the_default_catalogue_covers_what_marketers_ask_for() -> None:
    keys = {segment["key"] for segment in yaml.safe_load(DEFAULT_CATALOG_PATH.read_text())["segments"]}
    assert {
        "bought_last_30_days",
        "engaged_openers",
        "high_aov",
        "region_moscow",
        "rfm_vip",
        "rfm_loyal",
        "rfm_sleeping_whales",
        "rfm_promising_newcomers",
        "rfm_need_attention",
        "rfm_lost",
        "reactivation",
        "no_opens_6_months",
        "birthday_this_month",
        "second_purchase_offer",
        "due_for_repurchase",
        "new_leads_in_work",
    } <= keys


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    definitions = [
        {"key": "a", "name": "A", "rule": {"all": [{"citi": {"=": "Moscow"}}, {"city": {"is_nul": True}}]}},
        {"key": "b", "name": "B", "rule": {"segment": "a"}, "exlude": ["a"]},
        {"key": "c", "name": "C", "rule": {"avg_order_value": {">": 1}}, "holdout_share": 2},
        {"key": "d", "name": "D", "rule": {"avg_order_value": {">": 1}}},
    ]
    with pytest.raises(SegmentCatalogErrors) as raised:
        compile_catalog(definitions, FIELDS, AS_OF, tmp_path)
    assert [str(error) for error in raised.value.errors] == [
        "segment 'b': unknown setting 'exlude'; did you mean 'exclude'?",
        "segment 'a': rule.all[0].citi: unknown field 'citi'; did you mean 'city'?",
        "segment 'a': rule.all[1].city.is_nul: unknown operator 'is_nul' (known: =, !=, <, <=, >, >=, in, "
        "not in, between, is null, contains, within last days); did you mean 'is null'?",
        "segment 'c': holdout_share must be a number from 0 to below 1, got 2",
    ]
    assert str(raised.value).startswith(
        "4 problems in the segment catalogue:\n  segment 'b': unknown setting"
    )
    checked = check_catalog(definitions, FIELDS, AS_OF, tmp_path)
    assert checked.failed == {"a", "b", "c"}  # b uses a; d has no problem
    assert [s.key for s in checked.catalog.segments] == ["a", "b", "c", "d"]


def test_operators_have_one_canonical_spelling_and_accept_aliases(tmp_path: Path) -> None:
    assert compile_one({"city": {"not_in": ["A"]}}, tmp_path) == compile_one(
        {"city": {"not in": ["A"]}}, tmp_path
    )
    assert compile_one({"city": {"IS  NULL": True}}, tmp_path) == "base.city is null"
    assert compile_one({"last_order_at": {"within_last_days": 1}}, tmp_path) == (
        "cast(base.last_order_at as date) between date '2024-06-29' and date '2024-06-30'"
    )
    assert canonical_operator("<>") == "!="
    assert canonical_operator("like") is None
    # The README's operator list and the catalogue header show exactly the names the errors list.
    readme = (DEFAULT_CATALOG_PATH.parents[2] / "README.md").read_text(encoding="utf-8")
    documented = readme[readme.index("Operators:") : readme.index("(at most N days before the as-of date)")]
    assert re.findall(r"`([^`]+)`", documented) == list(OPERATORS)
    header = DEFAULT_CATALOG_PATH.read_text(encoding="utf-8").split("segments:")[0]
    assert all(f"{operator}," in header or f"{operator} (" in header for operator in OPERATORS)
    assert "_" not in " ".join(OPERATORS)


def test_static_list_paths_start_from_the_catalogue_folder(tmp_path: Path) -> None:
    catalog_dir, elsewhere = tmp_path / "catalog", tmp_path / "elsewhere"
    (catalog_dir / "lists").mkdir(parents=True)
    elsewhere.mkdir()
    (catalog_dir / "lists" / "a.csv").write_text("customer_id\nc1\n", encoding="utf-8")
    (catalog_dir / "b.csv").write_text("customer_id\nc2\n", encoding="utf-8")
    (elsewhere / "c.csv").write_text("customer_id\nc3\n", encoding="utf-8")
    definitions = [
        {"key": "relative", "name": "R", "list": "lists/a.csv"},
        {"key": "bare_name_in_lists", "name": "L", "list": "a.csv"},
        {"key": "next_to_catalogue", "name": "N", "list": "b.csv"},
        {"key": "absolute", "name": "A", "list": str(elsewhere / "c.csv")},
    ]
    members = compile_catalog(definitions, FIELDS, AS_OF, catalog_dir).static_members
    assert [(m.segment_key, m.customer_id, m.source_file) for m in members] == [
        ("relative", "c1", "a.csv"),
        ("bare_name_in_lists", "c1", "a.csv"),
        ("next_to_catalogue", "c2", "b.csv"),
        ("absolute", "c3", "c.csv"),
    ]
    with pytest.raises(SegmentDefinitionError) as raised:
        compile_catalog([{"key": "s", "name": "S", "list": "c.csv"}], FIELDS, AS_OF, catalog_dir)
    assert str(raised.value) == (
        f"segment 's': static list 'c.csv' not found (looked for {catalog_dir / 'c.csv'} or "
        f"{catalog_dir / 'lists' / 'c.csv'}; a relative path starts from the catalogue's folder)"
    )
