"""What `make run` and `make replay` print while the nightly job runs, and where its full log goes.

The terminal gets one line per step as it ends (what it did, in how long), then the run's summary;
`make replay` gets one line per as-of date. Every Dagster event, dbt's own output and Python's log
go to `<warehouse stem>_logs/<command>-<time>.log` beside the warehouse file, whose path the first
line prints. `-v` (or CRM_SEGMENTS_VERBOSE=1) streams all of that to the terminal instead, each
line once.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import dagster as dg

KEEP_LOGS = 30  # log files kept per warehouse, newest first
_LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def log_dir(duckdb_path: Path) -> Path:
    """`<warehouse stem>_logs/` beside the warehouse: `crm_segments.duckdb` → `crm_segments_logs/`."""
    warehouse = duckdb_path.resolve()
    return warehouse.parent / f"{warehouse.stem}_logs"


def new_log_path(duckdb_path: Path, command: str, now: datetime | None = None) -> Path:
    folder = log_dir(duckdb_path)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{command}-{stamp}.log"
    suffix = 1
    while path.exists():  # two runs in one second
        suffix += 1
        path = folder / f"{command}-{stamp}-{suffix}.log"
    return path


def _prune(folder: Path, keep: int = KEEP_LOGS) -> None:
    logs = sorted(folder.glob("*.log"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in logs[keep:]:
        old.unlink(missing_ok=True)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@dataclass
class _Step:
    started: float
    materialized: list[tuple[dg.AssetKey, Mapping[str, Any]]] = field(default_factory=list)
    checks: Counter[str] = field(default_factory=Counter)
    check_names: list[str] = field(default_factory=list)


def _metadata_value(metadata: Mapping[str, Any], name: str) -> Any:
    value = metadata.get(name)
    return getattr(value, "value", value)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


# The dbt project's folders in build order, for the dbt steps' lines (seeds are `reference`).
_PHASES = ("reference", "staging", "intermediate", "predictions", "marts", "segments", "syncs", "audit")


@functools.cache
def dbt_phases() -> dict[dg.AssetKey, str]:
    """Asset key (<schema>/<name>) -> the model's folder: `predictions` wherever it sits, else the top one."""
    from orchestration.dbt_project import ensure_manifest

    phases = {}
    for node in json.loads(ensure_manifest().read_text(encoding="utf-8"))["nodes"].values():
        if node["resource_type"] == "seed":
            phases[dg.AssetKey(["reference", node["name"]])] = "reference"
        elif node["resource_type"] in ("model", "snapshot"):
            folders = node["fqn"][1:-1]
            phase = "predictions" if "predictions" in folders else (folders[0] if folders else "models")
            phases[dg.AssetKey([node["schema"], node["name"]])] = phase
    return phases


def _checks(step: _Step) -> str:
    """` passed` when every check had one outcome, else `: 3 passed, 1 warned`."""
    if len(step.checks) == 1:
        return f" {next(iter(step.checks))}"
    return ": " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(step.checks.items()))


def describe_step(step_key: str, step: _Step) -> str:
    """One line of what a finished step did, from its events."""
    keys = [key for key, _ in step.materialized]
    if step_key == "raw_files":
        tables = [(key, meta) for key, meta in step.materialized if not key.path[-1].startswith("_")]
        rows = sum(int(_metadata_value(meta, "rows") or 0) for _, meta in tables)
        line = f"landed the raw files: {_plural(len(tables), 'table')}, {rows:,} rows"
        unclaimed = [
            _metadata_value(meta, "unclaimed_files")
            for _, meta in step.materialized
            if _metadata_value(meta, "unclaimed_files")
        ]
        if unclaimed:
            line += f"; not read, no table has that name (the log says how to name them): {unclaimed[0]}"
        return line
    if step_key.startswith("crm_dbt_assets"):
        phases = dbt_phases()
        layers = Counter(phases.get(key, key.path[0]) for key in keys)
        order = sorted(layers, key=lambda layer: (_PHASES.index(layer) if layer in _PHASES else 99, layer))
        by_layer = ", ".join(f"{layer} {layers[layer]}" for layer in order)
        tests = sum(step.checks.values())
        line = f"dbt build: {_plural(len(keys), 'model')}" + (f" ({by_layer})" if by_layer else "")
        return line + (f"; {_plural(tests, 'test')}{_checks(step)}" if tests else "")
    if step_key == "segment_catalog":
        segments = next((_metadata_value(meta, "segments") for _, meta in step.materialized), None)
        return f"compiled the segment catalogue: {segments} segments"
    if step_key == "segment_syncs":
        return "synced " + (", ".join(key.path[-1] for key in keys) or "nothing")
    if step_key == "published__warehouse_copy" and step.materialized:
        meta = step.materialized[0][1]
        tables, path = _metadata_value(meta, "tables"), _metadata_value(meta, "path")
        return f"published {tables} tables for BI tools: {path}"
    if step_key == "report__segment_report":
        path = next((_metadata_value(meta, "path") for _, meta in step.materialized), None)
        return f"wrote the segment report: {path}"
    if step.check_names and not keys:
        return f"checked {', '.join(step.check_names)}:{_checks(step)}"
    return step_key + (f": {_plural(len(keys), 'asset')}" if keys else "")


