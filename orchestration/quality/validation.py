"""Runs a suite with Great Expectations on a pandas frame read from the warehouse.

GX 1.x's SQL datasource fails on DuckDB, so the frame is read by DuckDB itself, with only the columns
the suite needs, and handed to GX's pandas datasource.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import duckdb
import pandas as pd
import yaml

from orchestration.quality import baselines
from orchestration.quality.suites import SuiteSpec
from orchestration.settings import PROJECT_DIR

# GX would otherwise try to send usage statistics, which a closed network refuses slowly.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

MAX_EXAMPLES = 5
# A newest landing with more rows is validated on an evenly spaced sample: one row in k of each file.
MAX_VALIDATED_ROWS = 2_000_000
# Day-first dotted dates (a Russian export: 05.03.2024 14:30), which staging parses too.
_DOTTED_DATES = "['%d.%m.%Y %H:%M:%S', '%d.%m.%Y %H:%M', '%d.%m.%Y']"
_READERS = {
    "number": "try_cast({column} as double)",
    # Naive UTC, like the run clock it is compared with.
    "timestamp": (
        "coalesce(timezone('UTC', try_cast({column} as timestamptz)), "
        f"try_strptime(trim({{column}}), {_DOTTED_DATES}))"
    ),
    # Trimmed and lower-cased as staging reads it; blank is null (no value, not a wrong one).
    "lowercase": "nullif(lower(trim({column})), '')",
}


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    critical: bool
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        target = f"{self.expectation}({self.column})" if self.column else self.expectation
        if self.error:
            return f"{target}: could not be evaluated: {self.error}"
        parts = [target]
        if self.unexpected_count is not None:
            share = f" ({self.unexpected_percent:.1f}%)" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} unexpected rows{share}")
        if self.observed is not None:
            parts.append(f"observed {self.observed}")
        if self.examples:
            parts.append(f"e.g. {self.examples}")
        return ": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")


@dataclass(frozen=True)
class LandingScope:
    """What a newest-landing suite reads: the rows of the largest `_load_id`, one in `every` of each file."""

    landing_rows: int
    table_rows: int
    every: int = 1

    def where(self, relation: str) -> str:
        sampled = f" and (_source_row - 1) % {self.every} = 0" if self.every > 1 else ""
        return f" where _load_id = (select max(_load_id) from {relation}){sampled}"


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    relation: str
    rows: int
    expectations: list[ExpectationOutcome]
    # What a later run compares itself with, recorded only if this run passes.
    metrics: dict[str, float]
    # When the rules judged only the newest landing (`rows` of it): what was read.
    scope: LandingScope | None = None

    @property
    def table_rows(self) -> int | None:
        return None if self.scope is None else self.scope.table_rows

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectations if not outcome.success and outcome.critical]

    @property
    def failed_warnings(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectations if not outcome.success and not outcome.critical]

    @property
    def passed(self) -> bool:
        return not self.failed_critical

    @property
    def checked(self) -> str:
        """What the rules read: `raw.orders`, its newest landing, or a sample of that landing."""
        if self.scope is None:
            return self.relation
        if self.scope.every == 1:
            return f"the newest landing of {self.relation} ({self.rows} of its {self.scope.table_rows} rows)"
        return (
            f"a sample of the newest landing of {self.relation} (one row in {self.scope.every} of each "
            f"file: {self.rows} of the landing's {self.scope.landing_rows} rows, "
            f"{self.scope.table_rows} in the table)"
        )

    def describe(self) -> str:
        failed = self.failed_critical + self.failed_warnings
        if not failed:
            met = len(self.expectations)
            if self.scope is None:
                return f"{self.suite}: {met} expectations met on {self.rows} rows of {self.relation}"
            return f"{self.suite}: {met} expectations met on {self.checked}"
        lines = [
            f"{self.suite}: {len(failed)} of {len(self.expectations)} expectations failed on {self.checked}"
        ]
        lines += [f"  {'' if outcome.critical else '(warning) '}{outcome.describe()}" for outcome in failed]
        return "\n".join(lines)


def validate(
    spec: SuiteSpec,
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    run_started_at: datetime | None = None,
) -> SuiteOutcome:
    scope = landing_scope(spec, con)
    frame = read_frame(spec, con, scope)
    previous = baselines.previous_metrics(con, spec.name, as_of)
    if spec.previous_run:
        frame = _with_previous_run(spec, frame, previous)
    parameters = {
        "previous_row_count": previous.get(baselines.ROW_COUNT, 0),
        "run_started_at": (run_started_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None),
        "as_of_end": datetime.combine(as_of + timedelta(days=1), time()),
        **{name: _seed_values(*source) for name, source in spec.seed_parameters.items()},
        **{name: _dbt_vars()[name] for name in spec.dbt_var_parameters},
    }
    if scope is None:
        outcomes = _run_gx(spec, spec.expectations, frame, parameters)
    else:
        outcomes = _run_scoped(spec, frame, scope.table_rows, parameters)
    metrics = _metrics(spec, frame)
    if scope is not None:
        metrics[baselines.ROW_COUNT] = float(scope.table_rows)
    return SuiteOutcome(spec.name, spec.relation, len(frame), outcomes, metrics, scope)


def validate_and_record(
    spec: SuiteSpec,
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    run_started_at: datetime | None = None,
) -> SuiteOutcome:
    """Runs the suite and records its result (a pass also becomes the next run's baseline).

    LookupError when the relation or a column the suite names is missing (nothing is recorded).
    """
    outcome = validate(spec, con, as_of, run_started_at)
    failed = outcome.failed_critical + outcome.failed_warnings
    baselines.record(
        con,
        spec.name,
        as_of,
        passed=outcome.passed,
        rows_checked=outcome.rows,
        failures="\n".join(item.describe() for item in failed),
        metrics=outcome.metrics,
    )
    return outcome


def read_frame(
    spec: SuiteSpec, con: duckdb.DuckDBPyConnection, scope: LandingScope | None = None
) -> pd.DataFrame:
    """The suite's columns of its relation, or of the newest landing (`scope`, found when not given)."""
    scope = scope or landing_scope(spec, con)
    schema, table = spec.relation.split(".")
    available = [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]
    if not available:
        raise LookupError(f"suite {spec.name}: the warehouse has no table {spec.relation}")
    missing = sorted(spec.referenced_columns() - set(available))
    if missing:
        raise LookupError(f"suite {spec.name}: {spec.relation} has no column(s) {', '.join(missing)}")
    condition_words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(spec.row_conditions())))
    needed = [column for column in available if column in spec.referenced_columns() | condition_words]
    select = ", ".join(_read_column(spec, column) for column in needed) or "1 as _row"
    where = scope.where(spec.relation) if scope else ""
    return con.execute(f"select {select} from {schema}.{table}{where}").df()


