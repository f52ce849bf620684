"""Builds a sync's destination client from its definition, its options and the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from orchestration.syncs.config import SyncDefinition, credentials_for
from orchestration.syncs.destinations.base import Destination
from orchestration.syncs.destinations.retry import RetryPolicy

_RETRY_KEYS = {f.name for f in dataclass_fields(RetryPolicy)}


def _retry(options: Mapping[str, Any], default: RetryPolicy | None = None) -> RetryPolicy | None:
    given = {key: value for key, value in options.items() if key in _RETRY_KEYS}
    if not given:
        return default
    base = default or RetryPolicy()
    return RetryPolicy(**{**{key: getattr(base, key) for key in _RETRY_KEYS}, **given})


def _client_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key not in _RETRY_KEYS and key != "commit_every"}


def build_destination(
    sync: SyncDefinition, sync_dir: Path, env: Mapping[str, str] | None = None
) -> Destination:
    """The client for `sync`; raises MissingCredentialsError (naming the variable) if its key is unset.

    Imports each platform's module only when a sync uses it.
    """
    if sync.destination == "file":
        from orchestration.syncs.destinations.file import FileDestination

        columns = [mapping.destination_field for mapping in sync.fields]
        return FileDestination(sync.file_folder(sync_dir), sync.segment, columns)
    credentials = credentials_for(sync.destination, env)
    options = _client_options(sync.options)
    target = sync.target
    try:
        if sync.destination == "mailchimp":
            from orchestration.syncs.destinations.mailchimp import MailchimpDestination

            return MailchimpDestination(
                credentials.api_key,
                target["audience_id"],
                target.get("tag"),
                credentials.base_url,
                static_segment_id=target.get("static_segment_id"),
                retry=_retry(sync.options),
                **options,
            )
        if sync.destination == "sendgrid":
            from orchestration.syncs.destinations.sendgrid import SendGridDestination

            return SendGridDestination(
                credentials.api_key,
                target["list_id"],
                credentials.base_url,
                retry=_retry(sync.options),
                **options,
            )
        from orchestration.syncs.destinations.unisender import DEFAULT_RETRY, UnisenderDestination

        return UnisenderDestination(
            credentials.api_key,
            target["list_id"],
            credentials.base_url,
            retry=_retry(sync.options, DEFAULT_RETRY),
            **options,
        )
    except ValueError as error:
        # A bad option value (batch_size over the API limit, …); the message never contains the key.
        from orchestration.syncs.config import SyncConfigError

        raise SyncConfigError(f"sync {sync.name!r}: {error}") from None
