"""Renders the benchmark results as BENCHMARKS.md: machine, data, results, targets, where the time goes."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.dbt_artifacts import RFM_MODEL, node_seconds, tested_models
from bench.monitor import CPU_CHECK_SQL

TARGET_CUSTOMERS = 1_000_000
TARGET_BUILD_SECONDS = 180
TARGET_PEAK_BYTES = 4e9
TARGET_NIGHTLY_SECONDS = 30
TARGET_RFM_RATIO = 1.5
PACKAGES = ("duckdb", "dbt-core", "dbt-duckdb", "pandas", "pymc-marketing")
KIND_ORDER = ("table", "incremental", "view", "python", "seed", "test", "unit_test")
# Models kept incrementally from the rows staging (re)staged (macros/incremental_facts.sql).
INCREMENTAL_FACTS = ("int_email_first_events", "quarantined_rows")
TOP_NODES = 12
FAILURE_LINES = 10


# --- formatting -------------------------------------------------------------------------------------


def short_id(unique_id: str) -> str:
    """test.crm_segments.not_null_x.1a2b3c → not_null_x; model.crm_segments.x → x."""
    parts = unique_id.split(".")
    return parts[2] if parts[0] == "test" and len(parts) > 2 else ".".join(parts[2:]) or unique_id


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 120:
        minutes, rest = divmod(value, 60)
        return f"{int(minutes)} min {rest:04.1f} s"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 0.1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def gigabytes(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e9:.2f} GB"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "–"
    return f"{numerator / denominator:.2f}×"


def count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}".replace(",", " ")


def load(values: Any) -> str:
    return "–" if not values else " / ".join(f"{value:.2f}" for value in values)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


# --- the machine ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


# --- reading one scale's result ---------------------------------------------------------------------


def _best(values: list[float] | None) -> float | None:
    return min(values) if values else None


@dataclass
class Scale:
    result: dict[str, Any]

    @property
    def label(self) -> str:
        return self.result["label"]

    def phase(self, name: str) -> dict[str, Any] | None:
        return self.result.get("phases", {}).get(name)

    def worker(self, name: str) -> dict[str, Any] | None:
        phase = self.phase(name)
        return phase.get("worker") if phase else None

    def wall(self, name: str) -> float | None:
        phase = self.phase(name)
        return phase["wall_seconds"] if phase else None

    def cpu(self, name: str) -> float | None:
        worker = self.worker(name)
        return worker.get("cpu_seconds") if worker else None

    def peak(self, name: str) -> float | None:
        phase = self.phase(name)
        return phase["peak_rss_bytes"] if phase else None

    def status(self, name: str) -> str:
        phase = self.phase(name)
        if phase is None:
            reason = self.result.get("skipped", {}).get(name) or self.result.get("data_error")
            return f"not run: {reason}" if reason else "not run"
        if phase["ok"]:
            return "ok"
        if phase["timed_out"]:
            return f"timed out after {seconds(phase['wall_seconds'])}"
        return f"failed (exit {phase['returncode']}) after {seconds(phase['wall_seconds'])}"

    def invocations(self, name: str) -> list[dict[str, Any]]:
        worker = self.worker(name) or {}
        return [step["dbt"] for step in worker.get("steps", []) if "dbt" in step]

    # RFM
    def rfm(self) -> dict[str, Any]:
        return self.worker("rfm") or {}

    def rfm_project_model(self) -> float | None:
        return _best([run["model_seconds"] for run in self.rfm().get("project_isolated", [])])

    def rfm_project_wall(self) -> float | None:
        return _best([run["wall_seconds"] for run in self.rfm().get("project_isolated", [])])

    def rfm_project_in_build(self) -> float | None:
        upstream = (self.worker("nightly") or {}).get("rfm_upstream")
        if not upstream:
            return None
        return node_seconds(self.invocations("nightly"), upstream)

    def rfm_seconds(self, key: str) -> list[float]:
        return self.rfm().get("seconds", {}).get(key, [])

    def rfm_pandas(self, compute: str) -> float | None:
        reads, computes = self.rfm_seconds("pandas_read"), self.rfm_seconds(compute)
        return _best([read + work for read, work in zip(reads, computes, strict=False)])

    def rfm_floor(self) -> float | None:
        return _best(self.rfm_seconds("floor"))

    def rfm_agreement(self) -> str:
        agreement = self.rfm().get("agreement")
        if not agreement:
            return self.status("rfm")
        if not agreement.get("ok"):
            return "**DISAGREE**: " + agreement.get("error", "").splitlines()[0]
        return (
            f"agree on all {count(agreement['customers'])} buyers ({count(agreement['completed_orders'])} "
            "completed orders): frequency exact, monetary within 0.01"
            + (
                "; (a) and (c) identical in every column (recency, scores, code, segment)"
                if any(name.startswith("recency, scores") for name in agreement.get("mismatches", {}))
                else ""
            )
        )

    # sync diff
    def diff(self) -> dict[str, Any]:
        return self.worker("syncdiff") or {}

    # segment report
    def report(self) -> dict[str, Any]:
        return self.worker("report") or {}


def megabytes(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e6:.2f} MB"


# --- sections ---------------------------------------------------------------------------------------


def _header(results: list[dict[str, Any]], info: dict[str, Any]) -> list[str]:
    scales = ",".join(result["label"] for result in results)
    started = min((result["started_at"] for result in results), default="")
    return [
        "# Benchmarks",
        "",
        f"Generated by `make bench` / `python -m bench` (scales {scales.replace(',', ', ')}; measured from "
        f"{started.replace('T', ' ').replace('+00:00', ' UTC')}, each scale's times below); what is measured "
        "and how: `bench/`. "
        "Rerun it to refresh this file: it is rewritten, so notes belong in `bench/report.py`.",
        "",
    ]


def _machine_section(results: list[dict[str, Any]], info: dict[str, Any]) -> list[str]:
    versions = info["versions"]
    rows = [
        ["CPU", f"{info['cores']} cores ({info['cpu_model'] or 'unknown model'})"],
        ["Memory", f"{gigabytes(info['memory_bytes'])} ({(info['memory_bytes'] or 0) / 2**30:.1f} GiB)"],
        ["OS", info["platform"]],
        ["Python", info["python"]],
        ["Packages", ", ".join(f"{name} {version}" for name, version in versions.items())],
        ["DuckDB settings (profiles.yml)", results[0].get("profile", "–") if results else "–"],
    ]
    for result in results:
        loads = [load(result.get("load_at_start"))]
        for name, phase in result.get("phases", {}).items():
            loads.append(f"{name} {load(phase.get('load_before'))} → {load(phase.get('load_after'))}")
        when = f"{result['started_at']} → {result.get('finished_at', '?')}".replace("T", " ")
        opts = result.get("options")
        if opts:
            limits = ", ".join(
                f"{flag} {int(opts[key])} s"
                for key, flag in (("timeout", "--timeout"), ("build_timeout", "--build-timeout"))
                if opts.get(key)
            )
            when += f" (--repeat {opts['repeat']}{', ' + limits if limits else ''})"
        rows.append(
            [f"{result['label']}: measured, load average (1/5/15 min)", f"{when}; " + "; ".join(loads)]
        )
        if result.get("cpu_check_at_start"):
            rows.append(
                [
                    f"{result['label']}: CPU check (the same single-threaded DuckDB query on every run)",
                    f"{seconds(result['cpu_check_at_start'])} before, "
                    f"{seconds(result.get('cpu_check_at_end'))} after",
                ]
            )
    busy = any((result.get("load_at_start") or [0])[0] > (info["cores"] or 1) * 0.5 for result in results)
    lines = ["## Machine and settings", "", *table(["", ""], rows)]
    if any(result.get("cpu_check_at_start") for result in results):
        lines += [
            f"The CPU check is `{CPU_CHECK_SQL}` with one DuckDB thread, best of 3: the host's speed at the "
            "time. This host's speed changes by tens of percent from one hour to the next (steal time, "
            "which the load average does not show), so compare runs only where their checks agree.",
            "",
        ]
    lines += [
        "dbt's connection, the landing's (`orchestration/landing.py`, its own connection before dbt) and "
        "the benchmark's own connections (hand-written RFM query, pandas read, sync diff) all use the "
        "profile's memory limit and threads above (`orchestration/duckdb_profile.py`).",
        "",
    ]
    if busy:
        lines += [
            "**Other processes were using the CPU during this run** (load averages above, on "
            f"{info['cores']} cores), so wall times are pessimistic; CPU seconds are given beside them.",
            "",
        ]
    return lines


def _data_section(scales: list[Scale]) -> list[str]:
    rows = []
    for scale in scales:
        data = scale.result.get("data")
        if not data:
            rows.append([scale.label, scale.result.get("data_error", "–")] + ["–"] * 6)
            continue
        data_rows = data["rows"]
        origin = "cached" if data["cached"] else "generated"
        rows.append(
            [
                scale.label,
                count(data_rows.get("customers")),
                count(data_rows.get("orders")),
                count(data_rows.get("order_items")),
                count(data_rows.get("email_events")),
                count(data_rows.get("campaigns")),
                f"{data['format']}, {data['bytes_on_disk'] / 1e9:.2f} GB",
                f"{seconds(data['generated_seconds'])} ({origin}), "
                f"peak {gigabytes(data['generated_peak_rss_bytes'])}",
            ]
        )
    first = next((scale.result["data"] for scale in scales if scale.result.get("data")), None)
    period = f"{first['start']}..{first['end']}, seed {first['seed']}" if first else "–"
    return [
        "## Data",
        "",
        "`python -m orchestration.sample_data --customers N --start-date 2020-07-01 --end-date 2026-11-20` "
        f"({period}), raw rows per table including the generator's deliberately dirty rows "
        "(quarantined by staging). The generator has no orders-per-customer knob: orders and email events "
        "grow with the simulated period, and over this period it makes ≈ 11 orders and ≈ 50 email events per "
        "customer (its events-to-orders ratio, ≈ 4.6, is fixed by its customer archetypes), so 100k "
        "customers ≈ 1.1M orders / 5.1M events and 1M ≈ 11M / 51M. The full build lands every row but the "
        "last generated day's orders, their lines and the day's email events (`bench/split.py`) and is as "
        "of the day before; the nightly run gets that day as drops (`orders/<day>.csv`, …), as a daily "
        "export would deliver it, and is as of that day.",
        "",
        *table(
            [
                "Scale",
                "customers",
                "orders",
                "order items",
                "email events",
                "campaigns",
                "files",
                "generation",
            ],
            rows,
        ),
    ]


def _results_section(scales: list[Scale]) -> list[str]:
    header = ["Measurement", *(scale.label for scale in scales)]

    def row(name: str, values: list[str]) -> list[str]:
        return [name, *values]

    def each(function: Any) -> list[str]:
        return [function(scale) for scale in scales]

    rows = [
        row(
            "**Full build** (the nightly job on an empty warehouse), as of",
            each(lambda s: s.result.get("full_as_of", "–")),
        ),
        row("  status", each(lambda s: s.status("full_build"))),
        row("  wall time", each(lambda s: seconds(s.wall("full_build")))),
        row("  CPU time (user + system)", each(lambda s: seconds(s.cpu("full_build")))),
        row("  peak memory (RSS of the process tree)", each(lambda s: gigabytes(s.peak("full_build")))),
        row(
            "  warehouse file",
            each(lambda s: gigabytes((s.worker("full_build") or {}).get("warehouse_bytes"))),
        ),
        row(
            "**Nightly run** (the job again), one new day, as of",
            each(lambda s: s.result.get("nightly_as_of", "–")),
        ),
        row("  status", each(lambda s: s.status("nightly"))),
        row(
            "  wall time",
            each(lambda s: seconds(s.wall("nightly"))),
        ),
        row("  CPU time", each(lambda s: seconds(s.cpu("nightly")))),
        row("  peak memory", each(lambda s: gigabytes(s.peak("nightly")))),
        row(
            "  of which publishing the copy for BI tools (`published/warehouse_copy`): time, share",
            each(_publish_cell),
        ),
        row(
            "  published copy: tables, rows, file",
            each(
                lambda s: (
                    f"{p['tables']}, {count(p['rows'])}, {gigabytes(p['bytes'])}"
                    if (p := (s.worker("nightly") or {}).get("published"))
                    else "–"
                )
            ),
        ),
        row(
            "**Sync diff**, 1% of the membership changed: rows (segments)",
            each(
                lambda s: (
                    f"{count(s.diff()['membership_rows'])} ({s.diff()['segments']})" if s.diff() else "–"
                )
            ),
        ),
        row("  method", each(lambda s: s.diff().get("method") or s.status("syncdiff"))),
        row(
            "  adds / updates / removes found",
            each(lambda s: " / ".join(count(v) for v in (s.diff().get("expected") or {}).values()) or "–"),
        ),
        row("  diff time (best of 3)", each(lambda s: seconds(_best(s.diff().get("compute_plan_seconds"))))),
        row(
            "  the same three anti-joins in DuckDB (floor)",
            each(lambda s: seconds(_best(s.diff().get("anti_join_seconds")))),
        ),
        row("**Segment report** (`make report`), status", each(lambda s: s.status("report"))),
        row(
            "  build time (best of 3; goal ≤ 10 s at 100k)",
            each(lambda s: seconds(_best(s.report().get("seconds")))),
        ),
        row(
            "  `make report`'s imports + first build (a fresh process)",
            each(
                lambda s: (
                    seconds(s.report()["import_seconds"] + s.report()["seconds"][0]) if s.report() else "–"
                )
            ),
        ),
        row("  page size (goal < 5 MB)", each(lambda s: megabytes(s.report().get("bytes")))),
        *(
            [
                row(
                    "**RFM-only build** (landing + `customer_rfm` and its upstream, no tests), because the "
                    "pipeline did not finish",
                    each(lambda s: s.status("rfm_build") if s.phase("rfm_build") else "not needed"),
                ),
                row("  wall time", each(lambda s: seconds(s.wall("rfm_build")))),
                row(
                    "  of which landing / dbt start-up / `customer_rfm` node",
                    each(lambda s: _rfm_build_parts(s.worker("rfm_build"))),
                ),
                row("  peak memory", each(lambda s: gigabytes(s.peak("rfm_build")))),
            ]
            if any(scale.phase("rfm_build") for scale in scales)
            else []
        ),
        row(
            "**RFM**, as of (runs of each computation, best kept)",
            each(lambda s: f"{s.rfm().get('as_of', '–')} ({_runs(len(s.rfm_seconds('floor')))})"),
        ),
        row(
            "  (a) project: `customer_rfm` (`dbt run -s customer_rfm`, node time)",
            each(lambda s: seconds(s.rfm_project_model())),
        ),
        row("  (a) same, wall time with dbt start-up", each(lambda s: seconds(s.rfm_project_wall()))),
        row(
            "  (a) in the nightly build: `customer_rfm` + upstream models (node times, 2 dbt threads)",
            each(lambda s: seconds(s.rfm_project_in_build())),
        ),
        row(
            "  (a) the views it reads, each materialised alone: staged orders / orders as of the date",
            each(
                lambda s: " / ".join(seconds(v) for v in s.rfm().get("upstream_seconds", {}).values()) or "–"
            ),
        ),
        row(
            "  (b) pandas: read staged orders into pandas",
            each(lambda s: seconds(_best(s.rfm_seconds("pandas_read")))),
        ),
        row(
            "  (b) pandas: filter + group-by", each(lambda s: seconds(_best(s.rfm_seconds("pandas_groupby"))))
        ),
        row(
            "  (b) PyMC-Marketing `rfm_summary`", each(lambda s: seconds(_best(s.rfm_seconds("rfm_summary"))))
        ),
        row(
            "  (c) hand-written DuckDB query: the same result (scores, code, segment)",
            each(lambda s: seconds(s.rfm_floor())),
        ),
        row(
            "  (c′) hand-written aggregate alone (frequency, monetary), for reference",
            each(lambda s: seconds(_best(s.rfm_seconds("aggregate")))),
        ),
        row(
            "  ratio (a) / (b) read + group-by",
            each(lambda s: ratio(s.rfm_project_model(), s.rfm_pandas("pandas_groupby"))),
        ),
        row(
            "  ratio (a) / (b) read + `rfm_summary`",
            each(lambda s: ratio(s.rfm_project_model(), s.rfm_pandas("rfm_summary"))),
        ),
        row("  ratio (a) / (c)", each(lambda s: ratio(s.rfm_project_model(), s.rfm_floor()))),
        row("  agreement", each(lambda s: s.rfm_agreement())),
    ]
    notes = [
        "RFM timings are the best of the runs (`--repeat`); (a), (b) and (c) start from the same staged "
        "orders (`staging.stg_crm__orders`, the usable rows of the base table where the raw text was "
        "parsed once): (a) is the project's RFM model, `marts.customer_rfm`; (c) computes the same table "
        "(every column; the agreement check compares recency, monetary, first order, average order, "
        "code and segment exactly) in one hand-written query, with the project's default RFM settings "
        "(quantile scores, `rfm_bins` and `rfm_segment_scheme` from dbt_project.yml):",
        "",
        "```sql",
        *_floor_sql_lines(),
        "```",
        "",
        "(c′) is the aggregate alone, less than the RFM result (no recency, scores or segment): "
        "`select customer_id, count(*) as frequency, cast(sum(amount_reporting) as decimal(18, 2)) as "
        "monetary from staging.stg_crm__orders where is_completed and ordered_at < $cutoff group by "
        "customer_id`.",
        "",
        "`rfm_summary(include_first_transaction=True)` counts purchase *days*, not orders (two orders on "
        "one day are one purchase, amounts summed): its frequency is checked against distinct purchase "
        "days and `frequency × monetary_value` against the total, and the per-order agreement uses the "
        "plain pandas group-by. "
        + "; ".join(
            f"{s.label}: {count(s.rfm()['agreement']['rfm_summary_same_day_customers'])} buyers had two "
            f"or more orders on one day ({count(s.rfm()['agreement']['rfm_summary_merged_orders'])} "
            "orders merged)"
            for s in scales
            if s.rfm().get("agreement", {}).get("ok")
        )
        + ".",
        "",
        *_rfm_gap(scales),
        "The sync diff treats the whole `marts.segment_membership` (all segments, keyed by segment and "
        "customer) as one sync's contacts and a delivered state with 1% of rows changed (⅓ new, ⅓ with other "
        "fields, ⅓ gone), in an in-memory DuckDB database holding a copy of the membership; preparing the "
        "contacts from the membership and the consent facts is not included.",
        "",
    ]
    return ["## Results", "", *_project_changes(scales), *table(header, rows), *notes]


def _node_counts(scale: Scale, name: str) -> tuple[int, int] | None:
    nodes = [node for inv in scale.invocations(name) for node in inv["nodes"]]
    if not nodes:
        return None
    tests = sum(node["kind"] in ("test", "unit_test") for node in nodes)
    return sum(node["id"].startswith("model.") for node in nodes), tests


def _project_changes(scales: list[Scale]) -> list[str]:
    """Notes when the project changed under the benchmark (other people edit it while it runs)."""
    notes = []
    for scale in scales:
        prints = {
            phase.get("project_fingerprint")
            for phase in scale.result.get("phases", {}).values()
            if phase.get("project_fingerprint")
        }
        full, nightly = _node_counts(scale, "full_build"), _node_counts(scale, "nightly")
        if len(prints) > 1 or (full and nightly and full != nightly):
            detail = ""
            if full and nightly and full != nightly:
                detail = (
                    f": the full build ran {full[0]} models and {full[1]} tests, "
                    f"the nightly run {nightly[0]} models and {nightly[1]} tests"
                )
            notes.append(
                f"**At {scale.label} the project's files changed between steps** (it was being edited while "
                f"the benchmark ran){detail}: its steps did not all run the same version of the project."
            )
    return [line for note in notes for line in (note, "")]


def _rfm_build_parts(worker: dict[str, Any] | None) -> str:
    if not worker:
        return "–"
    invocation = worker["dbt"]
    model = next((node["seconds"] for node in invocation["nodes"] if node["id"] == RFM_MODEL), None)
    if "land_seconds" in worker:
        return " / ".join(
            seconds(part) for part in (worker["land_seconds"], invocation["startup_seconds"], model)
        )
    # Older results timed the landing together with dbt's start-up.
    return f"– / {seconds(invocation['startup_seconds'])} (with the landing) / {seconds(model)}"


def _floor_sql_lines() -> list[str]:
    from bench.rfm import floor_sql, project_rfm_settings

    sql = floor_sql(*project_rfm_settings())
    return [line for line in sql.strip().splitlines() if not line.startswith("create or replace")]


def _rfm_gap(scales: list[Scale]) -> list[str]:
    """Why (a) differs from (c), from the cost of reading the staged orders alone."""
    lines = []
    for scale in scales:
        upstream = scale.rfm().get("upstream_seconds")
        model, floor = scale.rfm_project_model(), scale.rfm_floor()
        if not upstream or not model or not floor:
            continue
        orders = upstream.get("staging.stg_crm__orders")
        lines.append(
            f"At {scale.label}, (a) takes {seconds(model)} against {seconds(floor)} for (c); materialising "
            f"the staged orders alone takes {seconds(orders)}."
        )
    if lines:
        lines.append(
            "(a) is the same computation as (c), written as dbt CTEs (DuckDB plans them as one query), plus "
            "what dbt's table materialisation does around it: the table is built under a temporary name, "
            "swapped in and the old one dropped, in a transaction. `customer_rfm` aggregates the orders "
            "itself; `int_customer_order_metrics`, which the lifecycle and `dim_customers` read, computes "
            "eight more aggregates and is not on its path."
        )
    return [" ".join(lines), ""] if lines else []


def _target_scale(scales: list[Scale]) -> Scale | None:
    """The 1M scale if it was run, else the largest one (the table then says so)."""
    exact = [scale for scale in scales if scale.result["customers"] == TARGET_CUSTOMERS]
    return exact[0] if exact else max(scales, key=lambda scale: scale.result["customers"], default=None)


def _verdict(value: float | None, limit: float, status: str, *, bound_when_failed: bool = False) -> str:
    """met / **not met** for one target. A step that did not finish does not meet a target, except
    that its peak memory so far is only a lower bound (`bound_when_failed`): known to miss the limit
    if already above it, otherwise unknown."""
    if status != "ok":
        if bound_when_failed and (value is None or value < limit):
            return f"unknown ({status})"
        return f"**not met** ({status})"
    if value is None:
        return "not measured"
    return "met" if value < limit else "**not met**"


def _runs(number: int) -> str:
    return f"{number} run" if number == 1 else f"{number} runs"


def _measured(scale: Scale, step: str, text: str) -> str:
    """The measured value, or what happened to the step that should have measured it."""
    status = scale.status(step)
    if status == "ok":
        return text
    phase = scale.phase(step)
    if phase and phase["timed_out"]:
        progress = phase.get("progress") or ""
        stopped = progress.split(": ", 1)[1].split(";", 1)[0] if ": " in progress else ""
        return f"at least {text}, stopped by the timeout" + (f" at {stopped}" if stopped else "")
    return status


def _targets_section(scales: list[Scale], cores: int | None) -> list[str]:
    target = _target_scale(scales)
    lines = ["## Targets (a 2-core, 24 GB machine at 1M customers)", ""]
    if target is None:
        return lines + ["Nothing was measured.", ""]
    if target.result["customers"] != TARGET_CUSTOMERS:
        lines += [
            f"1M customers was not run this time: the verdicts are for {target.label} instead, which is "
            "indicative only (a 1M run is at least as slow).",
            "",
        ]

    def rfm_ratio(scale: Scale) -> float | None:
        model, floor = scale.rfm_project_model(), scale.rfm_floor()
        return model / floor if model and floor else None

    # target, the step measuring it, its value, how to show it, the limit, value of a failed step is a bound
    specs = [
        (
            "Full build under 3 min",
            "full_build",
            lambda s: s.wall("full_build"),
            seconds,
            TARGET_BUILD_SECONDS,
            False,
        ),
        (
            "Peak memory under 4 GB (full build)",
            "full_build",
            lambda s: s.peak("full_build"),
            gigabytes,
            TARGET_PEAK_BYTES,
            True,  # a step that did not finish had at least this peak
        ),
        (
            "Nightly incremental run under 30 s",
            "nightly",
            lambda s: s.wall("nightly"),
            seconds,
            TARGET_NIGHTLY_SECONDS,
            False,
        ),
        (
            "RFM within 1.5× of the hand-written query",
            "rfm",
            rfm_ratio,
            lambda value: "–" if value is None else f"{value:.2f}×",
            TARGET_RFM_RATIO,
            False,
        ),
    ]
    rows = []
    for name, step, value_of, show, limit, lower_bound in specs:
        cells = [_measured(scale, step, show(value_of(scale))) for scale in scales]
        verdict = _verdict(value_of(target), limit, target.status(step), bound_when_failed=lower_bound)
        if target.result["customers"] != TARGET_CUSTOMERS:
            verdict += f" at {target.label}"
        rows.append([name, *cells, verdict])
    lines += table(["Target", *(f"at {scale.label}" for scale in scales), f"Met? ({target.label})"], rows)
    return lines + _cpu_floor(target, cores)


def _cpu_floor(scale: Scale, cores: int | None) -> list[str]:
    """The least wall time a run's CPU time allows: CPU time is at most wall time × cores, however
    the work is scheduled."""
    if not cores:
        return []
    parts = []
    for step, label, limit in (
        ("full_build", "full build", TARGET_BUILD_SECONDS),
        ("nightly", "nightly run", TARGET_NIGHTLY_SECONDS),
    ):
        cpu = scale.cpu(step)
        if cpu and scale.status(step) == "ok":
            parts.append(
                f"the {label} used {seconds(cpu)} of CPU, so it cannot take less than {seconds(cpu / cores)} "
                f"on {cores} cores; its target allows at most {seconds(limit * cores)} of CPU"
            )
    if not parts:
        return []
    return [f"Lower bounds at {scale.label}: " + "; ".join(parts) + ".", ""]


def _publish_cell(scale: Scale) -> str:
    """The publish step's time and its share of the nightly run's wall time (issue 23: at most 5%)."""
    published = (scale.worker("nightly") or {}).get("published")
    wall = scale.wall("nightly")
    if not published or not wall:
        return "–"
    return f"{seconds(published['seconds'])} ({published['seconds'] / wall:.1%})"


def _with_peak(value: float | None, step: dict[str, Any]) -> str:
    peak = step.get("peak_rss_bytes")
    return seconds(value) + (f" (peak {gigabytes(peak)})" if peak else "")


def _step_rows(scale: Scale, name: str) -> dict[str, str]:
    """Where one run's wall time went, step by step of the job: name → table cell."""
    worker = scale.worker(name)
    if not worker:
        return {}
    steps = {"process start and imports": seconds(scale.wall(name) - worker["run_seconds"])}
    titles = {
        "land": "landing (raw files → `raw.*`)",
        "compile_segments": "segment catalogue compile",
        "GX raw suites": "GX suites on the raw tables",
        "GX mart suites": "GX suites on the marts",
        "syncs": "syncs (the shipped file syncs)",
        "publish": "publishing the copy for BI tools",
        "report": "the segment report",
    }
    for step in worker["steps"]:
        title = titles.get(step["name"], step["name"])
        if step.get("count"):
            title += f" ({step['count']} steps)"
        if "dbt" not in step:
            steps[title] = _with_peak(step["seconds"], step)
            continue
        invocation = step["dbt"]
        steps["dbt build: start-up, parse, compile, Dagster's events"] = seconds(
            invocation["startup_seconds"]
        )
        steps["dbt build: running nodes"] = _with_peak(invocation["elapsed_seconds"], step)
        by_kind: dict[str, tuple[float, int]] = {}
        for node in invocation["nodes"]:
            total, number = by_kind.get(node["kind"], (0.0, 0))
            by_kind[node["kind"]] = (total + node["seconds"], number + 1)
        for kind in sorted(by_kind, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k)):
            total, number = by_kind[kind]
            steps[f"  ↳ {kind} nodes: number → sum of node times"] = f"{number} → {seconds(total)}"
    accounted = sum(step["seconds"] for step in worker["steps"])
    steps["Dagster between steps, and the run summary"] = seconds(worker["run_seconds"] - accounted)
    return steps


