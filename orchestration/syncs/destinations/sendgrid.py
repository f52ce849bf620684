"""SendGrid Marketing Contacts API v3: segment membership as one contact list.

upsert: `PUT /v3/marketing/contacts` with `list_ids`, batches of ≤30,000 contacts and ≤6 MB of body
        (whichever comes first), then `GET /v3/marketing/contacts/imports/{job_id}` until the job is
        completed, errored or failed (bounded polling). Reserved fields (first_name, city, …) go at
        the top level; any other field goes in `custom_fields`, which SendGrid keys by field *id*
        (e.g. `e1_T`), so ids are looked up once by name in `GET /v3/marketing/field_definitions`.
        Custom fields must exist beforehand: a field with no definition fails the run before sending.
remove: `POST /v3/marketing/contacts/search/emails` (≤100 emails a call, per the endpoint's reference)
        to get contact ids, then `DELETE /v3/marketing/lists/{list_id}/contacts?contact_ids=…`, which
        takes contacts off the list and keeps them. The returned job is polled on the imports
        endpoint too (that the removal job is visible there is **unconfirmed**; a 404 from the poll
        is taken as "accepted, not trackable").

Opt-outs: SendGrid has no subscription status on a contact. Global unsubscribes, bounces, spam
reports and group unsubscribes are suppressions under `/v3/asm` and `/v3/suppression`, enforced at
send time. Upserting a suppressed address into a list does not lift its suppression and this client
never touches those endpoints, so it is safe to deliver such contacts; `fetch_unsubscribes` reads the
global unsubscribes and spam reports back so the sync layer can stop sending them at all.

Row errors: a 400 naming rows (`contacts[3].email`) rejects the whole request; those rows become
`RowError`s and the rest of the batch is sent again once. A job that completes with `errored_count`
> 0 does not say which rows failed except through a download (`errors_url`, format unconfirmed), so
the batch is checked with the search endpoint and rows that did not reach the list become errors.

Rate limits: every answer's `X-RateLimit-Remaining`/`X-RateLimit-Reset` feed a gate that pauses new
requests until the reset time once the quota is used up; a 429 is retried after `X-RateLimit-Reset`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from orchestration.syncs.destinations.base import (
    BatchOutcome,
    Contact,
    DeliveryResult,
    DestinationError,
    FieldValue,
    RowError,
    Unsubscribe,
    UnsubscribeKind,
    chunks,
    dedupe_contacts,
    dedupe_emails,
    finish,
    normalize_email,
    run_bounded,
)
from orchestration.syncs.destinations.http import HttpDestination
from orchestration.syncs.destinations.retry import Clock, RetriesExhausted, RetryPolicy, Sleep
from orchestration.syncs.destinations.spec import (
    HTTP_OPTIONS,
    DestinationSpec,
    OptionSpec,
    build_list_client,
    describe_list,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.sendgrid.com"
MAX_CONTACTS_PER_REQUEST = 30_000
# "6 MB" is read as 6,000,000 bytes, the stricter of the two readings.
MAX_BODY_BYTES = 6_000_000
MAX_SEARCH_EMAILS = 100
RESERVED_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "address_line_1",
        "address_line_2",
        "city",
        "state_province_region",
        "postal_code",
        "country",
        "phone_number",
        "whatsapp",
        "line",
        "facebook",
        "unique_name",
    }
)
TERMINAL_JOB_STATES = frozenset({"completed", "errored", "failed"})
_ROW_FIELD = re.compile(r"contacts\[(\d+)\]")


@dataclass(frozen=True)
class _CustomField:
    id: str
    field_type: str


class SendGridDestination(HttpDestination):
    name = "sendgrid"
    _repr_fields = ("list_id", "base_url")

    def __init__(
        self,
        api_key: str,
        list_id: str,
        base_url: str | None = None,
        *,
        max_contacts_per_request: int = MAX_CONTACTS_PER_REQUEST,
        max_body_bytes: int = MAX_BODY_BYTES,
        search_batch_size: int = MAX_SEARCH_EMAILS,
        remove_batch_size: int = 100,
        max_connections: int = 4,
        timeout: float = 60.0,
        poll_interval: float = 2.0,
        max_polls: int = 150,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
    ) -> None:
        if not 1 <= max_contacts_per_request <= MAX_CONTACTS_PER_REQUEST:
            raise ValueError(f"max_contacts_per_request must be 1..{MAX_CONTACTS_PER_REQUEST}")
        if not 1 <= max_body_bytes <= MAX_BODY_BYTES:
            raise ValueError(f"max_body_bytes must be 1..{MAX_BODY_BYTES}")
        if not 1 <= search_batch_size <= MAX_SEARCH_EMAILS:
            raise ValueError(f"search_batch_size must be 1..{MAX_SEARCH_EMAILS}")
        super().__init__(
            api_key,
            (base_url or DEFAULT_BASE_URL).rstrip("/"),
            max_connections=max_connections,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
            headers={"Authorization": f"Bearer {api_key}"},
            gate=True,
        )
        self.list_id = list_id
        self.max_contacts_per_request = max_contacts_per_request
        self.max_body_bytes = max_body_bytes
        self.search_batch_size = search_batch_size
        # Contact ids travel in the query string: 100 UUIDs keep the URL near 3.7 KB, under common limits.
        self.remove_batch_size = remove_batch_size
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self._fields: dict[str, _CustomField] | None = None
        self._fields_lock = threading.Lock()

    # --- upsert -----------------------------------------------------------------------------------

    def upsert(self, contacts: Sequence[Contact]) -> DeliveryResult:
        unique = dedupe_contacts(contacts)
        if not unique:
            return DeliveryResult()
        custom = self._custom_fields()
        missing = sorted(
            {
                key
                for c in unique
                for key in c.fields
                if key.lower() not in RESERVED_FIELDS and _find(custom, key) is None
            }
        )
        if missing:
            raise DestinationError(
                self.name, f"custom fields not defined in SendGrid (create them first): {', '.join(missing)}"
            )
        overhead = len(self._envelope(b""))
        fitting: list[tuple[Contact, bytes]] = []
        outcomes: list[BatchOutcome] = []
        for contact in unique:
            encoded = _encode(self._payload(contact, custom))
            if overhead + len(encoded) <= self.max_body_bytes:
                fitting.append((contact, encoded))
            else:
                reason = f"contact alone exceeds the {self.max_body_bytes}-byte request limit"
                outcomes.append(BatchOutcome(errors=[RowError(contact.email, "upsert", reason)]))
        outcomes += run_bounded(self._upsert_batch, self._batches(fitting), self.max_connections)
        return finish(self.name, "upsert", [c.email for c in unique], outcomes)

    def _payload(self, contact: Contact, custom: dict[str, _CustomField]) -> dict[str, Any]:
        payload: dict[str, Any] = {"email": contact.email.strip()}
        custom_values: dict[str, Any] = {}
        for key, value in contact.fields.items():
            if key.lower() in RESERVED_FIELDS:
                payload[key.lower()] = "" if value is None else str(value)
                continue
            definition = _find(custom, key)
            assert definition is not None  # checked in upsert
            if value is None and definition.field_type == "Number":
                continue  # "" is not a number; an unset number cannot be cleared through this endpoint
            custom_values[definition.id] = _custom_value(value)
        if custom_values:
            payload["custom_fields"] = custom_values
        return payload

    def _envelope(self, contacts_json: bytes) -> bytes:
        return b'{"list_ids":' + _encode([self.list_id]) + b',"contacts":[' + contacts_json + b"]}"

    def _batches(self, encoded: list[tuple[Contact, bytes]]) -> list[list[tuple[Contact, bytes]]]:
        """Greedy split so every request stays within both the contact-count and the byte limit."""
        overhead = len(self._envelope(b""))
        batches: list[list[tuple[Contact, bytes]]] = []
        current: list[tuple[Contact, bytes]] = []
        size = overhead
        for item in encoded:
            extra = len(item[1]) + (1 if current else 0)  # the separating comma
            if current and (
                len(current) >= self.max_contacts_per_request or size + extra > self.max_body_bytes
            ):
                batches.append(current)
                current, size, extra = [], overhead, len(item[1])
            current.append(item)
            size += extra
        if current:
            batches.append(current)
        return batches

    def _upsert_batch(self, batch: list[tuple[Contact, bytes]], resend: bool = True) -> BatchOutcome:
        emails = [contact.email for contact, _ in batch]
        body = self._envelope(b",".join(encoded for _, encoded in batch))
        try:
            response = self._send(
                "PUT", "/v3/marketing/contacts", content=body, headers={"Content-Type": "application/json"}
            )
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=exc.describe())
        if response.status_code == 400 and resend:
            rejected = _rejected_rows(response, len(batch))
            if rejected:
                errors = [
                    RowError(batch[i][0].email, "upsert", reason) for i, reason in sorted(rejected.items())
                ]
                rest = [item for i, item in enumerate(batch) if i not in rejected]
                outcome = self._upsert_batch(rest, resend=False) if rest else BatchOutcome()
                outcome.errors[:0] = errors
                return outcome
        if response.status_code != 202:
            reason = self._detail(response)
            return BatchOutcome(errors=[RowError(email, "upsert", reason) for email in emails])
        job_id = str(response.json().get("job_id", ""))
        try:
            job = self._wait_for_job(job_id)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=f"import job {job_id} status: {exc.describe()}")
        if job is None:
            return BatchOutcome(
                undelivered=emails, problem=f"import job {job_id} still pending after polling"
            )
        status = job.get("status")
        if status != "completed":
            reason = f"import job {job_id} {status}"
            return BatchOutcome(errors=[RowError(email, "upsert", reason) for email in emails])
        results = job.get("results") or {}
        if int(results.get("errored_count") or 0) == 0:
            return BatchOutcome(done=emails)
        return self._verify_landed(emails, f"rejected by import job {job_id} (see its errors_url)")

    def _verify_landed(self, emails: list[str], reason: str) -> BatchOutcome:
        """Which rows of a partly errored job are really on the list, asked through the search endpoint."""
        try:
            found = self._search(emails)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=f"checking an errored import: {exc.describe()}")
        done, errors = [], []
        for email in emails:
            contact = found.get(normalize_email(email))
            if contact is not None and self.list_id in (contact.get("list_ids") or []):
                done.append(email)
            else:
                errors.append(RowError(email, "upsert", reason))
        return BatchOutcome(done=done, errors=errors)

    # --- remove -----------------------------------------------------------------------------------

    def remove(self, emails: Sequence[str]) -> DeliveryResult:
        unique = dedupe_emails(emails)
        if not unique:
            return DeliveryResult()
        searched = run_bounded(
            self._search_outcome, list(chunks(unique, self.search_batch_size)), self.max_connections
        )
        outcomes: list[BatchOutcome] = []
        to_delete: list[tuple[str, str]] = []  # (contact id, email as given)
        for emails_chunk, found, failure in searched:
            if failure is not None:
                outcomes.append(BatchOutcome(undelivered=list(emails_chunk), problem=failure))
                continue
            for email in emails_chunk:
                contact = found.get(normalize_email(email))
                if contact is None or self.list_id not in (contact.get("list_ids") or []):
                    outcomes.append(BatchOutcome(done=[email]))  # not a contact, or not on the list
                else:
                    to_delete.append((str(contact["id"]), email))
        outcomes += run_bounded(
            self._remove_batch, list(chunks(to_delete, self.remove_batch_size)), self.max_connections
        )
        return finish(self.name, "remove", unique, outcomes)

    def _search_outcome(
        self, emails: Sequence[str]
    ) -> tuple[Sequence[str], dict[str, dict[str, Any]], str | None]:
        try:
            return emails, self._search(emails), None
        except RetriesExhausted as exc:
            return emails, {}, f"contact search: {exc.describe()}"

    def _remove_batch(self, batch: Sequence[tuple[str, str]]) -> BatchOutcome:
        emails = [email for _, email in batch]
        params = {"contact_ids": ",".join(contact_id for contact_id, _ in batch)}
        try:
            response = self._send("DELETE", f"/v3/marketing/lists/{self.list_id}/contacts", params=params)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=exc.describe())
        if response.status_code not in (200, 202, 204):
            reason = self._detail(response)
            return BatchOutcome(errors=[RowError(email, "remove", reason) for email in emails])
        job_id = _job_id(response)
        if not job_id:
            return BatchOutcome(done=emails)
        try:
            job = self._wait_for_job(job_id, missing_ok=True)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=f"removal job {job_id} status: {exc.describe()}")
        if job is None:
            return BatchOutcome(
                undelivered=emails, problem=f"removal job {job_id} still pending after polling"
            )
        if job.get("status") not in ("completed", "untracked"):
            reason = f"removal job {job_id} {job.get('status')}"
            return BatchOutcome(errors=[RowError(email, "remove", reason) for email in emails])
        return BatchOutcome(done=emails)

    # --- unsubscribes -----------------------------------------------------------------------------

    def fetch_unsubscribes(self, since: datetime | None = None) -> list[Unsubscribe]:
        """Global unsubscribes ("unsubscribed") and spam reports ("complained"), oldest first.

        Group (ASM) unsubscribes are per sending group, not per list, so they are left to the sender.
        """
        found: list[Unsubscribe] = []
        sources: tuple[tuple[str, UnsubscribeKind], ...] = (
            ("/v3/suppression/unsubscribes", "unsubscribed"),
            ("/v3/suppression/spam_reports", "complained"),
        )
        for path, kind in sources:
            offset, limit = 0, 500
            while True:
                params: dict[str, int] = {"limit": limit, "offset": offset}
                if since is not None:
                    params["start_time"] = int(since.timestamp())
                try:
                    response = self._send("GET", path, params=params)
                except RetriesExhausted as exc:
                    raise DestinationError(self.name, f"could not read {path}: {exc.describe()}") from None
                if response.status_code != 200:
                    raise DestinationError(self.name, f"could not read {path}: {self._detail(response)}")
                page = response.json()
                for row in page:
                    found.append(
                        Unsubscribe(row["email"], datetime.fromtimestamp(int(row["created"]), UTC), kind)
                    )
                offset += len(page)
                if len(page) < limit:
                    break
        return sorted(found, key=lambda u: u.occurred_at)

    # --- plumbing ---------------------------------------------------------------------------------

    def _custom_fields(self) -> dict[str, _CustomField]:
        with self._fields_lock:
            if self._fields is None:
                try:
                    response = self._send("GET", "/v3/marketing/field_definitions")
                except RetriesExhausted as exc:
                    raise DestinationError(
                        self.name, f"could not read field definitions: {exc.describe()}"
                    ) from None
                if response.status_code != 200:
                    raise DestinationError(
                        self.name, f"could not read field definitions: {self._detail(response)}"
                    )
                self._fields = {
                    str(f["name"]): _CustomField(str(f["id"]), str(f.get("field_type", "Text")))
                    for f in response.json().get("custom_fields") or []
                }
            return self._fields

    def _search(self, emails: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(list(emails), self.search_batch_size):
            response = self._send(
                "POST", "/v3/marketing/contacts/search/emails", json={"emails": list(chunk)}
            )
            if response.status_code == 404:
                continue  # documented: none of the addresses is a contact
            if response.status_code != 200:
                raise DestinationError(self.name, f"contact search failed: {self._detail(response)}")
            for email, entry in (response.json().get("result") or {}).items():
                if isinstance(entry, dict) and isinstance(entry.get("contact"), dict):
                    found[normalize_email(email)] = entry["contact"]
        return found

    def _wait_for_job(self, job_id: str, missing_ok: bool = False) -> dict[str, Any] | None:
        """Poll the job until it ends; None if it is still running after `max_polls` polls."""
        for poll in range(self.max_polls):
            response = self._send("GET", f"/v3/marketing/contacts/imports/{job_id}")
            if response.status_code == 404 and missing_ok:
                log.warning(
                    "sendgrid job %s is not visible on the imports endpoint; taken as accepted", job_id
                )
                return {"status": "untracked"}
            if response.status_code != 200:
                raise DestinationError(self.name, f"job {job_id} status failed: {self._detail(response)}")
            job = response.json()
            if job.get("status") in TERMINAL_JOB_STATES:
                return job
            if poll + 1 < self.max_polls:
                self._sleep(self.poll_interval)
        return None

    def _detail(self, response: httpx.Response) -> str:
        try:
            payload = response.json()
        except ValueError:
            return f"HTTP {response.status_code}"
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if not errors:
            return f"HTTP {response.status_code}"
        text = "; ".join(
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        )
        return self._scrub(text)


def _find(custom: dict[str, _CustomField], name: str) -> _CustomField | None:
    if name in custom:
        return custom[name]
    lowered = {key.lower(): value for key, value in custom.items()}
    return lowered.get(name.lower())


def _custom_value(value: FieldValue) -> str | int | float:
    return "" if value is None else value


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _job_id(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return ""
    # The reference spells it `job_id` on upserts and `jobId` on some list operations.
    return str(payload.get("job_id") or payload.get("jobId") or "") if isinstance(payload, dict) else ""


def _rejected_rows(response: httpx.Response, size: int) -> dict[int, str]:
    """Map row index → message for the 400 errors that name a row (`contacts[3].email`)."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return {}
    rejected: dict[int, str] = {}
    for error in errors:
        match = _ROW_FIELD.search(str(error.get("field") or ""))
        if match and int(match.group(1)) < size:
            index = int(match.group(1))
            message = str(error.get("message") or "rejected")
            rejected[index] = f"{rejected[index]}; {message}" if index in rejected else message
    return rejected


# --- Spec ---------------------------------------------------------------------------------------


SPEC = DestinationSpec(
    name="sendgrid",
    build=build_list_client(SendGridDestination),
    describe=describe_list,
    # One upsert request's worth of contacts.
    default_commit_every=MAX_CONTACTS_PER_REQUEST,
    required_target=frozenset({"list_id"}),
    options={
        **HTTP_OPTIONS,
        "max_contacts_per_request": OptionSpec(int),
        "max_body_bytes": OptionSpec(int),
        "search_batch_size": OptionSpec(int),
        "remove_batch_size": OptionSpec(int),
        "max_connections": OptionSpec(int),
        "poll_interval": OptionSpec(float),
        "max_polls": OptionSpec(int),
    },
    api_key_env="SENDGRID_API_KEY",
    api_url_env="SENDGRID_API_URL",
    default_retry=RetryPolicy(),
)
