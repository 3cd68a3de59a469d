"""RFC 9457 problem documents: one shape for every error of the native API."""

from __future__ import annotations

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
    await run_in_threadpool(
        store.write_tx, lambda tx: tx.audit(at, "anonymous", "auth.failed", host, digest(detail))
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DeconflictionError)
    async def _domain(request: Request, exc: DeconflictionError) -> JSONResponse:
        if isinstance(exc, Unauthenticated):
            await record_login_failure(request, exc.user_message)
        errs = exc.errors if isinstance(exc, InvalidInput) else None
        extra = None
        if isinstance(exc, TooManyRequests | ServiceUnavailable):
            extra = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return problem(exc.http_status, exc.code, exc.user_message, errs, extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = field_errors(exc.errors())
        return problem(422, "invalid-input", "; ".join(str(e) for e in errs), errs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith(
            ("/dss/", "/uss/", "/aux/", "/versions/")
        ):  # the F3548 API has its own error body
            return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)
        return problem(exc.status_code, "http", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return problem(500, "internal", "internal error; the service log has the details")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return."""
    return {
        s: {
            "model": Problem,
            "description": _TITLES[s],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }
