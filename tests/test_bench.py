"""The benchmark's comparison code (bench/) on a tiny generated scale, so it can't rot between runs.

Asserts that the project's RFM, the pandas way and the hand-written DuckDB query agree on every
customer, that a disagreement fails loudly, and that the report renders; never a timing.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bench import rfm
from bench.data import ensure_data, parse_scale, scale_label
from bench.dbt_artifacts import RFM_MODEL, read_invocation
from bench.report import machine, render
from bench.split import add_drops, remove_drops, split_last_day
from orchestration.duckdb_profile import connect_warehouse
from orchestration.landing import land_raw_files
from orchestration.settings import PROJECT_DIR, Settings
from tests.conftest import TINY_RAW_DIR

# Whole pipeline runs, Dagster jobs or `make` processes: `make test-fast` skips them.
pytestmark = pytest.mark.slow

TINY_CUSTOMERS = 300


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    """300 generated customers, landed, and `marts.customer_rfm` built as of the last generated day."""
    base = tmp_path_factory.mktemp("bench")
    data = ensure_data(base, TINY_CUSTOMERS, project_dir=PROJECT_DIR)
    settings = Settings(raw_dir=data.path, as_of=data.end, duckdb_path=base / "crm.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_WRITE_JSON", "true")  # read_invocation reads run_results.json
        rfm.build_rfm_only(settings)
    invocation = read_invocation(Path(os.environ["DBT_TARGET_PATH"]), "dbt build +customer_rfm", 0.0)
    return settings, {"data": data.to_json(), "invocation": invocation}


def test_parse_scale() -> None:
    assert [parse_scale(text) for text in ("300", "100k", "1m", "2.5k")] == [300, 100_000, 1_000_000, 2_500]
    assert [scale_label(n) for n in (300, 100_000, 1_000_000, 2_500)] == ["300", "100k", "1m", "2500"]
    with pytest.raises(ValueError):
        parse_scale("lots")


def test_cached_data_is_reused(tiny_bench: tuple[Settings, dict]) -> None:
    settings, built = tiny_bench
    again = ensure_data(settings.duckdb_path.parent, TINY_CUSTOMERS, project_dir=PROJECT_DIR)
    assert again.cached and again.path == settings.raw_dir
    assert again.rows == built["data"]["rows"] and again.rows["orders"] > TINY_CUSTOMERS


def test_the_three_rfm_computations_agree_and_the_report_renders(tiny_bench: tuple[Settings, dict]) -> None:
    settings, built = tiny_bench
    result = rfm.compare(settings.duckdb_path, settings.as_of)
    agreement = result["agreement"]
    assert agreement["ok"]
    assert agreement["customers"] > 100
    assert agreement["completed_orders"] > agreement["customers"]
    assert set(agreement["mismatches"].values()) == {0}

    model = next(node for node in built["invocation"]["nodes"] if node["id"] == RFM_MODEL)
    result["project_isolated"] = [{"wall_seconds": 1.0, "model_seconds": model["seconds"]}]
    scale = {
        "customers": TINY_CUSTOMERS,
        "label": scale_label(TINY_CUSTOMERS),
        "seed": 42,
        "started_at": "2026-01-01T00:00:00+00:00",
        "load_at_start": (0.5, 0.5, 0.5),
        "cpu_check_at_start": 0.91,
        "cpu_check_at_end": 1.25,
        "profile": "memory_limit=4GB",
        "data": built["data"],
        "phases": {
            "rfm": {
                "ok": True,
                "returncode": 0,
                "timed_out": False,
                "wall_seconds": 2.0,
                "peak_rss_bytes": 10**8,
                "load_before": (0.5, 0.5, 0.5),
                "load_after": (0.5, 0.5, 0.5),
                "log": "rfm.log",
                "worker": result,
            }
        },
        "skipped": {"full_build": "not run in this test"},
    }
    report = render([scale])
    assert "| Measurement | 300 |" in report
    assert f"agree on all {agreement['customers']} buyers" in report
    assert "ratio (a) / (c)" in report and "1M customers was not run this time" in report
    assert (
        "| 300: CPU check (the same single-threaded DuckDB query on every run) "
        "| 0.91 s before, 1.25 s after |" in report
    )


def test_a_disagreement_fails_loudly(tiny_bench: tuple[Settings, dict]) -> None:
    settings, _ = tiny_bench
    with connect_warehouse(settings.duckdb_path, read_only=True) as con:
        rfm.run_floor(con, settings.as_of)
        pandas_rfm = rfm.run_pandas(con, settings.as_of)
        pandas_rfm.by_customer.loc[0, "frequency"] += 1
        with pytest.raises(rfm.RfmDisagreement, match="differ in frequency"):
            rfm.check_agreement(con, settings.as_of, pandas_rfm)


def test_the_floor_computes_the_projects_whole_rfm_result(tiny_bench: tuple[Settings, dict]) -> None:
    settings, _ = tiny_bench
    with connect_warehouse(settings.duckdb_path, read_only=True) as con:
        rfm.run_floor(con, settings.as_of)
        columns = [row[0] for row in con.execute(f"describe {rfm.FLOOR_TABLE}").fetchall()]
        assert columns == [row[0] for row in con.execute("describe marts.customer_rfm").fetchall()]
        pandas_rfm = rfm.run_pandas(con, settings.as_of)
        assert rfm.check_agreement(con, settings.as_of, pandas_rfm)["ok"]
        # A score the project and the hand-written query disagree on is found, not only F and M.
        con.execute(
            f"update {rfm.FLOOR_TABLE} set rfm_code = '000' "
            f"where customer_id = (select min(customer_id) from {rfm.FLOOR_TABLE})"
        )
        with pytest.raises(rfm.RfmDisagreement, match=r"1 customers differ in recency, scores and segment"):
            rfm.check_agreement(con, settings.as_of, pandas_rfm)


def _one_million_result(phases: dict, skipped: dict[str, str]) -> dict:
    """A 1M scale's result as the benchmark records it, with these phases."""
    return {
        "customers": 1_000_000,
        "label": "1m",
        "seed": 42,
        "started_at": "2026-01-01T00:00:00+00:00",
        "load_at_start": (0.5, 0.5, 0.5),
        "phases": phases,
        "skipped": skipped,
    }


