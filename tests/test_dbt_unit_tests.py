"""Every dbt unit test of the project, run once (the tests' warehouse builds leave them out; the
nightly job's `dbt build` runs them before each model)."""

from pathlib import Path

import pytest
import yaml

from orchestration.settings import PROJECT_DIR, Settings
from tests.conftest import EXCLUDE_RESOURCE_TYPES_ENV, TINY_AS_OF, TINY_RAW_DIR, RunDbt, copy_warehouse


def defined_unit_tests() -> set[str]:
    names = set()
    for path in (PROJECT_DIR / "dbt_project" / "models").rglob("*.yml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names |= {f"{test['model']}::{test['name']}" for test in document.get("unit_tests") or []}
    return names


def test_every_unit_test_passes(
    dbt_at_one_path: RunDbt, tiny_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unit tests mock their inputs, but dbt reads the inputs' columns from the warehouse.
    warehouse = tmp_path / "crm.duckdb"
    copy_warehouse(tiny_warehouse, warehouse)
    monkeypatch.delenv(EXCLUDE_RESOURCE_TYPES_ENV)
    result = dbt_at_one_path(
        "test", Settings(TINY_RAW_DIR, TINY_AS_OF, warehouse), "--select", "test_type:unit"
    )
    outcomes = {
        f"{r.node.tested_node_unique_id.split('.')[-1]}::{r.node.name}": str(r.status)
        for r in result.result.results
    }
    assert len(defined_unit_tests()) >= 43
    assert outcomes == dict.fromkeys(defined_unit_tests(), "pass")
