"""RFC 9457 problem documents: one shape for every error of the native API."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..audit import digest
from ..errors import (
    DeconflictionError,
    FieldError,
    InvalidInput,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
    field_errors,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
#: Paths of the F3548 API, whose errors are ``{"message": ...}`` (the standard's body).
F3548_PREFIXES = ("/dss/", "/uss/", "/aux/", "/versions/")


class ProblemFieldError(BaseModel):
    pointer: str
    reason: str


class Problem(BaseModel):
    """An error (RFC 9457). ``errors`` lists every rejected field with a JSON pointer."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldError] = []


def problem(
    status: int,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:deconfliction:problem:{code}",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=[ProblemFieldError(pointer=e.pointer, reason=e.reason) for e in errors or []],
    )
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        body.model_dump(), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


#: At most one audit entry a second for failed logins from one address (a flood of bad tokens
#: must not become a flood of audit entries).
_FAILURE_GAP_S = 1.0


async def record_login_failure(request: Request, reason: str) -> None:
    """An audit entry for a refused token (who tried from where, and why)."""
    store = getattr(request.app.state, "store", None)
    if store is None:
        return
    host = request.client.host if request.client else "?"
    seen: dict[str, float] = request.app.state.__dict__.setdefault("_login_failures", {})
    now = time.monotonic()
    if now - seen.get(host, -1e9) < _FAILURE_GAP_S:
        return
    seen[host] = now
    at = datetime.now(UTC)
    detail = {"path": request.url.path, "reason": reason[:200]}
    try:
        await run_in_threadpool(
            store.write_tx,
            lambda tx: tx.audit(at, "anonymous", "auth.failed", host, digest(detail)),
        )
    except ServiceUnavailable:  # the refusal stands; only its audit entry is lost
        log.warning("refused token from %s not audited: the database is out of reach", host)


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


def unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
    """503 with ``Retry-After``: a problem document on ``/v1``, ``{"message"}`` on F3548."""
    headers = {"Retry-After": retry_after(exc.retry_after_s)}
    if request.url.path.startswith(F3548_PREFIXES):
        return JSONResponse({"message": exc.user_message}, status_code=503, headers=headers)
    return problem(503, exc.code, exc.user_message, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DeconflictionError)
    async def _domain(request: Request, exc: DeconflictionError) -> JSONResponse:
        if isinstance(exc, ServiceUnavailable):
            return unavailable(request, exc)
        if isinstance(exc, Unauthenticated):
            await record_login_failure(request, exc.user_message)
        errs = exc.errors if isinstance(exc, InvalidInput) else None
        extra = None
        if isinstance(exc, TooManyRequests):
            extra = {"Retry-After": retry_after(exc.retry_after_s)}
        return problem(exc.http_status, exc.code, exc.user_message, errs, extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = field_errors(exc.errors())
        return problem(422, "invalid-input", "; ".join(str(e) for e in errs), errs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith(F3548_PREFIXES):  # the F3548 API has its own error body
            return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)
        return problem(exc.status_code, "http", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        detail = "internal error; the service log has the details"
        if request.url.path.startswith(F3548_PREFIXES):
            return JSONResponse({"message": detail}, status_code=500)
        return problem(500, "internal", detail)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return (503, the database out of
    reach, can come from every route that uses it, and is always listed)."""
    statuses = (*statuses, 503) if 503 not in statuses else statuses
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        out[s] = {
            "model": Problem,
            "description": _TITLES[s],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if s == 503:
            out[s]["headers"] = RETRY_AFTER_HEADER
    return out


#: The ``Retry-After`` header of a 503, as OpenAPI describes a response header.
RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
