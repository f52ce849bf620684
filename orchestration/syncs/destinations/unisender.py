"""Unisender (api.unisender.com): segment membership as one contact list.

Every call is `POST {base}/{lang}/api/{method}?format=json` with `api_key` and the arguments as form
fields: a POST keeps the key out of URLs and so out of proxy and access logs.

upsert: `importContacts` with `field_names[0..]` = email, email_list_ids, <mapped fields> and
        `data[i][j]` rows, ≤500 rows a call, `overwrite_lists=0` (add the list, keep the others) and
        `overwrite_tags=0`. Rows never carry `email_status`: the documented default gives *new*
        addresses the status "new" and leaves an existing contact's status as it is, so an opted-out
        contact is never re-activated. Per-row problems come back in `log` (`index`, `code`, `message`).
remove: `exclude(contact_type=email, contact, list_ids)` — one contact per call, by design of the API.
        `exclude` takes the contact off the list without marking them unsubscribed; `unsubscribe`
        (irreversible through the API) is never called. Excluding someone already off the list
        answers "Contact … not found", which is taken as success.
opt-outs: `exportContacts(list_id, field_names[], offset, limit)` pages through the list; addresses
        `unsubscribed` or `blocked`, and contacts unsubscribed from this list, flow back to the
        warehouse. The export gives no time, so each run reads the whole list.

double_optin (**unconfirmed**): the current importContacts reference lists only `field_names`, `data`,
`overwrite_tags` and `overwrite_lists`; older wrappers also pass `double_optin`, default 0. Import does
not send confirmation e-mails in either reading, so by default the argument is *not sent* and the
documented default applies. `double_optin=` lets the config layer pass a value once checked with
Unisender support; whatever it is, rows still carry no `email_status`, so opted-out contacts stay so.

Errors come as HTTP 200 with `{"error": ..., "code": ...}`; `invalid_api_key` and `access_denied`
raise `DestinationAuthError`. HTTP 429/5xx, timeouts and connection errors are retried; the docs advise
at most two retries of a call (it may take up to 30 s), hence `max_attempts=3` and a 35 s read timeout
by default. Rate limits are not published (**unconfirmed**), so concurrency defaults to 4 connections.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from orchestration.syncs.destinations.base import (
    BatchOutcome,
    Contact,
    DeliveryResult,
    DestinationAuthError,
    DestinationError,
    FieldValue,
    RowError,
    Unsubscribe,
    UnsubscribeKind,
    chunks,
    dedupe_contacts,
    dedupe_emails,
    finish,
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

DEFAULT_BASE_URL = "https://api.unisender.com"
MAX_IMPORT_ROWS = 500
AUTH_ERROR_CODES = frozenset({"invalid_api_key", "access_denied"})
DEFAULT_RETRY = RetryPolicy(max_attempts=3)
# exportContacts (its synchronous form): at most 5000 rows a call (**unconfirmed**: the limit of the
# published method reference and of the client libraries that use it).
EXPORT_PAGE_SIZE = 5000
EXPORT_FIELDS = ("email", "email_status", "email_unsubscribed_list_ids")
# email_status → the kind of opt-out it is
OPT_OUT_STATUSES = {"unsubscribed": "unsubscribed", "blocked": "cleaned"}
LANGS = ("en", "ru")


class UnisenderDestination(HttpDestination):
    name = "unisender"
    _repr_fields = ("list_id", "base_url", "lang")

    def __init__(
        self,
        api_key: str,
        list_id: str | int,
        base_url: str | None = None,
        lang: str = "en",
        *,
        batch_size: int = MAX_IMPORT_ROWS,
        double_optin: int | None = None,
        max_connections: int = 4,
        timeout: float = 35.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
    ) -> None:
        if not 1 <= batch_size <= MAX_IMPORT_ROWS:
            raise ValueError(f"batch_size must be 1..{MAX_IMPORT_ROWS}, got {batch_size}")
        if lang not in LANGS:
            raise ValueError(f"lang must be 'en' or 'ru', got {lang!r}")
        super().__init__(
            api_key,
            (base_url or DEFAULT_BASE_URL).rstrip("/"),
            max_connections=max_connections,
            timeout=timeout,
            retry=retry or DEFAULT_RETRY,
            sleep=sleep,
            clock=clock,
        )
        self.list_id = str(list_id)
        self.lang = lang
        self.batch_size = batch_size
        self.double_optin = double_optin

    # --- upsert -----------------------------------------------------------------------------------

    def upsert(self, contacts: Sequence[Contact]) -> DeliveryResult:
        unique = dedupe_contacts(contacts)
        # One column set per call: a contact without a field must not have it blanked by a neighbour's column.
        groups: dict[tuple[str, ...], list[Contact]] = {}
        for contact in unique:
            groups.setdefault(tuple(sorted(contact.fields)), []).append(contact)
        batches = [
            (columns, batch)
            for columns, members in groups.items()
            for batch in chunks(members, self.batch_size)
        ]
        outcomes = run_bounded(lambda item: self._import(*item), batches, self.max_connections)
        return finish(self.name, "upsert", [c.email for c in unique], outcomes)

    def _import(self, columns: tuple[str, ...], batch: Sequence[Contact]) -> BatchOutcome:
        emails = [contact.email for contact in batch]
        form: dict[str, str] = {}
        for j, name in enumerate(("email", "email_list_ids", *columns)):
            form[f"field_names[{j}]"] = name
        for i, contact in enumerate(batch):
            row = [contact.email.strip(), self.list_id, *(_cell(contact.fields[name]) for name in columns)]
            for j, value in enumerate(row):
                form[f"data[{i}][{j}]"] = value
        form["overwrite_lists"] = "0"
        form["overwrite_tags"] = "0"
        if self.double_optin is not None:
            form["double_optin"] = str(self.double_optin)
        try:
            answer = self._call("importContacts", form)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=emails, problem=exc.describe())
        if "error" in answer:
            reason = self._error_text(answer)
            return BatchOutcome(errors=[RowError(email, "upsert", reason) for email in emails])
        result = answer.get("result") or {}
        rejected: dict[int, str] = {}
        for entry in result.get("log") or []:
            try:
                index = int(entry.get("index"))
            except (TypeError, ValueError):
                continue
            if 0 <= index < len(batch):
                message = f"{entry.get('code', '')}: {entry.get('message', '')}".strip(": ")
                rejected[index] = f"{rejected[index]}; {message}" if index in rejected else message
        return BatchOutcome(
            done=[email for i, email in enumerate(emails) if i not in rejected],
            errors=[RowError(emails[i], "upsert", reason) for i, reason in sorted(rejected.items())],
        )

    # --- remove -----------------------------------------------------------------------------------

    def remove(self, emails: Sequence[str]) -> DeliveryResult:
        unique = dedupe_emails(emails)
        outcomes = run_bounded(self._exclude, unique, self.max_connections)
        return finish(self.name, "remove", unique, outcomes)

    def _exclude(self, email: str) -> BatchOutcome:
        form = {"contact_type": "email", "contact": email.strip(), "list_ids": self.list_id}
        try:
            answer = self._call("exclude", form)
        except RetriesExhausted as exc:
            return BatchOutcome(undelivered=[email], problem=exc.describe())
        if "error" not in answer:
            return BatchOutcome(done=[email])
        # Already off the list: the goal of `exclude` holds, so this is a success (keeps remove idempotent).
        if "not found" in str(answer.get("error", "")).lower():
            return BatchOutcome(done=[email])
        return BatchOutcome(errors=[RowError(email, "remove", self._error_text(answer))])

    # --- unsubscribes -----------------------------------------------------------------------------

    def fetch_unsubscribes(self, since: datetime | None = None) -> list[Unsubscribe]:
        """The list's opted-out contacts, from `exportContacts` pages of EXPORT_PAGE_SIZE.

        A contact counts when its address is `unsubscribed` (kind "unsubscribed") or `blocked`
        (kind "cleaned": Unisender blocks addresses after complaints or hard bounces), or when it
        unsubscribed from this list (`email_unsubscribed_list_ids`) while staying active for others.
        The export says nothing about *when*, so `since` cannot narrow it: every run reads the whole
        list, and the opt-outs carry no time (`occurred_at` None; the warehouse records when it
        first saw each one).
        """
        found: list[Unsubscribe] = []
        offset = 0
        while True:
            answer = self._call(
                "exportContacts",
                {
                    "list_id": self.list_id,
                    **{f"field_names[{i}]": name for i, name in enumerate(EXPORT_FIELDS)},
                    "offset": str(offset),
                    "limit": str(EXPORT_PAGE_SIZE),
                },
            )
            if "error" in answer:
                raise DestinationError(self.name, f"could not read unsubscribes: {self._error_text(answer)}")
            rows = self._export_rows(answer)
            for record in rows:
                kind = _opt_out_kind(record, self.list_id)
                if kind is not None:
                    found.append(Unsubscribe(record["email"], None, kind))
            if len(rows) < EXPORT_PAGE_SIZE:
                return found
            offset += len(rows)

    def _export_rows(self, answer: dict[str, Any]) -> list[dict[str, str]]:
        result = answer.get("result")
        names = result.get("field_names") if isinstance(result, dict) else None
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(names, list) or not isinstance(data, list) or "email" not in names:
            raise DestinationError(self.name, "exportContacts: unexpected answer shape")
        return [dict(zip(names, (str(cell or "") for cell in row), strict=False)) for row in data]

    # --- plumbing ---------------------------------------------------------------------------------

    def _call(self, method: str, form: dict[str, str]) -> dict[str, Any]:
        path = f"/{self.lang}/api/{method}"
        body = {"api_key": self._api_key, **form}
        response = self._send("POST", path, what=f"unisender {method}", params={"format": "json"}, data=body)
        try:
            answer = response.json()
        except ValueError:
            raise DestinationError(self.name, f"{method}: HTTP {response.status_code}, not JSON") from None
        if not isinstance(answer, dict):
            raise DestinationError(self.name, f"{method}: unexpected answer shape")
        if "error" in answer and answer.get("code") in AUTH_ERROR_CODES:
            raise DestinationAuthError(self.name, f"the API key was refused ({self._error_text(answer)})")
        if response.status_code != 200 and "error" not in answer:
            raise DestinationError(self.name, f"{method}: HTTP {response.status_code}")
        return answer

    def _refusal(self, response: httpx.Response) -> str:
        return f"the API key was refused (HTTP {response.status_code})"

    def _error_text(self, answer: dict[str, Any]) -> str:
        return self._scrub(f"{answer.get('code', 'error')}: {answer.get('error', '')}")


def _cell(value: FieldValue) -> str:
    return "" if value is None else str(value)


def _opt_out_kind(record: dict[str, str], list_id: str) -> UnsubscribeKind | None:
    status = record.get("email_status", "").strip().lower()
    if status in OPT_OUT_STATUSES:
        return OPT_OUT_STATUSES[status]  # type: ignore[return-value]
    unsubscribed_from = {item.strip() for item in record.get("email_unsubscribed_list_ids", "").split(",")}
    return "unsubscribed" if list_id in unsubscribed_from else None


# --- Spec ---------------------------------------------------------------------------------------


SPEC = DestinationSpec(
    name="unisender",
    build=build_list_client(UnisenderDestination),
    describe=describe_list,
    # 4 connections × 500 rows.
    default_commit_every=2_000,
    required_target=frozenset({"list_id"}),
    options={
        **HTTP_OPTIONS,
        "lang": OptionSpec(str, choices=LANGS),
        "batch_size": OptionSpec(int),
        "double_optin": OptionSpec(int, allow_zero=True),
        "max_connections": OptionSpec(int),
    },
    api_key_env="UNISENDER_API_KEY",
    api_url_env="UNISENDER_API_URL",
    default_retry=DEFAULT_RETRY,
)
