"""Settings come from environment variables; bad values name the variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from orchestration.settings import DEFAULT_DUCKDB_PATH, DEFAULT_RAW_DIR, PROJECT_DIR, Settings, SettingsError


def test_defaults_are_the_bundled_sample_today_and_a_file_in_the_project() -> None:
    settings = Settings.from_env({}, today=date(2026, 11, 22))
    assert settings == Settings(DEFAULT_RAW_DIR, date(2026, 11, 22), DEFAULT_DUCKDB_PATH)
    assert DEFAULT_RAW_DIR.name == "raw" and DEFAULT_DUCKDB_PATH.suffix == ".duckdb"


def test_values_from_the_environment(tmp_path: Path) -> None:
    env = {
        "CRM_SEGMENTS_RAW_DIR": str(tmp_path),
        "CRM_SEGMENTS_AS_OF": " 2024-06-30 ",
        "CRM_SEGMENTS_DUCKDB": str(tmp_path / "w.duckdb"),
    }
    settings = Settings.from_env(env)
    assert settings == Settings(tmp_path.resolve(), date(2024, 6, 30), (tmp_path / "w.duckdb").resolve())
    assert settings.dbt_env() == {
        "CRM_SEGMENTS_RAW_DIR": str(tmp_path.resolve()),
        "CRM_SEGMENTS_AS_OF": "2024-06-30",
        "CRM_SEGMENTS_DUCKDB": str((tmp_path / "w.duckdb").resolve()),
        "CRM_SEGMENTS_COMPILED_DIR": "dbt_project/segments/compiled",
    }
    # Relative to the project, as dbt reads it; a folder outside the project is refused.
    other = Settings.from_env({"CRM_SEGMENTS_COMPILED_DIR": "target/my_segments"})
    assert other.compiled_dir == PROJECT_DIR / "target" / "my_segments"
    assert other.dbt_env()["CRM_SEGMENTS_COMPILED_DIR"] == "target/my_segments"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CRM_SEGMENTS_AS_OF",
            "30.06.2024",
            r"CRM_SEGMENTS_AS_OF='30\.06\.2024' is not a date written YYYY-MM-DD",
        ),
        (
            "CRM_SEGMENTS_RAW_DIR",
            "/no/such/folder",
            r"CRM_SEGMENTS_RAW_DIR='/no/such/folder' is not a folder",
        ),
        (
            "CRM_SEGMENTS_COMPILED_DIR",
            "/tmp/segments",
            r"CRM_SEGMENTS_COMPILED_DIR='/tmp/segments' must be a folder inside the project \(/",
        ),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({variable: value})


def test_warehouse_path_must_not_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"CRM_SEGMENTS_DUCKDB=.* is a folder"):
        Settings.from_env({"CRM_SEGMENTS_DUCKDB": str(tmp_path)})
