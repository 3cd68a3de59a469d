"""Request bodies validated off the event loop.

FastAPI validates a declared body in the event loop, before a route's own code runs in a
worker thread. Checking a plan of thousands of vertices, or a batch of thousands of track
states, takes tens of milliseconds of CPU: done in the loop, it holds up every other request,
``/v1/health`` included. ``json_body(Model)`` reads the body (already in memory: the guard
bounded it) and validates it in a worker thread instead, with the same errors (422 naming each
field, 400 for a body that is not JSON), and documents it in OpenAPI as ``Model``. A large body
is validated in a worker process (``offload``): its parse is one long C call, which would hold
up every thread of this process.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from ..errors import DeconflictionError
from . import offload

M = TypeVar("M", bound=BaseModel)
#: Models documented through ``json_body``, for ``install``.
_MODELS: dict[str, type[BaseModel]] = {}


class NotJson(DeconflictionError):
    code = "not-json"
    http_status = 400


async def _raw(request: Request) -> bytes:
    return await request.body()


#: Most field errors brought back from a validation (a list of a million bad items would
#: otherwise bring back a million errors).
MAX_ERRORS = 20


def validate(model: type[M], raw: bytes) -> tuple[str, Any]:
    """``("ok", instance)``, ``("not-json", None)`` or ``("invalid", errors)``, errors reduced
    to what a refusal shows (where and why, not the offending input, which may be large)."""
    try:
        return "ok", model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(e.get("type") == "json_invalid" for e in errors):
            return "not-json", None
        return "invalid", [
            {"type": e["type"], "loc": tuple(e["loc"]), "msg": e["msg"]}
            for e in errors[:MAX_ERRORS]
        ]


def json_body(model: type[M]) -> Any:
    """A dependency giving the request body validated as ``model`` (in a worker thread, or a
    worker process when the body is large)."""
    _MODELS[model.__name__] = model

    async def parse(raw: bytes = Depends(_raw)) -> M:
        if not raw.strip():
            raise NotJson("a JSON body is required")
        if offload.is_heavy(raw):
            outcome, value = await offload.run(validate, model, raw)
        else:
            outcome, value = await run_in_threadpool(validate, model, raw)
        if outcome == "ok":
            return value  # type: ignore[no-any-return]
        if outcome == "not-json":
            raise NotJson("the body is not valid JSON")
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in value])

    return Depends(parse)


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body comes from ``json_body(model)``."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def install(app: FastAPI) -> None:
    """Add the models of ``json_body`` bodies to the OpenAPI document's schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _MODELS.items():
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for sub, body in schema.pop("$defs", {}).items():
                schemas.setdefault(sub, body)
            schemas.setdefault(name, schema)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
