"""Shared fixtures: real warehouses built by the real pipeline (landing + dbt build) in tmp folders."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
from filelock import FileLock

from orchestration import pipeline
from orchestration.dbt_runner import run_dbt
from orchestration.duckdb_profile import connect_warehouse, marts_path
from orchestration.settings import (
    DEFAULT_CATALOG_PATH,
    DEFAULT_COMPILED_DIR,
    DEFAULT_RAW_DIR,
    PROJECT_DIR,
    Settings,
)

FIXTURES = Path(__file__).parent / "fixtures"
TINY_RAW_DIR = FIXTURES / "tiny"
TINY_AS_OF = date(2024, 6, 30)
# dbt's --exclude-resource-type, read by every dbt process the tests start.
EXCLUDE_RESOURCE_TYPES_ENV = "DBT_EXCLUDE_RESOURCE_TYPES"


# Fixtures that build a whole warehouse: the tests that use them (directly or through another
# fixture) are marked slow.
WAREHOUSE_FIXTURES = frozenset({"build_warehouse", "tiny_warehouse", "sample_replay"})
# Test modules that use the sample replay: one pytest-xdist worker runs them all, so it is built once.
SAMPLE_REPLAY_MODULES = frozenset(
    f"tests/{path.name}"
    for path in Path(__file__).parent.glob("test_*.py")
    if "sample_replay" in path.read_text()
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if WAREHOUSE_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


class _ModuleScheduling:
    """pytest-xdist sends each test module to one worker whole, so its module fixtures are built
    once, and the modules of the sample replay to one worker together."""

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: object) -> object:
        from xdist.scheduler import LoadScopeScheduling

        class ModuleScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                module = nodeid.split("::", 1)[0]
                return "sample_replay" if module in SAMPLE_REPLAY_MODULES else module

        return ModuleScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    # The hook exists only where pytest-xdist is loaded (not under `-p no:xdist`).
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_ModuleScheduling(), "crm_segments_module_scheduling")


@pytest.fixture(scope="session", autouse=True)
def _dbt_artifacts_outside_the_project(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dbt's target/ and logs/ go to a tmp folder so tests never touch a developer's own."""
    base = tmp_path_factory.mktemp("dbt")
    os.environ["DBT_TARGET_PATH"] = str(base / "target")
    os.environ["DBT_LOG_PATH"] = str(base / "logs")
    # Nor does dbt write manifest.json (28 MB) and run_results.json after every invocation: the code that
    # reads them asks for them (--write-json), and so do tests that read them.
    os.environ["DBT_WRITE_JSON"] = "false"
    # The Dagster runs of the tests go to an ephemeral instance, never a developer's DAGSTER_HOME.
    os.environ.pop("DAGSTER_HOME", None)
    # dbt's unit tests don't read the data: tests/test_dbt_unit_tests.py runs them all once, and the
    # tests' warehouse builds (dbt and the Dagster job's dbt alike) leave them out.
    os.environ[EXCLUDE_RESOURCE_TYPES_ENV] = "unit_test"
    # pytest-xdist runs one worker per core: one dbt and one DuckDB thread each, not two per core.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("CRM_SEGMENTS_DBT_THREADS", "1")
        os.environ.setdefault("CRM_SEGMENTS_DUCKDB_THREADS", "1")


BuildWarehouse = Callable[..., Path]


def compiled_segments_dir() -> Path:
    """A new folder for a test catalogue's dbt files: inside the project, as dbt needs (under target/)."""
    parent = PROJECT_DIR / "target" / "test_segments"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent))


@pytest.fixture(scope="session")
def build_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuildWarehouse:
    """Lands `raw_dir` and runs `dbt build` as of `as_of` into a new DuckDB file; returns its path.

    `data_tests=False` leaves dbt's data tests out: for the earlier dates of a history whose last date
    runs them, and for builds a test compares whole with another build.
    """

    def build(
        raw_dir: Path = TINY_RAW_DIR,
        as_of: date = TINY_AS_OF,
        duckdb_path: Path | None = None,
        extra_vars: dict[str, object] | None = None,
        catalog_path: Path = DEFAULT_CATALOG_PATH,
        data_tests: bool = True,
    ) -> Path:
        path = duckdb_path or tmp_path_factory.mktemp("warehouse") / "crm.duckdb"
        # Another catalogue compiles into a folder of its own, never over the project's compiled one.
        compiled_dir = (
            DEFAULT_COMPILED_DIR if catalog_path == DEFAULT_CATALOG_PATH else compiled_segments_dir()
        )
        with built_at_one_path(path, tmp_path_factory) as build_path, pytest.MonkeyPatch.context() as patch:
            if not data_tests:
                patch.setenv(EXCLUDE_RESOURCE_TYPES_ENV, "unit_test test")
            pipeline.run(
                Settings(raw_dir, as_of, build_path, catalog_path, compiled_dir), extra_vars=extra_vars
            )
        return path

    return build


