"""The sync configuration: which segment goes where, with which fields, in which mode.

The file is `dbt_project/segments/syncs.yml` (another one: `CRM_SEGMENTS_SYNCS`); its header documents
the format, and so does the README ("Syncs"). Loading validates everything that can be checked
without the warehouse (names, destinations, targets, options, field names); `orchestration.syncs.source`
then checks the segment and the source columns against the warehouse before a run sends anything.
Every message names the sync and the problem.

Credentials never appear in this file: they come from the environment when a sync runs
(`credentials_for`), and a missing one fails that sync only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from orchestration.settings import DEFAULT_DUCKDB_PATH, PROJECT_DIR

DEFAULT_SYNCS_PATH = PROJECT_DIR / "dbt_project" / "segments" / "syncs.yml"
SYNCS_ENV = "CRM_SEGMENTS_SYNCS"
SYNC_DIR_ENV = "CRM_SEGMENTS_SYNC_DIR"

Mode = Literal["mirror", "upsert"]
DestinationKind = Literal["mailchimp", "sendgrid", "unisender", "file"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A warehouse column (`city`), or a column of another marts table keyed by customer_id
# (`customer_clv.p_alive`).
SOURCE_PATTERN = re.compile(r"^(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$")
DESTINATION_FIELD_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
_FOLDER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")

API_KEY_ENV: dict[str, str] = {
    "mailchimp": "MAILCHIMP_API_KEY",
    "sendgrid": "SENDGRID_API_KEY",
    "unisender": "UNISENDER_API_KEY",
}
API_URL_ENV: dict[str, str] = {
    "mailchimp": "MAILCHIMP_API_URL",
    "sendgrid": "SENDGRID_API_URL",
    "unisender": "UNISENDER_API_URL",
}

# Target keys per destination: (required, optional). Mailchimp needs exactly one of tag / static_segment_id.
_TARGET_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "mailchimp": (frozenset({"audience_id"}), frozenset({"tag", "static_segment_id"})),
    "sendgrid": (frozenset({"list_id"}), frozenset()),
    "unisender": (frozenset({"list_id"}), frozenset()),
    "file": (frozenset(), frozenset({"folder"})),
}

# Options: every provider limit is a setting (the API reference marks several as unconfirmed).
_RETRY_OPTIONS = {"max_attempts": int, "base_delay": float, "max_delay": float, "max_server_wait": float}
# max_remove_share: see SyncDefinition.max_remove_share
_GUARD_OPTIONS = {"commit_every": int, "max_remove_share": float}
_COMMON_OPTIONS = {**_GUARD_OPTIONS, "timeout": float, **_RETRY_OPTIONS}
_OPTIONS: dict[str, dict[str, type]] = {
    "mailchimp": {
        **_COMMON_OPTIONS,
        "status_if_new": str,
        "batch_size": int,
        "segment_batch_size": int,
        "max_connections": int,
    },
    "sendgrid": {
        **_COMMON_OPTIONS,
        "max_contacts_per_request": int,
        "max_body_bytes": int,
        "search_batch_size": int,
        "remove_batch_size": int,
        "max_connections": int,
        "poll_interval": float,
        "max_polls": int,
    },
    "unisender": {
        **_COMMON_OPTIONS,
        "lang": str,
        "batch_size": int,
        "double_optin": int,
        "max_connections": int,
    },
    "file": _GUARD_OPTIONS,
}
_OPTION_CHOICES: dict[str, tuple[object, ...]] = {
    # Mailchimp: the status a *new* member gets (pending: double opt-in); never applied to existing ones.
    "status_if_new": ("subscribed", "pending", "transactional"),
    "lang": ("en", "ru"),
}
# Contacts handed to the destination per call; the delivered state is committed after each call, so
# this is also how much a crash can make the next run send again. Large enough for the clients to
# use their concurrency (Mailchimp: 10 connections × 500 members).
DEFAULT_COMMIT_EVERY: dict[str, int] = {
    "mailchimp": 5_000,
    "sendgrid": 30_000,
    "unisender": 2_000,
    "file": 100_000,
}
# The mass-removal guard (SyncDefinition.max_remove_share): a share of the delivered contacts, and a
# number of removals below which any run may proceed.
DEFAULT_MAX_REMOVE_SHARE = 0.5
MASS_REMOVAL_FLOOR = 100

_SYNC_KEYS = {
    "name",
    "description",
    "segment",
    "destination",
    "target",
    "fields",
    "mode",
    "exclude_holdout",
    "require_opt_in",
    "enabled",
    "options",
}


class SyncConfigError(ValueError):
    """The sync configuration cannot be used; the message names the file or the sync and the problem."""


class MissingCredentialsError(SyncConfigError):
    """A sync's platform has no API key in the environment. The message names the variable only."""


