"""A replay's dates before its last, built in one process.

The raw files are landed and validated once. The first date is a whole `dbt build` (unit tests aside);
each later date runs only the models that read the as-of date, from one parsed manifest. The mart
suites check every date, and the CLV fit runs on a cadence (the other dates predict with the last fit).
The runner then runs the nightly job for the replay's last date.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date

from dbt.contracts.graph.manifest import Manifest

from orchestration.dbt_runner import run_dbt
from orchestration.duckdb_profile import connect_warehouse
from orchestration.pipeline import compile_segments, land
from orchestration.quality.suites import load_suites
from orchestration.quality.validation import validate_and_record
from orchestration.settings import DEFAULT_CLV_FIT_EVERY_DAYS, Settings

# The macro every reading of the as-of date goes through (dbt_project/macros/as_of.sql).
AS_OF_MACRO = "macro.crm_segments.as_of_date_string"
CLV_FIT_MODEL = "int_clv_fit"


class ReplayError(RuntimeError):
    """A check failed while the history was filled; the message names the suite and what failed."""


@dataclass(frozen=True)
class FilledDate:
    as_of: date
    clv_fitted: bool
    seconds: float
    # The models dbt built for the date (all of them on the first).
    models: tuple[str, ...] = ()


def macros_reading_as_of(manifest: Manifest) -> set[str]:
    """The as-of macro and every macro that calls it, directly or through others."""
    reading = {AS_OF_MACRO}
    while True:
        callers = {
            unique_id
            for unique_id, macro in manifest.macros.items()
            if unique_id not in reading and reading.intersection(macro.depends_on.macros)
        }
        if not callers:
            return reading
        reading |= callers


def models_to_rebuild(manifest: Manifest, kept: Iterable[str]) -> list[str]:
    """Names of the models a date before the replay's last needs: those that depend on the as-of date
    (they read it, or a model that does) and that the models named in `kept` read, those included.

    The incremental ones among them (the history) are always kept; the other marts are built again
    by the nightly job of the last date.
    """
    models = {unique_id: node for unique_id, node in manifest.nodes.items() if node.resource_type == "model"}
    children: dict[str, set[str]] = {unique_id: set() for unique_id in models}
    for unique_id, node in models.items():
        for parent in node.depends_on.nodes:
            if parent in children:
                children[parent].add(unique_id)
    reading = macros_reading_as_of(manifest)
    dated = _closure(
        {unique_id for unique_id, node in models.items() if reading.intersection(node.depends_on.macros)},
        lambda unique_id: children[unique_id],
    )
    wanted = {unique_id for unique_id in dated if models[unique_id].config.materialized == "incremental"}
    wanted |= {unique_id for unique_id in dated if models[unique_id].name in set(kept)}
    needed = _closure(wanted, lambda unique_id: set(models[unique_id].depends_on.nodes) & models.keys())
    return sorted(models[unique_id].name for unique_id in needed & dated)


def _closure(start: set[str], neighbours: Callable[[str], set[str]]) -> set[str]:
    found, pending = set(start), list(start)
    while pending:
        for neighbour in neighbours(pending.pop()) - found:
            found.add(neighbour)
            pending.append(neighbour)
    return found


def clv_fit_dates(dates: Iterable[date], every_days: int) -> set[date]:
    """The dates the CLV models are fitted on: the first, then each date `every_days` or more after the
    last fit."""
    if every_days < 1:
        raise ValueError(f"the CLV fit cadence must be at least 1 day, got {every_days}")
    fitted: list[date] = []
    for as_of in sorted(dates):
        if not fitted or (as_of - fitted[-1]).days >= every_days:
            fitted.append(as_of)
    return set(fitted)


def fill_history(
    settings: Settings,
    dates: list[date],
    clv_fit_every_days: int = DEFAULT_CLV_FIT_EVERY_DAYS,
    on_date_done: Callable[[FilledDate], None] | None = None,
) -> list[FilledDate]:
    """Builds the marts and the history for each of `dates`, oldest first.

    Raises DbtBuildError (a failed model or data test) or ReplayError (a failed suite), naming it.
    """
    dates = sorted(dates)
    fit_dates = clv_fit_dates(dates, clv_fit_every_days)
    land(settings)
    compile_segments(settings)
    _check_suites(replace(settings, as_of=dates[0]), "raw")
    manifest = run_dbt("parse", settings).result
    mart_suites = [spec.relation.split(".")[1] for spec in load_suites() if spec.asset[0] == "marts"]
    selection = models_to_rebuild(manifest, mart_suites)
    filled = []
    for index, as_of in enumerate(dates):
        started = time.perf_counter()
        dated = replace(settings, as_of=as_of)
        if index == 0:
            # Everything, with the data tests: the quarantine gates stop a replay of a bad export here.
            result = run_dbt("build", dated, "--exclude-resource-type", "unit_test", manifest=manifest)
        else:
            skip_fit = [] if as_of in fit_dates else ["--exclude", CLV_FIT_MODEL]
            # No manifest.json or run_results.json per date: nothing reads them.
            result = run_dbt(
                "run", dated, "--select", *selection, *skip_fit, "--no-write-json", manifest=manifest
            )
        _check_suites(dated, "marts")
        models = sorted(
            item.node.name for item in result.result.results if item.node.resource_type == "model"
        )
        done = FilledDate(as_of, as_of in fit_dates, time.perf_counter() - started, tuple(models))
        filled.append(done)
        if on_date_done is not None:
            on_date_done(done)
    return filled


def _check_suites(settings: Settings, layer: str) -> None:
    """Runs the Great Expectations suites of `layer` as the nightly job's checks do, and records them."""
    failures = []
    with connect_warehouse(settings.duckdb_path) as con:
        for spec in load_suites():
            if spec.asset[0] != layer:
                continue
            try:
                outcome = validate_and_record(spec, con, settings.as_of)
            except LookupError as error:
                failures.append(f"{spec.name}: {error}")
                continue
            if spec.blocking and not outcome.passed:
                failures.append(outcome.describe())
    if failures:
        raise ReplayError("\n".join(failures))
