"""The destination interface every platform client implements, its errors, and small shared helpers.

Contract for implementations (the diff/state layer relies on it):

* `upsert` adds contacts to the destination's target (audience + tag, list, …) and updates their fields.
  It never subscribes or re-subscribes anyone the provider has as unsubscribed, cleaned or complained:
  such contacts may be tagged/listed and have fields updated, but their opt-out stands.
* `remove` takes contacts off the target tag/list only. It never unsubscribes, deletes or suppresses.
* Both are idempotent (upserting a present contact or removing an absent one is a success), so a
  request that timed out after the provider applied it can be retried safely.
* Per-row rejections come back as `RowError`s while the rest of the rows land; a whole-run problem
  raises: `DestinationAuthError` (the key was refused) or `DestinationUnavailableError` (retries
  exhausted; the exception carries what was and was not delivered).
* Emails are matched case-insensitively, but results echo the address exactly as the caller gave it.
* `target_lost` says whether the target lost what was delivered; `DestinationBase` answers False.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, TypeVar, runtime_checkable

log = logging.getLogger(__name__)

FieldValue = str | int | float | None
Operation = Literal["upsert", "remove"]
UnsubscribeKind = Literal["unsubscribed", "cleaned", "complained"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Contact:
    """One segment member. `fields` are the mapped merge/custom fields (FNAME, CITY, RFM_SEGMENT, …).

    A `None` value means "no value": destinations clear that field rather than keep a stale one,
    because the warehouse is the source of truth for every field it maps.
    """

    email: str
    fields: Mapping[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True)
class RowError:
    email: str
    operation: Operation
    reason: str


@dataclass
class DeliveryResult:
    upserted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def extend(self, other: DeliveryResult) -> None:
        self.upserted.extend(other.upserted)
        self.removed.extend(other.removed)
        self.errors.extend(other.errors)


class Unsubscribe(NamedTuple):
    """An opt-out recorded at the provider, fed back so the next sync never opts the person back in."""

    email: str
    # None when the provider does not say when (Unisender): the warehouse records when it first saw it.
    occurred_at: datetime | None
    kind: UnsubscribeKind


class DestinationError(Exception):
    """Base of every error a destination raises; the message always starts with the destination name."""

    def __init__(self, destination: str, message: str) -> None:
        self.destination = destination
        super().__init__(f"{destination}: {message}")


class DestinationAuthError(DestinationError):
    """The provider refused the credentials. The message names the destination, never the key."""


class DestinationUnavailableError(DestinationError):
    """Retries were exhausted. `partial` holds what landed before giving up; `undelivered` what did not.

    Rows in `partial.errors` were answered by the provider (rejected), so they are not in `undelivered`.
    """

    def __init__(
        self,
        destination: str,
        *,
        operation: Operation,
        requested: int,
        partial: DeliveryResult,
        undelivered: Sequence[str],
        cause: str,
    ) -> None:
        self.operation = operation
        self.requested = requested
        self.partial = partial
        self.undelivered = list(undelivered)
        self.cause = cause
        done = len(partial.upserted) if operation == "upsert" else len(partial.removed)
        super().__init__(
            destination,
            f"{operation} gave up after retries ({cause}): {done} of {requested} contacts delivered, "
            f"{len(partial.errors)} rejected by the provider, {len(self.undelivered)} not delivered "
            "(safe to re-send: every operation is idempotent)",
        )


@runtime_checkable
class Destination(Protocol):
    """What the sync orchestration needs from a platform client."""

    name: str

    def upsert(self, contacts: Sequence[Contact]) -> DeliveryResult: ...

    def remove(self, emails: Sequence[str]) -> DeliveryResult: ...

    def fetch_unsubscribes(self, since: datetime | None = None) -> list[Unsubscribe]: ...

    def target_lost(self) -> bool:
        """True when the target no longer holds what was delivered (a deleted file), so the sync
        sends every member again; platforms that cannot tell answer False."""
        ...

    def close(self) -> None: ...


class DestinationBase:
    """Context-manager support, a key-free `repr` and the protocol's defaults, shared by the
    concrete destinations."""

    name: str = "destination"
    _repr_fields: tuple[str, ...] = ()

    def target_lost(self) -> bool:
        return False

    def close(self) -> None:  # pragma: no cover - overridden where there is something to close
        return None

    def __enter__(self) -> DestinationBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Keys never reach logs or tracebacks: only the listed, non-secret attributes are shown.
        parts = [f"{name}={getattr(self, name)!r}" for name in self._repr_fields]
        if hasattr(self, "_api_key"):
            parts.append("api_key='***'")
        return f"{type(self).__name__}({', '.join(parts)})"


# --- Shared helpers -----------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """The identity every provider uses for an address: trimmed and lower-cased."""
    return email.strip().lower()


def dedupe_contacts(contacts: Iterable[Contact]) -> list[Contact]:
    """One contact per address (the last one wins), in first-seen order.

    Providers reject or arbitrarily resolve duplicates inside one batch, so they are collapsed here.
    """
    by_email: dict[str, Contact] = {}
    for contact in contacts:
        key = normalize_email(contact.email)
        by_email.pop(key, None)  # keep first-seen order but the last values
        by_email[key] = contact
    return list(by_email.values())


def dedupe_emails(emails: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for email in emails:
        seen.setdefault(normalize_email(email), email)
    return list(seen.values())


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def scrub(text: str, *secrets: str) -> str:
    """Remove secrets from text that may have echoed them (provider messages, exception strings)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def run_bounded(func: Callable[[T], R], items: Sequence[T], max_workers: int) -> list[R]:
    """Run `func` over `items` on at most `max_workers` threads; results in input order.

    The first exception (an auth error, typically) cancels the work not yet started and is re-raised:
    once the key is refused there is no point sending the remaining batches.
    """
    if not items:
        return []
    if max_workers <= 1 or len(items) == 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        futures = [pool.submit(func, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            raise failed.exception()  # type: ignore[misc]
        return [future.result() for future in futures]


@dataclass
class BatchOutcome:
    """What happened to one request's worth of rows; `finish` folds many into a `DeliveryResult`."""

    done: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    problem: str | None = None


def finish(
    destination: str, operation: Operation, order: Sequence[str], outcomes: Iterable[BatchOutcome]
) -> DeliveryResult:
    """Combine batch outcomes in the caller's order of `order` (the emails sent).

    Raises `DestinationUnavailableError` if any rows were left undelivered.
    """
    position = {normalize_email(email): i for i, email in enumerate(order)}

    def rank(email: str) -> int:
        return position.get(normalize_email(email), len(position))

    done: list[str] = []
    errors: list[RowError] = []
    undelivered: list[str] = []
    problems: list[str] = []
    for outcome in outcomes:
        done.extend(outcome.done)
        errors.extend(outcome.errors)
        undelivered.extend(outcome.undelivered)
        if outcome.problem and outcome.problem not in problems:
            problems.append(outcome.problem)
    done.sort(key=rank)
    errors.sort(key=lambda error: rank(error.email))
    undelivered.sort(key=rank)
    result = DeliveryResult(errors=errors)
    if operation == "upsert":
        result.upserted = done
    else:
        result.removed = done
    if undelivered:
        raise DestinationUnavailableError(
            destination,
            operation=operation,
            requested=len(order),
            partial=result,
            undelivered=undelivered,
            cause="; ".join(problems) or "no answer",
        )
    return result