@dataclass(frozen=True)
class FieldMapping:
    """One destination field (merge field, custom field, column) filled from one warehouse column."""

    destination_field: str
    source: str  # `column` or `table.column`

    @property
    def table(self) -> str | None:
        match = SOURCE_PATTERN.match(self.source)
        assert match is not None
        return match.group(1)

    @property
    def column(self) -> str:
        match = SOURCE_PATTERN.match(self.source)
        assert match is not None
        return match.group(2)


@dataclass(frozen=True)
class SyncDefinition:
    name: str
    segment: str
    destination: DestinationKind
    target: Mapping[str, str]
    fields: tuple[FieldMapping, ...]
    mode: Mode = "mirror"
    exclude_holdout: bool = True
    require_opt_in: bool = False
    enabled: bool = True
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def commit_every(self) -> int:
        return int(self.options.get("commit_every", DEFAULT_COMMIT_EVERY[self.destination]))

    @property
    def max_remove_share(self) -> float:
        """A run that would remove more than this share of the delivered contacts (and more than
        MASS_REMOVAL_FLOOR of them) is refused unless mass removal is allowed for that run: an
        emptied segment is far more often a broken rule or a bad export than a real exodus."""
        return float(self.options.get("max_remove_share", DEFAULT_MAX_REMOVE_SHARE))

    def describe_target(self, sync_dir: Path | None = None) -> str:
        """A human description of where the members go; never contains a credential."""
        t = self.target
        if self.destination == "mailchimp":
            where = f"tag {t['tag']!r}" if "tag" in t else f"static segment {t['static_segment_id']}"
            return f"audience {t['audience_id']}, {where}"
        if self.destination in ("sendgrid", "unisender"):
            return f"list {t['list_id']}"
        folder = self.file_folder(sync_dir) if sync_dir is not None else Path(t.get("folder", self.name))
        return str(folder / f"{self.segment}.jsonl")

    def file_folder(self, sync_dir: Path) -> Path:
        return sync_dir / self.target.get("folder", self.name)

    def fingerprint(self, sync_dir: Path | None = None) -> str:
        """Identifies the target: when it changes (another list, folder, audience), the delivered
        state no longer describes it and the next run starts again with a full sync."""
        if self.destination == "file" and sync_dir is not None:
            target: dict[str, str] = {"path": str(self.file_folder(sync_dir).resolve() / self.segment)}
        else:
            target = dict(self.target)
        payload = json.dumps({"destination": self.destination, "target": target}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SyncSettings:
    """Where the config file is and where `file` destinations write, from the environment."""

    config_path: Path
    sync_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, duckdb_path: Path | None = None) -> SyncSettings:
        env = os.environ if env is None else env
        return cls(
            config_path=_config_path(env.get(SYNCS_ENV)),
            sync_dir=_sync_dir(env.get(SYNC_DIR_ENV), duckdb_path),
        )


def default_sync_dir(duckdb_path: Path | None) -> Path:
    """`<warehouse stem>_syncs/` beside the warehouse file (`crm_segments.duckdb` → `crm_segments_syncs/`,
    gitignored): each warehouse's `file` deliveries sit next to it and belong to it alone, so two
    warehouses in one folder (`/tmp/a.duckdb`, `/tmp/b.duckdb`) never write into each other's files."""
    warehouse = (duckdb_path or DEFAULT_DUCKDB_PATH).resolve()
    return warehouse.parent / f"{warehouse.stem}_syncs"


def _config_path(value: str | None) -> Path:
    if not value:
        return DEFAULT_SYNCS_PATH
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise SyncConfigError(f"{SYNCS_ENV}={value!r} is not a file (it should be a syncs YAML file)")
    return path