class StepProgress(logging.Handler):
    """Reads the Dagster events of a run as they are logged and prints a line for each step that ends."""

    def __init__(self, out: IO[str], show_steps: bool = True) -> None:
        super().__init__(level=logging.DEBUG)
        self.out = out
        self.show_steps = show_steps
        self.steps: dict[str, _Step] = {}
        self.lines = 0

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)
        self.lines += 1

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None or not event.step_key:
            return
        kind = event.event_type_value
        key = event.step_key
        if kind in ("STEP_START", "STEP_RESTARTED"):
            self.steps[key] = _Step(started=record.created)
            return
        step = self.steps.setdefault(key, _Step(started=record.created))
        data = event.event_specific_data
        elapsed = format_duration(record.created - step.started)
        if kind == "ASSET_MATERIALIZATION":
            step.materialized.append((data.materialization.asset_key, data.materialization.metadata))
        elif kind == "ASSET_CHECK_EVALUATION":
            outcome = (
                "passed"
                if data.passed
                else ("failed" if data.severity == dg.AssetCheckSeverity.ERROR else "warned")
            )
            step.checks[outcome] += 1
            step.check_names.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
        elif kind == "STEP_SUCCESS" and self.show_steps:
            self.say(f"  {elapsed:>10}  {describe_step(key, step)}")
        elif kind == "STEP_UP_FOR_RETRY":
            wait = f" in {data.seconds_to_wait:g} s" if data.seconds_to_wait else ""
            self.say(f"  {elapsed:>10}  {key} failed; Dagster retries it{wait}")
        elif kind == "STEP_FAILURE":
            self.say(f"  {elapsed:>10}  {key} FAILED (why: below)")
        elif kind == "STEP_SKIPPED" and self.show_steps:
            self.say(f"  {'':>10}  {key} skipped: a step before it failed")


class _NotADagsterEvent(logging.Filter):
    """Dagster hands the records of its own Python loggers to the run's loggers and lets them propagate
    to the root logger too: the root handler drops those, or each would be written twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, "dagster_meta")


class RunOutput:
    """Context of one `run` or `replay` command: the progress lines, the log file, the run's loggers."""

    def __init__(self, duckdb_path: Path, command: str, verbose: bool = False, out: IO[str] | None = None):
        self.duckdb_path = duckdb_path
        self.command = command
        self.verbose = verbose
        self.out = out
        self.log_path: Path | None = None
        self._stack = ExitStack()
        self._stream: IO[str] = sys.stderr
        self.progress: StepProgress | None = None
        self.started = time.monotonic()

    def __enter__(self) -> RunOutput:
        out = self.out or sys.stdout
        self.out = out
        if not self.verbose:
            self.log_path = new_log_path(self.duckdb_path, self.command)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            _prune(self.log_path.parent, KEEP_LOGS - 1)
            log_file = self._stack.enter_context(self.log_path.open("a", encoding="utf-8", buffering=1))
            self._stream = log_file
            # dbt's output (dagster-dbt writes it to stdout), warnings and anything else printed.
            self._stack.enter_context(redirect_stdout(log_file))
            self._stack.enter_context(redirect_stderr(log_file))
        self._capture_python_logging()
        self.progress = StepProgress(out, show_steps=self.command == "run")
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _capture_python_logging(self) -> None:
        root, own = logging.getLogger(), logging.getLogger("orchestration")
        saved = root.handlers[:], root.level, own.level
        handler = logging.StreamHandler(self._stream)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        handler.addFilter(_NotADagsterEvent())
        root.handlers = [handler]
        # This project's INFO lines (what each table's landing did); the libraries' warnings only.
        root.setLevel(logging.WARNING)
        own.setLevel(logging.INFO)

        def restore() -> None:
            root.handlers = saved[0]
            root.setLevel(saved[1])
            own.setLevel(saved[2])

        self._stack.callback(restore)

    def say(self, line: str) -> None:
        assert self.progress is not None, "use RunOutput as a context manager"
        self.progress.say(line)

    def where(self) -> str:
        return f"full log: {self.log_path}" if self.log_path else "verbose: the full log follows"

    def with_log_path(self, message: str) -> str:
        """A failure's message, ending with where the full log is (when it went to a file)."""
        return f"{message}\n  ({self.where()})" if self.log_path else message

    def elapsed(self) -> str:
        return format_duration(time.monotonic() - self.started)

    def date_done(self, index: int, total: int, as_of: date) -> None:
        """After each as-of date of a replay: date, i/n, elapsed."""
        self.say(f"  [{index}/{total}] as of {as_of} done, {self.elapsed()} so far")

    def logger_defs(self) -> dict[str, dg.LoggerDefinition]:
        """The run's loggers: the progress lines, and every event to the log file (or the terminal)."""
        assert self.progress is not None, "use RunOutput as a context manager"
        stream_handler = logging.StreamHandler(self._stream)
        stream_handler.setFormatter(logging.Formatter(_LOG_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
        handlers: list[logging.Handler] = [stream_handler, self.progress]

        def create(_init_context: dg.InitLoggerContext) -> logging.Logger:
            logger = logging.Logger("dagster", level=logging.DEBUG)
            for handler in handlers:
                logger.addHandler(handler)
            return logger

        return {"crm_segments": dg.LoggerDefinition(create, description="progress lines and the run log")}
