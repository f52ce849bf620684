"""The published copy BI tools read (orchestration/publish.py, the asset `published/warehouse_copy`).

The slow tests run the real Dagster job three times on the tiny fixture: as of A, as of B while a reader
process holds the copy open, and a run that fails a blocking Great Expectations check. The fast ones
publish from small hand-made warehouses.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from orchestration.duckdb_profile import connect_warehouse
from orchestration.pipeline import RunSummary, format_summary
from orchestration.publish import PublishError, failed_run_line, publish, read_publication, temporary_path
from orchestration.runner import JobFailedError, run_nightly
from orchestration.settings import Settings, SettingsError
from orchestration.warehouse_lock import WarehouseLockedError
from tests.conftest import TINY_AS_OF, TINY_RAW_DIR, query

AS_OF_A = TINY_AS_OF
AS_OF_B = date(2024, 7, 31)
# Tables every copy has (the marts and audit tables of the README's "Connect your BI tool").
CORE_TABLES = {
    ("marts", "customer_rfm"),
    ("marts", "dim_customers"),
    ("marts", "customer_lifecycle"),
    ("marts", "segment_membership"),
    ("marts", "segment_catalog"),
    ("marts", "fct_orders"),
    ("marts", "fct_emails"),
    ("marts", "sync_runs"),
    ("audit", "quarantined_rows"),
    ("audit", "raw_row_reconciliation"),
    ("audit", "segment_history_runs"),
    ("quality", "suite_results"),
}

# A BI tool's connection: opened read-only, kept open; answers on stdin's commands.
READER = """
import json, sys
import duckdb
path = sys.argv[1]
con = duckdb.connect(path, read_only=True)
for command in sys.stdin:
    if command.strip() == "reconnect":
        con.close()
        con = duckdb.connect(path, read_only=True)
    as_of = con.execute("select as_of_date from published.about").fetchone()[0]
    rows = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
    print(json.dumps([as_of.isoformat(), rows]), flush=True)
"""


class Reader:
    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str = "query") -> tuple[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        as_of, rows = json.loads(self.process.stdout.readline())
        return as_of, rows

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _fingerprint(path: Path) -> tuple[str, int, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, path.stat().st_ino


def _tables(path: Path, *catalogs: str) -> dict[tuple[str, str], int]:
    """(schema, table) → rows of the relations a copy holds (marts, audit, quality.suite_results)."""
    with connect_warehouse(path, read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog in "
            f"({', '.join('?' for _ in catalogs)}) and (table_schema in ('marts', 'audit') "
            "or (table_schema = 'quality' and table_name = 'suite_results'))",
            list(catalogs),
        ).fetchall()
        return {(s, t): con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in names}


@dataclass
class Runs:
    settings: Settings
    first: RunSummary
    first_copy: dict[tuple[str, str], int]
    second: RunSummary
    # After run B: (schema, table) → rows in the working warehouse and in the copy.
    working_b: dict[tuple[str, str], int]
    copy_b: dict[tuple[str, str], int]
    reader_before: tuple[str, int]
    reader_during: tuple[str, int]
    reader_after: tuple[str, int]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Run A; a reader opens the copy; run B while it holds it; the reader asks again, then reconnects."""
    folder = tmp_path_factory.mktemp("publish")
    settings = Settings(TINY_RAW_DIR, AS_OF_A, folder / "crm.duckdb", lock_wait_seconds=0)
    first = run_nightly(settings)
    first_copy = _tables(settings.published_path, "crm_published")
    reader = Reader(settings.published_path)
    try:
        before = reader.ask()
        second = run_nightly(Settings(TINY_RAW_DIR, AS_OF_B, settings.duckdb_path, lock_wait_seconds=0))
        during = reader.ask()
        after = reader.ask("reconnect")
    finally:
        reader.close()
    working_b = _tables(settings.duckdb_path, "crm", "crm_marts")
    copy_b = _tables(settings.published_path, "crm_published")
    yield Runs(settings, first, first_copy, second, working_b, copy_b, before, during, after)


