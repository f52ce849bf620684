"""Retry with exponential backoff and full jitter, honouring the providers' own wait instructions.

A small in-house helper rather than a library: `tenacity` is not installed, and `backoff` is only here
as a transitive dependency of dagster's GraphQL client (not pinned for our use) and cannot read a wait
time out of a response without the same amount of glue code as this module.

What is retried: HTTP 429 and 5xx answers (plus anything a destination's `retryable` predicate adds,
e.g. Mailchimp's bare 403 throttling), timeouts and connection errors. What decides the wait:

1. `Retry-After` (delta seconds or an HTTP date), when the answer has one;
2. SendGrid's `X-RateLimit-Reset` (epoch seconds), when a 429 has one;
3. otherwise full jitter: uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1))).

A server asking for a wait longer than `max_server_wait` ends the retries at once: the nightly run
should report the rows as undelivered (the next run re-sends them) rather than sleep for an hour.
Retrying a POST whose answer was lost is safe because every destination operation is idempotent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry bounds; each destination takes one so tests can shrink the delays to milliseconds."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_server_wait: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_server_wait < 0:
            raise ValueError("retry delays must not be negative")


class RetriesExhausted(Exception):
    """No usable answer after the allowed attempts; `describe()` says why, for the run log."""

    def __init__(self, attempts: int, last: httpx.Response | Exception, reason: str = "") -> None:
        self.attempts = attempts
        self.last = last
        self.reason = reason
        super().__init__(self.describe())

    def describe(self) -> str:
        if isinstance(self.last, httpx.Response):
            what = f"HTTP {self.last.status_code}"
        else:
            what = type(self.last).__name__
        suffix = f", {self.reason}" if self.reason else ""
        return f"{self.attempts} attempt(s), last: {what}{suffix}"


def default_retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def retry_after_seconds(value: str, now: float) -> float | None:
    """Parse `Retry-After`: delta seconds ("120") or an HTTP date; None when unparseable."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def server_requested_wait(response: httpx.Response, now: float) -> float | None:
    """The wait the provider asked for on this answer, in seconds, or None if it did not say."""
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        parsed = retry_after_seconds(retry_after, now)
        if parsed is not None:
            return parsed
    reset = response.headers.get("X-RateLimit-Reset")
    # SendGrid sends the window's reset on every answer; it only says "wait" on a 429, not on a 5xx.
    if reset is not None and response.status_code == 429:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


class RateLimitGate:
    """Pauses new requests once a provider reports its quota used up (SendGrid's X-RateLimit-*).

    Waiting before the request is cheaper than collecting a 429 and retrying it, and it keeps the
    retry budget for real failures. Shared by the threads of one destination.
    """

    def __init__(self, sleep: Sleep, clock: Clock) -> None:
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def observe(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is None or reset is None:
            return
        try:
            exhausted = int(remaining) <= 0
            reset_at = float(reset)
        except ValueError:
            return
        if exhausted:
            with self._lock:
                self._blocked_until = max(self._blocked_until, reset_at)

    def wait(self) -> None:
        with self._lock:
            delay = self._blocked_until - self._clock()
        if delay > 0:
            log.info("rate limit used up; waiting %.1fs for the window to reset", delay)
            self._sleep(delay)


class Retrier:
    """Sends a request through `call`, retrying per the policy. One per destination; thread-safe."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        gate: RateLimitGate | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self._rng = rng or random.Random()
        self._gate = gate

    def backoff(self, attempt: int) -> float:
        """Full jitter: spreads retries of parallel workers so they do not hit the provider in step."""
        cap = min(self.policy.max_delay, self.policy.base_delay * (2 ** (attempt - 1)))
        return self._rng.uniform(0.0, cap)

    def call(
        self,
        send: Callable[[], httpx.Response],
        *,
        retryable: Callable[[httpx.Response], bool] = default_retryable,
        what: str = "request",
    ) -> httpx.Response:
        """Return the first non-retryable answer; raise `RetriesExhausted` when the budget is spent."""
        last: httpx.Response | Exception | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            if self._gate is not None:
                self._gate.wait()
            try:
                response = send()
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = exc
                delay = self.backoff(attempt)
            else:
                if self._gate is not None:
                    self._gate.observe(response)
                if not retryable(response):
                    return response
                last = response
                requested = server_requested_wait(response, self.clock())
                if requested is not None and requested > self.policy.max_server_wait:
                    raise RetriesExhausted(
                        attempt, response, f"server asked to wait {requested:.0f}s, over the limit"
                    )
                delay = requested if requested is not None else self.backoff(attempt)
            if attempt == self.policy.max_attempts:
                break
            log.info("%s failed (%s); retry %d in %.2fs", what, _brief(last), attempt, delay)
            self.sleep(delay)
        assert last is not None
        raise RetriesExhausted(self.policy.max_attempts, last)


def _brief(last: httpx.Response | Exception | None) -> str:
    if isinstance(last, httpx.Response):
        return f"HTTP {last.status_code}"
    return type(last).__name__