RunDbt = Callable[..., object]


@pytest.fixture(scope="session")
def dbt_at_one_path(tmp_path_factory: pytest.TempPathFactory) -> RunDbt:
    """`run_dbt` with the settings' warehouse moved to the worker's build path for the invocation
    (`built_at_one_path`): dbt parses only what changed since the worker's last build there."""

    def run(command: str, settings: Settings, *more: str, **options: object) -> object:
        with built_at_one_path(settings.duckdb_path, tmp_path_factory) as build_path:
            return run_dbt(command, replace(settings, duckdb_path=build_path), *more, **options)

    return run


@contextmanager
def built_at_one_path(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Moves `warehouse` (and its marts file) to one folder per worker for a build, then back; dbt keeps
    the parse of these builds in a target folder of their own.

    dbt hashes the warehouse path into its partial-parse state: a build at a new path parses the whole
    project again, at the path of the previous parse only what changed.
    """
    folder = tmp_path_factory.getbasetemp() / "builds"
    folder.mkdir(exist_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    build_path = folder / warehouse.name
    files = [(source, build_path.parent / source.name) for source in _warehouse_files(warehouse)]
    for source, target in files:
        if source.exists():
            shutil.move(source, target)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DBT_TARGET_PATH", str(build_target_path(warehouse, tmp_path_factory)))
            yield build_path
    finally:
        for source, target in files:
            if target.exists():
                shutil.move(target, source)


def build_target_path(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target folder (run_results.json, compiled SQL) of the builds of `built_at_one_path`."""
    return tmp_path_factory.getbasetemp() / "builds" / f"target_{warehouse.name}"


def _warehouse_files(warehouse: Path) -> list[Path]:
    files = [warehouse, marts_path(warehouse)]
    return files + [file.with_name(file.name + ".wal") for file in files]


@pytest.fixture(scope="session")
def tiny_warehouse(build_warehouse: BuildWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny fixture as of 2024-06-30, built once for all pytest-xdist workers; read it, never write
    it (copy it first)."""
    # The workers' temp folders share a parent: the first worker to get there builds, the others wait.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "tiny_warehouse"
    warehouse = folder / "crm.duckdb"
    with FileLock(str(shared / "tiny_warehouse.lock")):
        if not (folder / "built").exists():
            folder.mkdir(exist_ok=True)
            warehouse.unlink(missing_ok=True)
            build_warehouse(duckdb_path=warehouse)
            (folder / "built").touch()
    return warehouse


def query(duckdb_path: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    with connect_warehouse(duckdb_path, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def copy_warehouse(source: Path, target: Path) -> Path:
    """Copies a warehouse and its marts file (orchestration.duckdb_profile.marts_path) to `target`.

    The views over the sync state in the marts file (marts.sync_runs, marts.sync_row_errors) name the
    warehouse by its file's stem: a test that reads them keeps the name (another folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    if marts_path(source).exists():
        shutil.copyfile(marts_path(source), marts_path(target))
    return target


SAMPLE_REPLAY_DATES = (date(2026, 10, 20), date(2026, 11, 20))


@dataclass(frozen=True)
class SampleReplay:
    warehouse: Path
    output: str


@pytest.fixture(scope="session")
def sample_replay(tmp_path_factory: pytest.TempPathFactory) -> SampleReplay:
    """`python -m orchestration replay` over the bundled sample: the first date filled
    (orchestration/replay.py), the real Dagster job for the last.

    The warehouse lives in a folder that doesn't exist yet, so a step that ran before the landing
    would fail the run. Tests that change it work on a copy.
    """
    from orchestration.__main__ import main

    warehouse = tmp_path_factory.mktemp("sample_replay") / "new" / "crm.duckdb"
    first, last = SAMPLE_REPLAY_DATES
    environment = {"CRM_SEGMENTS_RAW_DIR": str(DEFAULT_RAW_DIR), "CRM_SEGMENTS_DUCKDB": str(warehouse)}
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(io.StringIO()) as output:
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.delenv("CRM_SEGMENTS_AS_OF", raising=False)
        code = main(["replay", "--from", str(first), "--to", str(last), "--step", str((last - first).days)])
    assert code == 0, output.getvalue()
    return SampleReplay(warehouse, output.getvalue())