@pytest.mark.slow
def test_a_run_publishes_every_mart_and_audit_table_as_in_the_warehouse(runs: Runs) -> None:
    published = runs.settings.published_path
    assert published == runs.settings.duckdb_path.with_name("crm_published.duckdb")
    assert runs.first.published is not None
    assert (runs.first.published.path, runs.first.published.as_of) == (published, AS_OF_A)
    copy = runs.copy_b
    assert set(copy) >= CORE_TABLES
    assert copy == runs.working_b  # the same relations, the same rows
    assert copy[("marts", "dim_customers")] == 8
    assert query(
        published, "select table_schema, table_name, row_count from published.tables order by 1, 2"
    ) == [(schema, table, rows) for (schema, table), rows in sorted(copy.items())]
    assert query(published, "select as_of_date, source_warehouse from published.about") == [
        (AS_OF_B, str(runs.settings.duckdb_path))
    ]
    # Tables, not views into the working file; readable by DuckDB 1.0 and later; nothing beside it.
    assert query(published, "select count(*) from information_schema.tables where table_type = 'VIEW'") == [
        (0,)
    ]
    assert query(published, "select tags['storage_version'] from duckdb_databases() where not internal") == [
        ("v1.0.0+",)
    ]
    assert published.stat().st_mode & 0o777 == 0o444
    assert sorted(path.name for path in published.parent.glob("crm_published*")) == ["crm_published.duckdb"]


@pytest.mark.slow
def test_the_first_copy_was_as_of_a_and_the_summary_says_where(runs: Runs) -> None:
    assert runs.first_copy[("marts", "dim_customers")] == runs.reader_before[1]
    assert runs.reader_before[0] == AS_OF_A.isoformat()
    lines = format_summary(runs.second).splitlines()
    assert lines[1] == f"Published for BI tools: {runs.second.published.describe()}"
    assert lines[1].startswith(f"Published for BI tools: {runs.settings.published_path} (as of {AS_OF_B}, ")


@pytest.mark.slow
def test_a_reader_holding_the_copy_does_not_stop_the_run_and_sees_b_after_reconnecting(runs: Runs) -> None:
    # run_nightly returned (lock wait 0: a held warehouse fails at once) while the reader held the copy.
    assert runs.second.settings.as_of == AS_OF_B
    assert runs.second.published is not None and runs.second.published.as_of == AS_OF_B
    # Still connected: the previous copy, whole. Reconnected: the new one.
    assert runs.reader_during == runs.reader_before
    assert runs.reader_after == (AS_OF_B.isoformat(), runs.working_b[("marts", "dim_customers")])


def _collapsed_raw(folder: Path) -> Path:
    """The tiny exports with 3 of their 11 customer rows: gx_raw_customers' "no collapse" fails."""
    shutil.copytree(TINY_RAW_DIR, folder)
    lines = (folder / "customers.csv").read_text(encoding="utf-8").splitlines()
    (folder / "customers.csv").write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_a_failed_run_leaves_the_copy_byte_identical_and_says_so(runs: Runs, tmp_path: Path) -> None:
    published = runs.settings.published_path
    before = _fingerprint(published)
    settings = Settings(_collapsed_raw(tmp_path / "raw"), date(2024, 8, 31), runs.settings.duckdb_path)
    with pytest.raises(JobFailedError) as failure:
        run_nightly(settings)
    message = str(failure.value)
    assert "check raw/customers:gx_raw_customers failed" in message
    assert (
        message.splitlines()[-1]
        == f"nothing was published: readers keep {read_publication(published).describe()}"
    )
    assert f"(as of {AS_OF_B}, " in message.splitlines()[-1]
    assert _fingerprint(published) == before
    assert not temporary_path(published).exists()
    # The landing did take the new files: only the copy kept the last good marts.
    assert query(settings.duckdb_path, "select count(*) from raw.customers") == [(3,)]


# Fast: hand-made warehouses, no dbt.


def _warehouse(path: Path, customers: int, as_of: date = AS_OF_A) -> Path:
    with connect_warehouse(path) as con:  # marts.* and audit.* go to the marts file, as dbt writes them
        con.execute("create schema staging; create schema quality")
        con.execute(
            f"create table marts.dim_customers as select range as customer_id, date '{as_of}' as as_of_date "
            f"from range({customers})"
        )
        con.execute(
            "create view marts.big_customers as select * from marts.dim_customers where customer_id > 1"
        )
        con.execute("create table audit.quarantined_rows as select 'orders' as table_name from range(2)")
        con.execute("create table quality.suite_results as select 'raw_orders' as suite, true as passed")
        con.execute("create table quality.suite_metrics as select 1 as x")  # not published
        con.execute("create table staging.stg_crm__orders as select 1 as order_id")  # not published
    return path


