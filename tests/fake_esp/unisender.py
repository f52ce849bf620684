"""A fake Unisender API (`POST /{en|ru}/api/{method}?format=json`, form-encoded) enforcing its contract.

Methods: `importContacts`, `exclude`, `exportContacts` (synchronous form: `list_id`, `field_names[i]`
among email / email_status / email_list_ids / email_unsubscribed_list_ids / custom fields, `offset`,
`limit` ≤ 5000; answers `result.field_names` and `result.data`, the contacts on the list or
unsubscribed from it, in a stable order); `unsubscribe` exists only to be caught (a violation: the sync
must never opt anyone out). Errors are HTTP 200 `{"error": ..., "code": ...}` as at Unisender; a wrong
key gives code `invalid_api_key`. Enforced: known arguments only, `field_names[]` including `email`,
known field names, ≤500 rows per import, rows no wider than `field_names`, `format=json`.
The key must travel in the form body: a key in the URL is recorded as a violation.

Each contact keeps a status: new addresses get "new" (the documented default); an import never changes
an existing contact's status unless the row carries `email_status`, and a row that would re-activate an
unsubscribed or blocked contact is applied *and recorded as a violation*. Addresses ending in
`@invalid.test` are skipped with a per-row `log` entry (index, code, message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.fake_esp.common import FakeServer, Injected, Reply, Request

MAX_ROWS = 500
MAX_EXPORT_ROWS = 5000
EXPORT_FIELDS = {"email", "email_status", "email_list_ids", "email_unsubscribed_list_ids"}
SYSTEM_FIELDS = {"email", "email_list_ids", "email_status", "tags", "delete", "phone"}
OPTED_OUT = {"unsubscribed", "blocked"}
_PATH = re.compile(r"^/(en|ru)/api/([A-Za-z]+)$")
_FIELD_NAME = re.compile(r"^field_names\[(\d+)\]$")
_DATA = re.compile(r"^data\[(\d+)\]\[(\d+)\]$")


def error(message: str, code: str = "unspecified") -> Reply:
    return Reply.json(200, {"error": message, "code": code})


@dataclass
class UContact:
    email: str
    status: str = "new"
    lists: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)
    # lists the contact unsubscribed from (the address may still be active for the others)
    unsubscribed_lists: set[str] = field(default_factory=set)


class FakeUnisender(FakeServer):
    def __init__(
        self,
        api_key: str = "uni-test-key-5f3c9a0b7d",
        list_ids: tuple[str, ...] = ("101", "202"),
        custom_fields: tuple[str, ...] = ("Name", "CITY", "RFM_SEGMENT"),
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.list_ids = set(list_ids)
        self.custom_fields = set(custom_fields)
        self.contacts: dict[str, UContact] = {}
        self.import_sizes: list[int] = []
        self.export_limits: list[int] = []
        self.double_optin_seen: list[str] = []

    # --- test helpers -----------------------------------------------------------------------------

    def add_contact(
        self,
        email: str,
        status: str = "active",
        lists: set[str] | None = None,
        unsubscribed_lists: set[str] | None = None,
    ) -> UContact:
        contact = UContact(email.lower(), status, set(lists or ()), {}, set(unsubscribed_lists or ()))
        self.contacts[email.lower()] = contact
        return contact

    def on_list(self, list_id: str) -> set[str]:
        return {email for email, c in self.contacts.items() if list_id in c.lists}

    # --- HTTP -------------------------------------------------------------------------------------

    def injected_reply(self, item: Injected) -> Reply:
        return Reply(item.status, b"<html>scripted failure</html>", {"Content-Type": "text/html"})

    def route(self, request: Request) -> Reply:
        match = _PATH.match(request.path)
        if match is None:
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        if "api_key" in request.query:
            self.violation(f"{match.group(2)}: api_key sent in the URL")
        if request.method != "POST":
            self.violation(f"{match.group(2)}: {request.method} instead of POST")
        if request.query.get("format") != ["json"]:
            return Reply(400, b"format=json required", {"Content-Type": "text/plain"})
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        args = {key: values[-1] for key, values in form.items()}
        if args.get("api_key") != self.api_key:
            return error(
                "The API key is invalid. Check the key on the 'Integration and API' page.", "invalid_api_key"
            )
        method = match.group(2)
        if method == "importContacts":
            return self._import(args)
        if method == "exclude":
            return self._exclude(args)
        if method == "exportContacts":
            return self._export(form)
        if method == "unsubscribe":
            self.violation(f"unsubscribe called for {args.get('contact')}")
            return Reply.json(200, {"result": {}})
        return error(f"Unknown method {method}")

    def _import(self, args: dict[str, str]) -> Reply:
        names: dict[int, str] = {}
        cells: dict[int, dict[int, str]] = {}
        for key, value in args.items():
            if key in ("api_key", "overwrite_tags", "overwrite_lists"):
                continue
            if key == "double_optin":  # accepted but unconfirmed: recorded so tests can see what was sent
                self.double_optin_seen.append(value)
            elif m := _FIELD_NAME.match(key):
                names[int(m.group(1))] = value
            elif m := _DATA.match(key):
                cells.setdefault(int(m.group(1)), {})[int(m.group(2))] = value
            else:
                return error(f"Unknown argument {key}")
        with self.lock:
            self.import_sizes.append(len(cells))
        if sorted(names) != list(range(len(names))) or "email" not in names.values():
            return error("field_names must be numbered from 0 and include email")
        unknown = sorted(set(names.values()) - SYSTEM_FIELDS - self.custom_fields)
        if unknown:
            return error(f"Unknown field names: {', '.join(unknown)}")
        if len(cells) > MAX_ROWS:
            return error(f"Too many rows in data: {len(cells)}, at most {MAX_ROWS} per call")
        if sorted(cells) != list(range(len(cells))) or any(
            max(row, default=-1) >= len(names) for row in cells.values()
        ):
            return error("data rows must be numbered from 0 and no wider than field_names")
        overwrite_lists = args.get("overwrite_lists", "0") == "1"
        counts = {
            "total": len(cells),
            "inserted": 0,
            "updated": 0,
            "deleted": 0,
            "new_emails": 0,
            "invalid": 0,
        }
        log: list[dict[str, Any]] = []
        with self.lock:
            for index in range(len(cells)):
                row = {names[j]: value for j, value in cells[index].items()}
                outcome = self._import_row(row, overwrite_lists)
                if outcome in counts:
                    counts[outcome] += 1
                elif outcome.startswith("log:"):
                    counts["invalid"] += 1
                    log.append({"index": str(index), "code": "invalid_email", "message": outcome[4:]})
        return Reply.json(200, {"result": {**counts, "log": log}})

    def _import_row(self, row: dict[str, str], overwrite_lists: bool) -> str:
        email = row.get("email", "").strip().lower()
        if "@" not in email or email.endswith("@invalid.test"):
            return f"log:Invalid email address «{email}»"
        lists = {i.strip() for i in row.get("email_list_ids", "").split(",") if i.strip()}
        if lists - self.list_ids:
            return f"log:Unknown list ids {sorted(lists - self.list_ids)}"
        if row.get("delete") == "1":
            return "deleted" if self.contacts.pop(email, None) else "total"
        fields = {k: v for k, v in row.items() if k in self.custom_fields}
        existing = self.contacts.get(email)
        if existing is None:
            self.contacts[email] = UContact(email, row.get("email_status") or "new", lists, fields)
            return "inserted"
        new_status = row.get("email_status")
        if new_status and new_status != existing.status:
            if existing.status in OPTED_OUT:
                self.violations.append(f"{email}: {existing.status} -> {new_status}")
            existing.status = new_status
        existing.lists = lists if overwrite_lists else existing.lists | lists
        existing.fields.update(fields)
        return "updated"

    def _exclude(self, args: dict[str, str]) -> Reply:
        unknown = sorted(set(args) - {"api_key", "contact_type", "contact", "list_ids"})
        if unknown:
            return error(f"Unknown argument {unknown[0]}")
        if args.get("contact_type") not in ("email", "phone") or not args.get("contact"):
            return error("contact_type (email or phone) and contact are required")
        email = args["contact"].strip().lower()
        lists = {i.strip() for i in args.get("list_ids", "").split(",") if i.strip()} or set(self.list_ids)
        with self.lock:
            contact = self.contacts.get(email)
            if contact is None or not (contact.lists & lists):
                return error(f'Contact "{args["contact"]}" not found')
            contact.lists -= lists  # status untouched: excluding is not unsubscribing
        return Reply.json(200, {"result": {}})

    def _export(self, form: dict[str, list[str]]) -> Reply:
        args = {key: values[-1] for key, values in form.items()}
        names: dict[int, str] = {}
        for key, value in args.items():
            if m := _FIELD_NAME.match(key):
                names[int(m.group(1))] = value
            elif key not in ("api_key", "list_id", "offset", "limit"):
                return error(f"Unknown argument {key}")
        fields = [names[i] for i in sorted(names)]
        if sorted(names) != list(range(len(names))) or "email" not in fields:
            return error("field_names must be numbered from 0 and include email")
        unknown = sorted(set(fields) - EXPORT_FIELDS - self.custom_fields)
        if unknown:
            return error(f"Unknown field names: {', '.join(unknown)}")
        list_id = args.get("list_id", "")
        if list_id and list_id not in self.list_ids:
            return error(f"List {list_id} not found")
        try:
            offset, limit = int(args.get("offset", "0")), int(args.get("limit", "1000"))
        except ValueError:
            return error("offset and limit must be whole numbers")
        if not 0 < limit <= MAX_EXPORT_ROWS or offset < 0:
            return error(f"limit must be 1..{MAX_EXPORT_ROWS} and offset at least 0")
        with self.lock:
            self.export_limits.append(limit)
            contacts = [
                contact
                for _, contact in sorted(self.contacts.items())
                if not list_id or list_id in contact.lists | contact.unsubscribed_lists
            ]
        values = {
            "email_status": lambda c: c.status,
            "email_list_ids": lambda c: ",".join(sorted(c.lists)),
            "email_unsubscribed_list_ids": lambda c: ",".join(sorted(c.unsubscribed_lists)),
        }
        data = [
            [
                c.email if name == "email" else values[name](c) if name in values else c.fields.get(name, "")
                for name in fields
            ]
            for c in contacts[offset : offset + limit]
        ]
        return Reply.json(200, {"result": {"field_names": fields, "data": data}})
