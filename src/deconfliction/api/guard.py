"""What stands before every route: size and depth limits, a rate limit per caller, headers.

- **Who.** A request's bearer token is verified first (cheaply: verified tokens are
  remembered). A caller is its verified party; a request without a valid token is its address.
- **Size.** A body over ``max_body`` bytes (``max_tracks_body`` for track batches) is refused
  with 413 before it is read further, whether its ``Content-Length`` says so or it streams; a
  request without a valid token may send at most ``anonymous_body`` bytes (it will be refused
  anyway: it is not read further than that).
- **Depth.** JSON nested deeper than ``MAX_DEPTH`` is refused with 400 before parsing (a
  parser's recursion is not a place to find out); the count runs in a worker process for a
  large body (``offload``), so that it holds up no other request.
- **Rate.** Each caller has a token bucket: ``rate_per_s`` requests a second, bursts of
  ``burst``; beyond, 429 with ``Retry-After``. Junk tokens share their address's bucket. With
  several processes (``serve --workers N``) each allows ``1/N`` of the rate, so the whole
  service allows the rate, whichever process a request reaches.
- **Headers.** ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` on every
  answer of the API (the map's pages add their own policy, see ``ui``).

Errors are problem documents on ``/v1`` and ``{"message"}`` on the F3548 paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DeconflictionError
from . import offload

MAX_DEPTH = 32
F3548_PREFIXES = ("/dss/", "/uss/", "/aux/", "/versions/")


@dataclass
class GuardConfig:
    max_body: int = 1 << 20
    max_tracks_body: int = 16 << 20
    #: the most a request without a valid token may send
    anonymous_body: int = 64 << 10
    rate_per_s: float = 1000.0
    burst: float = 2000.0
    #: how many processes serve together (each allows 1/N of the rate)
    processes: int = 1
    #: seconds, for the rate limit (tests replace it)
    clock: Callable[[], float] = time.monotonic
    #: a body over this many bytes is heavy work (parsing, geometry): each caller has at most
    #: ``heavy_per_caller`` of them served at once in a process, the others wait their turn
    #: (before their bodies are read), so that no caller can take every core from the others
    heavy_body: int = 32 << 10
    heavy_per_caller: int = 1


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    rate_per_s: float
    burst: float
    clock: object = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """0 if the request may go, else the seconds to wait."""
        now = self.clock()  # type: ignore[operator]
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                if len(self._buckets) > 100_000:
                    self._buckets.clear()
                b = self._buckets[key] = _Bucket(self.burst, now)
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate_per_s)
            b.at = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return 0.0
            return (1.0 - b.tokens) / self.rate_per_s


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped); no parsing. Linear
    and vectorized: strings are blanked by one regular expression, then a running sum of
    brackets."""
    if not body:
        return 0
    arr = np.frombuffer(_STRING.sub(b'""', body), dtype=np.uint8)
    opens = ((arr == 0x5B) | (arr == 0x7B)).astype(np.int32)
    closes = ((arr == 0x5D) | (arr == 0x7D)).astype(np.int32)
    if not opens.any():
        return 0
    return int(np.cumsum(opens - closes).max())