def test_publish_copies_marts_audit_and_suite_results_as_tables(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "crm.duckdb", 5)
    publication = publish(warehouse, tmp_path / "out" / "bi.duckdb", run_id="run-1")
    assert publication.tables == [
        ("audit", "quarantined_rows", 2),
        ("marts", "big_customers", 3),
        ("marts", "dim_customers", 5),
        ("quality", "suite_results", 1),
    ]
    assert (publication.as_of, publication.source_warehouse) == (AS_OF_A, str(warehouse))
    copy = tmp_path / "out" / "bi.duckdb"
    assert query(copy, "select table_type, count(*) from information_schema.tables group by 1") == [
        ("BASE TABLE", 6)
    ]
    assert query(copy, "select dagster_run_id from published.about") == [("run-1",)]
    assert read_publication(tmp_path / "nothing.duckdb") is None


def test_a_publish_that_fails_leaves_the_previous_copy_and_no_temporary_file(tmp_path: Path) -> None:
    copy = tmp_path / "bi.duckdb"
    publish(_warehouse(tmp_path / "good.duckdb", 5), copy)
    before = _fingerprint(copy)
    broken = tmp_path / "broken.duckdb"
    with connect_warehouse(broken) as con:  # a build that left the marts empty
        con.execute("create table marts.dim_customers (customer_id int, as_of_date date)")
    with pytest.raises(PublishError) as failure:
        publish(broken, copy)
    assert (
        str(failure.value)
        == "marts.dim_customers is empty or holds several as-of dates: nothing was published"
    )
    assert _fingerprint(copy) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "bi.duckdb",
        "broken.duckdb",
        "broken_marts.duckdb",
        "good.duckdb",
        "good_marts.duckdb",
    ]


def test_a_stale_wal_beside_the_copy_is_not_replayed_into_the_next_one(tmp_path: Path) -> None:
    copy = tmp_path / "bi.duckdb"
    copy.with_name("bi.duckdb.wal").write_bytes(b"left by a reader that wrote")
    temporary_path(copy).write_bytes(b"left by a killed run")
    publish(_warehouse(tmp_path / "crm.duckdb", 4), copy)
    assert query(copy, "select count(*) from marts.dim_customers") == [(4,)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bi.duckdb", "crm.duckdb", "crm_marts.duckdb"]


def test_publishing_from_a_held_warehouse_fails_with_the_lock_sentence(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "crm.duckdb", 3)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(1, flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"
        with pytest.raises(
            WarehouseLockedError, match=rf"the warehouse {warehouse} is locked by PID {holder.pid} "
        ):
            publish(warehouse, tmp_path / "bi.duckdb")
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "bi.duckdb").exists() and not temporary_path(tmp_path / "bi.duckdb").exists()


def test_the_published_path_setting(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh" / "shop.duckdb"
    env = {"CRM_SEGMENTS_DUCKDB": str(warehouse)}
    assert Settings.from_env(env).published_path == tmp_path / "wh" / "shop_published.duckdb"
    other = tmp_path / "bi" / "copy.duckdb"
    assert Settings.from_env({**env, "CRM_SEGMENTS_PUBLISHED_DUCKDB": str(other)}).published_path == other
    with pytest.raises(SettingsError, match="CRM_SEGMENTS_PUBLISHED_DUCKDB=.* is a folder"):
        Settings.from_env({**env, "CRM_SEGMENTS_PUBLISHED_DUCKDB": str(tmp_path)})
    with pytest.raises(SettingsError, match="CRM_SEGMENTS_PUBLISHED_DUCKDB=.* is the warehouse itself"):
        Settings.from_env({**env, "CRM_SEGMENTS_PUBLISHED_DUCKDB": str(warehouse)})


def test_the_asset_waits_for_every_mart_and_audit_table_but_not_for_the_syncs() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["published", "warehouse_copy"]))
    assert node.group_name == "published"
    marts_and_audit = {key for key in graph.get_all_asset_keys() if key.path[0] in ("marts", "audit")}
    assert len(marts_and_audit) > 20
    assert marts_and_audit <= node.parent_keys
    assert {
        dg.AssetKey(["marts", "dim_customers"]),
        dg.AssetKey(["audit", "quarantined_rows"]),
    } <= node.parent_keys
    assert not {key for key in node.parent_keys if key.path[0] == "syncs"}
    job = defs.resolve_job_def("nightly")
    assert dg.AssetKey(["published", "warehouse_copy"]) in job.asset_layer.executable_asset_keys
    assert job.graph.node_named("published__warehouse_copy").definition.tags["dagster/priority"] == "-1"


