"""The embedded default destination: the current members of one segment as files in a folder.

`<out_dir>/<segment_key>.jsonl` is the state (one `{"email", "fields"}` object a line, sorted by email);
`<out_dir>/<segment_key>.csv` is the same members as a table (email + one column per field) for people
and tools that want a spreadsheet. Its columns are `columns` (the sync's mapped fields, in that order)
then any other field found, sorted; so the header stays the same even when the segment is empty.
Every call rewrites both atomically (temp file + rename in the same folder), so a reader never sees
half a file and the files always equal the delivered membership.

Same semantics as the platforms: upsert adds or updates (fields not sent keep their values; a `None`
value clears the field), remove drops the member, both are idempotent. There are no opt-outs in a file,
so `fetch_unsubscribes` returns [].
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.syncs.destinations.base import (
    Contact,
    DeliveryResult,
    DestinationBase,
    RowError,
    Unsubscribe,
    dedupe_contacts,
    dedupe_emails,
    normalize_email,
)
from orchestration.syncs.destinations.spec import BuildRequest, DestinationSpec

if TYPE_CHECKING:
    from orchestration.syncs.config import SyncDefinition

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FOLDER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


class FileDestination(DestinationBase):
    name = "file"
    _repr_fields = ("out_dir", "segment_key")

    def __init__(self, out_dir: Path | str, segment_key: str, columns: Sequence[str] = ()) -> None:
        if not _SAFE_KEY.match(segment_key):
            raise ValueError(
                f"segment_key {segment_key!r} is not usable as a file name (letters, digits, _ . -)"
            )
        self.out_dir = Path(out_dir)
        self.segment_key = segment_key
        self.columns = list(dict.fromkeys(columns))
        self._lock = threading.Lock()

    @property
    def jsonl_path(self) -> Path:
        return self.out_dir / f"{self.segment_key}.jsonl"

    @property
    def csv_path(self) -> Path:
        return self.out_dir / f"{self.segment_key}.csv"

    def members(self) -> dict[str, dict[str, Any]]:
        """The delivered members, keyed by normalized email: {"email": as given, "fields": {...}}."""
        if not self.jsonl_path.exists():
            return {}
        members: dict[str, dict[str, Any]] = {}
        with self.jsonl_path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    members[normalize_email(row["email"])] = row
        return members

    def upsert(self, contacts: Sequence[Contact]) -> DeliveryResult:
        result = DeliveryResult()
        with self._lock:
            members = self.members()
            for contact in dedupe_contacts(contacts):
                if "@" not in contact.email:
                    result.errors.append(RowError(contact.email, "upsert", "not an email address"))
                    continue
                key = normalize_email(contact.email)
                fields = dict(members.get(key, {}).get("fields", {}))
                fields.update(contact.fields)
                members[key] = {"email": contact.email.strip(), "fields": fields}
                result.upserted.append(contact.email)
            self._write(members)
        return result

    def remove(self, emails: Sequence[str]) -> DeliveryResult:
        result = DeliveryResult()
        with self._lock:
            members = self.members()
            for email in dedupe_emails(emails):
                members.pop(normalize_email(email), None)
                result.removed.append(email)
            self._write(members)
        return result

    def fetch_unsubscribes(self, since: datetime | None = None) -> list[Unsubscribe]:
        """A file has no opt-outs: always []."""
        return []

    def target_lost(self) -> bool:
        """The files are gone (deleted, or a new folder): the sync layer then sends every member again."""
        return not self.jsonl_path.exists()

    def _write(self, members: dict[str, dict[str, Any]]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        ordered = [members[key] for key in sorted(members)]
        jsonl = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in ordered)
        found = {name for row in ordered for name in row["fields"]}
        columns = self.columns + sorted(found - set(self.columns))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["email", *columns])
        for row in ordered:
            values = row["fields"]
            writer.writerow([row["email"], *("" if values.get(c) is None else values[c] for c in columns)])
        _atomic_write(self.csv_path, buffer.getvalue())
        _atomic_write(self.jsonl_path, jsonl)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- Spec ---------------------------------------------------------------------------------------


def _check_target(target: Mapping[str, str]) -> str | None:
    folder = target.get("folder")
    if folder is not None and (not _FOLDER_PATTERN.match(folder) or ".." in folder.split("/")):
        return f"target folder {folder!r} must be a relative path of plain names (letters, digits, _ . -)"
    return None


def _describe(sync: SyncDefinition, sync_dir: Path | None) -> str:
    folder = sync.file_folder(sync_dir if sync_dir is not None else Path())
    return str(folder / f"{sync.segment}.jsonl")


def _fingerprint_target(sync: SyncDefinition, sync_dir: Path | None) -> Mapping[str, str]:
    if sync_dir is None:
        return dict(sync.target)
    return {"path": str(sync.file_folder(sync_dir).resolve() / sync.segment)}


def _build(request: BuildRequest) -> FileDestination:
    sync = request.sync
    columns = [mapping.destination_field for mapping in sync.fields]
    return FileDestination(sync.file_folder(request.sync_dir), sync.segment, columns)


SPEC = DestinationSpec(
    name="file",
    build=_build,
    describe=_describe,
    # The files are rewritten after each committed batch, so batches are large.
    default_commit_every=100_000,
    optional_target=frozenset({"folder"}),
    check_target=_check_target,
    fingerprint_target=_fingerprint_target,
)
