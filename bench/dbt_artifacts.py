"""Reads dbt's target/run_results.json and manifest.json: where a dbt invocation spent its time.

`elapsed_time` in run_results.json is the execution phase (nodes running, `threads` at a time); the
rest of the invocation's wall time is dbt's start-up: imports already done, project and profile
loading, parsing (partial: a new as-of date, passed as CRM_SEGMENTS_AS_OF, re-parses the files that
read it; changed `--vars` would re-parse everything), graph compilation and connection set-up.
Each node's `execution_time` is its own wall time, so with two dbt threads the node times add up
to more than the execution phase.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RFM_MODEL = "model.crm_segments.customer_rfm"
# The project's way from the staged orders to RFM scores: what the RFM comparison times as (a).
# customer_rfm reads the orders through views (int_orders__as_of, stg_crm__orders): one table.
RFM_CHAIN_NAMES = ("customer_rfm",)
RFM_CHAIN = tuple(f"model.crm_segments.{name}" for name in RFM_CHAIN_NAMES)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def node_kind(unique_id: str, materialized: str | None, language: str | None = None) -> str:
    """'table', 'view', 'incremental', 'python', 'test', 'unit_test', 'seed', … for the breakdown."""
    resource = unique_id.split(".", 1)[0]
    if resource == "model":
        return "python" if language == "python" else (materialized or "model")
    return resource


def tested_models(meta: dict[str, Any]) -> list[str]:
    """The model(s) a test is about: the one a generic test is attached to, else the models it reads."""
    if meta.get("attached_node"):
        return [meta["attached_node"]]
    if meta.get("model"):  # unit tests name their model
        return [f"model.{meta.get('package_name', 'crm_segments')}.{meta['model']}"]
    return [node for node in (meta.get("depends_on") or {}).get("nodes", []) if node.startswith("model.")]


def read_invocation(target_path: Path, label: str, wall_seconds: float) -> dict[str, Any]:
    """One dbt invocation: wall time, execution phase, start-up, and every node's time and status."""
    results = _load(target_path / "run_results.json") or {}
    manifest = _load(target_path / "manifest.json") or {}
    nodes_meta = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    nodes = []
    for result in results.get("results", []):
        unique_id = result["unique_id"]
        meta = nodes_meta.get(unique_id, {})
        materialized = (meta.get("config") or {}).get("materialized")
        node = {
            "id": unique_id,
            "kind": node_kind(unique_id, materialized, meta.get("language")),
            "status": result.get("status"),
            "seconds": float(result.get("execution_time") or 0.0),
        }
        if node["kind"] in ("test", "unit_test"):
            node["on"] = tested_models(meta)
        nodes.append(node)
    elapsed = float(results.get("elapsed_time") or 0.0)
    return {
        "label": label,
        "wall_seconds": wall_seconds,
        "elapsed_seconds": elapsed,
        "startup_seconds": max(wall_seconds - elapsed, 0.0) if results else None,
        "nodes": nodes,
    }


def upstream(target_path: Path, unique_id: str = RFM_MODEL) -> list[str]:
    """`unique_id` and every model and seed it is built from (from the manifest's parent_map)."""
    manifest = _load(target_path / "manifest.json") or {}
    parent_map: dict[str, list[str]] = manifest.get("parent_map", {})
    seen, stack = set(), [unique_id]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(parent_map.get(node, []))
    return sorted(node for node in seen if node.split(".", 1)[0] in {"model", "seed"})


def node_seconds(invocations: list[dict[str, Any]], ids: list[str]) -> float:
    """Total execution time of the given nodes over the invocations (0 for nodes that did not run)."""
    wanted = set(ids)
    return sum(node["seconds"] for inv in invocations for node in inv["nodes"] if node["id"] in wanted)