def test_the_benchmark_reports_the_publish_steps_share_of_the_nightly_run() -> None:
    from bench.report import Scale, _publish_cell, _step_rows

    worker = {
        "run_seconds": 60.0,
        "steps": [{"name": "publish", "seconds": 1.5, "peak_rss_bytes": 0}],
        "published": {"seconds": 1.5, "bytes": 10**8, "tables": 29, "rows": 1000},
    }
    scale = Scale({"label": "100k", "phases": {"nightly": {"wall_seconds": 75.0, "worker": worker}}})
    assert _publish_cell(scale) == "1.50 s (2.0%)"
    assert _step_rows(scale, "nightly")["publishing the copy for BI tools"] == "1.50 s"
    assert _publish_cell(Scale({"label": "1m", "phases": {}})) == "–"


def test_make_runs_progress_line_for_the_publish_step() -> None:
    from orchestration.progress import _Step, describe_step

    step = _Step(started=0.0)
    metadata = {
        "tables": dg.MetadataValue.int(29),
        "path": dg.MetadataValue.path("/srv/crm_published.duckdb"),
    }
    step.materialized.append((dg.AssetKey(["published", "warehouse_copy"]), metadata))
    line = describe_step("published__warehouse_copy", step)
    assert line == "published 29 tables for BI tools: /srv/crm_published.duckdb"


def test_a_file_that_is_not_a_published_copy_is_never_replaced(tmp_path: Path) -> None:
    other = _warehouse(tmp_path / "someone_elses.duckdb", 2)  # a DuckDB file without published.about
    before = _fingerprint(other)
    with pytest.raises(PublishError) as failure:
        publish(_warehouse(tmp_path / "crm.duckdb", 4), other)
    assert str(failure.value).startswith(f"{other} is not a published copy (Catalog Error: ")
    assert str(failure.value).endswith(
        "it is left as it is: move it away or set CRM_SEGMENTS_PUBLISHED_DUCKDB to another file"
    )
    assert _fingerprint(other) == before
    assert failed_run_line(other, published_in_run=False) == f"nothing was published ({failure.value})"
    assert failed_run_line(tmp_path / "none.duckdb", published_in_run=False) == (
        f"nothing was published (there is no copy at {tmp_path / 'none.duckdb'} yet)"
    )


def test_the_asset_publishes_and_says_what(tmp_path: Path) -> None:
    from orchestration.assets.publish import warehouse_copy
    from orchestration.resources import CrmSettingsResource

    warehouse, copy = _warehouse(tmp_path / "crm.duckdb", 6), tmp_path / "bi.duckdb"
    resources = {
        "crm_settings": CrmSettingsResource(duckdb_path=str(warehouse), published_duckdb_path=str(copy))
    }
    done = dg.materialize([warehouse_copy], resources=resources)
    (event,) = done.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert (metadata["as_of_date"].value, metadata["tables"].value) == (AS_OF_A.isoformat(), 4)
    assert metadata["rows"].value == {
        "audit.quarantined_rows": 2,
        "marts.big_customers": 4,
        "marts.dim_customers": 6,
        "quality.suite_results": 1,
    }
    assert query(copy, "select dagster_run_id from published.about") == [(done.run_id,)]


def test_a_replay_fills_the_earlier_dates_and_runs_the_nightly_job_for_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration import runner
    from orchestration.replay import FilledDate

    calls: list[tuple[str, list[date]]] = []

    def fill(settings: Settings, dates: list[date], every: int, on_date_done) -> None:
        calls.append(("fill", dates))
        for as_of in dates:
            on_date_done(FilledDate(as_of, True, 0.1))

    def nightly(settings: Settings, *args: object, **kwargs: object) -> str:
        calls.append(("nightly", [settings.as_of]))
        return settings.as_of.isoformat()

    monkeypatch.setattr(runner, "fill_history", fill)
    monkeypatch.setattr(runner, "run_nightly", nightly)
    settings = Settings(TINY_RAW_DIR, AS_OF_A, tmp_path / "none.duckdb")
    progress: list[tuple[int, int, date]] = []
    summary = runner.replay(
        settings, date(2024, 1, 1), date(2024, 1, 15), 7, on_date_done=lambda *a: progress.append(a)
    )
    assert summary == "2024-01-15"
    assert calls == [("fill", [date(2024, 1, 1), date(2024, 1, 8)]), ("nightly", [date(2024, 1, 15)])]
    assert progress == [(1, 3, date(2024, 1, 1)), (2, 3, date(2024, 1, 8)), (3, 3, date(2024, 1, 15))]