def _sync_dir(value: str | None, duckdb_path: Path | None) -> Path:
    if not value:
        return default_sync_dir(duckdb_path)
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise SyncConfigError(f"{SYNC_DIR_ENV}={value!r} is not a folder")
    return path


# --- Loading ------------------------------------------------------------------------------------


def load_syncs(path: Path) -> list[SyncDefinition]:
    """Every sync in the file, validated; disabled ones included (`enabled=False`)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SyncConfigError(f"{path}: sync configuration not found") from None
    except yaml.YAMLError as error:
        raise SyncConfigError(f"{path}: not valid YAML: {error}") from None
    if document is None:
        return []
    items = document.get("syncs") if isinstance(document, dict) else None
    if not isinstance(document, dict) or set(document) - {"syncs"} or not isinstance(items, list | None):
        raise SyncConfigError(f"{path}: expected a top-level 'syncs:' list and nothing else")
    syncs = [parse_sync(item, index) for index, item in enumerate(items or [])]
    _check_unique(syncs, path)
    return syncs


def parse_sync(item: Any, index: int = 0) -> SyncDefinition:
    if not isinstance(item, dict):
        raise SyncConfigError(f"syncs[{index}] is not a mapping")
    name = item.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SyncConfigError(
            f"syncs[{index}]: name {name!r} must be lower_snake_case (letters, digits, _; at most 63)"
        )

    def fail(problem: str) -> SyncConfigError:
        return SyncConfigError(f"sync {name!r}: {problem}")

    unknown = sorted(set(item) - _SYNC_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_SYNC_KEYS))})")
    segment = item.get("segment")
    if not isinstance(segment, str) or not NAME_PATTERN.match(segment):
        raise fail(f"segment {segment!r} must be a segment key from the catalogue")
    destination = item.get("destination")
    if destination not in _TARGET_KEYS:
        raise fail(f"destination {destination!r} must be one of {', '.join(_TARGET_KEYS)}")
    mode = item.get("mode", "mirror")
    if mode not in ("mirror", "upsert"):
        raise fail(f"mode {mode!r} must be mirror (add and remove) or upsert (add and update only)")
    flags = {}
    for key, default in (("exclude_holdout", True), ("require_opt_in", False), ("enabled", True)):
        value = item.get(key, default)
        if not isinstance(value, bool):
            raise fail(f"{key} must be true or false, got {value!r}")
        flags[key] = value
    description = item.get("description", "")
    if not isinstance(description, str):
        raise fail("description must be text")
    return SyncDefinition(
        name=name,
        segment=segment,
        destination=destination,
        target=_parse_target(destination, item.get("target"), fail),
        fields=_parse_fields(destination, item.get("fields"), fail),
        mode=mode,
        description=description,
        options=_parse_options(destination, item.get("options"), fail),
        **flags,
    )


def _parse_target(destination: str, target: Any, fail: Any) -> dict[str, str]:
    if target is None:
        target = {}
    if not isinstance(target, dict):
        raise fail("target must be a mapping")
    required, optional = _TARGET_KEYS[destination]
    unknown = sorted(set(target) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise fail(f"target key(s) {', '.join(unknown)} are not used by {destination} (allowed: {allowed})")
    missing = sorted(required - set(target))
    if missing:
        raise fail(f"target needs {', '.join(missing)} for {destination}")
    parsed: dict[str, str] = {}
    for key, value in target.items():
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise fail(f"target {key} must be a non-empty text or number, got {value!r}")
        parsed[key] = str(value).strip()
    if destination == "mailchimp" and len({"tag", "static_segment_id"} & set(parsed)) != 1:
        raise fail("a mailchimp target needs exactly one of tag or static_segment_id")
    if (
        destination == "mailchimp"
        and "static_segment_id" in parsed
        and not parsed["static_segment_id"].isdigit()
    ):
        raise fail(f"static_segment_id must be a number, got {parsed['static_segment_id']!r}")
    folder = parsed.get("folder")
    if folder is not None and (not _FOLDER_PATTERN.match(folder) or ".." in folder.split("/")):
        raise fail(
            f"target folder {folder!r} must be a relative path of plain names (letters, digits, _ . -)"
        )
    return parsed


def _parse_fields(destination: str, fields: Any, fail: Any) -> tuple[FieldMapping, ...]:
    if fields is None:
        return ()
    if not isinstance(fields, dict):
        raise fail("fields must map destination field names to warehouse columns (FNAME: first_name)")
    mappings = []
    seen: set[str] = set()
    for target_field, source in fields.items():
        if not isinstance(target_field, str) or not DESTINATION_FIELD_PATTERN.match(target_field):
            raise fail(f"field name {target_field!r} must be letters, digits and _ (at most 50)")
        if target_field.lower() == "email":
            raise fail("the email is always sent; do not map it as a field")
        if target_field.lower() in seen:
            raise fail(f"field {target_field!r} is mapped twice")
        seen.add(target_field.lower())
        if not isinstance(source, str) or not SOURCE_PATTERN.match(source):
            raise fail(f"field {target_field!r}: source {source!r} must be a column name or table.column")
        mappings.append(FieldMapping(target_field, source))
    return tuple(mappings)


def _parse_options(destination: str, options: Any, fail: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise fail("options must be a mapping")
    allowed = _OPTIONS[destination]
    parsed: dict[str, Any] = {}
    for key, value in options.items():
        kind = allowed.get(key)
        if kind is None:
            raise fail(f"option {key!r} is not used by {destination} (allowed: {', '.join(sorted(allowed))})")
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise fail(f"option {key} must be {'a number' if kind is not str else 'text'}, got {value!r}")
        if kind is not str and (value < 0 if key == "double_optin" else value <= 0):
            raise fail(f"option {key} must be positive, got {value!r}")
        if key == "max_remove_share" and value > 1:
            raise fail(
                f"option max_remove_share is a share of the delivered contacts (at most 1), got {value!r}"
            )
        choices = _OPTION_CHOICES.get(key)
        if choices is not None and value not in choices:
            raise fail(f"option {key} must be one of {', '.join(map(str, choices))}, got {value!r}")
        parsed[key] = value
    return parsed


def _check_unique(syncs: list[SyncDefinition], path: Path) -> None:
    names: set[str] = set()
    targets: dict[str, str] = {}
    for sync in syncs:
        if sync.name in names:
            raise SyncConfigError(f"{path}: sync name {sync.name!r} is used twice")
        names.add(sync.name)
        # Two mirror syncs on one target would undo each other's removals every night.
        where = sync.fingerprint(Path("/")) if sync.destination == "file" else sync.fingerprint()
        if where in targets:
            raise SyncConfigError(
                f"sync {sync.name!r}: delivers to the same target as sync {targets[where]!r} "
                f"({sync.destination} {sync.describe_target()}); give each sync its own tag, list or folder"
            )
        targets[where] = sync.name


def select_syncs(syncs: list[SyncDefinition], only: list[str] | None) -> list[SyncDefinition]:
    """The enabled syncs, or the named ones (enabled or not) when `only` is given."""
    if not only:
        return [sync for sync in syncs if sync.enabled]
    by_name = {sync.name: sync for sync in syncs}
    unknown = [name for name in only if name not in by_name]
    if unknown:
        raise SyncConfigError(
            f"no sync named {', '.join(map(repr, unknown))} "
            f"(configured: {', '.join(sorted(by_name)) or 'none'})"
        )
    return [by_name[name] for name in dict.fromkeys(only)]


# --- Credentials --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    base_url: str | None = None

    def __repr__(self) -> str:  # never shows the key, even in a debugger or a traceback's locals
        return f"Credentials(api_key='***', base_url={self.base_url!r})"


def credentials_for(destination: str, env: Mapping[str, str] | None = None) -> Credentials:
    """The platform's key and optional base URL from the environment; raises if the key is missing."""
    env = os.environ if env is None else env
    key_var = API_KEY_ENV[destination]
    api_key = (env.get(key_var) or "").strip()
    if not api_key:
        raise MissingCredentialsError(f"{destination}: {key_var} is not set; the sync cannot authenticate")
    base_url = (env.get(API_URL_ENV[destination]) or "").strip() or None
    return Credentials(api_key, base_url)


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every configured API key, so any text leaving a sync can be scrubbed of them."""
    env = os.environ if env is None else env
    return [value for var in API_KEY_ENV.values() if (value := (env.get(var) or "").strip())]
