"""The quarantine gate and the RFM check: dbt tests that stop a run before the marts.

Every warehouse here is built by the real pipeline (landing + `dbt build`) from small exports the
tests write, once each. The gate is judged per table on its newest landing and on all its rows
(dbt_project/macros/quarantine_gate.sql); a failure names the table, the share, the reasons and
file:line, and dbt skips every model downstream (checked in dbt's run_results.json).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from orchestration.dbt_runner import DbtBuildError
from orchestration.duckdb_profile import connect_warehouse
from orchestration.quality.suites import load_suites
from orchestration.quality.validation import validate
from tests.conftest import TINY_RAW_DIR, BuildWarehouse, SampleReplay, build_target_path, query

# Whole pipeline runs, Dagster jobs or `make` processes: `make test-fast` skips them.
pytestmark = pytest.mark.slow

AS_OF = date(2024, 6, 30)
ORDER_HEADER = "order_id,customer_id,ordered_at,amount,status,currency"
MODELS_DOWNSTREAM = ("customer_rfm", "dim_customers", "customer_lifecycle", "customer_predictions")


def _orders(prefix: str, customers: list[str], day: str = "2024-05-01", amount: str = "100") -> list[str]:
    return [
        f"{prefix}{number},{customer},{day} 12:00:00,{amount},completed,RUB"
        for number, customer in enumerate(customers, start=1)
    ]


def _write(path: Path, header: str, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


def _raw_with_tiny_customers(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(TINY_RAW_DIR / "customers.csv", raw / "customers.csv")
    return raw


@dataclass(frozen=True)
class PipelineRuns:
    """Runs landing + `dbt build` at the worker's one build path (tests/conftest.py), so the runs of this
    module share dbt's parse, and reads back what dbt said of each model."""

    build_warehouse: BuildWarehouse
    tmp_path_factory: pytest.TempPathFactory

    def run(
        self, raw: Path, warehouse: Path, as_of: date = AS_OF, extra_vars: dict[str, object] | None = None
    ) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DBT_WRITE_JSON", "true")  # statuses reads run_results.json
            self.build_warehouse(raw_dir=raw, as_of=as_of, duckdb_path=warehouse, extra_vars=extra_vars)

    def statuses(self, warehouse: Path, *models: str) -> dict[str, str]:
        """Status of each model in the last dbt invocation on `warehouse`."""
        run_results = build_target_path(warehouse, self.tmp_path_factory) / "run_results.json"
        found = {
            item["unique_id"].split(".")[-1]: item["status"]
            for item in json.loads(run_results.read_text())["results"]
        }
        return {model: found.get(model, "not run") for model in models}


@pytest.fixture
def runs(build_warehouse: BuildWarehouse, tmp_path_factory: pytest.TempPathFactory) -> PipelineRuns:
    return PipelineRuns(build_warehouse, tmp_path_factory)


def _tables(warehouse: Path, schema: str) -> set[str]:
    rows = query(
        warehouse, "select table_name from information_schema.tables where table_schema = ?", [schema]
    )
    return {name for (name,) in rows}


def test_a_first_run_with_most_orders_quarantined_stops_before_the_marts(
    tmp_path: Path, runs: PipelineRuns
) -> None:
    """38 orders that count (2 superseded duplicates aside): 24 of an unknown customer, 4 negative."""
    raw = _raw_with_tiny_customers(tmp_path)
    good = _orders("o", ["c1"] * 10)
    unknown = _orders("u", ["c404"] * 24)
    negative = _orders("n", ["c2"] * 4, amount="-5")
    repeated = good[:2]  # later lines of o1 and o2: the first ones become superseded duplicates
    _write(raw / "orders.csv", ORDER_HEADER, good + unknown + negative + repeated)
    warehouse = tmp_path / "crm.duckdb"

    with pytest.raises(DbtBuildError) as failure:
        runs.run(raw, warehouse)
    message = str(failure.value)
    assert "quarantine_share_within_limit_stg_crm__orders_orders" in message
    assert (
        "quarantine gate: orders: 28 of 38 rows quarantined (73.7%) in all its rows, "
        "over max_quarantine_share 20%" in message
    )
    assert "top reasons: unknown_customer: 24, negative_amount: 4" in message
    assert "e.g. orders.csv:11 (unknown_customer), orders.csv:12 (unknown_customer)" in message
    assert "not counted: 2 superseded duplicates" in message
    assert message.count("quarantine gate:") == 1  # only orders: customers has too few rows to judge

    assert runs.statuses(warehouse, *MODELS_DOWNSTREAM, "stg_crm__orders") == {
        **dict.fromkeys(MODELS_DOWNSTREAM, "skipped"),
        "stg_crm__orders": "success",
    }
    assert not _tables(warehouse, "marts") & {"customer_rfm", "dim_customers", "segment_membership"}
    assert query(
        warehouse, "select table_name, quarantined_rows, checked_rows from quality.gate_quarantine_orders"
    ) == [("orders", 28, 38)]

    # Nothing changed, run again: the gate judges the data, not what this run did, so it fails again.
    with pytest.raises(DbtBuildError, match=r"orders: 28 of 38 rows quarantined \(73.7%\)"):
        runs.run(raw, warehouse)


