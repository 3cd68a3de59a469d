"""The routes served ahead of FastAPI's routing (api/direct.py) answer as FastAPI does.

The same script of requests (successes, refusals of every kind, unknown paths and methods, a
route that fails) goes to the app as it runs and to the same app with FastAPI routing every
request; every answer must be the same: status, headers, and the body (exactly where it holds
no OVN or time; its shape where it does).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from deconfliction import dss, exchange
from deconfliction.api import create_app
from deconfliction.api.direct import DirectRoutes
from deconfliction.auth import AuthConfig, mint_token, public_pem
from deconfliction.dss.scd import Scd
from deconfliction.errors import NotFound, ServiceUnavailable
from deconfliction.store import SqliteStore
from test_dss import circle, oir

SC = "utm.strategic_coordination"
OIR = "/dss/v1/operational_intent_references"


def _apps(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> tuple[Any, Any]:
    out = []
    for name in ("direct", "routed"):
        store = SqliteStore(tmp_path / f"{name}.db")
        exchange.install(store.hooks)
        dss.install(store.hooks)
        app = create_app(store, AuthConfig([public_pem(key)], ["deconfliction"]))
        if name == "routed":
            app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, DirectRoutes)]
        out.append(app)
    assert any(isinstance(r, DirectRoutes) for r in out[0].router.routes)
    return out[0], out[1]


def _shape(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_shape(v) for v in doc]
    return type(doc).__name__


def test_direct_routes_answer_as_fastapi_does(
    tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio
    import httpx

    direct, routed = _apps(tmp_path, signing_key)
    sc = mint_token(signing_key, "uss1", scopes=[SC])
    other = mint_token(signing_key, "uss2", scopes=[SC])
    cp = mint_token(signing_key, "uss1", scopes=["utm.constraint_processing"])
    party = mint_token(signing_key, "FR")
    oid, oid2 = str(uuid.uuid4()), str(uuid.uuid4())
    query = {"area_of_interest": circle(10, 10, 100)}
    # (method, path, token, body); "{ovn}" is the OVN this app gave the first intent
    script: list[tuple[str, str, str | None, Any]] = [
        ("GET", "/v1/health", None, None),
        ("GET", "/v1/health", party, None),
        ("HEAD", "/v1/health", None, None),
        ("POST", "/v1/health", None, None),
        ("GET", "/v1/health/", None, None),
        ("POST", f"{OIR}/query", None, query),
        ("POST", f"{OIR}/query", "junk", query),
        ("POST", f"{OIR}/query", cp, query),
        ("POST", f"{OIR}/query", sc, b"{not json"),
        ("POST", f"{OIR}/query", sc, b"[1, 2]"),
        ("POST", f"{OIR}/query", sc, b'{"area_of_interest": "\\u0000"}'),
        ("POST", f"{OIR}/query", sc, b""),
        ("POST", f"{OIR}/query", sc, query),
        ("PUT", f"{OIR}/{oid}", sc, oir(circle(10, 10, 100))),
        ("PUT", f"{OIR}/{oid2}", other, oir(circle(10, 10, 100))),
        ("POST", f"{OIR}/query", other, query),
        ("PUT", f"{OIR}/not-a-uuid", sc, oir(circle(10, 10, 100))),
        ("PUT", f"{OIR}/{oid}/", sc, oir(circle(10, 10, 100))),
        ("PUT", f"{OIR}/{oid}", sc, {"extents": []}),
        ("GET", f"{OIR}/{oid}", other, None),
        ("GET", f"{OIR}/{uuid.uuid4()}", sc, None),
        ("GET", f"{OIR}/query", sc, None),
        ("PATCH", f"{OIR}/{oid}", sc, None),
        ("DELETE", f"{OIR}/{oid}", sc, None),
        ("GET", "/dss/v1/nowhere", sc, None),
        ("GET", "/dss/v1", sc, None),
        ("GET", f"{OIR}/%00", sc, None),
        ("GET", f"{OIR}/{'x' * 300}", sc, None),
        ("DELETE", f"{OIR}/{oid}/wrong", sc, None),
        ("DELETE", f"{OIR}/{oid}/{{ovn}}", other, None),
        ("DELETE", f"{OIR}/{oid}/{{ovn}}", sc, None),
        ("GET", "/uss/v1/operational_intents/x", sc, None),
        ("GET", "/versions/x", sc, None),
        ("GET", "/aux/v1/pool", sc, None),
        ("POST", "/dss/v1/reports", sc, {"note": "é"}),
        ("POST", f"{OIR}/query", sc, query),  # made to fail below: an unexpected error
        ("POST", f"{OIR}/query", sc, query),  # a domain error the route does not catch
        ("POST", f"{OIR}/query", sc, query),  # the database out of reach
        ("GET", "/v1/me", party, None),
    ]
    failures = {
        len(script) - 4: RuntimeError("boom"),
        len(script) - 3: NotFound("nothing here"),
        len(script) - 2: ServiceUnavailable("the database is out of reach"),
    }
    ovns: dict[int, str] = {}
    seen: set[int] = set()

    async def send(app: Any, method: str, path: str, token: str | None, body: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) else None
        payload = None if isinstance(body, bytes) else body
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.request(method, path, headers=headers, json=payload, content=content)

    for i, (method, path, token, body) in enumerate(script):
        answers = []
        for app in (direct, routed):
            if i in failures:
                exc = failures[i]

                def fail(*_: Any, _exc: Exception = exc) -> Any:
                    raise _exc

                monkeypatch.setattr(Scd, "query", fail)
            p = path.replace("{ovn}", ovns.get(id(app), "none"))
            r = anyio.run(send, app, method, p, token, body)
            monkeypatch.undo()
            if r.status_code == 201 and method == "PUT" and token == sc:
                ovns[id(app)] = r.json()["operational_intent_reference"]["ovn"]
            answers.append(r)
        a, b = answers
        what = f"{method} {path}"
        seen.add(a.status_code)
        assert a.status_code == b.status_code, (what, a.text, b.text)
        ha = [(k, v) for k, v in a.headers.multi_items() if k != "content-length"]
        hb = [(k, v) for k, v in b.headers.multi_items() if k != "content-length"]
        assert ha == hb, what
        if a.status_code in (200, 201) and "json" in a.headers.get("content-type", ""):
            assert _shape(json.loads(a.content)) == _shape(json.loads(b.content)), what
        else:
            assert a.content == b.content, what
    # /v1/health answers what FastAPI makes of its model
    from fastapi import FastAPI

    from deconfliction import __version__
    from deconfliction.api.app import Health

    plain = FastAPI()

    @plain.get("/v1/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok", version=__version__)

    mine = anyio.run(send, direct, "GET", "/v1/health", None, None)
    model = anyio.run(send, plain, "GET", "/v1/health", None, None)
    assert (mine.status_code, mine.content) == (model.status_code, model.content)
    assert mine.headers["content-type"] == model.headers["content-type"]
    # every kind of answer came up
    assert len(ovns) == 2
    assert seen >= {200, 201, 400, 401, 403, 404, 405, 409, 500, 503}, seen