def _time_section(scales: list[Scale]) -> list[str]:
    columns: list[tuple[str, dict[str, str]]] = []
    for scale in scales:
        for name, title in (("full_build", "full"), ("nightly", "nightly")):
            rows = _step_rows(scale, name)
            if rows:
                columns.append((f"{scale.label} {title}", rows))
    lines = ["## Where the time goes", ""]
    for scale in scales:
        phase = scale.phase("full_build")
        if phase and not phase["ok"]:
            where = f"; {phase['progress']}" if phase.get("progress") else ""
            lines += [
                f"At {scale.label} the full build did not finish ({scale.status('full_build')}{where}).",
                "",
            ]
    if not columns:
        return lines + ["No build finished; see the failures below.", ""]
    names: list[str] = []
    for _, rows in columns:
        names += [name for name in rows if name not in names]
    body = [[name, *(rows.get(name, "–") for _, rows in columns)] for name in names]
    lines += [
        "Wall time of each step of the nightly Dagster job (`orchestration.runner.run_nightly`, what "
        "`make run` runs), from the run's events; for the dbt build, its start-up (the step's time minus "
        "the execution phase of run_results.json: dbt's process start, parse, compile, and Dagster reading "
        "its events) and the execution phase, with the node times summed by kind (two dbt threads: the "
        "sums overlap).",
        "",
        *table(["Step", *(title for title, _ in columns)], body),
    ]

    largest = max(
        (scale for scale in scales if scale.worker("full_build")),
        key=lambda s: s.result["customers"],
        default=None,
    )
    if largest is not None:
        full_nodes = [node for inv in largest.invocations("full_build") for node in inv["nodes"]]
        nightly = {
            node["id"]: node["seconds"] for inv in largest.invocations("nightly") for node in inv["nodes"]
        }
        heavy = sorted(full_nodes, key=lambda node: node["seconds"], reverse=True)[:TOP_NODES]
        lines += [
            f"Heaviest dbt nodes at {largest.label} (`execution_time` from run_results.json):",
            "",
            *table(
                ["Node", "kind", "full build", "nightly"],
                [
                    [
                        f"`{short_id(node['id'])}`",
                        node["kind"],
                        seconds(node["seconds"]),
                        seconds(nightly.get(node["id"])),
                    ]
                    for node in heavy
                ],
            ),
        ]
        model_costs = _model_costs(largest, "full_build")
        if model_costs:
            lines += [
                f"Cost per model at {largest.label}, full build: its own build plus the data and unit tests "
                "on it (a test reading several models is split between them):",
                "",
                *table(
                    ["Model", "kind", "build", "tests", "tests' time", "total"],
                    [
                        [
                            f"`{model}`",
                            kind or "–",
                            seconds(own),
                            str(tests),
                            seconds(on_tests),
                            seconds(own + on_tests),
                        ]
                        for model, kind, own, tests, on_tests in model_costs[:TOP_NODES]
                    ],
                ),
            ]
        lines += _explanation(largest)
    return lines


