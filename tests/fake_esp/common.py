"""Shared machinery of the fake email-platform servers.

Each fake is a real HTTP server on 127.0.0.1 (port 0, so tests never collide) served from a thread,
so the clients are tested through httpx, sockets, keep-alive and timeouts exactly as in production.
The fakes are strict: they answer in the provider's own error shapes and record everything a test
may want to assert (batch sizes, body sizes, concurrent requests, contract violations).

Scripted failures: `inject(...)` queues answers consumed by the next matching requests — an error
status with headers (429 + Retry-After, 503, …), a slow answer (`delay` with `passthrough=True`
sleeps, then serves the request normally, so a client timeout fires after the server applied it),
or extra headers added to a normal answer (`passthrough=True` + `headers`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = "application/json") -> Reply:
        return cls(status, json.dumps(payload).encode("utf-8"), {"Content-Type": content_type})


@dataclass
class Injected:
    """A scripted answer for the next request whose path contains `path_contains` (any path if None)."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    payload: Any = None
    delay: float = 0.0
    passthrough: bool = False
    path_contains: str | None = None

    def matches(self, request: Request) -> bool:
        return self.path_contains is None or self.path_contains in request.path


@dataclass
class RecordedRequest:
    method: str
    path: str
    body_bytes: int


class FakeServer(ThreadingHTTPServer):
    """Base of the fakes: threading, in-flight counting, injections, request log. Subclasses `route`."""

    daemon_threads = True
    # Above this many requests in flight the server answers `over_limit()` (None: no limit enforced).
    concurrency_limit: int | None = None

    def __init__(self, latency: float = 0.002) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        # A little processing time per request makes overlapping requests (and so concurrency bugs) real.
        self.latency = latency
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.concurrency_rejections = 0
        self.injected: deque[Injected] = deque()
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def inject(self, *items: Injected) -> None:
        with self.lock:
            self.injected.extend(items)

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def requests_to(self, method: str, path_contains: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    def route(self, request: Request) -> Reply:  # pragma: no cover - every fake overrides it
        raise NotImplementedError

    def over_limit(self) -> Reply:  # pragma: no cover - only fakes with a limit call it
        raise NotImplementedError

    def injected_reply(self, item: Injected) -> Reply:
        """How an injected error looks for this provider; subclasses give it their error shape."""
        return Reply.json(item.status, item.payload if item.payload is not None else {})

    # Called from the handler threads.
    def serve(self, request: Request) -> Reply:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            over = self.concurrency_limit is not None and self.in_flight > self.concurrency_limit
            if over:
                self.concurrency_rejections += 1
            self.requests.append(RecordedRequest(request.method, request.path, len(request.body)))
            item = next((i for i in self.injected if i.matches(request)), None)
            if item is not None:
                self.injected.remove(item)
        try:
            if self.latency:
                time.sleep(self.latency)
            if over:
                return self.over_limit()
            if item is None:
                return self.route(request)
            if item.delay:
                time.sleep(item.delay)
            reply = self.route(request) if item.passthrough else self.injected_reply(item)
            reply.headers.update(item.headers)
            return reply
        finally:
            with self.lock:
                self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs and httpx's pool use it
    server: FakeServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, Nagle + delayed ACK add ~40 ms per answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},  # lower-cased names
            body=body,
        )
        reply = self.server.serve(request)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body:
                self.wfile.write(reply.body)
        except OSError:
            # The client gave up (its timeout fired during a scripted slow answer): nothing to answer.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return None  # keep pytest output clean
