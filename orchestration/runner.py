"""Runs the Dagster nightly job in-process: what `make run` and `make replay` call."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from orchestration.dbt_runner import DbtBuildError
from orchestration.pipeline import RunSummary, history_latest_date, summarise
from orchestration.publish import ASSET_KEY_PATH, failed_run_line, read_publication
from orchestration.quality.gates import warehouse_gate_failures
from orchestration.replay import FilledDate, ReplayError, fill_history
from orchestration.resources import AS_OF_TAG, settings_run_config
from orchestration.settings import DEFAULT_CLV_FIT_EVERY_DAYS, Settings, SettingsError
from orchestration.warehouse_lock import lock_holder, locked_sentence, wait_for_warehouse

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo


class JobFailedError(RuntimeError):
    """The nightly job failed; the message names each failing step and why."""


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (`make run` sets the project's .dagster_home) the runs show up in `make dev`'s
    # UI; otherwise (the tests) nothing is kept on disk.
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.ephemeral()
    path = Path(home).expanduser().resolve()  # Dagster wants it absolute and existing
    path.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(path)
    return dg.DagsterInstance.get()


def run_nightly(
    settings: Settings,
    logger_defs: Mapping[str, dg.LoggerDefinition] | None = None,
    dbt_vars: Mapping[str, object] | None = None,
    say: Callable[[str], None] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> RunSummary:
    """Materialises every asset of the nightly job with `settings`; raises JobFailedError.

    `logger_defs` replace Dagster's console logger (the command line's progress lines and log file);
    `dbt_vars` override project vars for this run (rfm_method, rfm_bins, …). A warehouse file another
    process holds is waited for first (settings.lock_wait_seconds), then WarehouseLockedError: `say`
    (stderr by default) gets the line that says so. `instance` keeps the run's events for the caller
    (the benchmark reads each step's time from them); by default DAGSTER_HOME's, or an ephemeral one.
    """
    # Before Dagster: its retries would each meet the lock and say so, for 10 s + 30 s only.
    wait_for_warehouse(settings.duckdb_path, settings.lock_wait_seconds, say or _to_stderr)
    from orchestration.definitions import defs  # loading parses the dbt project: only when running

    job = defs.resolve_job_def("nightly")
    run_config: dict[str, object] = {"resources": settings_run_config(settings, dbt_vars)}
    if logger_defs is not None:
        job = job.with_logger_defs(dict(logger_defs))
        # A job's logger runs only when the run config names it; else Dagster's console logger does.
        run_config["loggers"] = {name: {} for name in logger_defs}
    with nullcontext(instance) if instance is not None else _instance() as run_instance:
        result = job.execute_in_process(
            run_config=run_config,
            instance=run_instance,
            tags={AS_OF_TAG: settings.as_of.isoformat()},
            raise_on_error=False,
        )
    if not result.success:
        raise JobFailedError(_describe_failure(result, settings))
    return replace(summarise(settings), published=read_publication(settings.published_path))


def _causes(error: SerializableErrorInfo | None) -> list[str]:
    causes = []
    while error is not None and error.cause is not None:
        error = error.cause
        causes.append(error.message)
    return causes


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _describe_failure(result: dg.ExecuteInProcessResult, settings: Settings | None = None) -> str:
    blocks: list[str] = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            user_failure = event.step_failure_data.user_failure_data
            if user_failure is not None and user_failure.description:
                # A dg.Failure says it all (a bad catalogue: file, segment, problem); not its Python cause.
                message = user_failure.description.strip()
            else:
                message = error.message.strip() if error else "no message"
                if error and error.cause:
                    message += f" ({error.cause.message.strip()})"
            # Shorter and plain: no blank lines, no dbt colours, not the whole dbt command line.
            message = _ANSI_COLOUR.sub("", _DBT_COMMAND.sub("`dbt build …`", message))
            message = "\n".join(line for line in message.splitlines() if line.strip())
            # The file locked after the run started (a connection's error, DuckDB's under it): who holds it.
            if (holder := lock_holder("\n".join([message, *_causes(error)]))) is not None:
                message = locked_sentence(holder)
            blocks.append(f"  step {event.step_key}: " + message.replace("\n", "\n    "))
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                block = f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed"
                if evaluation.description:
                    block += "".join(f"\n    {line}" for line in evaluation.description.splitlines())
                blocks.append(block)
    # A failed dbt gate (quarantine share, empty RFM) is a failed dbt test: Dagster reports only that it
    # failed; its rows, kept in the warehouse, say which table, how much and which lines.
    gates = warehouse_gate_failures(settings.duckdb_path) if settings is not None else []
    blocks += ["  " + gate.replace("\n", "\n  ") for gate in gates]
    # A retried step evaluates its checks again: say each thing once.
    unique = list(dict.fromkeys(blocks))
    message = "the nightly job failed:\n" + ("\n".join(unique) or "  (see the log above)")
    if settings is not None:
        published = any(
            tuple(event.asset_key.path) == ASSET_KEY_PATH
            for event in result.get_asset_materialization_events()
        )
        message += "\n" + failed_run_line(settings.published_path, published)
    return message


# dagster-dbt quotes the whole command, a --select of every model in the step.
_DBT_COMMAND = re.compile(r"`[^`]*\bdbt build\b[^`]*`")
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def replay_dates(start: date, end: date, step_days: int) -> list[date]:
    if step_days < 1:
        raise SettingsError(f"STEP={step_days} must be at least 1 day")
    if end < start:
        raise SettingsError(f"TO={end} is before FROM={start}")
    dates = [start + timedelta(days=offset) for offset in range(0, (end - start).days + 1, step_days)]
    return dates if dates[-1] == end else [*dates, end]


def check_replay(settings: Settings, start: date, end: date, step_days: int) -> list[date]:
    """The as-of dates of a replay; SettingsError if the dates are wrong or the history is further on."""
    dates = replay_dates(start, end, step_days)
    latest = history_latest_date(settings)
    if latest is not None and start < latest:
        raise SettingsError(
            f"the history already runs to {latest}; replay from {latest} or later, or start it again "
            "with --rebuild-history, `make replay … REBUILD=1` (drops the membership, status, record, "
            "KPI and entry-group history and the RFM cut points)"
        )
    return dates


def replay(
    settings: Settings,
    start: date,
    end: date,
    step_days: int,
    logger_defs: Mapping[str, dg.LoggerDefinition] | None = None,
    on_date_done: Callable[[int, int, date], None] | None = None,
    say: Callable[[str], None] | None = None,
    clv_fit_every_days: int = DEFAULT_CLV_FIT_EVERY_DAYS,
) -> RunSummary:
    """Builds the history for successive past as-of dates, oldest first; the summary of the last.

    The dates before the last are filled in this process (orchestration/replay.py: raw data validated
    once, only the models that depend on the date, the CLV fit every `clv_fit_every_days`); the last
    date is a whole nightly run, which syncs, publishes and writes the report.
    History only moves forward: a start before the latest recorded date is refused (drop the
    history first, see `drop_history`) instead of rewriting the past out of order.
    `on_date_done(i, n, as_of)` is called after each date (the command line's progress line).
    """
    dates = check_replay(settings, start, end, step_days)
    *earlier, last = dates
    if earlier:
        wait_for_warehouse(settings.duckdb_path, settings.lock_wait_seconds, say or _to_stderr)

        done: list[FilledDate] = []

        def filled(date_done: FilledDate) -> None:
            done.append(date_done)
            if on_date_done is not None:
                on_date_done(len(done), len(dates), date_done.as_of)

        try:
            fill_history(settings, earlier, clv_fit_every_days, filled)
        except (DbtBuildError, ReplayError) as error:
            raise JobFailedError(
                f"as of {earlier[len(done)]} ({len(done) + 1}/{len(dates)}), {error}\n"
                + failed_run_line(settings.published_path, False)
            ) from None
    try:
        summary = run_nightly(replace(settings, as_of=last), logger_defs, say=say)
    except JobFailedError as error:
        raise JobFailedError(f"as of {last} ({len(dates)}/{len(dates)}), {error}") from None
    if on_date_done is not None:
        on_date_done(len(dates), len(dates), last)
    return summary
