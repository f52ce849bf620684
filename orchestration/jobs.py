"""The nightly job: every asset, in dependency order (raw → staging → marts → checks → …)."""

from __future__ import annotations

import dagster as dg

nightly_job = dg.define_asset_job(
    name="nightly",
    selection=dg.AssetSelection.all(),
    description="Land the raw files, build and test the warehouse, then everything downstream.",
    # DuckDB allows one writing process per file: steps run one at a time, in this process.
    executor_def=dg.in_process_executor,
    # Transient failures (a locked file, a flaky network call) retry twice, after 10 s and then 30 s
    # (Dagster's exponential backoff: delay × (2^attempt − 1)). A mistake in the user's files or settings
    # fails at once instead (assets/failures.py).
    op_retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL),
)
