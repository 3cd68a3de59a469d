"""RFC 9457 problem documents: one shape for every error of the native API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DeconflictionError, FieldError, InvalidInput, field_errors

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
    500: "Internal error",
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
    status: int, code: str, detail: str, errors: list[FieldError] | None = None
) -> JSONResponse:
    body = Problem(
        type=f"urn:deconfliction:problem:{code}",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=[ProblemFieldError(pointer=e.pointer, reason=e.reason) for e in errors or []],
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        body.model_dump(), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DeconflictionError)
    async def _domain(_: Request, exc: DeconflictionError) -> JSONResponse:
        errs = exc.errors if isinstance(exc, InvalidInput) else None
        return problem(exc.http_status, exc.code, exc.user_message, errs)

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
