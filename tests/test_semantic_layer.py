"""The semantic layer: `mf validate-configs` on the warehouse, and each README `mf query` example
against the same numbers computed in SQL on the marts (the sample replay, as of 2026-11-20)."""

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.duckdb_profile import connect_warehouse
from orchestration.settings import PROJECT_DIR
from tests.conftest import SampleReplay, copy_warehouse

BIN = Path(sys.executable).parent
README = PROJECT_DIR / "README.md"
# The files of the dbt project; a project folder of links to them gets its own target/, which `mf` reads.
PROJECT_ENTRIES = ("dbt_project.yml", "profiles.yml", "dbt_project", "seeds")

REVENUE = "case when is_completed then amount_reporting else 0 end"
# Each README example and the SQL that gives the same rows (a time dimension as MetricFlow prints it).
EXPECTED_SQL = {
    "mf query --metrics revenue,orders,buyers,average_order_value --group-by metric_time__month "
    "--start-time 2026-09-01 --end-time 2026-11-30 --order metric_time__month": f"""
        select strftime(date_trunc('month', ordered_on), '%Y-%m-%d %H:%M:%S'),
            sum({REVENUE}), count_if(is_completed), count(distinct customer_id) filter (where is_completed),
            sum({REVENUE}) / count_if(is_completed)
        from marts.fct_orders
        where ordered_on between date '2026-09-01' and date '2026-11-30'
        group by 1 order by 1""",
    # Independent of fct_orders: customer_rfm's own totals.
    "mf query --metrics revenue,buyers --group-by customer__rfm_segment --order -revenue": """
        select rfm_segment, sum(monetary), count(*) from marts.customer_rfm
        group by 1 order by 2 desc""",
    "mf query --metrics open_rate,click_through_rate,unsubscribe_rate,conversion_rate "
    "--group-by metric_time__quarter --start-time 2026-01-01 --end-time 2026-09-30 "
    "--order metric_time__quarter": """
        select strftime(date_trunc('quarter', sent_at), '%Y-%m-%d %H:%M:%S'),
            count_if(is_opened) / count_if(is_delivered), count_if(is_clicked) / count_if(is_delivered),
            count_if(is_unsubscribed) / count_if(is_delivered),
            count_if(is_converted) / count_if(is_delivered)
        from marts.fct_emails
        where sent_at::date between date '2026-01-01' and date '2026-09-30'
        group by 1 order by 1""",
    "mf query --metrics average_predicted_clv_12m --group-by customer__churn_risk "
    "--order customer__churn_risk": """
        select churn_risk, avg(predicted_clv_12m) from marts.customer_predictions
        where predicted_clv_12m is not null group by 1 order by 1""",
    "mf query --metrics segment_members --group-by segment,segment_membership__is_holdout "
    "--where \"{{ Dimension('segment__kind') }} = 'rule'\" "
    "--order segment,segment_membership__is_holdout": """
        select segment_key, is_holdout, count(*) from marts.segment_membership
        where segment_key in (select segment_key from marts.segment_catalog where kind = 'rule')
        group by 1, 2 order by 1, 2""",
    # segment_kpis' own rates.
    "mf query --metrics churn_rate,retention_rate --group-by segment "
    "--where \"{{ Dimension('segment_kpi__member_group') }} = 'all'\" --order segment": """
        select segment_key, churn_rate, retention_rate from marts.segment_kpis
        where member_group = 'all' order by 1""",
    "mf query --metrics incremental_revenue --group-by segment "
    "--where \"{{ Dimension('segment_uplift__window_days') }} = 30\" --order segment": """
        select segment_key, incremental_revenue from marts.segment_uplift
        where window_days = 30 order by 1""",
}