def test_a_mostly_bad_daily_drop_stops_the_run_and_keeps_the_last_good_marts(
    tmp_path: Path, runs: PipelineRuns
) -> None:
    """200 good orders, then a drop of 40 with 30 bad: 12.5% of the table, 75% of the new landing."""
    raw = _raw_with_tiny_customers(tmp_path)
    buyers = ["c1", "c2", "c3", "c4", "c5"]
    _write(raw / "orders" / "2024-06-01.csv", ORDER_HEADER, _orders("a", buyers * 40, day="2024-06-01"))
    warehouse = tmp_path / "crm.duckdb"
    runs.run(raw, warehouse)
    assert query(warehouse, "select count(*), max(as_of_date) from marts.customer_rfm") == [(5, AS_OF)]
    assert query(warehouse, "select count(*) from quality.gate_quarantine_orders") == [(0,)]

    drop = _orders("b", ["c1"] * 10, day="2024-06-30") + _orders("x", ["c404"] * 30, day="2024-06-30")
    _write(raw / "orders" / "2024-06-30.csv", ORDER_HEADER, drop)
    next_day = date(2024, 7, 1)
    with pytest.raises(DbtBuildError) as failure:
        runs.run(raw, warehouse, as_of=next_day)
    message = str(failure.value)
    assert (
        "quarantine gate: orders: 30 of 40 rows quarantined (75.0%) in the newest landing "
        "(orders/2024-06-30.csv), over max_quarantine_share 20%" in message
    )
    assert "top reasons: unknown_customer: 30" in message
    assert "e.g. orders/2024-06-30.csv:11 (unknown_customer)" in message
    assert runs.statuses(warehouse, "customer_rfm", "dim_customers") == {
        "customer_rfm": "skipped",
        "dim_customers": "skipped",
    }
    # The marts of the last good run stay as they were.
    assert query(warehouse, "select count(*), max(as_of_date) from marts.customer_rfm") == [(5, AS_OF)]

    with pytest.raises(DbtBuildError, match=r"30 of 40 rows quarantined \(75.0%\) in the newest landing"):
        runs.run(raw, warehouse, as_of=next_day)


def test_the_tiny_fixture_passes_the_gate(tiny_warehouse: Path) -> None:
    """Its tables are smaller than the 30 rows a share is judged on (6 of its 20 orders are dirty)."""
    for table in ("customers", "orders", "order_items", "email_events", "campaigns"):
        assert query(tiny_warehouse, f"select count(*) from quality.gate_quarantine_{table}") == [(0,)]
    assert query(tiny_warehouse, "select count(*) from quality.gate_customer_rfm_not_empty") == [(0,)]
    assert query(tiny_warehouse, "select count(*) > 0 from marts.customer_rfm") == [(True,)]


def test_the_bundled_sample_is_well_below_the_default_share(sample_replay: SampleReplay) -> None:
    shares = query(
        sample_replay.warehouse,
        """
        select table_name, count(*) filter (where quarantine_reason is not null), count(*)
        from (
            select 'customers' as table_name, quarantine_reason from staging.base_crm__customers
            union all select 'orders', quarantine_reason from staging.base_crm__orders
            union all select 'order_items', quarantine_reason from staging.base_crm__order_items
            union all select 'email_events', quarantine_reason from staging.base_crm__email_events
            union all select 'campaigns', quarantine_reason from staging.base_crm__campaigns
        )
        where quarantine_reason is null or not starts_with(quarantine_reason, 'duplicate')
        group by all order by 1
        """,
    )
    assert shares == [
        ("campaigns", 2, 205),
        ("customers", 10, 3010),
        ("email_events", 755, 92719),
        ("order_items", 365, 34137),
        ("orders", 306, 19711),
    ]
    assert max(quarantined / rows for _, quarantined, rows in shares) < 0.02 < 0.2
    for table in ("customers", "orders", "order_items", "email_events", "campaigns"):
        assert query(sample_replay.warehouse, f"select count(*) from quality.gate_quarantine_{table}") == [
            (0,)
        ]


