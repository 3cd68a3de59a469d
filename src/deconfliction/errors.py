"""One error hierarchy for the whole service.

::

    DeconflictionError            code, http_status, user_message
    ├── InvalidInput              422, lists every field error (pointer + reason)
    ├── Unauthenticated           401
    ├── Forbidden                 403
    ├── NotFound                  404
    ├── VersionConflict           409, an update or delete named a stale version
    ├── NeedsAcknowledgement      409, a write held back until the caller says it knows why
    ├── TooManyRequests           429, a budget is spent for now (``retry_after_s``)
    └── ServiceUnavailable        503, the service cannot answer this now, its database out of
                                  reach or busy, say (``retry_after_s``; a write answered so
                                  was not made or, when the connection broke at the commit,
                                  its outcome is unknown)

The core raises these; ``api/`` turns them into RFC 9457 problem documents and ``cli/`` into a
one-line message with exit code 2. ``user_message`` never holds internal paths or stack traces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One reason a field was rejected. ``pointer`` is a JSON pointer (RFC 6901)."""

    pointer: str
    reason: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.reason}"


class DeconflictionError(Exception):
    code = "error"
    http_status = 500

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class InvalidInput(DeconflictionError):
    code = "invalid-input"
    http_status = 422

    def __init__(self, errors: list[FieldError], user_message: str | None = None) -> None:
        if not errors:
            raise ValueError("InvalidInput needs at least one field error")
        self.errors = errors
        super().__init__(user_message or "; ".join(str(e) for e in errors))


class Unauthenticated(DeconflictionError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(DeconflictionError):
    code = "forbidden"
    http_status = 403


class NotFound(DeconflictionError):
    code = "not-found"
    http_status = 404


class VersionConflict(DeconflictionError):
    code = "version-conflict"
    http_status = 409


class NeedsAcknowledgement(DeconflictionError):
    """A write the rules hold back until the caller says it knows why (409)."""

    code = "needs-acknowledgement"
    http_status = 409


class TooManyRequests(DeconflictionError):
    """A budget is spent for now; ``retry_after_s``: when the next request may succeed."""

    code = "too-many-requests"
    http_status = 429

    def __init__(self, user_message: str, retry_after_s: float) -> None:
        super().__init__(user_message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(DeconflictionError):
    """The service cannot answer this now: its database cannot be reached, or every
    connection to it is busy, say (503).

    Answered at once rather than after a long wait; ``retry_after_s`` is what the
    ``Retry-After`` header says (rounded up, at least 1). A write answered so was not
    acknowledged: it was not written, or (when the connection broke while committing) it may
    have been; a retry then finds it (409 "already exists" on a create, a stale version on a
    replace).
    """

    code = "unavailable"
    http_status = 503

    def __init__(self, user_message: str, retry_after_s: float = 5.0) -> None:
        super().__init__(user_message)
        self.retry_after_s = retry_after_s


def _pointer(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    prev: Any = None
    for i, p in enumerate(loc):
        if i == 0 and p in ("body", "query", "path", "header", "cookie"):
            if p != "body":
                parts.append(str(p))
            prev = p
            continue
        if prev == "footprint" and p in ("Polygon", "Circle"):
            prev = p
            continue  # the tag of the footprint union, not a field
        parts.append(str(p).replace("~", "~0").replace("/", "~1"))
        prev = p
    return "/" + "/".join(parts) if parts else ""


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's error list as FieldErrors with JSON pointers."""
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid"))
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        out.append(FieldError(_pointer(tuple(e.get("loc", ()))), msg))
    return out