def readme_queries() -> list[str]:
    section = README.read_text().split("## Metrics: the semantic layer (MetricFlow)", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's metrics section has no sh block"
    return [line for line in block.group(1).splitlines() if line.startswith("mf query")]


@dataclass(frozen=True)
class MetricFlowProject:
    folder: Path
    warehouse: Path
    environment: dict[str, str]


@pytest.fixture(scope="module")
def metricflow_project(
    sample_replay: SampleReplay, tmp_path_factory: pytest.TempPathFactory
) -> MetricFlowProject:
    """A copy of the replayed warehouse, and the project parsed for it: the environment `mf` runs in."""
    base = tmp_path_factory.mktemp("metricflow")
    warehouse = base / "crm.duckdb"
    copy_warehouse(sample_replay.warehouse, warehouse)
    project = base / "project"
    project.mkdir()
    for entry in PROJECT_ENTRIES:
        (project / entry).symlink_to(PROJECT_DIR / entry)
    environment = {
        **os.environ,
        "CRM_SEGMENTS_DUCKDB": str(warehouse),
        "DBT_TARGET_PATH": str(project / "target"),
        "DBT_LOG_PATH": str(base / "logs"),
    }
    # Every outcome window of the two-date replay is still open (incremental revenue null): the copy
    # gets values that differ by segment and window, so the metric's window filter and sum are checked.
    with connect_warehouse(warehouse) as con:
        con.execute(
            "update marts.segment_uplift set incremental_revenue = window_days * length(segment_key) + 0.25"
        )
    subprocess.run(
        [BIN / "dbt", "parse", "--quiet", "--write-json"], cwd=project, env=environment, check=True
    )
    return MetricFlowProject(project, warehouse, environment)


def run_mf(project: MetricFlowProject, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "mf", *arguments], cwd=project.folder, env=project.environment, capture_output=True, text=True
    )


# Runs the `mf` command line once per argument list of a JSON file, all in one process (MetricFlow is
# imported once); writes each run's exit code and output to a second JSON file.
MF_BATCH = """
import contextlib, io, json, sys
from dbt_metricflow.cli.main import cli
results = []
for arguments in json.load(open(sys.argv[1])):
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            cli.main(args=arguments, prog_name="mf")
            code = 0
        except SystemExit as exit:
            code = exit.code or 0
    results.append([code, output.getvalue()])
json.dump(results, open(sys.argv[2], "w"))
"""


@dataclass(frozen=True)
class QueryResult:
    code: int
    output: str
    csv: Path


@pytest.fixture(scope="module")
def readme_results(
    metricflow_project: MetricFlowProject, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, QueryResult]:
    """Every README `mf query` example run by the `mf` command line, its rows written as CSV."""
    folder = tmp_path_factory.mktemp("mf_query")
    csvs = [folder / f"{number}.csv" for number in range(len(EXPECTED_SQL))]
    arguments = [
        [*shlex.split(command)[1:], "--csv", str(path)]
        for command, path in zip(EXPECTED_SQL, csvs, strict=True)
    ]
    (folder / "arguments.json").write_text(json.dumps(arguments))
    subprocess.run(
        [sys.executable, "-c", MF_BATCH, folder / "arguments.json", folder / "results.json"],
        cwd=metricflow_project.folder,
        env=metricflow_project.environment,
        check=True,
    )
    results = json.loads((folder / "results.json").read_text())
    return {
        command: QueryResult(code, output, path)
        for command, (code, output), path in zip(EXPECTED_SQL, results, csvs, strict=True)
    }


def normalised(value: object) -> object:
    """A cell as MetricFlow's CSV or DuckDB gives it, comparable: numbers rounded to 6 digits."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        return round(float(text), 6)
    except ValueError:
        return text


def test_every_readme_example_is_checked() -> None:
    assert readme_queries() == list(EXPECTED_SQL)


def test_validate_configs_against_the_warehouse(metricflow_project: MetricFlowProject) -> None:
    result = run_mf(metricflow_project, ["validate-configs"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERRORS: 0, FUTURE_ERRORS: 0, WARNINGS: 0" in result.stdout


@pytest.mark.parametrize("command", list(EXPECTED_SQL), ids=lambda command: command.split()[3])
def test_readme_query_equals_sql_on_the_marts(
    metricflow_project: MetricFlowProject, readme_results: dict[str, QueryResult], command: str
) -> None:
    result = readme_results[command]
    assert result.code == 0, result.output
    with result.csv.open() as file:
        got = [[normalised(cell) for cell in row] for row in list(csv.reader(file))[1:]]
    with connect_warehouse(metricflow_project.warehouse, read_only=True) as con:
        expected = [
            [normalised(cell) for cell in row] for row in con.execute(EXPECTED_SQL[command]).fetchall()
        ]
    assert expected, "the example must show rows on the sample"
    assert any(isinstance(cell, float) and cell for row in expected for cell in row)
    assert got == expected