def test_a_failed_step_is_reported() -> None:
    phases = {
        "full_build": {
            "ok": False,
            "returncode": None,
            "timed_out": True,
            "wall_seconds": 1800.0,
            "peak_rss_bytes": 5 * 10**9,
            "log": "full_build.log",
            "error": "still running",
            "worker": None,
        }
    }
    report = render([_one_million_result(phases, {"nightly": "full_build did not succeed"})])
    verdict = "**not met** (timed out after 30 min 00.0 s)"
    assert (
        f"| Full build under 3 min | at least 30 min 00.0 s, stopped by the timeout | {verdict} |" in report
    )
    assert f"| at least 5.00 GB, stopped by the timeout | {verdict} |" in report
    assert "## Failures" in report and "still running" in report


def test_the_report_gives_the_wall_time_the_cpu_time_allows() -> None:
    def phase(wall: float, cpu: float) -> dict:
        return {
            "ok": True,
            "returncode": 0,
            "timed_out": False,
            "wall_seconds": wall,
            "peak_rss_bytes": 3 * 10**9,
            "log": "build.log",
            "worker": {"run_seconds": wall - 4.0, "cpu_seconds": cpu, "steps": []},
        }

    result = _one_million_result({"full_build": phase(395.3, 678.8), "nightly": phase(160.5, 281.6)}, {})
    report = render([result], machine() | {"cores": 2})
    assert (
        "Lower bounds at 1m: the full build used 11 min 18.8 s of CPU, so it cannot take less than "
        "5 min 39.4 s on 2 cores; its target allows at most 6 min 00.0 s of CPU; the nightly run used "
        "4 min 41.6 s of CPU, so it cannot take less than 2 min 20.8 s on 2 cores; its target allows at most "
        "60.0 s of CPU." in report
    )


def test_the_nightly_input_is_the_history_plus_one_day_of_drops(tmp_path: Path) -> None:
    day = date(2024, 6, 1)
    split = split_last_day(TINY_RAW_DIR, tmp_path / "split", day)
    # The tiny fixture's 2024-06-01: order o6 with its one line, and 9 of the 14 email events.
    assert split.rows == {"email_events": (5, 9), "orders": (20, 1), "order_items": (6, 1)}
    drop_orders = pd.read_csv(split.drops / "orders" / "2024-06-01.csv", dtype=str)
    drop_items = pd.read_csv(split.drops / "order_items" / "2024-06-01.csv", dtype=str)
    assert drop_orders["order_id"].tolist() == drop_items["order_id"].tolist() == ["o6"]
    assert (split.history / "customers.csv").resolve() == (TINY_RAW_DIR / "customers.csv").resolve()
    # The history keeps the file's order (the landing's _source_row is the line number).
    history = pd.read_csv(split.history / "orders.csv", dtype=str)
    everything = pd.read_csv(TINY_RAW_DIR / "orders.csv", dtype=str)
    assert history["order_id"].fillna("").tolist() == [
        order_id for order_id in everything["order_id"].fillna("") if order_id != "o6"
    ]

    add_drops(split)
    with duckdb.connect(str(tmp_path / "landing.duckdb")) as con:
        landed = {table.name: table.rows for table in land_raw_files(con, split.history)}
    assert (landed["orders"], landed["order_items"], landed["email_events"]) == (21, 7, 14)
    remove_drops(split)
    assert not (split.history / "orders").exists()
    assert split_last_day(TINY_RAW_DIR, tmp_path / "split", day).rows == split.rows


