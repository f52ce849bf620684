"""The segment syncs as assets: one per enabled sync in the sync config, keyed `syncs/<name>`.

They are downstream of `marts/segment_membership` (and `marts/dim_customers`, or the marts tables a
field mapping names), so the job runs them only after the segments were built and their dbt tests
passed: a failed build or a failed test skips them. Metadata: the run's counts (sent, added, updated,
removed, failed, left out…), never a credential.

All syncs are one multi-asset (each sync still its own asset, selectable alone) because they share one
DuckDB warehouse file, which takes one writer at a time: one step runs them one after another.
A run tag `crm_segments/full_resync` (`true` for all, or comma-separated sync names) or the run config
`full_resync: true` resends every member instead of the diff.

A sync config that can't be loaded doesn't stop the code location from loading: the nightly job still
builds the warehouse and then fails at `syncs/_config`, naming the problem.
"""

import dagster as dg

from orchestration.assets.failures import failure_without_retry, no_retry_on_deterministic_errors
from orchestration.resources import CrmSettingsResource
from orchestration.syncs.config import SyncConfigError, SyncDefinition, SyncSettings, load_syncs
from orchestration.syncs.engine import run_syncs
from orchestration.syncs.source import marts_read

SYNC_GROUP = "syncs"
FULL_RESYNC_TAG = "crm_segments/full_resync"
MEMBERSHIP_KEY = dg.AssetKey(["marts", "segment_membership"])


class SyncRunConfig(dg.Config):
    full_resync: bool = False
    # A sync that would remove more than its max_remove_share of the delivered contacts fails
    # unless this is set for the run.
    allow_mass_removal: bool = False


def sync_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([SYNC_GROUP, name])


def _deps(sync: SyncDefinition) -> list[dg.AssetKey]:
    return [dg.AssetKey(["marts", table]) for table in marts_read(sync)]


def _spec(sync: SyncDefinition) -> dg.AssetSpec:
    return dg.AssetSpec(
        sync_asset_key(sync.name),
        group_name=SYNC_GROUP,
        description=sync.description or f"Segment {sync.segment} synced to {sync.destination} ({sync.mode})",
        deps=_deps(sync),
        skippable=True,
        kinds={sync.destination},
        metadata={
            "segment": sync.segment,
            "destination": sync.destination,
            "target": sync.describe_target(),
            "mode": sync.mode,
        },
    )


def _full_resync(context: dg.AssetExecutionContext, config: SyncRunConfig) -> bool | list[str]:
    if config.full_resync:
        return True
    tag = (context.run.tags.get(FULL_RESYNC_TAG) or "").strip()
    if tag.lower() in ("true", "all", "1", "yes"):
        return True
    return [name.strip() for name in tag.split(",") if name.strip()]


def build_sync_assets(syncs: list[SyncDefinition]) -> list[dg.AssetsDefinition]:
    enabled = [sync for sync in syncs if sync.enabled]
    if not enabled:
        return []

    @dg.multi_asset(
        name="segment_syncs",
        specs=[_spec(sync) for sync in enabled],
        can_subset=True,
        description="Delivers each configured segment to its email platform or folder (diff-based).",
    )
    def segment_syncs(
        context: dg.AssetExecutionContext, config: SyncRunConfig, crm_settings: CrmSettingsResource
    ):
        with no_retry_on_deterministic_errors():
            settings = crm_settings.for_run(context)
            sync_settings = SyncSettings.from_env(duckdb_path=settings.duckdb_path)
            # The file as it is now: the run honours an edited mapping without reloading the code location.
            current = {sync.name: sync for sync in load_syncs(sync_settings.config_path)}
        selected_names = [s.name for s in enabled if sync_asset_key(s.name) in context.selected_asset_keys]
        missing = [name for name in selected_names if name not in current]
        if missing:
            raise failure_without_retry(
                f"sync(s) {', '.join(missing)} are no longer in {sync_settings.config_path}; reload the code "
                "location"
            )
        with no_retry_on_deterministic_errors(source=sync_settings.config_path):
            reports = run_syncs(
                settings.duckdb_path,
                [current[name] for name in selected_names],
                sync_settings.sync_dir,
                full_resync=_full_resync(context, config),
                allow_mass_removal=config.allow_mass_removal,
            )
        failed = []
        for report in reports:
            for line in report.format().splitlines():
                context.log.info(line)
            if report.ok:
                yield dg.MaterializeResult(
                    asset_key=sync_asset_key(report.sync.name), metadata=report.metadata()
                )
            else:
                failed.append(report)
        if failed:
            raise dg.Failure(
                description="sync(s) failed:\n"
                + "\n".join(f"  {report.sync.name}: {report.error}" for report in failed),
                metadata={report.sync.name: report.error or "failed" for report in failed},
                allow_retries=any(report.retryable for report in failed),
            )

    return [segment_syncs]


def _broken_config_asset(message: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=sync_asset_key("_config"),
        group_name=SYNC_GROUP,
        deps=[MEMBERSHIP_KEY],
        description="The sync configuration could not be loaded",
    )
    def sync_config() -> None:
        raise failure_without_retry(message)

    return sync_config


def load_sync_assets() -> list[dg.AssetsDefinition]:
    try:
        path = SyncSettings.from_env().config_path
        return build_sync_assets(load_syncs(path))
    except SyncConfigError as error:
        return [_broken_config_asset(str(error))]


sync_assets = load_sync_assets()