def _manifest(scale: Scale) -> dict[str, Any]:
    """The scale's dbt manifest, if its scratch folder is still there (bench_dir/work/<scale>/target)."""
    data = scale.result.get("data") or {}
    if not data.get("path"):
        return {}
    path = Path(data["path"]).parent.parent / "work" / f"{scale.label}-seed{scale.result['seed']}"
    try:
        return json.loads((path / "target" / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _model_costs(scale: Scale, name: str) -> list[tuple[str, str, float, int, float]]:
    """Per model: (model, kind, its own node time, number of tests on it, their node time), costliest first.

    A test belongs to the model it is attached to (generic tests) or else the models it reads (recorded by
    the worker; for older results looked up in the current manifest, else guessed from the test's name).
    """
    manifest = _manifest(scale)
    metas = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    model_ids = sorted((key for key in metas if key.startswith("model.")), key=len, reverse=True)
    costs: dict[str, list[Any]] = {}
    for node in (node for inv in scale.invocations(name) for node in inv["nodes"]):
        if node["kind"] in ("test", "unit_test"):
            owners = node.get("on")
            if owners is None and node["id"] in metas:
                owners = tested_models(metas[node["id"]])
            if not owners:
                test_name = node["id"].split(".")[2]
                owners = [next((m for m in model_ids if m.split(".")[-1] in test_name), "(unknown model)")]
            for owner in owners:
                entry = costs.setdefault(owner, ["", 0.0, 0, 0.0])
                entry[2] += 1
                entry[3] += node["seconds"] / len(owners)
        elif node["id"].startswith("model."):
            entry = costs.setdefault(node["id"], ["", 0.0, 0, 0.0])
            entry[0], entry[1] = node["kind"], entry[1] + node["seconds"]
    rows = [
        (model.split(".", 2)[-1], kind, own, tests, on_tests)
        for model, (kind, own, tests, on_tests) in costs.items()
    ]
    return sorted(rows, key=lambda row: row[2] + row[4], reverse=True)


def _explanation(scale: Scale) -> list[str]:
    worker = scale.worker("full_build")
    invocations = scale.invocations("full_build")
    wall = scale.wall("full_build") or 0.0
    startup = sum(inv["startup_seconds"] or 0.0 for inv in invocations)
    running = sum(inv["elapsed_seconds"] for inv in invocations)
    nodes = [node for inv in invocations for node in inv["nodes"]]
    tests = [node for node in nodes if node["kind"] in ("test", "unit_test")]
    models = [node for node in nodes if node["kind"] not in ("test", "unit_test", "seed")]
    heavy_models = sorted(models, key=lambda node: node["seconds"], reverse=True)[:8]
    landing = next((step["seconds"] for step in worker["steps"] if step["name"] == "land"), 0.0)
    reparses = (scale.phase("full_build") or {}).get("full_reparses", 0) + (scale.phase("nightly") or {}).get(
        "full_reparses", 0
    )
    share = (lambda part: f"{100 * part / wall:.0f}%") if wall else (lambda part: "–")
    nightly_nodes = [node for inv in scale.invocations("nightly") for node in inv["nodes"]]

    def is_staging(node: dict[str, Any]) -> bool:
        return node["id"].startswith("model.") and node["id"].split(".")[-1].startswith("base_crm__")

    staging = [node for node in nodes if is_staging(node)]
    staging_nightly = [node for node in nightly_nodes if is_staging(node)]
    heavy_models = [node for node in heavy_models if not is_staging(node)][:4]
    nightly_steps = (scale.worker("nightly") or {}).get("steps", [])
    nightly_landing = next((step["seconds"] for step in nightly_steps if step["name"] == "land"), None)
    nightly_facts = [node for node in nightly_nodes if short_id(node["id"]) in INCREMENTAL_FACTS]
    nightly_models = sorted(
        (
            node
            for node in nightly_nodes
            if node["kind"] not in ("test", "unit_test", "seed")
            and not is_staging(node)
            and node not in nightly_facts
        ),
        key=lambda node: node["seconds"],
        reverse=True,
    )[:4]
    bullets = [
        f"- **dbt start-up** (project and profile load, parse, compile, connection) takes {seconds(startup)} "
        f"over the build's {len(invocations)} dbt invocation{'s' if len(invocations) != 1 else ''} "
        f"({share(startup)} of the wall time), whatever the data size. "
        f"dbt parsed the whole project from scratch {reparses} times in the full build and the nightly run "
        '(its log says "Unable to do partial parsing": no saved manifest in a fresh directory, or the '
        "project changed). The as-of date reaches dbt as the environment variable CRM_SEGMENTS_AS_OF, not "
        "in `--vars` (changed vars disable partial parsing), so a new date re-parses only the files that "
        "read it.",
        f"- **Running nodes**: {seconds(running)} of execution phases; node times add up to "
        f"{seconds(sum(node['seconds'] for node in nodes))} because two dbt threads run nodes side by side. "
        f"The {len(tests)} data and unit tests take {seconds(sum(node['seconds'] for node in tests))} of "
        "node time: they read tables (the raw text is parsed once, by the base staging models).",
        f"- **Landing** copies every raw file into `raw.*` as text: {seconds(landing)} ({share(landing)}).",
        "- **Staging** (the base models, which parse, type, check and de-duplicate every raw row): "
        + ", ".join(f"`{short_id(node['id'])}` {seconds(node['seconds'])}" for node in staging)
        + " in the full build.",
        "- **Heaviest models after staging**: "
        + ", ".join(
            f"`{short_id(node['id'])}` ({node['kind']}, {seconds(node['seconds'])})" for node in heavy_models
        )
        + ".",
        _memory_bullet(scale),
    ]
    if scale.phase("nightly") and scale.phase("nightly")["ok"]:
        bullets.append(
            f"- **Nightly run** ({seconds(scale.wall('nightly'))}; the full build: {seconds(wall)}): "
            f"the landing reads only the day's drops ({seconds(nightly_landing)}) and staging restages only "
            "their rows and the rows they touch ("
            + ", ".join(f"`{short_id(node['id'])}` {seconds(node['seconds'])}" for node in staging_nightly)
            + "). The facts kept incrementally fold in only the rows staging restaged ("
            + ", ".join(f"`{short_id(node['id'])}` {seconds(node['seconds'])}" for node in nightly_facts)
            + "). Everything else after staging is still rebuilt for the new as-of date, whose cost grows "
            "with the history: "
            + ", ".join(f"`{short_id(node['id'])}` {seconds(node['seconds'])}" for node in nightly_models)
            + "."
        )
    return bullets + [""]


def _memory_bullet(scale: Scale) -> str:
    steps = [
        step for step in (scale.worker("full_build") or {}).get("steps", []) if step.get("peak_rss_bytes")
    ]
    where = ""
    if steps:
        top = max(steps, key=lambda step: step["peak_rss_bytes"])
        where = f", during `{top['name']}`"
    return (
        f"- **Memory**: the full build peaked at {gigabytes(scale.peak('full_build'))} (RSS of the process "
        f"tree){where}. DuckDB's `memory_limit` bounds its buffer manager, not the process: dbt itself, the "
        "Python models (`int_clv_fit`, `int_clv_predictions` fit and apply PyMC-Marketing models on pandas "
        "frames inside the dbt process) come on top of it: about 1 GB at a million customers. The other "
        "connections the job opens (the landing, the GX suites, the syncs, the published copy, the report, "
        "the summary) have the same limits (`orchestration/duckdb_profile.py`)."
    )


def _failures_section(scales: list[Scale]) -> list[str]:
    lines = []
    for scale in scales:
        if scale.result.get("data_error"):
            lines += [
                f"- {scale.label}: data generation failed:",
                "",
                "```",
                scale.result["data_error"],
                "```",
                "",
            ]
        for name, phase in scale.result.get("phases", {}).items():
            if phase["ok"]:
                continue
            lines += [
                f"- {scale.label} {name}: {scale.status(name)}, "
                f"peak memory {gigabytes(phase['peak_rss_bytes'])}; "
                f"log `{phase['log']}`"
                + (f"; where it stopped: {phase['progress']}" if phase.get("progress") else "")
                + "; last lines:",
                "",
                "```",
                "\n".join(phase.get("error", "").strip().splitlines()[-FAILURE_LINES:]),
                "```",
                "",
            ]
        for name, reason in scale.result.get("skipped", {}).items():
            lines.append(f"- {scale.label} {name}: skipped, {reason}.")
    return (["## Failures", "", *lines, ""]) if lines else []


def _replay_section(replay: dict[str, Any] | None) -> list[str]:
    if replay is None:
        return []
    lines = [
        "## Replay of the sample (`python -m bench.replay`)",
        "",
        f"`make replay FROM={replay['start']} TO={replay['end']} STEP={replay['step_days']}` on the bundled "
        "sample (3,000 customers) into a new warehouse, with an empty PyTensor compile cache (as on a new "
        "install), measured "
        f"{replay['measured_at'][:16].replace('T', ' ')} UTC (CPU check "
        f"{seconds(replay['cpu_check_seconds'])}, load {load(replay['load_before'])} before).",
        "",
    ]
    if not replay["ok"]:
        return lines + ["It failed:", "", "```", replay["error"] or "", "```", ""]
    done = replay["dates_done"]
    dates = replay["dates"]
    first = done[0][2] if done else None
    filled = done[-2][2] - first if len(done) > 2 and first is not None else None
    last = done[-1][2] - done[-2][2] if len(done) > 1 else None
    fits = replay["clv_fit_seconds"]
    goal = "met" if replay["wall_seconds"] <= 300 else "not met"
    lines += table(
        ["", "value"],
        [
            [f"{dates} dates, whole command (goal ≤ 5 min: {goal})", seconds(replay["wall_seconds"])],
            ["peak memory", gigabytes(replay["peak_rss_bytes"])],
            ["landing, raw suites, parse and the first date (a whole `dbt build`)", seconds(first)],
            [
                f"the {max(len(done) - 2, 0)} dates between (only the date's models), each on average",
                seconds(filled / (len(done) - 2)) if filled is not None and len(done) > 2 else "–",
            ],
            ["the last date (the nightly job: tests, checks, syncs, report, copy)", seconds(last)],
            [
                f"CLV fits (every {replay['clv_fit_every_days']} days): count, median",
                f"{len(fits)}, {seconds(sorted(fits)[len(fits) // 2]) if fits else '–'}",
            ],
        ],
    )
    return lines + [""]


def render(
    results: list[dict[str, Any]], info: dict[str, Any] | None = None, replay: dict[str, Any] | None = None
) -> str:
    info = info or machine()
    scales = [Scale(result) for result in results]
    lines = _header(results, info)
    lines += _machine_section(results, info)
    lines += _data_section(scales)
    lines += _results_section(scales)
    lines += _targets_section(scales, info["cores"])
    lines += _time_section(scales)
    lines += _replay_section(replay)
    lines += _failures_section(scales)
    lines.append(f"_Report written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC._")
    return "\n".join(lines).rstrip() + "\n"