def _shallow(body: bytes) -> bool:
    """A small body with no more brackets than ``MAX_DEPTH`` cannot nest deeper (most bodies:
    nothing more to count)."""
    small = len(body) <= offload.OFFLOAD_BYTES
    return small and body.count(b"[") + body.count(b"{") <= MAX_DEPTH


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        config: GuardConfig | None = None,
        auth_of: Callable[[], Any] | None = None,
        peers_of: Callable[[], Any] | None = None,
    ) -> None:
        self.app = app
        self.config = config or GuardConfig()
        per_process = max(1, self.config.processes)
        self.limiter = RateLimiter(
            self.config.rate_per_s / per_process,
            max(1.0, self.config.burst / per_process),
            clock=self.config.clock,
        )
        #: the service's AuthConfig (to know who calls before anything else)
        self.auth_of = auth_of
        #: the federation node, whose ``caller`` names a peer that signed a request's headers
        self.peers_of = peers_of
        #: per caller: heavy requests being served, and those waiting their turn
        self._heavy: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def _turn(self, caller: str) -> AsyncIterator[None]:
        """One of the caller's ``heavy_per_caller`` places (waiting for one if need be)."""
        sem, users = self._heavy.get(caller) or (asyncio.Semaphore(self.config.heavy_per_caller), 0)
        self._heavy[caller] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem, users = self._heavy[caller]
            if users <= 1:
                del self._heavy[caller]
            else:
                self._heavy[caller] = (sem, users - 1)

    def _caller(self, headers: dict[str, str], scope: Scope) -> tuple[str | None, float]:
        """(the verified caller's subject or None, seconds to wait). A token verified recently
        costs nothing; checking a new one counts against its address's bucket first, so a
        flood of junk tokens is limited like requests without one."""
        address = f"address:{(scope.get('client') or ('?',))[0]}"
        path: str = scope.get("path", "")
        federation = path.startswith("/federation/")
        node = self.peers_of() if federation and self.peers_of is not None else None
        if node is not None:
            wait = self.limiter.take(address)  # checking a signature costs as a new token does
            if wait > 0:
                return None, wait
            peer = node.caller(scope["method"], path, headers)
            if peer is not None:
                return f"peer:{peer}", self.limiter.take(f"peer:{peer}")
            return None, 0.0
        auth = self.auth_of() if self.auth_of is not None else None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if auth is None or scheme.lower() != "bearer" or not token:
            return None, self.limiter.take(address)
        known = auth.cached(token)
        if known is None:
            wait = self.limiter.take(address)
            if wait > 0:
                return None, wait
            try:
                known = auth.verify(token)
            except DeconflictionError:
                return None, 0.0
        return str(known.subject), self.limiter.take(f"party:{known.subject}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        who, wait = self._caller(headers, scope)
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _refuse(
                send, path, 429, "rate-limited", "too many requests", {"retry-after": retry}
            )
            return
        bulk = path == "/v1/tracks" or path.startswith("/v1/screening/sessions/")
        limit = self.config.max_tracks_body if bulk else self.config.max_body
        if who is None:
            limit = min(limit, self.config.anonymous_body)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, path, 413, "too-large", f"the body is over {limit} bytes")
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            heavy = (
                declared is None or not declared.isdigit() or int(declared) > self.config.heavy_body
            )
            if heavy:
                caller = who or f"address:{(scope.get('client') or ('?',))[0]}"
                async with self._turn(caller):
                    await self._with_body(scope, receive, send, path, headers, limit)
                return
            await self._with_body(scope, receive, send, path, headers, limit)
            return
        await self.app(scope, receive, _with_headers(send))

    async def _with_body(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        headers: dict[str, str],
        limit: int,
    ) -> None:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > limit:
                await _refuse(send, path, 413, "too-large", f"the body is over {limit} bytes")
                return
        body = b"".join(chunks)
        if "json" in headers.get("content-type", "json") and not _shallow(body):
            if offload.is_heavy(body):
                depth = await offload.run(json_depth, body)
            else:
                depth = json_depth(body)
            if depth > MAX_DEPTH:
                await _refuse(send, path, 400, "too-deep", f"JSON nested over {MAX_DEPTH} levels")
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, _with_headers(send))


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers", [])
            if any(k.lower() == b"cache-control" for k, _ in headers):
                message["headers"] = [*headers, _NOSNIFF]
            else:
                message["headers"] = [*headers, _NOSNIFF, _NO_STORE]
        await send(message)

    return wrapped


async def _refuse(
    send: Send, path: str, status: int, code: str, detail: str, extra: dict[str, str] | None = None
) -> None:
    if path.startswith(F3548_PREFIXES):
        body, media = json.dumps({"message": detail}).encode(), "application/json"
    else:
        titles = {
            400: "Bad request",
            403: "Forbidden",
            413: "Request too large",
            429: "Too many requests",
        }
        doc = {
            "type": f"urn:deconfliction:problem:{code}",
            "title": titles[status],
            "status": status,
            "detail": detail,
            "errors": [],
        }
        body, media = json.dumps(doc).encode(), "application/problem+json"
    headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if status in (400, 413):  # the rest of the body is not read: close rather than drain it
        headers.append((b"connection", b"close"))
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
