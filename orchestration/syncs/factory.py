"""Builds a sync's destination client from its definition, its options and the environment.

The platform's spec (orchestration/syncs/destinations/registry.py) says which credentials it needs,
its default retry policy and how to build the client; this module only splits the options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from orchestration.syncs.config import SyncConfigError, SyncDefinition, credentials_for, destination_spec
from orchestration.syncs.destinations.base import Destination
from orchestration.syncs.destinations.retry import RetryPolicy
from orchestration.syncs.destinations.spec import ENGINE_OPTIONS, BuildRequest

_RETRY_KEYS = {f.name for f in dataclass_fields(RetryPolicy)}
# Options the engine reads or the retry policy takes; the rest are the client's keyword arguments.
_NOT_CLIENT_KEYS = _RETRY_KEYS | set(ENGINE_OPTIONS)


def _retry(options: Mapping[str, Any], default: RetryPolicy | None = None) -> RetryPolicy | None:
    given = {key: value for key, value in options.items() if key in _RETRY_KEYS}
    if not given:
        return default
    base = default or RetryPolicy()
    return RetryPolicy(**{**{key: getattr(base, key) for key in _RETRY_KEYS}, **given})


def _client_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key not in _NOT_CLIENT_KEYS}


def build_destination(
    sync: SyncDefinition, sync_dir: Path, env: Mapping[str, str] | None = None
) -> Destination:
    """The client for `sync`; raises SyncConfigError for an unknown destination or a bad option, and
    MissingCredentialsError (naming the variable) if the platform's key is unset."""
    try:
        spec = destination_spec(sync.destination)
    except SyncConfigError as error:
        raise SyncConfigError(f"sync {sync.name!r}: {error}") from None
    credentials = credentials_for(sync.destination, env) if spec.api_key_env else None
    try:
        request = BuildRequest(
            sync=sync,
            sync_dir=sync_dir,
            credentials=credentials,
            retry=_retry(sync.options, spec.default_retry),
            options=_client_options(sync.options),
        )
        return spec.build(request)
    except ValueError as error:
        # A bad option value (batch_size over the API limit, …); the message never contains the key.
        raise SyncConfigError(f"sync {sync.name!r}: {error}") from None
