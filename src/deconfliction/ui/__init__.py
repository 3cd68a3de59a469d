"""The map in the browser, and the API docs: static files served by the API (no build step,
no network).

``static/`` holds the page, its scripts and style, the third-party libraries vendored from npm
(``static/vendor/``: MapLibre GL JS, milsymbol, mgrs, Swagger UI, Redoc; see its README), the
basemap (Natural Earth, made by ``scripts/basemap.py``) and the label glyphs (made by
``scripts/glyphs.py``). ``install(app)`` serves them at ``/ui/``, and the API docs at ``/docs``
(Swagger UI) and ``/redoc`` from the same local files.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Everything the page loads comes from this service; no inline script, no frames. MapLibre's
#: CSP build runs its worker from a file of ours (worker-src 'self'), and sets element styles
#: from script (allowed: only style *elements and attributes* in HTML would need
#: 'unsafe-inline').
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; child-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

#: The API docs: the same, except that Swagger UI and Redoc put their styles inline and Redoc
#: runs its search index in a worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: API (Swagger UI)</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/vendor/swagger-ui-dist/swagger-ui.css"></head>
<body><div id="swagger-ui" data-spec="{spec}"></div>
<script src="/ui/vendor/swagger-ui-dist/swagger-ui-bundle.js"></script>
<script src="/ui/apidocs/swagger-init.js"></script></body></html>
"""

_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: API (Redoc)</title>
<link rel="icon" href="data:,"></head>
<body><div id="redoc" data-spec="{spec}"></div>
<script src="/ui/vendor/redoc/redoc.standalone.js"></script>
<script src="/ui/apidocs/redoc-init.js"></script></body></html>
"""


def static_dir() -> Path:
    return Path(str(resources.files("deconfliction.ui").joinpath("static")))


class SecurityHeaders:
    """Adds the page's security headers to every answer under ``/ui``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-cache"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _docs_page(template: str, app: FastAPI) -> HTMLResponse:
    body = template.format(title=html.escape(app.title), spec=html.escape(app.openapi_url or ""))
    return HTMLResponse(
        body,
        headers={
            "content-security-policy": DOCS_CSP,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
        },
    )


def install(app: FastAPI) -> None:
    app.mount("/ui", SecurityHeaders(StaticFiles(directory=static_dir(), html=True)), name="ui")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """The API, browsable and callable (Swagger UI, from local files)."""
        return _docs_page(_SWAGGER, app)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        """The API reference (Redoc, from local files)."""
        return _docs_page(_REDOC, app)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")
