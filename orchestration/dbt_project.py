"""The dbt project as Dagster sees it: `DbtProject` plus a manifest that is always current."""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject
from dbt.cli.main import dbtRunner

from orchestration.settings import PROJECT_DIR

# Dagster's own copy of dbt's artifacts, apart from the target/ a developer's `dbt` commands use.
DAGSTER_TARGET_PATH = Path("target") / "dagster"

crm_dbt_project = DbtProject(
    project_dir=PROJECT_DIR,
    profiles_dir=PROJECT_DIR,
    target_path=DAGSTER_TARGET_PATH,
)

_SOURCE_DIRS = ("dbt_project", "seeds")
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml")


def _newest_source_mtime() -> float:
    paths = [PROJECT_DIR / name for name in _SOURCE_FILES]
    for folder in _SOURCE_DIRS:
        paths += [path for path in (PROJECT_DIR / folder).rglob("*") if path.is_file()]
    return max(path.stat().st_mtime for path in paths)


def ensure_manifest() -> Path:
    """Parses the project when manifest.json is missing or older than a model, seed or config file.

    `DbtProject.prepare_if_dev` does this only under `dagster dev`; the job and the tests load the
    definitions in plain processes (and on a fresh clone) too.
    """
    manifest = crm_dbt_project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        result = dbtRunner().invoke(
            [
                "parse",
                "--quiet",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(PROJECT_DIR / DAGSTER_TARGET_PATH),
            ]
        )
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
    return manifest
