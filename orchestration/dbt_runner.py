"""Runs dbt in-process against this project with the run's settings."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt.contracts.graph.manifest import Manifest

from orchestration.quality.gates import warehouse_gate_failures
from orchestration.segments.dbt_files import ensure_dbt_files
from orchestration.settings import PROJECT_DIR, Settings


class DbtBuildError(RuntimeError):
    """dbt reported failures; the message lists each failing node and why, then what the gates found."""


@contextmanager
def environment(overrides: dict[str, str]):
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_vars(extra: dict[str, object] | None = None) -> list[str]:
    """`--vars` for the overrides only: the as-of date reaches dbt as CRM_SEGMENTS_AS_OF (dbt_env).

    dbt re-parses the whole project whenever --vars change, which a nightly date in them would do
    every night; a changed environment variable re-parses only the files that read it.
    """
    return ["--vars", json.dumps(extra)] if extra else []


def dbt_args(
    command: str,
    *more: str,
    target_path: Path | None = None,
    extra_vars: dict[str, object] | None = None,
) -> list[str]:
    args = [
        *command.split(),  # `docs generate`: a subcommand's options come after it
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        *dbt_vars(extra_vars),
    ]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
    return args + list(more)


def run_dbt(
    command: str,
    settings: Settings,
    *more: str,
    target_path: Path | None = None,
    extra_vars: dict[str, object] | None = None,
    manifest: Manifest | None = None,
) -> dbtRunnerResult:
    """`dbt <command>` on the warehouse and as-of date of `settings`; raises DbtBuildError on failure.

    `extra_vars` overrides project vars (rfm_method, rfm_bins, …) for this invocation. A `manifest`
    from an earlier `parse` is used as it is: no parsing (the as-of date is read when nodes compile).
    """
    ensure_dbt_files(settings.catalog_path, settings.compiled_dir)
    with environment(settings.dbt_env()):
        try:
            args = dbt_args(command, *more, target_path=target_path, extra_vars=extra_vars)
            result = dbtRunner(manifest=manifest).invoke(args)
        finally:
            _release_warehouse()
    if not result.success:
        raise DbtBuildError(_describe_failure(command, result, settings))
    return result


def _release_warehouse() -> None:
    """Closes the DuckDB database dbt-duckdb keeps open for the process after a run.

    Otherwise this process cannot open the warehouse file again with other settings (read-only for
    the summary, say), and another process cannot open it at all.
    """
    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _describe_failure(command: str, result: dbtRunnerResult, settings: Settings) -> str:
    if result.exception is not None:
        return f"dbt {command} failed: {result.exception}"
    failures: list[str] = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(node_result.status)
        if status in {"error", "fail", "runtime error"}:
            # A run-operation's result names no node.
            node = getattr(node_result, "node", None)
            where = node.unique_id if node is not None else getattr(node_result, "unique_id", command)
            failures.append(f"  {where}: {status}: {node_result.message}")
    message = f"dbt {command} failed:\n" + (
        "\n".join(failures) or "  (no node reported; see the dbt log above)"
    )
    # The gates' failing rows (table, share, reasons, file:line), which dbt only counts.
    gates = warehouse_gate_failures(settings.duckdb_path)
    if gates:
        message += "\n\nWhat the gates found (nothing downstream was built):\n" + "\n".join(
            "  " + gate.replace("\n", "\n  ") for gate in gates
        )
    return message
