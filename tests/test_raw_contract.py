"""The raw data contract is declared once, in dbt's `_sources.yml`; everything else derives from it.

The landing's `RawTable`s (orchestration/raw_contract.py), the `staged_raw_columns` macro, the raw GX
suites and the README's table are each checked against it here, and a column added to a copy of
the file shows up in all of them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from dbt.cli.main import dbtRunner

from orchestration.quality.raw_contract_suites import build_raw_suite, contract_table
from orchestration.quality.suites import SuiteFileError, load_suite, load_suites
from orchestration.raw_contract import (
    LINEAGE_COLUMNS,
    RAW_TABLES,
    RAW_TABLES_BY_NAME,
    SOURCES_PATH,
    ContractError,
    load_raw_tables,
)
from orchestration.raw_contract_readme import README_PATH, readme_table, table_span
from orchestration.settings import PROJECT_DIR

# Order items and email events keep the JSON key order their raw records always had.
STAGED_LEADING = {
    "order_items": ("order_id", "product_id", "category"),
    "email_events": ("customer_id", "email", "campaign_id"),
}
INLINE_STAGED_COLUMNS = (
    "{% set out = {} %}{% for table in tables %}"
    "{% do out.update({table: staged_raw_columns(table)}) %}{% endfor %}{{ tojson(out) }}"
)


def test_the_contract_reads_into_the_tables_the_landing_uses() -> None:
    assert [table.name for table in RAW_TABLES] == [
        "customers",
        "orders",
        "order_items",
        "email_events",
        "campaigns",
        "currency_rates",
        "order_status_map",
    ]
    orders = RAW_TABLES_BY_NAME["orders"]
    assert orders.required
    assert orders.columns == (
        "order_id",
        "customer_id",
        "ordered_at",
        "amount",
        "status",
        "currency",
        "discount_amount",
        "channel",
    )
    assert orders.required_columns == orders.columns[:4]
    assert (orders.number_columns, orders.date_columns) == (("amount", "discount_amount"), ("ordered_at",))
    events = RAW_TABLES_BY_NAME["email_events"]
    assert events.one_of_columns == (("customer_id", "email"),)
    assert events.when_absent == "the features that need it come out empty"
    assert RAW_TABLES_BY_NAME["currency_rates"].when_absent is None
    assert RAW_TABLES_BY_NAME["customers"].date_columns == ("birth_date", "created_at", "updated_at")
    assert load_raw_tables() == RAW_TABLES


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "          - name: status\n",
            "          - name: status\n          - name: shop_id\n            config:\n"
            "              meta: {required: true}\n",
            r"table orders, column shop_id: required columns come before the optional ones",
        ),
        (
            "meta: {kind: number}",
            "meta: {kind: money}",
            r"table orders, column discount_amount: kind 'money'",
        ),
        (
            "meta: {kind: number}",
            "meta: {knd: number}",
            r"table orders, column discount_amount: unknown meta knd",
        ),
        (
            "meta: {required: true}\n        columns:\n          - name: order_id",
            "meta: {required: yes please}\n        columns:\n          - name: order_id",
            r"table orders: meta required must be true or false",
        ),
        (
            "          - name: channel\n          - name: _source_file",
            "          - name: channel\n          - name: _source_file\n          - name: _batch",
            r"table orders: the columns must end with the lineage _source_file, _source_row, _load_id",
        ),
        (
            "          - name: email\n            config:\n              meta: {one_of: customer}\n",
            "          - name: email\n",
            r"table email_events: one_of group 'customer' needs two columns or more",
        ),
    ],
    ids=[
        "required-after-optional",
        "unknown-kind",
        "unknown-meta",
        "required-not-boolean",
        "lineage",
        "one-of",
    ],
)
def test_a_contract_breaking_its_rules_is_refused_naming_table_and_column(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = SOURCES_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "_sources.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ContractError, match=rf"_sources\.yml: {message}"):
        load_raw_tables(path)


def test_each_raw_suite_takes_its_table_columns_and_required_checks_from_the_contract() -> None:
    raw_suites = {spec.name: spec for spec in load_suites() if spec.name.startswith("raw_")}
    assert sorted(raw_suites) == sorted(
        f"raw_{name}" for name in ("customers", "orders", "order_items", "email_events", "campaigns")
    )
    for name, spec in raw_suites.items():
        table = contract_table(spec.path)
        assert table is not None and name == f"raw_{table.name}"
        assert (spec.relation, spec.asset) == (f"raw.{table.name}", ("raw", table.name))
        assert spec.referenced_columns() <= set(table.columns) | set(LINEAGE_COLUMNS), name
        not_null = [
            expectation["kwargs"]["column"]
            for expectation in spec.expectations
            if expectation["type"] == "expect_column_values_to_not_be_null"
        ]
        own = json.loads(spec.path.read_text())["meta"]["crm_segments"]
        skipped = own.get("contract_not_null_except", [])
        assert not_null == [column for column in table.required_columns if column not in skipped], name
        row_minimum = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
        assert any(row_minimum.items() <= item.items() for item in spec.expectations) == table.required
        for column in table.number_columns:
            assert spec.column_readers[column] == "number"
        for column in table.date_columns:
            assert spec.column_readers[column] == "timestamp"


def test_the_raw_suites_evaluate_what_they_did_before_the_contract_built_them() -> None:
    """Same expectations as the hand-written suites had (order aside), same readers and keys."""
    counts = {spec.name: len(spec.expectations) for spec in load_suites() if spec.name.startswith("raw_")}
    assert counts == {
        "raw_campaigns": 4,
        "raw_customers": 6,
        "raw_email_events": 4,
        "raw_order_items": 6,
        "raw_orders": 10,
    }
    orders = next(spec for spec in load_suites() if spec.name == "raw_orders")
    assert orders.column_readers == {
        "amount": "number",
        "discount_amount": "number",
        "ordered_at": "timestamp",
        "status": "lowercase",
    }
    assert orders.index_columns == ("_source_row", "order_id")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda suite: suite["expectations"].append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": "amount", "mostly": 0.9},
                    "severity": "critical",
                }
            ),
            r"raw_orders.json: expect_column_values_to_not_be_null.* restates the raw contract",
        ),
        (
            lambda suite: suite["meta"]["crm_segments"]["columns"].update({"amount": "number"}),
            r"raw_orders.json: columns.amount restates the contract, which reads it as number",
        ),
        (
            lambda suite: suite["expectations"].append(
                {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_no"}}
            ),
            r"raw_orders.json: no contract column\(s\) order_no in orders",
        ),
        (
            lambda suite: suite["meta"]["crm_segments"].update({"relation": "raw.customers"}),
            r"raw_orders.json: relation 'raw.customers': a raw suite checks 'raw.orders'",
        ),
        (
            lambda suite: suite["meta"]["crm_segments"].update({"contract_not_null_except": ["status"]}),
            r"raw_orders.json: contract_not_null_except names 'status', no required column",
        ),
    ],
    ids=["not-null-again", "reader-again", "unknown-column", "other-relation", "except-optional"],
)
def test_a_raw_suite_file_that_restates_or_contradicts_the_contract_is_refused(
    tmp_path: Path, change, message: str
) -> None:
    suite = json.loads((PROJECT_DIR / "expectations" / "raw_orders.json").read_text())
    change(suite)
    path = tmp_path / "raw_orders.json"
    path.write_text(json.dumps(suite))
    with pytest.raises(SuiteFileError, match=message):
        load_suite(path)


def test_a_suite_for_a_table_outside_the_contract_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raw_refunds.json"
    path.write_text(json.dumps({"name": "raw_refunds", "expectations": [], "meta": {"crm_segments": {}}}))
    with pytest.raises(SuiteFileError, match=r"raw_refunds.json: 'refunds' is no raw contract table"):
        load_suite(path)


def test_the_readme_table_is_the_contract() -> None:
    """`python -m orchestration.raw_contract_readme --write` regenerates it after a contract change."""
    readme = README_PATH.read_text(encoding="utf-8")
    start, end = table_span(readme)
    assert readme[start:end].rstrip("\n") == readme_table()


def test_the_readme_names_the_contract_number_columns() -> None:
    """Export formats: the columns whose decimal commas and thousands separators the landing reads."""
    readme = README_PATH.read_text(encoding="utf-8")
    [sentence] = re.findall(r"\*\*Numbers\*\* in (.*?) may use", readme, flags=re.DOTALL)
    named = re.findall(r"`([a-z_]+)`", sentence)
    assert named == [column for table in RAW_TABLES for column in table.number_columns]


def _staged_raw_columns(project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """staged_raw_columns(table) of every contract table, as dbt compiles it in `project_dir`."""
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(tmp_path / "compile.duckdb"))
    tables = [table.name for table in load_raw_tables(project_dir / SOURCES_PATH.relative_to(PROJECT_DIR))]
    result = dbtRunner().invoke(
        [
            "compile",
            "--quiet",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--inline",
            "{% set tables = " + json.dumps(tables) + " %}" + INLINE_STAGED_COLUMNS,
        ]
    )
    assert result.success, result.exception
    return json.loads(result.result.results[0].node.compiled_code)


def _expected_staged(table_name: str, columns: tuple[str, ...]) -> list[str]:
    leading = [column for column in STAGED_LEADING.get(table_name, ()) if column in columns]
    return leading + [column for column in columns if column not in leading]


def test_staged_raw_columns_compile_to_the_contract_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = _staged_raw_columns(PROJECT_DIR, tmp_path, monkeypatch)
    assert staged == {table.name: _expected_staged(table.name, table.columns) for table in RAW_TABLES}
    assert staged["orders"] == list(RAW_TABLES_BY_NAME["orders"].columns)


def test_a_column_added_to_the_contract_reaches_every_derived_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the project whose orders gain a required `shop_id` and an optional number `tip`."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    shutil.copytree(PROJECT_DIR / "dbt_project", project / "dbt_project")
    shutil.copytree(PROJECT_DIR / "seeds", project / "seeds")
    sources = project / SOURCES_PATH.relative_to(PROJECT_DIR)
    document = yaml.safe_load(sources.read_text(encoding="utf-8"))
    [crm] = document["sources"]
    orders = next(table for table in crm["tables"] if table["name"] == "orders")
    orders["columns"].insert(4, {"name": "shop_id", "config": {"meta": {"required": True}}})
    orders["columns"].insert(9, {"name": "tip", "config": {"meta": {"kind": "number"}}})
    sources.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")

    # The landing's contract.
    table = {table.name: table for table in load_raw_tables(sources)}["orders"]
    assert table.columns == (
        "order_id",
        "customer_id",
        "ordered_at",
        "amount",
        "shop_id",
        "status",
        "currency",
        "discount_amount",
        "channel",
        "tip",
    )
    assert table.number_columns == ("amount", "discount_amount", "tip")

    # The raw GX suite.
    suite = build_raw_suite(
        json.loads((PROJECT_DIR / "expectations" / "raw_orders.json").read_text()), table, "raw_orders.json"
    )
    not_null = [item["kwargs"]["column"] for item in suite["expectations"] if "not_be_null" in item["type"]]
    assert not_null == ["order_id", "customer_id", "ordered_at", "amount", "shop_id"]
    assert suite["meta"]["crm_segments"]["columns"]["tip"] == "number"

    # The README's table.
    assert (
        "| `orders` (required) | `order_id`, `customer_id`, `ordered_at`, `amount`, `shop_id` | "
        "`status`, `currency`, `discount_amount`, `channel`, `tip` |"
    ) in readme_table(sources).splitlines()

    # dbt: the raw columns staging shows in raw_record.
    staged = _staged_raw_columns(project, tmp_path, monkeypatch)
    assert staged["orders"] == list(table.columns)
