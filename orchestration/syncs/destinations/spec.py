"""What a platform module declares about itself: a `DestinationSpec`.

Config validation (`orchestration.syncs.config`), credentials and the client factory
(`orchestration.syncs.factory`) read these specs through the registry
(`orchestration.syncs.destinations.registry`) and know nothing about any platform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.syncs.destinations.base import Destination
from orchestration.syncs.destinations.retry import RetryPolicy

if TYPE_CHECKING:
    from orchestration.syncs.config import SyncDefinition


@dataclass(frozen=True)
class OptionSpec:
    """One `options:` key: its type (int, float or str), allowed values, and an extra rule.

    `rule` returns the problem (completing "option <key> …, got <value>") or None.
    """

    kind: type
    choices: tuple[object, ...] = ()
    allow_zero: bool = False
    rule: Callable[[Any], str | None] | None = None

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value (ints accepted as floats) and what is wrong with it, if anything."""
        ok = isinstance(value, self.kind) and not isinstance(value, bool)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            return value, f"must be {'a number' if self.kind is not str else 'text'}"
        if self.kind is not str and (value < 0 if self.allow_zero else value <= 0):
            return value, "must be positive"
        if self.rule is not None and (problem := self.rule(value)) is not None:
            return value, problem
        if self.choices and value not in self.choices:
            return value, f"must be one of {', '.join(map(str, self.choices))}"
        return value, None


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    base_url: str | None = None

    def __repr__(self) -> str:  # never shows the key, even in a debugger or a traceback's locals
        return f"Credentials(api_key='***', base_url={self.base_url!r})"


@dataclass(frozen=True)
class BuildRequest:
    """Everything a platform needs to build its client for one validated sync."""

    sync: SyncDefinition
    sync_dir: Path
    credentials: Credentials | None
    retry: RetryPolicy | None
    # The sync's options meant for the client (retry and engine options taken out).
    options: Mapping[str, Any]

    @property
    def api_key(self) -> str:
        assert self.credentials is not None, "a platform with an API key always gets credentials"
        return self.credentials.api_key

    @property
    def base_url(self) -> str | None:
        return self.credentials.base_url if self.credentials is not None else None


@dataclass(frozen=True)
class DestinationSpec:
    """A platform: its target keys and rules, options, environment, defaults, text and client."""

    name: str
    build: Callable[[BuildRequest], Destination]
    # "audience 1, tag 'vip'": where the members go; `sync_dir` is None when not known.
    describe: Callable[[SyncDefinition, Path | None], str]
    default_commit_every: int
    required_target: frozenset[str] = frozenset()
    optional_target: frozenset[str] = frozenset()
    # Rules across the target's values (already non-empty text); returns the problem or None.
    check_target: Callable[[Mapping[str, str]], str | None] | None = None
    options: Mapping[str, OptionSpec] = field(default_factory=dict)
    api_key_env: str | None = None
    api_url_env: str | None = None
    default_retry: RetryPolicy | None = None
    # What identifies the target for the delivered state; default: the target mapping itself.
    fingerprint_target: Callable[[SyncDefinition, Path | None], Mapping[str, str]] | None = None

    @property
    def target_keys(self) -> frozenset[str]:
        return self.required_target | self.optional_target


# Options every platform takes: read by the engine (commit_every, max_remove_share).
ENGINE_OPTIONS: dict[str, OptionSpec] = {
    "commit_every": OptionSpec(int),
    "max_remove_share": OptionSpec(
        float,
        rule=lambda value: "is a share of the delivered contacts (at most 1)" if value > 1 else None,
    ),
}
# Options of every HTTP platform: the retry policy's fields and the request timeout.
RETRY_OPTIONS: dict[str, OptionSpec] = {
    "max_attempts": OptionSpec(int),
    "base_delay": OptionSpec(float),
    "max_delay": OptionSpec(float),
    "max_server_wait": OptionSpec(float),
}
HTTP_OPTIONS: dict[str, OptionSpec] = {"timeout": OptionSpec(float), **RETRY_OPTIONS}


def describe_list(sync: SyncDefinition, sync_dir: Path | None) -> str:
    """The target of a platform that delivers to one list (`list_id`)."""
    return f"list {sync.target['list_id']}"


def build_list_client(client: Callable[..., Destination]) -> Callable[[BuildRequest], Destination]:
    """`build` for a platform whose client takes (api key, list id, base URL, retry=, **options)."""

    def build(request: BuildRequest) -> Destination:
        target = request.sync.target["list_id"]
        return client(request.api_key, target, request.base_url, retry=request.retry, **request.options)

    return build
