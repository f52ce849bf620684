"""The shared plumbing of the HTTP platform clients: one pooled httpx client, retries, the auth check.

A subclass passes its authentication (header or `httpx.Auth`) and limits to `__init__`, sends every
request through `_send`, and overrides only what differs by API: `_retryable` (which answers are
worth another attempt), `_detail` (the text of an error answer) and `_refusal` (the message of a
refused key).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from orchestration.syncs.destinations.base import DestinationAuthError, DestinationBase, scrub
from orchestration.syncs.destinations.retry import (
    Clock,
    RateLimitGate,
    Retrier,
    RetryPolicy,
    Sleep,
    default_retryable,
)

AUTH_REFUSED_STATUSES = (401, 403)


class HttpDestination(DestinationBase):
    """A destination behind an HTTP API; `_send` retries per the policy and raises on a refused key."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        max_connections: int,
        timeout: float,
        retry: RetryPolicy | None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        gate: bool = False,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url
        self.max_connections = max_connections
        self._sleep = sleep
        rate_gate = RateLimitGate(sleep, clock) if gate else None
        self._retrier = Retrier(retry, sleep=sleep, clock=clock, gate=rate_gate)
        # The pool limit is the hard guarantee for a platform's connection limit; threads match it.
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={**(headers or {}), "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, *, what: str | None = None, **kwargs: Any) -> httpx.Response:
        """The first answer that is not worth retrying; raises `RetriesExhausted` or, on 401/403 that
        `_retryable` does not claim, `DestinationAuthError`."""
        response = self._retrier.call(
            lambda: self._http.request(method, path, **kwargs),
            retryable=self._retryable,
            what=what or f"{method} {path}",
        )
        if response.status_code in AUTH_REFUSED_STATUSES:
            raise DestinationAuthError(self.name, self._refusal(response))
        return response

    def _retryable(self, response: httpx.Response) -> bool:
        return default_retryable(response)

    def _refusal(self, response: httpx.Response) -> str:
        return f"the API key was refused (HTTP {response.status_code}: {self._detail(response)})"

    def _detail(self, response: httpx.Response) -> str:
        return f"HTTP {response.status_code}"

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)
