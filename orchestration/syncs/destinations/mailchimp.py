"""Mailchimp Marketing API v3: segment membership as a tag, or a static segment, on one audience (list).

upsert: `POST /lists/{list_id}` (batch subscribe/update, ≤500 members, `update_existing: true`), then
        either `POST /lists/{list_id}/members/{hash}/tags` with the tag `active` for every member that
        landed, or — for a static segment — `POST /lists/{list_id}/segments/{segment_id}` with
        `members_to_add` (≤500 emails a call; that limit is **unconfirmed**, so it is `segment_batch_size`).
remove: the same tags endpoint with the tag `inactive`, or the segment endpoint with `members_to_remove`.
        The member stays on the audience, subscribed or not as before: removing someone from a segment
        is not an opt-out. Emails not on the audience are ignored by the segment endpoint (documented).

Opt-outs are never overridden: members are sent with `status_if_new` only, never `status`, so an
existing unsubscribed or cleaned member keeps that status while their merge fields are updated.
(The sync engine does not send such members at all: `fetch_unsubscribes` reads them back first, and an
update would move a cleaned member's `last_changed`, so it would be read back again as a new bounce.)
(The batch endpoint accepts `status_if_new` per member — it is in Mailchimp's generated SDK types.)

Status codes: 401 → `DestinationAuthError`. 403 is ambiguous on Mailchimp: with a problem+json body it
is a permission answer (revoked key, disabled account, wrong data centre) → `DestinationAuthError`;
a *bare* 403 (no problem document) is how heavy throttling has been reported, so it is retried like a
429, and if it persists the run ends with `DestinationUnavailableError`, naming the bare 403.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from orchestration.syncs.destinations.base import (
    BatchOutcome,
    Contact,
    DeliveryResult,
    DestinationError,
    FieldValue,
    Operation,
    RowError,
    Unsubscribe,
    chunks,
    dedupe_contacts,
    dedupe_emails,
    finish,
    normalize_email,
    run_bounded,
)
from orchestration.syncs.destinations.http import HttpDestination
from orchestration.syncs.destinations.retry import (
    Clock,
    RetriesExhausted,
    RetryPolicy,
    Sleep,
    default_retryable,
)
from orchestration.syncs.destinations.spec import HTTP_OPTIONS, BuildRequest, DestinationSpec, OptionSpec

if TYPE_CHECKING:
    from orchestration.syncs.config import SyncDefinition

log = logging.getLogger(__name__)

MAX_BATCH_MEMBERS = 500  # documented limit of POST /lists/{list_id}
MAX_PAGE_SIZE = 1000  # documented maximum `count` of list endpoints
MAX_CONNECTIONS = 10  # documented: 10 simultaneous connections per user, more → 429
MAX_SEGMENT_MEMBERS = 500  # members_to_add / members_to_remove per call (unconfirmed)
# The status a *new* member gets (pending: double opt-in); never applied to existing ones.
STATUSES_IF_NEW = ("subscribed", "pending", "transactional")


def subscriber_hash(email: str) -> str:
    # MD5 is Mailchimp's addressing scheme here, not a security measure (and FIPS builds need the flag).
    return hashlib.md5(normalize_email(email).encode("utf-8"), usedforsecurity=False).hexdigest()


def api_root(url: str) -> str:
    """The API root from `MAILCHIMP_API_URL`: every endpoint of the Marketing API is under `/3.0`, so a
    bare host (`https://us10.api.mailchimp.com`, or a sandbox at `http://127.0.0.1:8080`) gets `/3.0`
    appended — without it every call would be a 404. A URL with a path (ending in `/3.0`, or a proxy's
    own prefix) is used as given."""
    root = url.strip().rstrip("/")
    return root + "/3.0" if not urlsplit(root).path else root


def base_url_for_key(api_key: str) -> str:
    """`…-us10` → `https://us10.api.mailchimp.com/3.0`; the data centre is the key's suffix."""
    _, sep, dc = api_key.rpartition("-")
    if not sep or not dc.isalnum():
        raise ValueError("Mailchimp API key has no data-centre suffix (expected '<key>-<dc>', e.g. '-us10')")
    return f"https://{dc}.api.mailchimp.com/3.0"


