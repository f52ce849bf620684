"""The segment catalogue compiled into dbt files: a plain `dbt build` builds the segments (issue 20)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestration.duckdb_profile import connect_warehouse, marts_path
from orchestration.segments.catalog import (
    SEGMENT_BASE_YAML,
    CatalogError,
    catalog_fields,
    compile_catalog,
    warehouse_fields,
)
from orchestration.segments.dbt_files import (
    GENERATED_FILES,
    compile_for_dbt,
    ensure_dbt_files,
    render_dbt_files,
    write_dbt_files,
)
from orchestration.segments.rules import SegmentDefinitionError
from orchestration.settings import DEFAULT_CATALOG_PATH, DEFAULT_COMPILED_DIR, PROJECT_DIR
from tests.conftest import TINY_AS_OF, query

DBT = Path(sys.executable).parent / "dbt"


def test_the_committed_files_are_the_compiled_catalogue() -> None:
    # A fresh clone's `dbt build` reads them: they must be what `make segments` writes today.
    expected = render_dbt_files(compile_for_dbt(DEFAULT_CATALOG_PATH), "dbt_project/segments/catalog.yml")
    stale = [
        str(relative)
        for relative, content in expected.items()
        if (DEFAULT_COMPILED_DIR / relative).read_text(encoding="utf-8") != content
    ]
    assert stale == [], f"run `make segments`: {stale} differ from dbt_project/segments/catalog.yml"


def test_dbt_predicates_read_the_as_of_date_when_dbt_builds(tmp_path: Path) -> None:
    definitions = [
        {"key": "recent", "name": "R", "rule": {"last_order_at": {"within last days": 30}}},
        {"key": "odd", "name": "O", "rule": {"city": {"in": ["{{ x }}", "a\\b", "O'Brien"]}}},
    ]
    fields = catalog_fields()
    for_dbt = {s.key: s.predicate_sql for s in compile_catalog(definitions, fields, None, tmp_path).segments}
    assert for_dbt == {
        "recent": "cast(base.last_order_at as date) between date '{{ as_of_days_ago(30) }}' "
        "and date '{{ as_of_days_ago(0) }}'",
        "odd": 'base.city in ({{ segment_text_literal("{{ x }}") }}, {{ segment_text_literal("a\\\\b") }}, '
        "'O''Brien')",
    }
    direct = compile_catalog(definitions, fields, TINY_AS_OF, tmp_path).segments
    assert direct[0].predicate_sql == (
        "cast(base.last_order_at as date) between date '2024-05-31' and date '2024-06-30'"
    )
    assert direct[1].predicate_sql == "base.city in ('{{ x }}', 'a\\b', 'O''Brien')"


def test_rule_fields_are_the_typed_columns_declared_for_the_segment_base(tmp_path: Path) -> None:
    fields = catalog_fields()
    assert len(fields) == 78
    assert (fields["avg_order_value"].value, fields["last_order_at"].value, fields["city"].value) == (
        "number",
        "timestamp",
        "text",
    )
    document = yaml.safe_load(SEGMENT_BASE_YAML.read_text(encoding="utf-8"))
    for model in document["models"]:
        if model["name"] == "int_segment_customer_base":
            del model["columns"][1]["data_type"]
    broken = tmp_path / "models.yml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(
        CatalogError, match=r"int_segment_customer_base columns without a data_type: \['email'\]"
    ):
        catalog_fields(broken)


def test_the_declared_fields_match_the_built_base(tiny_warehouse: Path) -> None:
    with connect_warehouse(tiny_warehouse, read_only=True) as con:
        assert warehouse_fields(con) == catalog_fields()


def test_a_bad_catalogue_writes_nothing_and_names_the_segment(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(
        yaml.safe_dump({"segments": [{"key": "s", "name": "S", "rule": {"avg_ordr_value": {">": 1}}}]}),
        encoding="utf-8",
    )
    with pytest.raises(
        SegmentDefinitionError, match="segment 's': rule.avg_ordr_value: unknown field .*avg_order_value"
    ):
        write_dbt_files(catalog, tmp_path / "compiled")
    assert not (tmp_path / "compiled").exists()
    # A folder dbt must parse gets the files of an empty catalogue; the run's compile step then fails.
    ensure_dbt_files(catalog, tmp_path / "compiled")
    assert sorted(
        path.relative_to(tmp_path / "compiled") for path in (tmp_path / "compiled").rglob("*.*")
    ) == sorted(GENERATED_FILES)
    definitions = (tmp_path / "compiled" / GENERATED_FILES[0]).read_text(encoding="utf-8")
    assert definitions.splitlines()[1:] == []


def test_only_changed_files_are_rewritten(tmp_path: Path) -> None:
    write_dbt_files(DEFAULT_CATALOG_PATH, tmp_path)
    times = {relative: (tmp_path / relative).stat().st_mtime_ns for relative in GENERATED_FILES}
    write_dbt_files(DEFAULT_CATALOG_PATH, tmp_path)
    assert {relative: (tmp_path / relative).stat().st_mtime_ns for relative in GENERATED_FILES} == times


def test_a_plain_dbt_build_builds_the_segments(tiny_warehouse: Path, tmp_path: Path) -> None:
    # No Python step: dbt's own command line, on a copy of a landed warehouse without its marts file, from
    # the committed files.
    warehouse = tmp_path / "copy.duckdb"
    warehouse.write_bytes(tiny_warehouse.read_bytes())
    sql = "select segment_key, members, holdout_members, predicate_sql from marts.segment_catalog order by 1"
    expected = query(tiny_warehouse, sql)
    assert not marts_path(warehouse).exists()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CRM_SEGMENTS_")} | {
        "CRM_SEGMENTS_DUCKDB": str(warehouse),
        "CRM_SEGMENTS_AS_OF": TINY_AS_OF.isoformat(),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
    }
    result = subprocess.run(
        [str(DBT), "build", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR), "--quiet"],
        env=environment,
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,  # as a developer runs it: the CLV fit imports orchestration from there
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert query(warehouse, sql) == expected
    assert len(expected) == 29