def landing_scope(spec: SuiteSpec, con: duckdb.DuckDBPyConnection) -> LandingScope | None:
    """The newest landing (largest `_load_id`) when the suite judges it and the table records its
    landings; sampled when it has more than MAX_VALIDATED_ROWS rows and the rows their file position."""
    if not spec.newest_landing:
        return None
    schema, table = spec.relation.split(".")
    columns = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }
    if "_load_id" not in columns:
        return None
    landing_rows, table_rows = con.execute(
        f"select count(*) filter (where _load_id = (select max(_load_id) from {spec.relation})), count(*) "
        f"from {spec.relation}"
    ).fetchone()
    every = 1
    if landing_rows > MAX_VALIDATED_ROWS and "_source_row" in columns:
        every = math.ceil(landing_rows / MAX_VALIDATED_ROWS)
    return LandingScope(int(landing_rows), int(table_rows), every)


def _read_column(spec: SuiteSpec, column: str) -> str:
    quoted = f'"{column}"'
    reader = spec.column_readers.get(column)
    return f"{_READERS[reader].format(column=quoted)} as {quoted}" if reader else quoted


def _with_previous_run(spec: SuiteSpec, frame: pd.DataFrame, previous: dict[str, float]) -> pd.DataFrame:
    comparison = spec.previous_run
    assert comparison is not None
    prefix = f"{comparison.measure}:"
    before = {key[len(prefix) :]: value for key, value in previous.items() if key.startswith(prefix)}
    frame = frame.copy()
    frame[comparison.previous_column] = frame[comparison.key].astype(str).map(before).astype("float64")
    previous_values = frame[comparison.previous_column]
    frame[comparison.ratio_column] = (frame[comparison.measure] / previous_values).where(previous_values > 0)
    return frame


def _metrics(spec: SuiteSpec, frame: pd.DataFrame) -> dict[str, float]:
    metrics = {baselines.ROW_COUNT: float(len(frame))}
    if spec.previous_run:
        comparison = spec.previous_run
        for key, value in zip(frame[comparison.key], frame[comparison.measure], strict=True):
            metrics[f"{comparison.measure}:{key}"] = float(value)
    return metrics


@cache
def _seed_values(seed: str, column: str) -> tuple[str, ...]:
    with (PROJECT_DIR / "seeds" / f"{seed}.csv").open(newline="") as handle:
        return tuple(sorted({row[column] for row in csv.DictReader(handle)}))


@cache
def _dbt_vars() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


@cache
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("crm_segments").add_dataframe_asset("warehouse_frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def _run_scoped(
    spec: SuiteSpec, frame: pd.DataFrame, table_rows: int, parameters: dict[str, Any]
) -> list[ExpectationOutcome]:
    """The row-count rules on the whole relation (a frame of its length, no columns), then the other
    rules on the newest landing's rows."""
    row_count_rules = [
        item for item in spec.expectations if str(item.get("type", "")).startswith("expect_table_row_count")
    ]
    landing_rules = [item for item in spec.expectations if item not in row_count_rules]
    whole = pd.DataFrame(index=pd.RangeIndex(table_rows))
    outcomes = _run_gx(spec, row_count_rules, whole, parameters) if row_count_rules else []
    return outcomes + (_run_gx(spec, landing_rules, frame, parameters) if landing_rules else [])


def _run_gx(
    spec: SuiteSpec, expectations: list[dict[str, Any]], frame: pd.DataFrame, parameters: dict[str, Any]
) -> list[ExpectationOutcome]:
    import great_expectations as gx

    suite_json = {key: value for key, value in spec.suite_json.items() if key != "meta"}
    suite = gx.ExpectationSuite(**{**suite_json, "expectations": expectations})
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES}
    if spec.index_columns and len(frame.columns):
        result_format["unexpected_index_column_names"] = list(spec.index_columns)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, expectation_parameters=parameters, result_format=result_format)
    return [_outcome(item) for item in result.results]


def _outcome(item: Any) -> ExpectationOutcome:
    config = item.expectation_config
    details = item.result or {}
    error = None
    if item.exception_info and item.exception_info.get("raised_exception"):
        error = str(item.exception_info.get("exception_message"))
    examples = details.get("partial_unexpected_index_list") or details.get("partial_unexpected_list") or []
    return ExpectationOutcome(
        expectation=config.type,
        column=config.kwargs.get("column"),
        critical=str(getattr(config.severity, "value", config.severity)).lower() == "critical",
        success=bool(item.success),
        observed=_plain(details.get("observed_value")),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        examples=[_plain(example) for example in examples[:MAX_EXAMPLES]],
        error=error,
    )


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as plain Python values, so metadata and messages read cleanly."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return value
