"""A fake SendGrid Marketing Contacts API v3 that enforces the documented contract.

Endpoints: `PUT /v3/marketing/contacts` (async: 202 + job_id), `GET /v3/marketing/contacts/imports/{id}`,
`POST /v3/marketing/contacts/search/emails`, `DELETE /v3/marketing/lists/{id}/contacts`,
`GET /v3/marketing/field_definitions`, `GET /v3/suppression/unsubscribes|spam_reports`.

Enforced: Bearer auth (401 `{"errors": [...]}` otherwise); ≤30,000 contacts and ≤6,000,000 bytes per
upsert (413 beyond); known contact fields only; `custom_fields` keyed by defined field ids
("invalid custom field ids supplied" otherwise, the message SendGrid users report); ≤100 emails a
search. An address ending in `@invalid.test` makes the whole upsert a 400 naming the row
(`contacts[3].email`); one ending in `@jobreject.test` is accepted but dropped by the job
(`errored_count`). Jobs stay `pending` for `polls_until_done` polls, then apply and complete — the state
changes only then, as with the real asynchronous API. Every answer carries X-RateLimit-* headers.

Suppressions (global unsubscribes, spam reports) are kept apart from contacts, as at SendGrid; any
request that would lift one is recorded as a violation.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fake_esp.common import FakeServer, Injected, Reply, Request

MAX_CONTACTS = 30_000
MAX_BODY = 6_000_000
MAX_SEARCH = 100
RESERVED = {
    "email",
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
    "alternate_emails",
    "external_id",
    "anonymous_id",
}
_JOB = re.compile(r"^/v3/marketing/contacts/imports/([^/]+)$")
_LIST_CONTACTS = re.compile(r"^/v3/marketing/lists/([^/]+)/contacts$")


def errors(status: int, *items: tuple[str | None, str]) -> Reply:
    return Reply.json(status, {"errors": [{"field": f, "message": m} for f, m in items]})


@dataclass
class Job:
    kind: str
    apply: Callable[[], dict[str, int]]
    polls_left: int
    status: str = "pending"
    results: dict[str, Any] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


class FakeSendGrid(FakeServer):
    def __init__(
        self,
        api_key: str = "SG.fake-test-key.0123456789",
        list_ids: tuple[str, ...] = ("list-rfm-champions",),
        custom_fields: dict[str, tuple[str, str]] | None = None,
        polls_until_done: int = 1,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.list_ids = set(list_ids)
        # name → (id, type); SendGrid addresses custom fields by id in contact payloads.
        self.custom_fields = custom_fields or {"RFM_SEGMENT": ("e1_T", "Text"), "ORDERS": ("e2_N", "Number")}
        self.polls_until_done = polls_until_done
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-cased email
        self.jobs: dict[str, Job] = {}
        self.global_unsubscribes: dict[str, int] = {}  # email → created (epoch seconds)
        self.spam_reports: dict[str, int] = {}
        self.upsert_sizes: list[int] = []
        self.body_sizes: list[int] = []
        self.search_sizes: list[int] = []
        self.polls = 0
        self.rate_limit = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599"}
        # The clock behind X-RateLimit-Reset; tests that simulate time point it at their clock.
        self.now: Callable[[], float] = time.time

    # --- test helpers -----------------------------------------------------------------------------

    def add_contact(self, email: str, list_ids: set[str] | None = None, **fields: Any) -> dict[str, Any]:
        contact = {"id": str(uuid.uuid4()), "email": email.lower(), "list_ids": set(list_ids or ()), **fields}
        contact.setdefault("custom_fields", {})
        self.contacts[email.lower()] = contact
        return contact

    def on_list(self, list_id: str) -> set[str]:
        return {email for email, c in self.contacts.items() if list_id in c["list_ids"]}

    # --- HTTP -------------------------------------------------------------------------------------

    def injected_reply(self, item: Injected) -> Reply:
        return errors(item.status, (None, "scripted failure"))

    def serve(self, request: Request) -> Reply:
        reply = super().serve(request)
        # Headers present on every answer; scripted ones (already merged) take precedence.
        for name, value in {**self.rate_limit, "X-RateLimit-Reset": str(int(self.now()) + 60)}.items():
            reply.headers.setdefault(name, value)
        return reply

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return errors(401, (None, "authorization required"))
        path, method = request.path, request.method
        if path.startswith("/v3/asm/") and method in ("DELETE", "POST"):
            self.violation(f"{method} {path}: would lift a suppression")
            return Reply(204)
        if path == "/v3/marketing/contacts" and method == "PUT":
            return self._upsert(request)
        if path == "/v3/marketing/contacts/search/emails" and method == "POST":
            return self._search(request)
        if path == "/v3/marketing/field_definitions" and method == "GET":
            return self._field_definitions()
        if path in ("/v3/suppression/unsubscribes", "/v3/suppression/spam_reports") and method == "GET":
            source = self.global_unsubscribes if path.endswith("unsubscribes") else self.spam_reports
            return self._suppressions(source, request)
        if (match := _JOB.match(path)) and method == "GET":
            return self._job(match.group(1))
        if (match := _LIST_CONTACTS.match(path)) and method == "DELETE":
            return self._remove_from_list(match.group(1), request)
        return errors(404, (None, "resource not found"))

    def _upsert(self, request: Request) -> Reply:
        with self.lock:
            self.body_sizes.append(len(request.body))
        if len(request.body) > MAX_BODY:
            return errors(413, (None, f"request body must be at most {MAX_BODY} bytes"))
        try:
            body = request.json()
        except ValueError:
            return errors(400, (None, "invalid JSON"))
        if not isinstance(body, dict):
            return errors(400, (None, "invalid JSON"))
        problems = [(k, "unknown field") for k in sorted(set(body) - {"list_ids", "contacts"})]
        contacts = body.get("contacts")
        if not isinstance(contacts, list) or not contacts:
            return errors(400, *problems, ("contacts", "contacts is required and must not be empty"))
        with self.lock:
            self.upsert_sizes.append(len(contacts))
        if len(contacts) > MAX_CONTACTS:
            return errors(400, ("contacts", f"at most {MAX_CONTACTS} contacts per request"))
        list_ids = body.get("list_ids", [])
        if not isinstance(list_ids, list) or any(i not in self.list_ids for i in list_ids):
            problems.append(("list_ids", "one or more list ids do not exist"))
        ids = {cid: ftype for cid, ftype in self.custom_fields.values()}
        for i, contact in enumerate(contacts):
            problems += _contact_problems(i, contact, ids)
        if problems:
            return errors(400, *problems)
        job_id = str(uuid.uuid4())

        def apply() -> dict[str, int]:
            created = updated = errored = 0
            for contact in contacts:
                email = contact["email"].lower()
                if email.endswith("@jobreject.test"):
                    errored += 1
                    continue
                existing = self.contacts.get(email)
                if existing is None:
                    existing = self.add_contact(email)
                    created += 1
                else:
                    updated += 1
                for key, value in contact.items():
                    if key == "custom_fields":
                        existing["custom_fields"].update(value)
                    elif key != "email":
                        existing[key] = value
                existing["list_ids"].update(list_ids)
            return {"created_count": created, "updated_count": updated, "errored_count": errored}

        with self.lock:
            self.jobs[job_id] = Job(
                "upsert", apply, self.polls_until_done, results={"requested_count": len(contacts)}
            )
        return Reply.json(202, {"job_id": job_id})

    def _job(self, job_id: str) -> Reply:
        with self.lock:
            self.polls += 1
            job = self.jobs.get(job_id)
            if job is None:
                return errors(404, (None, "job not found"))
            if job.status == "pending":
                if job.polls_left > 0:
                    job.polls_left -= 1
                else:
                    job.results.update(job.apply())
                    job.status = "completed"
                    if job.results.get("errored_count"):
                        job.results["errors_url"] = f"{self.url}/downloads/{job_id}-errors.csv"
            return Reply.json(
                200,
                {
                    "id": job_id,
                    "status": job.status,
                    "job_type": job.kind,
                    "results": {
                        "requested_count": 0,
                        "created_count": 0,
                        "updated_count": 0,
                        "deleted_count": 0,
                        "errored_count": 0,
                        **job.results,
                    },
                    "started_at": job.started_at,
                    "finished_at": datetime.now(UTC).isoformat() if job.status != "pending" else None,
                },
            )

    def _search(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return errors(400, (None, "invalid JSON"))
        emails = body.get("emails") if isinstance(body, dict) else None
        if not isinstance(emails, list) or set(body) != {"emails"}:
            return errors(400, ("emails", "emails is required and is the only field"))
        with self.lock:
            self.search_sizes.append(len(emails))
            if len(emails) > MAX_SEARCH:
                return errors(400, ("emails", f"at most {MAX_SEARCH} emails per request"))
            result: dict[str, Any] = {}
            for email in emails:
                contact = self.contacts.get(str(email).lower())
                if contact is None:
                    result[email] = {"error": "contact not found"}
                else:
                    result[email] = {"contact": {**contact, "list_ids": sorted(contact["list_ids"])}}
        if all("error" in entry for entry in result.values()):
            return errors(404, (None, "no contacts found"))
        return Reply.json(200, {"result": result})

    def _remove_from_list(self, list_id: str, request: Request) -> Reply:
        if list_id not in self.list_ids:
            return errors(404, ("id", "list not found"))
        raw = (request.query.get("contact_ids") or [""])[-1]
        ids = [i for i in raw.split(",") if i]
        if not ids:
            return errors(400, ("contact_ids", "contact_ids is required"))
        job_id = str(uuid.uuid4())

        def apply() -> dict[str, int]:
            removed = 0
            for contact in self.contacts.values():
                if contact["id"] in ids and list_id in contact["list_ids"]:
                    contact["list_ids"].discard(list_id)  # the contact itself is kept
                    removed += 1
            return {"deleted_count": removed}

        with self.lock:
            self.jobs[job_id] = Job("delete_list_contacts", apply, self.polls_until_done)
        return Reply.json(202, {"job_id": job_id})

    def _field_definitions(self) -> Reply:
        custom = [
            {"id": cid, "name": name, "field_type": ftype}
            for name, (cid, ftype) in self.custom_fields.items()
        ]
        reserved = [{"id": name, "name": name, "field_type": "Text"} for name in sorted(RESERVED)]
        return Reply.json(200, {"custom_fields": custom, "reserved_fields": reserved})

    def _suppressions(self, source: dict[str, int], request: Request) -> Reply:
        query = {k: v[-1] for k, v in request.query.items()}
        start = int(query.get("start_time", 0))
        limit, offset = int(query.get("limit", 500)), int(query.get("offset", 0))
        rows = sorted(
            ({"email": e, "created": c} for e, c in source.items() if c >= start), key=lambda r: r["email"]
        )
        return Reply.json(200, rows[offset : offset + limit])


def _contact_problems(index: int, contact: Any, custom_ids: dict[str, str]) -> list[tuple[str, str]]:
    where = f"contacts[{index}]"
    if not isinstance(contact, dict):
        return [(where, "must be an object")]
    problems = [
        (f"{where}.{k}", "unknown field") for k in sorted(set(contact) - RESERVED - {"custom_fields"})
    ]
    email = contact.get("email")
    if not isinstance(email, str) or "@" not in email or email.lower().endswith("@invalid.test"):
        problems.append((f"{where}.email", "email address is invalid"))
    custom = contact.get("custom_fields", {})
    if not isinstance(custom, dict) or any(key not in custom_ids for key in custom):
        problems.append((f"{where}.custom_fields", "invalid custom field ids supplied"))
    else:
        for key, value in custom.items():
            if custom_ids[key] == "Number" and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                problems.append((f"{where}.custom_fields.{key}", "must be a number"))
    return problems
