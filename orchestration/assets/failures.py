"""Which failed steps the nightly job retries.

The job retries a failed step (jobs.py): a locked warehouse file or a network error may be gone a
few seconds later. A mistake in the user's files or settings is not: a typo in the segment
catalogue, a bad setting, a missing or malformed raw file, a sync config that doesn't load, or failed
dbt data tests. Those fail the step at once, with their own message, instead of twice more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.raw_formats import RawDataError
from orchestration.segments.catalog import CatalogError
from orchestration.segments.rules import SegmentDefinitionError
from orchestration.settings import SettingsError
from orchestration.syncs.config import SyncConfigError
from orchestration.syncs.source import SyncSourceError

# The same input gives the same error: retrying can't help. (The command line prints these as one line.)
DETERMINISTIC_ERRORS: tuple[type[Exception], ...] = (
    SettingsError,
    RawDataError,
    CatalogError,
    SegmentDefinitionError,
    SyncConfigError,
    SyncSourceError,
)


def failure_without_retry(description: str, metadata: Mapping[str, Any] | None = None) -> dg.Failure:
    """A step failure Dagster does not retry, whatever the job's retry policy."""
    return dg.Failure(description=description, metadata=metadata, allow_retries=False)


@contextmanager
def no_retry_on_deterministic_errors(source: Path | None = None) -> Iterator[None]:
    """Turns a DETERMINISTIC_ERRORS exception into a failure that is not retried.

    `source`, the file the step reads (the catalogue, say), starts the message unless it names it.
    """
    try:
        yield
    except DETERMINISTIC_ERRORS as error:
        message = str(error)
        if source is not None and str(source) not in message:
            message = f"{source}: {message}"
        raise failure_without_retry(message) from error
