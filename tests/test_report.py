"""The segment report (orchestration/report): built by the nightly job on the replayed sample, by
`python -m orchestration report`, and on a warehouse with no orders yet. Each number the page embeds
is compared with SQL on the marts; headless Chromium loads the page with no errors and draws every chart.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from orchestration.__main__ import main
from orchestration.duckdb_profile import connect_warehouse
from orchestration.report import ReportError, report_dir
from orchestration.report.build import build_report
from orchestration.report.i18n import EN, Translator
from tests.conftest import (
    SAMPLE_REPLAY_DATES,
    BuildWarehouse,
    SampleReplay,
    copy_warehouse,
    query,
)

CHROMIUM = Path("/usr/bin/chromium")
FIRST, LAST = SAMPLE_REPLAY_DATES
# Before the tiny fixture's first order (2023-01-10): customers, no orders.
NO_ORDERS_AS_OF = date(2023, 1, 1)


class _ScriptReader(HTMLParser):
    """The text of the page's <script type="application/json" id=…> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("type") == "application/json":
            self._current = attributes.get("id")
            self.scripts[self._current or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.scripts[self._current] += data


def page_json(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    reader = _ScriptReader()
    reader.feed(path.read_text(encoding="utf-8"))
    return json.loads(reader.scripts["report-data"]), json.loads(reader.scripts["report-charts"])


def blocks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["id"]: block for section in data["sections"] for block in section["blocks"]}


def by(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    return {tuple(row[key] for key in keys) if len(keys) > 1 else row[keys[0]]: row for row in rows}


def approx(value: Any) -> Any:
    return pytest.approx(float(value), rel=1e-9, abs=1e-9) if value is not None else None


def load_in_chromium(path: Path) -> str:
    """The DOM after the page's scripts ran (headless Chromium, virtual time: no sleeping)."""
    assert CHROMIUM.exists(), "headless Chromium is needed: `make chromium` installs Debian's package"
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # Console messages reach stderr too: an uncaught error would show there as well as in the page.
    assert "Uncaught" not in result.stderr, result.stderr[-2000:]
    return result.stdout


class _ChartReader(HTMLParser):
    """Per chart element (id chart-…): whether vega-embed marked it drawn and how many <svg> it holds."""

    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "col", "area", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.rendered: dict[str, bool] = {}
        self.rows: dict[str, int] = {}
        self.svgs: dict[str, int] = {}
        self._open: list[tuple[str, int]] = []  # (chart id, depth at which it opened)
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg":
            for chart_id, _ in self._open:
                self.svgs[chart_id] = self.svgs.get(chart_id, 0) + 1
        element_id = attributes.get("id") or ""
        if tag == "div" and element_id.startswith("chart-"):
            chart_id = element_id.removeprefix("chart-")
            self.rendered[chart_id] = attributes.get("data-rendered") == "true"
            self.rows[chart_id] = int(attributes.get("data-rows") or -1)
            self._open.append((chart_id, self._depth))
        if tag not in self.VOID:
            self._depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.handle_starttag(tag, attrs)
            self._depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        self._depth -= 1
        if self._open and self._open[-1][1] == self._depth:
            self._open.pop()


def assert_renders(path: Path, charts: dict[str, Any]) -> None:
    """No error on the page, and every chart drawn as SVG from all of its block's rows."""
    panel = blocks(page_json(path)[0])
    expected = {
        block_id: len(panel[block.get("rows_from") or block_id]["rows"]) for block_id, block in panel.items()
    }
    dom = load_in_chromium(path)
    errors = re.search(r'<pre id="report-errors">(.*?)</pre>', dom, re.DOTALL)
    assert errors is not None and errors.group(1) == "", errors and errors.group(1)
    reader = _ChartReader()
    reader.feed(dom)
    assert set(reader.rendered) == set(charts)
    for chart_id in charts:
        assert reader.rendered[chart_id] and reader.svgs.get(chart_id, 0) >= 1, chart_id
        assert reader.rows[chart_id] == expected[chart_id] > 0, chart_id


# --- The replayed sample: the nightly job built the report ---------------------------------------


@pytest.fixture(scope="module")
def sample_report(sample_replay: SampleReplay) -> Path:
    return report_dir(sample_replay.warehouse) / "index.html"


@pytest.fixture(scope="module")
def sample_page(sample_report: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return page_json(sample_report)


def test_the_nightly_job_writes_the_report_and_a_dated_copy(sample_replay: SampleReplay) -> None:
    folder = report_dir(sample_replay.warehouse)
    assert folder == sample_replay.warehouse.parent / "crm_report"
    # A replay runs the nightly job for its last date only: one dated copy, compared with the first date.
    assert sorted(path.name for path in folder.glob("*.html")) == [f"{LAST}.html", "index.html"]
    assert (folder / "index.html").read_bytes() == (folder / f"{LAST}.html").read_bytes()
    data, _ = page_json(folder / "index.html")
    assert (data["as_of"], data["previous_as_of"]) == (LAST.isoformat(), FIRST.isoformat())


def test_the_page_is_self_contained_and_small(sample_report: Path) -> None:
    html = sample_report.read_text(encoding="utf-8")
    assert sample_report.stat().st_size < 5_000_000
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://cdn", html)
    assert "window.vegaEmbed" in html


def test_only_the_top_20_customers_are_on_the_page(sample_replay: SampleReplay, sample_report: Path) -> None:
    html = sample_report.read_text(encoding="utf-8")
    customers = {
        row[0] for row in query(sample_replay.warehouse, "select customer_id from marts.dim_customers")
    }
    shown = {token for token in re.findall(r"C\d{7}", html) if token in customers}
    top = {
        row[0]
        for row in query(
            sample_replay.warehouse,
            "select customer_id from marts.customer_predictions order by predicted_clv_12m desc, customer_id "
            "limit 20",
        )
    }
    assert shown == top


def test_digest_numbers_equal_the_marts(sample_replay: SampleReplay, sample_page) -> None:
    data, _ = sample_page
    digest = by(blocks(data)["digest"]["rows"], "segment_key")
    assert list(digest) == [
        "likely_to_buy_soon",
        "due_for_repurchase",
        "churn_risk_high",
        "rfm_vip",
        "level1_lapsed",
    ]
    expected = query(
        sample_replay.warehouse,
        """
        select c.segment_key, c.members, c.members - p.members, d.entered, d.exited, c.description, c.owner
        from marts.segment_catalog as c
        join marts.segment_daily_sizes as d on d.segment_key = c.segment_key and d.as_of_date = ?
        join marts.segment_daily_sizes as p on p.segment_key = c.segment_key and p.as_of_date = ?
        where c.segment_key in ('likely_to_buy_soon', 'due_for_repurchase', 'churn_risk_high', 'rfm_vip',
            'level1_lapsed')
        """,
        [LAST, FIRST],
    )
    assert len(expected) == 5
    for key, members, change, entered, exited, description, owner in expected:
        row = digest[key]
        assert (row["members"], row["change"], row["entered"], row["exited"]) == (
            members,
            change,
            entered,
            exited,
        )
        assert (row["description"], row["owner"]) == (description, owner)
    syncs = query(
        sample_replay.warehouse,
        "select sync_name, status, sent, failed from marts.sync_runs where as_of_date = ? order by 1",
        [LAST],
    )
    assert syncs, "the sample's sync config delivers to files"
    shown = [
        (row["sync_name"], row["status"], row["sent"], row["failed"]) for row in blocks(data)["syncs"]["rows"]
    ]
    assert shown == [tuple(row) for row in syncs]


def test_rfm_numbers_equal_the_marts(sample_replay: SampleReplay, sample_page) -> None:
    data, charts = sample_page
    panel = blocks(data)
    grid = query(
        sample_replay.warehouse,
        "select r_score, f_score, m_score, count(*), sum(monetary) from marts.customer_rfm group by all",
    )
    shown = by(panel["rfm_grid"]["rows"], "r_score", "f_score", "m_score")
    assert len(shown) == len(grid)
    for r, f, m, customers, revenue in grid:
        assert shown[(r, f, m)]["customers"] == customers
        assert shown[(r, f, m)]["revenue"] == approx(revenue)
    segments = query(
        sample_replay.warehouse,
        "select rfm_segment, count(*), sum(monetary), sum(monetary) / sum(frequency) from marts.customer_rfm "
        "group by all",
    )
    shown = by(panel["rfm_segments"]["rows"], "rfm_segment")
    assert len(shown) == len(segments)
    for segment, customers, revenue, aov in segments:
        assert shown[segment]["customers"] == customers
        assert shown[segment]["revenue"] == approx(revenue)
        assert shown[segment]["avg_order_value"] == approx(aov)
    # The latest point of each line and the movement matrix's columns are today's segment sizes.
    today = {segment: customers for segment, customers, _, _ in segments}
    latest = {
        row["rfm_segment"]: row["customers"]
        for row in panel["rfm_over_time"]["rows"]
        if row["as_of_date"] == LAST.isoformat()
    }
    assert latest == today
    arrived: dict[str, int] = {}
    for row in panel["rfm_movement"]["rows"]:
        arrived[row["to_segment"]] = arrived.get(row["to_segment"], 0) + row["customers"]
    arrived.pop("(none)", None)
    assert arrived == today
    assert {"rfm_grid", "rfm_segments", "rfm_over_time", "rfm_movement"} <= set(charts)


def test_segment_numbers_equal_the_marts(sample_replay: SampleReplay, sample_page) -> None:
    data, _ = sample_page
    panel = blocks(data)
    catalog = query(
        sample_replay.warehouse,
        "select segment_key, members, holdout_members, emailable_members from marts.segment_catalog",
    )
    shown = by(panel["segment_sizes"]["rows"], "segment_key")
    assert {
        key: (row["members"], row["holdout_members"], row["emailable_members"]) for key, row in shown.items()
    } == {key: (members, holdout, emailable) for key, members, holdout, emailable in catalog}
    flows = query(
        sample_replay.warehouse,
        "select as_of_date, segment_key, members, entered, exited from marts.segment_daily_sizes",
    )
    shown = by(panel["segment_flows"]["rows"], "as_of_date", "segment_key")
    assert len(shown) == len(flows) == 2 * len(catalog)
    for as_of, key, members, entered, exited in flows:
        assert (shown[(as_of.isoformat(), key)]["members"], shown[(as_of.isoformat(), key)]["entered"]) == (
            members,
            entered,
        )
        assert shown[(as_of.isoformat(), key)]["exited"] == exited
    roi = query(
        sample_replay.warehouse,
        "select segment_key, attributed_revenue, campaign_cost, roi from marts.segment_kpis "
        "where member_group = 'all' and as_of_date = ? and campaign_cost > 0",
        [LAST],
    )
    shown = by(panel["campaign_roi"]["rows"], "segment_key")
    assert roi and len(shown) == len(roi)
    for key, revenue, cost, value in roi:
        assert (shown[key]["attributed_revenue"], shown[key]["campaign_cost"]) == (
            approx(revenue),
            approx(cost),
        )
        assert shown[key]["roi"] == approx(value)
    # Two dates a month apart: no entry's outcome window has closed, and the panel says so.
    open_windows = query(
        sample_replay.warehouse,
        "select count(*) from marts.segment_uplift where as_of_date = ? and conversion_verdict != "
        "'no_closed_entries'",
        [LAST],
    )[0][0]
    assert len(panel["segment_uplift"]["rows"]) == open_windows
    if not open_windows:
        assert panel["segment_uplift"]["empty"].startswith(EN["empty_uplift"])


def test_prediction_and_cohort_numbers_equal_the_marts(sample_replay: SampleReplay, sample_page) -> None:
    data, _ = sample_page
    panel = blocks(data)
    predicted = query(
        sample_replay.warehouse,
        "select count(clv), count(*) filter (clv >= p99 / 20 * 19) from (select predicted_clv_12m as clv, "
        "quantile_cont(predicted_clv_12m, 0.99) over () as p99 from marts.customer_predictions)",
    )[0]
    histogram = panel["clv_distribution"]["rows"]
    assert sum(row["customers"] for row in histogram) == predicted[0]
    last = max(histogram, key=lambda row: row["bin"])
    assert (last["bin"], last["is_open_ended"], last["customers"]) == (19, True, predicted[1])
    risk = dict(
        query(
            sample_replay.warehouse,
            "select coalesce(churn_risk, 'not predicted'), count(*) from marts.customer_predictions "
            "group by all",
        )
    )
    assert {row["risk"]: row["customers"] for row in panel["churn_distribution"]["rows"]} == risk
    top = query(
        sample_replay.warehouse,
        "select customer_id, predicted_clv_12m, p_alive from marts.customer_predictions "
        "order by predicted_clv_12m desc, customer_id limit 20",
    )
    assert [
        (row["customer_id"], row["predicted_clv_12m"], row["p_alive"]) for row in panel["top_clv"]["rows"]
    ] == [(customer, approx(clv), approx(p_alive)) for customer, clv, p_alive in top]
    fits = query(
        sample_replay.warehouse,
        "select model, parameter, value, status from marts.clv_model_fits where as_of_date = ?",
        [LAST],
    )
    shown = by(panel["model_fits"]["rows"], "model", "parameter")
    assert fits and len(shown) == len(fits)
    for model, parameter, value, status in fits:
        assert (shown[(model, parameter)]["value"], shown[(model, parameter)]["status"]) == (
            approx(value),
            status,
        )
    cohorts = query(
        sample_replay.warehouse,
        "select strftime(cohort_month, '%Y-%m'), months_since_first_order, active_rate, "
        "cumulative_revenue_per_customer from marts.cohort_ltv where as_of_date = ?",
        [LAST],
    )
    shown = by(panel["cohort_retention"]["rows"], "cohort_month", "months_since_first_order")
    assert cohorts and len(shown) == len(cohorts)
    for month, since, rate, ltv in cohorts:
        row = shown[(month, since)]
        assert (row["active_rate"], row["cumulative_revenue_per_customer"]) == (approx(rate), approx(ltv))


def test_data_quality_numbers_equal_the_marts(sample_replay: SampleReplay, sample_page) -> None:
    data, _ = sample_page
    panel = blocks(data)
    reconciliation = query(
        sample_replay.warehouse,
        "select table_name, sum(raw_rows), sum(staged_rows), sum(quarantined_rows) "
        "from audit.raw_row_reconciliation group by all order by 1",
    )
    assert [
        (row["table_name"], row["raw_rows"], row["staged_rows"], row["quarantined_rows"])
        for row in panel["reconciliation"]["rows"]
    ] == [tuple(row) for row in reconciliation]
    quarantine = query(
        sample_replay.warehouse,
        "select table_name, quarantine_reason, count(*) from audit.quarantined_rows group by all",
    )
    assert quarantine
    assert {
        (row["table_name"], row["quarantine_reason"]): row["quarantined_rows"]
        for row in panel["quarantine"]["rows"]
    } == {(table, reason): rows for table, reason, rows in quarantine}
    over_time = query(
        sample_replay.warehouse,
        "select cast(_staged_in_run as date)::varchar, table_name, count(*) from audit.quarantined_rows "
        "group by all order by 1, 2",
    )
    assert sum(rows for _, _, rows in over_time) == sum(rows for _, _, rows in quarantine)
    assert [
        (row["staged_on"], row["table_name"], row["quarantined_rows"])
        for row in panel["quarantine_over_time"]["rows"]
    ] == [tuple(row) for row in over_time]
    suites = query(
        sample_replay.warehouse,
        "select suite, passed, rows_checked from quality.suite_results where as_of_date = ?",
        [LAST],
    )
    assert len(suites) == 8
    assert {row["suite"]: (row["status"], row["rows_checked"]) for row in panel["gx_results"]["rows"]} == {
        suite: ("passed" if passed else "failed", rows) for suite, passed, rows in suites
    }
    assert panel["sync_errors"]["rows"] == [] and panel["sync_errors"]["empty"] == EN["empty_sync_errors"]


def test_chromium_loads_the_sample_report_and_draws_every_chart(sample_report: Path, sample_page) -> None:
    _, charts = sample_page
    assert set(charts) == {
        "rfm_grid",
        "rfm_segments",
        "rfm_over_time",
        "rfm_movement",
        "segment_flows",
        "campaign_roi",
        "clv_distribution",
        "churn_distribution",
        "cohort_retention",
        "cohort_revenue",
        "quarantine",
        "quarantine_over_time",
    }
    assert_renders(sample_report, charts)


def test_make_report_rebuilds_the_same_page_from_the_warehouse(
    sample_replay: SampleReplay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    warehouse = copy_warehouse(sample_replay.warehouse, tmp_path / sample_replay.warehouse.name)
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(warehouse))
    monkeypatch.delenv("CRM_SEGMENTS_AS_OF", raising=False)
    assert main(["report"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tmp_path / "crm_report" / "index.html")
    # A re-run gives the same bytes; and the same page as the nightly job's.
    job_page = (report_dir(sample_replay.warehouse) / "index.html").read_bytes()
    assert Path(printed).read_bytes() == job_page
    assert main(["report"]) == 0
    assert Path(printed).read_bytes() == job_page
    with pytest.raises(ReportError, match=f"is as of {LAST}, not {FIRST}"):
        build_report(warehouse, FIRST)


def test_a_missing_warehouse_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_DUCKDB", str(tmp_path / "none.duckdb"))
    assert main(["report"]) == 1
    error = capsys.readouterr().err
    missing = tmp_path / "none.duckdb"
    assert (
        error
        == f"crm-segments: no warehouse at {missing}: run `make run` first (or set CRM_SEGMENTS_DUCKDB)\n"
    )


# --- A warehouse with customers but no orders yet ------------------------------------------------


@pytest.fixture(scope="module")
def young_report(tmp_path_factory: pytest.TempPathFactory, build_warehouse: BuildWarehouse) -> Path:
    """The tiny fixture before its first order, one date of history: every panel's empty state."""
    warehouse = tmp_path_factory.mktemp("young") / "crm.duckdb"
    build_warehouse(as_of=NO_ORDERS_AS_OF, duckdb_path=warehouse)
    return build_report(warehouse)


@pytest.mark.slow
def test_a_young_warehouse_says_so_in_each_panel(young_report: Path) -> None:
    data, charts = page_json(young_report)
    assert (data["as_of"], data["previous_as_of"]) == (NO_ORDERS_AS_OF.isoformat(), None)
    panel = blocks(data)
    expected_empty = {
        "rfm_grid": EN["empty_rfm"],
        "rfm_segments": EN["empty_rfm"],
        "rfm_over_time": EN["empty_history"],
        "rfm_movement": EN["empty_movement"],
        "segment_flows": EN["empty_history"],
        "campaign_roi": EN["empty_campaigns"],
        "clv_distribution": EN["empty_predictions"],
        "churn_distribution": EN["empty_predictions"],
        "top_clv": EN["empty_predictions"],
        "cohort_retention": EN["empty_cohorts"],
        "cohort_revenue": EN["empty_cohorts"],
        "syncs": EN["empty_syncs"],
        "gx_results": EN["empty_gx"],
    }
    for block_id, sentence in expected_empty.items():
        assert (panel[block_id]["rows"], panel[block_id]["empty"]) == ([], sentence), block_id
    assert panel["segment_uplift"]["empty"].startswith(EN["empty_uplift"])
    # Never an empty axis without a word: a panel with no rows has no chart and a sentence.
    for block in panel.values():
        if not block["rows"] and block["id"] not in charts:
            assert block["empty"], block["id"]
        if block["id"] in charts:
            assert block["rows"] or block["id"] == "cohort_revenue", block["id"]
    assert [row["members"] for row in panel["digest"]["rows"]] == [0, 0, 0, 0, 0]
    assert all(row["change"] is None for row in panel["digest"]["rows"])


@pytest.mark.slow
def test_chromium_loads_the_young_report_without_errors(young_report: Path) -> None:
    _, charts = page_json(young_report)
    assert_renders(young_report, charts)
    assert "empty" in young_report.read_text(encoding="utf-8")


def test_the_dictionary_falls_back_to_english() -> None:
    english, russian = Translator("en"), Translator("ru")
    assert russian("digest") == "Утренняя сводка"
    assert russian("col_size") == english("col_size") == "Size today"
    assert english("rfm_movement", from_date="2026-10-20", to_date="2026-11-20").endswith(
        "from 2026-10-20 to 2026-11-20"
    )
    with pytest.raises(ValueError, match="no report dictionary for language 'de'"):
        Translator("de")


def test_make_runs_progress_line_for_the_report_step() -> None:
    import dagster as dg

    from orchestration.progress import _Step, describe_step

    step = _Step(started=0.0)
    metadata = {"path": dg.MetadataValue.path("/srv/crm_report/index.html")}
    step.materialized.append((dg.AssetKey(["report", "segment_report"]), metadata))
    assert (
        describe_step("report__segment_report", step)
        == "wrote the segment report: /srv/crm_report/index.html"
    )


def test_the_report_runs_after_the_syncs_without_waiting_on_them() -> None:
    """A failed sync must not skip the report (its digest shows the failure): no sync among its
    dependencies, and a priority below the syncs' (0) and the published copy's (-1)."""
    import dagster as dg

    from orchestration.definitions import defs

    report = defs.resolve_asset_graph().get(dg.AssetKey(["report", "segment_report"]))
    assert report.group_name == "report"
    assert not [key for key in report.parent_keys if key.path[0] == "syncs"]
    assert dg.AssetKey(["marts", "segment_kpis"]) in report.parent_keys
    job = defs.resolve_job_def("nightly")
    assert job.graph.node_named("report__segment_report").definition.tags["dagster/priority"] == "-2"


def test_closed_windows_show_the_uplift_and_its_interval_as_the_mart_says(
    sample_replay: SampleReplay, tmp_path: Path
) -> None:
    """The two-date replay closes no window, so a copy marks rfm_vip's 7-day window closed with known
    numbers: the panel shows exactly that row, interval and verdict included."""

    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(sample_replay.warehouse, warehouse)
    with connect_warehouse(warehouse) as con:
        con.execute(
            "update marts.segment_uplift set treated_members = 40, holdout_members = 10, "
            "treated_conversion_rate = 0.25, holdout_conversion_rate = 0.1, "
            "conversion_rate_difference = 0.15, "
            "conversion_rate_difference_ci_lower = -0.05, conversion_rate_difference_ci_upper = 0.35, "
            "incremental_revenue = 12345.5, roi = 2.5, conversion_verdict = 'no_clear_difference' "
            "where as_of_date = ? and segment_key = 'rfm_vip' and window_days = 7",
            [LAST],
        )
    page = build_report(warehouse, LAST, tmp_path / "report")
    rows = blocks(page_json(page)[0])["segment_uplift"]["rows"]
    assert rows == [
        {
            "segment_key": "rfm_vip",
            "window_days": 7,
            "treated_members": 40,
            "holdout_members": 10,
            "treated_conversion_rate": 0.25,
            "holdout_conversion_rate": 0.1,
            "conversion_rate_difference": 0.15,
            "conversion_rate_difference_ci_lower": -0.05,
            "conversion_rate_difference_ci_upper": 0.35,
            "incremental_revenue": 12345.5,
            "roi": 2.5,
            "conversion_verdict": "no_clear_difference",
        }
    ]
