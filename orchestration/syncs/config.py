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
from orchestration.syncs.destinations.registry import REGISTRY
from orchestration.syncs.destinations.spec import ENGINE_OPTIONS, Credentials, DestinationSpec

DEFAULT_SYNCS_PATH = PROJECT_DIR / "dbt_project" / "segments" / "syncs.yml"
SYNCS_ENV = "CRM_SEGMENTS_SYNCS"
SYNC_DIR_ENV = "CRM_SEGMENTS_SYNC_DIR"

Mode = Literal["mirror", "upsert"]
# A name registered in orchestration/syncs/destinations/registry.py.
DestinationKind = str

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A warehouse column (`city`), or a column of another marts table keyed by customer_id
# (`customer_clv.p_alive`).
SOURCE_PATTERN = re.compile(r"^(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$")
DESTINATION_FIELD_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")

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


def destination_spec(destination: object) -> DestinationSpec:
    """The registered spec of a destination; an unknown name is a SyncConfigError listing the known."""
    spec = REGISTRY.get(destination) if isinstance(destination, str) else None
    if spec is None:
        raise SyncConfigError(f"destination {destination!r} must be one of {', '.join(REGISTRY)}")
    return spec


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
    def spec(self) -> DestinationSpec:
        return destination_spec(self.destination)

    @property
    def commit_every(self) -> int:
        return int(self.options.get("commit_every", self.spec.default_commit_every))

    @property
    def max_remove_share(self) -> float:
        """A run that would remove more than this share of the delivered contacts (and more than
        MASS_REMOVAL_FLOOR of them) is refused unless mass removal is allowed for that run: an
        emptied segment is far more often a broken rule or a bad export than a real exodus."""
        return float(self.options.get("max_remove_share", DEFAULT_MAX_REMOVE_SHARE))

    def describe_target(self, sync_dir: Path | None = None) -> str:
        """A human description of where the members go; never contains a credential."""
        return self.spec.describe(self, sync_dir)

    def file_folder(self, sync_dir: Path) -> Path:
        return sync_dir / self.target.get("folder", self.name)

    def fingerprint(self, sync_dir: Path | None = None) -> str:
        """Identifies the target: when it changes (another list, folder, audience), the delivered
        state no longer describes it and the next run starts again with a full sync."""
        fingerprint_target = self.spec.fingerprint_target
        target = dict(fingerprint_target(self, sync_dir) if fingerprint_target else self.target)
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
    try:
        spec = destination_spec(destination)
    except SyncConfigError as error:
        raise fail(str(error)) from None
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
        target=_parse_target(spec, item.get("target"), fail),
        fields=_parse_fields(item.get("fields"), fail),
        mode=mode,
        description=description,
        options=_parse_options(spec, item.get("options"), fail),
        **flags,
    )


def _parse_target(spec: DestinationSpec, target: Any, fail: Any) -> dict[str, str]:
    if target is None:
        target = {}
    if not isinstance(target, dict):
        raise fail("target must be a mapping")
    unknown = sorted(set(target) - spec.target_keys)
    if unknown:
        allowed = ", ".join(sorted(spec.target_keys))
        raise fail(f"target key(s) {', '.join(unknown)} are not used by {spec.name} (allowed: {allowed})")
    missing = sorted(spec.required_target - set(target))
    if missing:
        raise fail(f"target needs {', '.join(missing)} for {spec.name}")
    parsed: dict[str, str] = {}
    for key, value in target.items():
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise fail(f"target {key} must be a non-empty text or number, got {value!r}")
        parsed[key] = str(value).strip()
    problem = spec.check_target(parsed) if spec.check_target is not None else None
    if problem is not None:
        raise fail(problem)
    return parsed


def _parse_fields(fields: Any, fail: Any) -> tuple[FieldMapping, ...]:
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


def _parse_options(spec: DestinationSpec, options: Any, fail: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise fail("options must be a mapping")
    allowed = {**ENGINE_OPTIONS, **spec.options}
    parsed: dict[str, Any] = {}
    for key, value in options.items():
        option = allowed.get(key)
        if option is None:
            raise fail(f"option {key!r} is not used by {spec.name} (allowed: {', '.join(sorted(allowed))})")
        value, problem = option.check(value)
        if problem is not None:
            raise fail(f"option {key} {problem}, got {value!r}")
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
        where = sync.fingerprint(Path("/"))
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


def credentials_for(destination: str, env: Mapping[str, str] | None = None) -> Credentials:
    """The platform's key and optional base URL from the environment; raises if the key is missing."""
    env = os.environ if env is None else env
    spec = destination_spec(destination)
    if spec.api_key_env is None:
        raise SyncConfigError(f"{destination}: needs no credentials")
    api_key = (env.get(spec.api_key_env) or "").strip()
    if not api_key:
        raise MissingCredentialsError(
            f"{destination}: {spec.api_key_env} is not set; the sync cannot authenticate"
        )
    base_url = (env.get(spec.api_url_env) or "").strip() if spec.api_url_env else ""
    return Credentials(api_key, base_url or None)


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every configured API key, so any text leaving a sync can be scrubbed of them."""
    env = os.environ if env is None else env
    variables = [spec.api_key_env for spec in REGISTRY.values() if spec.api_key_env]
    return [value for var in variables if (value := (env.get(var) or "").strip())]