def test_one_blank_customer_id_in_a_small_export_is_quarantined_and_the_run_goes_on(
    tmp_path: Path, runs: PipelineRuns
) -> None:
    """The case that used to stop a small shop: 52 customers, one without an id (1.9%), emails with a
    trailing space. The raw suite passes, staging quarantines the row, the run is green."""
    raw = tmp_path / "raw"
    customers = [f"k{number},buyer{number}@mail.ru " for number in range(1, 53)]
    customers[16] = ",blank@mail.ru"
    _write(raw / "customers.csv", "customer_id,email", customers)
    _write(
        raw / "orders.csv",
        ORDER_HEADER,
        _orders("o", [f"k{number}" for number in range(1, 41) if number != 17]),
    )
    warehouse = tmp_path / "crm.duckdb"
    runs.run(raw, warehouse)

    assert query(
        warehouse, "select table_name, source_file, source_row, quarantine_reason from audit.quarantined_rows"
    ) == [("customers", "customers.csv", 17, "missing_customer_id")]
    assert query(warehouse, "select count(*), count(email) from staging.stg_crm__customers") == [(51, 51)]
    assert query(warehouse, "select count(*) from marts.customer_rfm") == [(39,)]
    suite = next(spec for spec in load_suites() if spec.name == "raw_customers")
    with connect_warehouse(warehouse) as con:
        outcome = validate(suite, con, AS_OF)
    assert outcome.passed, outcome.describe()
    assert outcome.failed_warnings == []


def test_an_empty_rfm_with_completed_orders_stops_the_segments(tmp_path: Path, runs: PipelineRuns) -> None:
    """Every order is of an unknown customer; with the quarantine gate off (share 1) the RFM check
    still stops the run: customer_rfm comes out empty although 35 completed orders exist."""
    raw = _raw_with_tiny_customers(tmp_path)
    orders = _orders("u", ["c404"] * 35) + _orders("f", ["c405"] * 5, day="2024-07-15")
    _write(raw / "orders.csv", ORDER_HEADER, orders)
    warehouse = tmp_path / "crm.duckdb"
    with pytest.raises(DbtBuildError) as failure:
        runs.run(raw, warehouse, extra_vars={"max_quarantine_share": 1})
    message = str(failure.value)
    assert "not_empty_when_completed_orders_customer_rfm" in message
    assert (
        "marts.customer_rfm is empty as of 2024-06-30, yet staging has 35 completed order rows dated up to "
        "then (35 of them quarantined): no buyer would be segmented" in message
    )
    assert "quarantine gate:" not in message
    # dim_customers, which every segment reads, waits for customer_rfm's tests.
    assert runs.statuses(warehouse, "customer_rfm", "dim_customers") == {
        "customer_rfm": "success",
        "dim_customers": "skipped",
    }
    assert "segment_membership" not in _tables(warehouse, "marts")


def test_the_nightly_job_stops_at_the_gate_once_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m orchestration run` (the Dagster job): the gate's failure is not retried, and the
    table, share, reasons and lines are printed once."""
    from orchestration.__main__ import main

    raw = _raw_with_tiny_customers(tmp_path)
    _write(raw / "orders.csv", ORDER_HEADER, _orders("o", ["c1"] * 10) + _orders("u", ["c404"] * 30))
    monkeypatch.setenv("CRM_SEGMENTS_RAW_DIR", str(raw))
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(tmp_path / "crm.duckdb"))
    monkeypatch.setenv("CRM_SEGMENTS_AS_OF", AS_OF.isoformat())
    assert main(["run"]) == 1
    error = capsys.readouterr().err
    # The non-retryable failure of failed dbt tests (a retried step would fail with dbt's own error).
    assert "dbt tests failed: quarantine_share_within_limit_stg_crm__orders_orders" in error
    assert error.count("quarantine gate: orders: 30 of 40 rows quarantined (75.0%)") == 1
    assert "top reasons: unknown_customer: 30" in error
    assert "orders.csv:12 (unknown_customer)" in error
    assert "customer_rfm" not in _tables(tmp_path / "crm.duckdb", "marts")