class MailchimpDestination(HttpDestination):
    name = "mailchimp"
    _repr_fields = ("list_id", "tag", "static_segment_id", "base_url")

    def __init__(
        self,
        api_key: str,
        list_id: str,
        tag: str | None = None,
        base_url: str | None = None,
        *,
        static_segment_id: str | int | None = None,
        status_if_new: str = "subscribed",
        batch_size: int = MAX_BATCH_MEMBERS,
        segment_batch_size: int = MAX_SEGMENT_MEMBERS,
        max_connections: int = MAX_CONNECTIONS,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_MEMBERS:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH_MEMBERS}, got {batch_size}")
        if status_if_new not in STATUSES_IF_NEW:
            # "pending" makes Mailchimp send its double opt-in mail to new members; "cleaned" is not settable.
            raise ValueError(
                f"status_if_new must be subscribed, pending or transactional, got {status_if_new!r}"
            )
        if not 1 <= max_connections <= MAX_CONNECTIONS:
            raise ValueError(f"max_connections must be 1..{MAX_CONNECTIONS}, got {max_connections}")
        if (tag is None) == (static_segment_id is None):
            raise ValueError("give exactly one of tag or static_segment_id")
        if not 1 <= segment_batch_size <= MAX_SEGMENT_MEMBERS:
            raise ValueError(f"segment_batch_size must be 1..{MAX_SEGMENT_MEMBERS}, got {segment_batch_size}")
        super().__init__(
            api_key,
            api_root(base_url) if base_url else base_url_for_key(api_key),
            max_connections=max_connections,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
            auth=httpx.BasicAuth("crm-segments", api_key),
        )
        self.list_id = list_id
        self.tag = tag
        self.static_segment_id = None if static_segment_id is None else str(static_segment_id)
        self.segment_batch_size = segment_batch_size
        self.status_if_new = status_if_new
        self.batch_size = batch_size

    # --- upsert -----------------------------------------------------------------------------------

    def upsert(self, contacts: Sequence[Contact]) -> DeliveryResult:
        unique = dedupe_contacts(contacts)
        batch_outcomes = run_bounded(
            self._upsert_batch, list(chunks(unique, self.batch_size)), self.max_connections
        )
        landed = [email for outcome in batch_outcomes for email in outcome.done]
        if self.static_segment_id is not None:
            tag_outcomes = run_bounded(
                lambda emails: self._segment_batch(emails, "upsert"),
                list(chunks(landed, self.segment_batch_size)),
                self.max_connections,
            )
        else:
            tag_outcomes = run_bounded(
                lambda email: self._set_tag(email, "active", "upsert"), landed, self.max_connections
            )
        # Members whose batch failed never reach tagging; their outcome carries them as undelivered.
        outcomes = [
            BatchOutcome(errors=o.errors, undelivered=o.undelivered, problem=o.problem)
            for o in batch_outcomes
        ]
        return finish(self.name, "upsert", [c.email for c in unique], [*outcomes, *tag_outcomes])

    def _upsert_batch(self, batch: Sequence[Contact]) -> BatchOutcome:
        body = {
            "members": [self._member(contact) for contact in batch],
            "update_existing": True,
        }
        emails = [contact.email for contact in batch]
        try:
            response = self._send("POST", f"/lists/{self.list_id}", json=body)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=self._problem(exc))
        if response.status_code == 404:
            raise DestinationError(
                self.name, f"audience {self.list_id!r} not found: {self._detail(response)}"
            )
        if response.status_code != 200:
            reason = self._detail(response)
            return BatchOutcome(errors=[RowError(email, "upsert", reason) for email in emails])
        payload = response.json()
        by_key = {normalize_email(email): email for email in emails}
        errors: dict[str, RowError] = {}
        for item in payload.get("errors") or []:
            key = normalize_email(str(item.get("email_address", "")))
            if key in by_key:
                reason = str(item.get("error") or item.get("error_code") or "rejected")
                if item.get("field"):
                    reason += f" ({item['field']}: {item.get('field_message', '')})"
                errors[key] = RowError(by_key[key], "upsert", reason)
        accepted = {
            normalize_email(str(member.get("email_address", "")))
            for member in [*(payload.get("new_members") or []), *(payload.get("updated_members") or [])]
        }
        done = [email for key, email in by_key.items() if key in accepted and key not in errors]
        for key, email in by_key.items():
            if key not in accepted and key not in errors:
                errors[key] = RowError(email, "upsert", "not acknowledged in Mailchimp's batch answer")
        return BatchOutcome(done=done, errors=list(errors.values()))

    def _member(self, contact: Contact) -> dict[str, Any]:
        member: dict[str, Any] = {"email_address": contact.email.strip(), "status_if_new": self.status_if_new}
        if contact.fields:
            member["merge_fields"] = {key: _merge_value(value) for key, value in contact.fields.items()}
        return member

    # --- remove -----------------------------------------------------------------------------------

    def remove(self, emails: Sequence[str]) -> DeliveryResult:
        unique = dedupe_emails(emails)
        if self.static_segment_id is not None:
            outcomes = run_bounded(
                lambda batch: self._segment_batch(batch, "remove"),
                list(chunks(unique, self.segment_batch_size)),
                self.max_connections,
            )
        else:
            outcomes = run_bounded(
                lambda email: self._set_tag(email, "inactive", "remove"), unique, self.max_connections
            )
        return finish(self.name, "remove", unique, outcomes)

    def _segment_batch(self, emails: Sequence[str], operation: Operation) -> BatchOutcome:
        """Adds or removes up to `segment_batch_size` members of the static segment in one call."""
        key = "members_to_add" if operation == "upsert" else "members_to_remove"
        path = f"/lists/{self.list_id}/segments/{self.static_segment_id}"
        try:
            response = self._send("POST", path, json={key: [email.strip() for email in emails]})
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=list(emails), problem=self._problem(exc))
        if response.status_code == 404:
            raise DestinationError(
                self.name,
                f"static segment {self.static_segment_id!r} of audience {self.list_id!r} not found: "
                f"{self._detail(response)}",
            )
        if response.status_code != 200:
            reason = self._detail(response)
            return BatchOutcome(errors=[RowError(email, operation, reason) for email in emails])
        by_key = {normalize_email(email): email for email in emails}
        errors: dict[str, RowError] = {}
        for item in response.json().get("errors") or []:
            reason = str(item.get("error") or "rejected")
            for address in item.get("email_addresses") or []:
                email_key = normalize_email(str(address))
                if email_key in by_key:
                    errors[email_key] = RowError(by_key[email_key], operation, reason)
        done = [email for email_key, email in by_key.items() if email_key not in errors]
        return BatchOutcome(done=done, errors=list(errors.values()))

    def _set_tag(self, email: str, status: str, operation: Operation) -> BatchOutcome:
        path = f"/lists/{self.list_id}/members/{subscriber_hash(email)}/tags"
        try:
            response = self._send("POST", path, json={"tags": [{"name": self.tag, "status": status}]})
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=[email], problem=self._problem(exc))
        if response.status_code in (200, 204):
            return BatchOutcome(done=[email])
        if response.status_code == 404 and status == "inactive":
            return BatchOutcome(done=[email])  # not on the audience, so certainly not tagged
        return BatchOutcome(errors=[RowError(email, operation, self._detail(response))])

    # --- unsubscribes -----------------------------------------------------------------------------

    def fetch_unsubscribes(self, since: datetime | None = None) -> list[Unsubscribe]:
        """Members of the audience now `unsubscribed` or `cleaned`, changed since `since` if given.

        `last_changed` is the time of the member's latest change, which for these statuses is the
        opt-out or the clean-up (a later merge-field update would move it, hence "at or before").
        """
        found: list[Unsubscribe] = []
        for status in ("unsubscribed", "cleaned"):
            offset = 0
            while True:
                params: dict[str, str | int] = {
                    "status": status,
                    "count": MAX_PAGE_SIZE,
                    "offset": offset,
                    "fields": "members.email_address,members.status,members.last_changed,total_items",
                }
                if since is not None:
                    params["since_last_changed"] = _iso(since)
                try:
                    response = self._send("GET", f"/lists/{self.list_id}/members", params=params)
                except RetriesExhausted as exc:
                    raise DestinationError(
                        self.name, f"could not read unsubscribes: {self._problem(exc)}"
                    ) from None
                if response.status_code != 200:
                    raise DestinationError(
                        self.name, f"could not read unsubscribes: {self._detail(response)}"
                    )
                payload = response.json()
                members = payload.get("members") or []
                for member in members:
                    kind = "cleaned" if member.get("status") == "cleaned" else "unsubscribed"
                    found.append(
                        Unsubscribe(member["email_address"], _parse_time(member["last_changed"]), kind)
                    )
                offset += len(members)
                if not members or offset >= int(payload.get("total_items", 0)):
                    break
        return found

    # --- plumbing ---------------------------------------------------------------------------------

    def _retryable(self, response: httpx.Response) -> bool:
        if default_retryable(response):
            return True
        # A 403 without a problem document is throttling as reported in the field, not a permission answer.
        return response.status_code == 403 and "problem+json" not in response.headers.get("Content-Type", "")

    def _detail(self, response: httpx.Response) -> str:
        try:
            problem = response.json()
        except ValueError:
            return self._scrub(f"HTTP {response.status_code}")
        if not isinstance(problem, dict):
            return f"HTTP {response.status_code}"
        title = problem.get("title") or f"HTTP {response.status_code}"
        text = f"{title}: {problem.get('detail', '')}".strip()
        field_errors = problem.get("errors") or []
        if field_errors:
            text += " [" + "; ".join(f"{e.get('field')}: {e.get('message')}" for e in field_errors) + "]"
        return self._scrub(text)

    def _problem(self, exc: RetriesExhausted) -> str:
        if isinstance(exc.last, httpx.Response) and exc.last.status_code == 403:
            return f"{exc.describe()} (bare 403: Mailchimp throttling, or an access block)"
        return exc.describe()


