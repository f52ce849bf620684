"""The dbt project as Dagster sees it: `DbtProject` plus a manifest that is always current."""

from __future__ import annotations

import fcntl
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from dagster_dbt import DbtProject
from dbt.cli.main import dbtRunner
from dbt_common.events.base_types import EventMsg

from orchestration.segments.dbt_files import ensure_dbt_files
from orchestration.settings import DEFAULT_COMPILED_DIR, PROJECT_DIR, Settings, SettingsError

# Dagster's own copy of dbt's artifacts, apart from the target/ a developer's `dbt` commands use.
DAGSTER_TARGET_PATH = Path("target") / "dagster"
# The job's dbt runs, one after another, in one folder: dbt parses only what changed since the last run
# (dagster-dbt's default, a new folder per run, parsed the whole project every night).
DAGSTER_RUN_TARGET_PATH = DAGSTER_TARGET_PATH / "run"
# dbt's artifacts of `make docs`, kept between runs for the same reason.
DOCS_TARGET_PATH = Path("target") / "docs"


def kept_target_path(folder: Path, env: Mapping[str, str]) -> Path:
    """The target folder a command's dbt runs reuse: DBT_TARGET_PATH when set (the tests', the
    benchmark's), else `folder` under the project."""
    return Path(env.get("DBT_TARGET_PATH") or PROJECT_DIR / folder)


class DbtParseError(RuntimeError):
    """dbt could not parse the project (a broken model, YAML or semantic model); names dbt's reasons."""


crm_dbt_project = DbtProject(
    project_dir=PROJECT_DIR,
    profiles_dir=PROJECT_DIR,
    target_path=DAGSTER_TARGET_PATH,
)

_SOURCE_DIRS = ("dbt_project", "seeds")
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml")


def _newest_source_mtime(compiled_dir: Path) -> float:
    paths = [PROJECT_DIR / name for name in _SOURCE_FILES]
    for folder in [*(PROJECT_DIR / name for name in _SOURCE_DIRS), compiled_dir]:
        paths += [path for path in folder.rglob("*") if path.is_file()]
    return max(path.stat().st_mtime for path in paths)


def _compiled_segments() -> Path:
    """The folder of the compiled segment catalogue this process's dbt reads, with its files written."""
    try:
        settings = Settings.from_env()
    except SettingsError:
        return DEFAULT_COMPILED_DIR  # the run itself reports the setting
    ensure_dbt_files(settings.catalog_path, settings.compiled_dir)
    return settings.compiled_dir


def ensure_manifest() -> Path:
    """Parses the project when manifest.json is missing or older than a model, seed or config file.

    `DbtProject.prepare_if_dev` does this only under `dagster dev`; the job and the tests load the
    definitions in plain processes (and on a fresh clone) too.
    """
    manifest = crm_dbt_project.manifest_path
    compiled_dir = _compiled_segments()
    manifest.parent.mkdir(parents=True, exist_ok=True)
    # Processes that load the definitions at once (test workers, `make dev`'s) parse one at a time.
    with open(manifest.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(compiled_dir):
            messages: list[str] = []
            result = dbtRunner(callbacks=[partial(_keep_errors, messages)]).invoke(
                [
                    "parse",
                    "--quiet",
                    # The definitions read manifest.json, whatever DBT_WRITE_JSON or the project's flags say.
                    "--write-json",
                    "--project-dir",
                    str(PROJECT_DIR),
                    "--profiles-dir",
                    str(PROJECT_DIR),
                    "--target-path",
                    str(PROJECT_DIR / DAGSTER_TARGET_PATH),
                ]
            )
            if not result.success:
                reasons = "; ".join(messages) or str(result.exception)
                raise DbtParseError(f"dbt could not parse the project: {reasons}")
    return manifest


def _keep_errors(messages: list[str], event: EventMsg) -> None:
    if event.info.level == "error":
        messages.append(" ".join(event.info.msg.split()))
