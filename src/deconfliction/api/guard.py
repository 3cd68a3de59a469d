"""What stands before every route: size and depth limits, a rate limit per caller, headers.

- **Size.** A body over ``max_body`` bytes (``max_tracks_body`` for track batches) is refused
  with 413 before it is read further, whether its ``Content-Length`` says so or it streams.
- **Depth.** JSON nested deeper than ``MAX_DEPTH`` is refused with 400 before parsing (a
  parser's recursion is not a place to find out).
- **Rate.** Each caller (its bearer token, or its address without one) has a token bucket:
  ``rate_per_s`` requests a second, bursts of ``burst``; beyond, 429 with ``Retry-After``.
- **Headers.** ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` on every
  answer of the API (the map's pages add their own policy, see ``ui``).

Errors are problem documents on ``/v1`` and ``{"message"}`` on the F3548 paths.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 32
F3548_PREFIXES = ("/dss/", "/uss/", "/aux/", "/versions/")


@dataclass
class GuardConfig:
    max_body: int = 1 << 20
    max_tracks_body: int = 16 << 20
    rate_per_s: float = 1000.0
    burst: float = 2000.0


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


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped); no parsing."""
    depth = best = 0
    in_str = esc = False
    for ch in body:
        if in_str:
            if esc:
                esc = False
            elif ch == 0x5C:  # backslash
                esc = True
            elif ch == 0x22:  # quote
                in_str = False
        elif ch == 0x22:
            in_str = True
        elif ch in (0x5B, 0x7B):  # [ {
            depth += 1
            best = max(best, depth)
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return best


class Guard:
    def __init__(self, app: ASGIApp, config: GuardConfig | None = None) -> None:
        self.app = app
        self.config = config or GuardConfig()
        self.limiter = RateLimiter(self.config.rate_per_s, self.config.burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        caller = headers.get("authorization") or (scope.get("client") or ("?",))[0]
        wait = self.limiter.take(hashlib.sha256(caller.encode()).hexdigest())
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _refuse(
                send, path, 429, "rate-limited", "too many requests", {"retry-after": retry}
            )
            return
        bulk = path == "/v1/tracks" or path.startswith("/v1/screening/sessions/")
        limit = self.config.max_tracks_body if bulk else self.config.max_body
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, path, 413, "too-large", f"the body is over {limit} bytes")
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = b""
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > limit:
                    await _refuse(send, path, 413, "too-large", f"the body is over {limit} bytes")
                    return
            if "json" in headers.get("content-type", "json") and json_depth(body) > MAX_DEPTH:
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
            return
        await self.app(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(b"x-content-type-options", b"nosniff")]
            if b"cache-control" not in names:
                extra.append((b"cache-control", b"no-store"))
            message["headers"] = [*message.get("headers", []), *extra]
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
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