def _merge_value(value: FieldValue) -> str | int | float:
    # Mailchimp clears a merge field sent as "", which is what a warehouse NULL means here.
    return "" if value is None else value


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- Spec ---------------------------------------------------------------------------------------


def _describe(sync: SyncDefinition, sync_dir: Path | None) -> str:
    target = sync.target
    tag = target.get("tag")
    where = f"tag {tag!r}" if tag is not None else f"static segment {target['static_segment_id']}"
    return f"audience {target['audience_id']}, {where}"


def _check_target(target: Mapping[str, str]) -> str | None:
    if len({"tag", "static_segment_id"} & set(target)) != 1:
        return "a mailchimp target needs exactly one of tag or static_segment_id"
    segment_id = target.get("static_segment_id")
    if segment_id is not None and not segment_id.isdigit():
        return f"static_segment_id must be a number, got {segment_id!r}"
    return None


def _build(request: BuildRequest) -> MailchimpDestination:
    target = request.sync.target
    return MailchimpDestination(
        request.api_key,
        target["audience_id"],
        target.get("tag"),
        request.base_url,
        static_segment_id=target.get("static_segment_id"),
        retry=request.retry,
        **request.options,
    )


SPEC = DestinationSpec(
    name="mailchimp",
    build=_build,
    describe=_describe,
    # 10 connections × 500 members, so a committed batch keeps every connection busy.
    default_commit_every=5_000,
    required_target=frozenset({"audience_id"}),
    optional_target=frozenset({"tag", "static_segment_id"}),
    check_target=_check_target,
    options={
        **HTTP_OPTIONS,
        "status_if_new": OptionSpec(str, choices=STATUSES_IF_NEW),
        "batch_size": OptionSpec(int),
        "segment_batch_size": OptionSpec(int),
        "max_connections": OptionSpec(int),
    },
    api_key_env="MAILCHIMP_API_KEY",
    api_url_env="MAILCHIMP_API_URL",
    default_retry=RetryPolicy(),
)