def test_the_replay_section_reads_the_progress_lines_and_the_clv_fits() -> None:
    from bench.replay import _CLV_FIT, _DATE_DONE, _seconds

    lines = "  [1/4] as of 2025-11-28 done, 36.4 s so far\n  [4/4] as of 2025-12-19 done, 1 min 51 s so far\n"
    assert [(int(i), day, _seconds(so_far)) for i, _, day, so_far in _DATE_DONE.findall(lines)] == [
        (1, "2025-11-28", 36.4),
        (4, "2025-12-19", 111.0),
    ]
    dbt_line = "21 of 35 OK created python table model intermediate.int_clv_fit ........ [OK in 1.88s]"
    assert _CLV_FIT.findall(dbt_line) == ["1.88"]
    replay = {
        "measured_at": "2026-12-04T19:00:00+00:00",
        "cpu_check_seconds": 1.0,
        "load_before": [0.5, 0.4, 0.3],
        "ok": True,
        "command": "-m orchestration replay --from 2025-11-28 --to 2025-12-19 --step 7",
        "dates": 4,
        "step_days": 7,
        "clv_fit_every_days": 7,
        "start": "2025-11-28",
        "end": "2025-12-19",
        "wall_seconds": 115.0,
        "peak_rss_bytes": 10**9,
        "dates_done": [
            [1, "2025-11-28", 36.0],
            [2, "2025-12-05", 42.0],
            [3, "2025-12-12", 50.0],
            [4, "2025-12-19", 111.0],
        ],
        "clv_fit_seconds": [11.0, 2.0, 3.0, 14.0],
        "error": None,
    }
    report = render([], machine() | {"cores": 2}, replay=replay)
    assert "`make replay FROM=2025-11-28 TO=2025-12-19 STEP=7` on the bundled sample" in report
    assert "| 4 dates, whole command (goal ≤ 5 min: met) | 115.0 s |" in report
    assert "| the 2 dates between (only the date's models), each on average | 7.00 s |" in report
    assert "| the last date (the nightly job: tests, checks, syncs, report, copy) | 61.0 s |" in report
    assert "| CLV fits (every 7 days): count, median | 4, 11.0 s |" in report


def test_the_jobs_steps_are_timed_from_its_events() -> None:
    """Each Dagster step's window (a retried one from its first start to its last end), under the names
    the report uses; the GX checks of one layer are one step; events without a step are ignored."""
    from types import SimpleNamespace

    from bench.worker import step_windows

    def record(at: float, kind: str, step_key: str | None) -> SimpleNamespace:
        event = SimpleNamespace(event_type_value=kind, step_key=step_key)
        return SimpleNamespace(timestamp=at, dagster_event=event)

    records = [
        SimpleNamespace(timestamp=0.0, dagster_event=None),
        record(1.0, "STEP_START", "raw_files"),
        record(2.5, "STEP_SUCCESS", "raw_files"),
        record(3.0, "STEP_START", "raw__orders_gx_raw_orders"),
        record(3.5, "STEP_SUCCESS", "raw__orders_gx_raw_orders"),
        record(4.0, "STEP_START", "crm_dbt_assets"),
        record(5.0, "STEP_FAILURE", "crm_dbt_assets"),
        record(15.0, "STEP_START", "crm_dbt_assets"),
        record(40.0, "STEP_SUCCESS", "crm_dbt_assets"),
        record(41.0, "STEP_START", "marts__customer_rfm_gx_marts_customer_rfm"),
        record(41.2, "STEP_SUCCESS", "marts__customer_rfm_gx_marts_customer_rfm"),
        record(41.3, "STEP_START", "published__warehouse_copy"),
        record(42.0, "RUN_SUCCESS", None),
    ]
    assert step_windows(records) == {
        "land": [(1.0, 2.5)],
        "GX raw suites": [(3.0, 3.5)],
        "dbt build": [(4.0, 40.0)],
        "GX mart suites": [(41.0, 41.2)],
    }
