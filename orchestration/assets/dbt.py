"""dbt seeds, models and snapshots as Dagster assets; dbt tests become asset checks (`dbt build`)."""

import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.assets.failures import failure_without_retry, no_retry_on_deterministic_errors
from orchestration.assets.raw import MANIFEST_NAME, SEGMENT_CATALOG_KEY, raw_asset_key
from orchestration.dbt_project import (
    DAGSTER_RUN_TARGET_PATH,
    crm_dbt_project,
    ensure_manifest,
    kept_target_path,
)
from orchestration.dbt_runner import dbt_vars, environment
from orchestration.resources import CrmSettingsResource
from orchestration.segments.dbt_files import GENERATED_NODES
from orchestration.warehouse_lock import lock_holder, locked_sentence


class CrmDbtTranslator(DagsterDbtTranslator):
    """Keys are <schema>/<name> (marts/customer_rfm), sources are the raw assets, groups are layers."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=raw_asset_key(props["name"]), group_name="raw")
        layer = "reference" if props["resource_type"] == "seed" else props["schema"]
        spec = spec.replace_attributes(key=dg.AssetKey([layer, props["name"]]), group_name=layer)
        if props["resource_type"] == "seed":
            # Seeds have no upstream in dbt; without this edge Dagster may start dbt before the landing
            # has created the warehouse file.
            spec = spec.merge_attributes(deps=[raw_asset_key(MANIFEST_NAME)])
        if props["name"] in GENERATED_NODES:
            spec = spec.merge_attributes(deps=[SEGMENT_CATALOG_KEY])
        return spec


translator = CrmDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(manifest=ensure_manifest(), project=crm_dbt_project, dagster_dbt_translator=translator)
def crm_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, crm_settings: CrmSettingsResource):
    with no_retry_on_deterministic_errors():
        settings = crm_settings.for_run(context)
    # The dbt subprocess inherits the environment: the same warehouse file and clock as the landing.
    with environment(settings.dbt_env()):
        invocation = dbt.cli(
            # Buildable: a subset run must not pull in a test whose other parent is in a later subset.
            # run_results.json says which nodes failed, whatever DBT_WRITE_JSON says.
            [
                "build",
                "--indirect-selection",
                "buildable",
                "--write-json",
                *dbt_vars(crm_settings.extra_vars()),
            ],
            context=context,
            raise_on_error=False,
            target_path=kept_target_path(DAGSTER_RUN_TARGET_PATH, os.environ),
        )
        yield from _stream_or_stop(invocation)
    if not invocation.is_successful():
        error = invocation.get_error()
        if error is not None and (holder := lock_holder(str(error))) is not None:
            # Another process took the warehouse after the run's check (runner.py): dbt never started
            # building and writes no run results. Retried: the holder may let go.
            raise dg.Failure(description=locked_sentence(holder))
        failed = _unsuccessful_results(_run_results(invocation))
        if failed and all(status == "fail" for status in failed.values()):
            # Failed data tests (a quarantine gate, say) fail again on a retry: stop at once.
            raise failure_without_retry(
                "dbt tests failed: " + ", ".join(sorted(_node_name(node) for node in failed))
            )
        raise error or dg.Failure(description="dbt build failed")


def _stream_or_stop(invocation: Any) -> Iterator[Any]:
    """invocation.stream(); when reading dbt's events fails, dbt is stopped before the error goes on.

    A dbt left running would keep writing and hold the warehouse file, so Dagster's retry would meet
    its lock.
    """
    try:
        yield from invocation.stream()
    except BaseException:
        stop_process(invocation.process)
        raise


def stop_process(process: subprocess.Popen, timeout_seconds: float = 30) -> None:
    """Interrupts a running process as Ctrl-C would; kills it if it has not ended in timeout_seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _run_results(invocation: Any) -> Mapping[str, Any]:
    """run_results.json, or {} when dbt stopped before writing it (it could not open the warehouse)."""
    try:
        return invocation.get_artifact("run_results.json")
    except FileNotFoundError:
        return {}


def _unsuccessful_results(run_results: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> status of every node dbt reported neither success, pass, warn nor skipped."""
    ok = {"success", "pass", "warn", "skipped", "no-op"}
    return {
        result["unique_id"]: result["status"]
        for result in run_results.get("results", [])
        if result.get("status") not in ok
    }


def _node_name(unique_id: str) -> str:
    """test.crm_segments.<name>.<hash> -> <name>"""
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else unique_id
