"""A fake Mailchimp Marketing API v3 that enforces the documented contract.

Served under `/3.0`: `POST /lists/{id}` (batch subscribe/update), `POST /lists/{id}/members/{hash}/tags`,
`GET /lists/{id}/members`, `POST /lists/{id}/segments/{segment_id}` (static segment: `members_to_add` /
`members_to_remove`, ≤500 each; emails not on the audience are ignored, as documented).
Enforced: Basic auth with the key as password (401 problem otherwise),
schema of every body (unknown or missing fields → 400 "Invalid Resource"), ≤500 members a batch,
≤10 requests in flight (more → 429), per-member errors for addresses ending in `@invalid.test`.

The server keeps each member's status and `last_changed`. A request that would move an `unsubscribed`
or `cleaned` member back to `subscribed`/`pending` is applied (as the real API may do it) *and
recorded as a violation*: the clients under test must never cause one. Updating an existing member's
merge fields is accepted whatever its status (`status_if_new` leaves the status alone) and moves its
`last_changed`, as Mailchimp does: a `cleaned` (bounced) member updated this way shows up again in the
next `GET …/members?status=cleaned&since_last_changed=…`. Every write to a member (batch create or
update, tag change, static segment change) is logged in `writes`, so tests can check that a sync
leaves cleaned members alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fake_esp.common import FakeServer, Injected, Reply, Request

STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
OPTED_OUT = {"unsubscribed", "cleaned"}
BATCH_KEYS = {"members", "update_existing", "sync_tags"}
MEMBER_KEYS = {
    "email_address",
    "email_type",
    "status",
    "status_if_new",
    "merge_fields",
    "interests",
    "language",
    "vip",
    "location",
    "marketing_permissions",
    "ip_signup",
    "timestamp_signup",
    "ip_opt",
    "timestamp_opt",
    "tags",
}
MAX_BATCH = 500
MAX_COUNT = 1000
PROBLEM = "application/problem+json"
_MEMBER_TAGS = re.compile(r"^/3\.0/lists/([^/]+)/members/([0-9a-f]{32})/tags$")
_MEMBERS = re.compile(r"^/3\.0/lists/([^/]+)/members$")
_LIST = re.compile(r"^/3\.0/lists/([^/]+)$")
_SEGMENT = re.compile(r"^/3\.0/lists/([^/]+)/segments/([^/]+)$")


@dataclass
class Member:
    email_address: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    last_changed: str = field(default_factory=lambda: _now())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": hashlib.md5(self.email_address.lower().encode()).hexdigest(),
            "email_address": self.email_address,
            "status": self.status,
            "merge_fields": dict(self.merge_fields),
            "last_changed": self.last_changed,
        }


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None) -> Reply:
    body: dict[str, Any] = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if errors is not None:
        body["errors"] = errors
    return Reply.json(status, body, PROBLEM)


def invalid(errors: list[dict[str, str]]) -> Reply:
    return problem(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        errors,
    )


class FakeMailchimp(FakeServer):
    concurrency_limit = 10

    def __init__(
        self, api_key: str = "0123456789abcdef0123456789abcdef-us10", list_id: str = "a1b2c3d4e5"
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.list_id = list_id
        self.members: dict[str, Member] = {}  # by subscriber hash
        self.batch_sizes: list[int] = []
        self.static_segments: dict[str, set[str]] = {}  # segment id → subscriber hashes
        # Addresses refused like `@invalid.test` ones, for as long as they are in the set.
        self.rejected: set[str] = set()
        self.segment_call_sizes: list[int] = []
        # (lower-cased email, "created" | "updated" | "tags" | "segment") for every write to a member.
        self.writes: list[tuple[str, str]] = []

    # --- test helpers -----------------------------------------------------------------------------

    def add_member(
        self,
        email: str,
        status: str = "subscribed",
        merge_fields: dict[str, Any] | None = None,
        tags: set[str] | None = None,
        last_changed: str | None = None,
    ) -> Member:
        member = Member(email, status, dict(merge_fields or {}), set(tags or ()), last_changed or _now())
        self.members[_hash(email)] = member
        return member

    def member(self, email: str) -> Member | None:
        return self.members.get(_hash(email))

    def tagged(self, tag: str) -> set[str]:
        return {m.email_address.lower() for m in self.members.values() if tag in m.tags}

    def add_static_segment(self, segment_id: str | int) -> None:
        self.static_segments[str(segment_id)] = set()

    def in_segment(self, segment_id: str | int) -> set[str]:
        hashes = self.static_segments[str(segment_id)]
        return {self.members[h].email_address.lower() for h in hashes if h in self.members}

    def writes_to(self, email: str) -> list[str]:
        return [what for address, what in self.writes if address == email.strip().lower()]

    @property
    def max_batch_seen(self) -> int:
        return max(self.batch_sizes, default=0)

    # --- HTTP -------------------------------------------------------------------------------------

    def over_limit(self) -> Reply:
        return problem(
            429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
        )

    def injected_reply(self, item: Injected) -> Reply:
        if item.payload == "bare":  # how heavy throttling has been reported: no problem document
            return Reply(item.status, b"", {"Content-Type": "text/html"})
        return problem(item.status, "Scripted", "Injected by the test")

    def route(self, request: Request) -> Reply:
        if not self._authorized(request):
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        if match := _MEMBER_TAGS.match(request.path):
            if request.method == "POST":
                return self._tags(match.group(1), match.group(2), request)
        elif match := _MEMBERS.match(request.path):
            if request.method == "GET":
                return self._list_members(match.group(1), request)
        elif (match := _SEGMENT.match(request.path)) and request.method == "POST":
            return self._segment_members(match.group(1), match.group(2), request)
        elif (match := _LIST.match(request.path)) and request.method == "POST":
            return self._batch(match.group(1), request)
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return password == self.api_key

    def _body(self, request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.")
        if not isinstance(body, dict):
            return invalid([{"field": "", "message": "Schema describes object, array found instead"}])
        return body

    def _batch(self, list_id: str, request: Request) -> Reply:
        if list_id != self.list_id:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        members = body.get("members")
        if isinstance(members, list):
            with self.lock:
                self.batch_sizes.append(len(members))
        errors = [{"field": k, "message": "Unknown field."} for k in sorted(set(body) - BATCH_KEYS)]
        if not isinstance(members, list):
            errors.append({"field": "members", "message": "Schema describes array, required."})
        elif len(members) > MAX_BATCH:
            errors.append({"field": "members", "message": f"Schema describes array, max {MAX_BATCH} items."})
        else:
            errors += [e for i, m in enumerate(members) for e in _member_schema_errors(i, m)]
        if not isinstance(body.get("update_existing", False), bool):
            errors.append({"field": "update_existing", "message": "Schema describes boolean."})
        if errors:
            return invalid(errors)
        assert isinstance(members, list)
        update_existing = bool(body.get("update_existing", False))
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        seen: set[str] = set()
        with self.lock:
            for sent in members:
                email = sent["email_address"]
                key = _hash(email)
                if email.lower().endswith("@invalid.test") or email.lower() in self.rejected:
                    failed.append(
                        _member_error(email, "looks fake or invalid, please enter a real email address.")
                    )
                    continue
                if key in seen:
                    failed.append(_member_error(email, "was sent more than once in this request."))
                    continue
                seen.add(key)
                existing = self.members.get(key)
                if existing is None:
                    status = sent.get("status") or sent["status_if_new"]
                    member = Member(email, status, dict(sent.get("merge_fields") or {}))
                    self.members[key] = member
                    created.append(member.as_json())
                    self.writes.append((email.lower(), "created"))
                    continue
                if not update_existing:
                    failed.append(
                        _member_error(
                            email, "is already a list member. Use PUT to insert or update list members."
                        )
                    )
                    failed[-1]["error_code"] = "ERROR_CONTACT_EXISTS"
                    continue
                new_status = sent.get("status")
                if new_status and new_status != existing.status:
                    if existing.status in OPTED_OUT and new_status in {"subscribed", "pending"}:
                        self.violations.append(f"{email}: {existing.status} -> {new_status}")
                    existing.status = new_status
                existing.merge_fields.update(sent.get("merge_fields") or {})
                existing.last_changed = _now()
                updated.append(existing.as_json())
                self.writes.append((email.lower(), "updated"))
        return Reply.json(
            200,
            {
                "new_members": created,
                "updated_members": updated,
                "errors": failed,
                "total_created": len(created),
                "total_updated": len(updated),
                "error_count": len(failed),
                "_links": [],
            },
        )

    def _tags(self, list_id: str, subscriber_hash: str, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        tags = body.get("tags")
        errors = [
            {"field": k, "message": "Unknown field."} for k in sorted(set(body) - {"tags", "is_syncing"})
        ]
        if not isinstance(tags, list) or not tags:
            errors.append({"field": "tags", "message": "Schema describes array, required."})
        else:
            for i, tag in enumerate(tags):
                if not isinstance(tag, dict) or set(tag) != {"name", "status"}:
                    errors.append({"field": f"tags[{i}]", "message": "Requires exactly name and status."})
                elif tag["status"] not in ("active", "inactive") or not str(tag["name"]).strip():
                    errors.append({"field": f"tags[{i}]", "message": "Invalid name or status."})
        if errors:
            return invalid(errors)
        with self.lock:
            member = self.members.get(subscriber_hash) if list_id == self.list_id else None
            if member is None:
                return problem(404, "Resource Not Found", "The requested resource could not be found.")
            self.writes.append((member.email_address.lower(), "tags"))
            for tag in tags:
                if tag["status"] == "active":
                    member.tags.add(tag["name"])
                else:
                    member.tags.discard(tag["name"])
        return Reply(204)

    def _segment_members(self, list_id: str, segment_id: str, request: Request) -> Reply:
        if list_id != self.list_id or segment_id not in self.static_segments:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        keys = ("members_to_add", "members_to_remove")
        errors = [{"field": k, "message": "Unknown field."} for k in sorted(set(body) - set(keys))]
        for key in keys:
            value = body.get(key, [])
            if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
                errors.append({"field": key, "message": "Schema describes array of strings."})
            elif len(value) > MAX_BATCH:
                errors.append({"field": key, "message": f"Schema describes array, max {MAX_BATCH} items."})
        if errors:
            return invalid(errors)
        added: list[dict[str, Any]] = []
        removed: list[dict[str, Any]] = []
        with self.lock:
            self.segment_call_sizes.append(sum(len(body.get(key, [])) for key in keys))
            segment = self.static_segments[segment_id]
            for email in body.get("members_to_add", []):
                member = self.members.get(_hash(email))
                if member is not None:  # not on the audience: ignored
                    self.writes.append((member.email_address.lower(), "segment"))
                    if _hash(email) not in segment:
                        added.append(member.as_json())
                    segment.add(_hash(email))
            for email in body.get("members_to_remove", []):
                if _hash(email) in segment:
                    self.writes.append((self.members[_hash(email)].email_address.lower(), "segment"))
                    segment.discard(_hash(email))
                    removed.append(self.members[_hash(email)].as_json())
        return Reply.json(
            200,
            {
                "members_added": added,
                "members_removed": removed,
                "errors": [],
                "total_added": len(added),
                "total_removed": len(removed),
                "error_count": 0,
            },
        )

    def _list_members(self, list_id: str, request: Request) -> Reply:
        if list_id != self.list_id:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        query = {k: v[-1] for k, v in request.query.items()}
        status = query.get("status")
        if status is not None and status not in STATUSES:
            return invalid([{"field": "status", "message": "Invalid status."}])
        count = int(query.get("count", 10))
        if count > MAX_COUNT:
            return invalid([{"field": "count", "message": f"Maximum count is {MAX_COUNT}."}])
        offset = int(query.get("offset", 0))
        since = query.get("since_last_changed")
        with self.lock:
            matching = [
                m
                for m in sorted(self.members.values(), key=lambda m: m.email_address.lower())
                if (status is None or m.status == status)
                and (since is None or _at(m.last_changed) >= _at(since))
            ]
        page = matching[offset : offset + count]
        return Reply.json(200, {"members": [m.as_json() for m in page], "total_items": len(matching)})


def _member_schema_errors(index: int, member: Any) -> list[dict[str, str]]:
    where = f"members[{index}]"
    if not isinstance(member, dict):
        return [{"field": where, "message": "Schema describes object."}]
    errors = [
        {"field": f"{where}.{k}", "message": "Unknown field."} for k in sorted(set(member) - MEMBER_KEYS)
    ]
    if not isinstance(member.get("email_address"), str) or not member["email_address"]:
        errors.append({"field": f"{where}.email_address", "message": "This value should not be blank."})
    for key in ("status", "status_if_new"):
        if key in member and member[key] not in STATUSES:
            errors.append({"field": f"{where}.{key}", "message": "Value is not one of the allowed statuses."})
    if "status" not in member and "status_if_new" not in member:
        errors.append({"field": f"{where}.status_if_new", "message": "status or status_if_new is required."})
    merge_fields = member.get("merge_fields", {})
    if not isinstance(merge_fields, dict) or any(
        not isinstance(v, str | int | float) or isinstance(v, bool) for v in merge_fields.values()
    ):
        errors.append({"field": f"{where}.merge_fields", "message": "Merge field values must be scalars."})
    return errors


def _member_error(email: str, text: str) -> dict[str, str]:
    return {"email_address": email, "error": f"{email} {text}", "error_code": "ERROR_GENERIC"}


def _hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
