"""Shared fixtures: stores on every back end, an in-process API with real tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from deconfliction.api import create_app
from deconfliction.auth import (
    ADMIN_SCOPE,
    PARTY_ADMIN_SCOPE,
    AuthConfig,
    mint_token,
    public_pem,
)
from deconfliction.model import Party, SeparationPolicy
from deconfliction.store import SqliteStore, Store

StoreFactory = Callable[..., Store]


def _sqlite(tmp_path: Path) -> StoreFactory:
    def make(policy: SeparationPolicy | None = None) -> Store:
        return SqliteStore(tmp_path / "store.db", policy)

    return make


@pytest.fixture(params=["sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores of one back end (every test using it runs on each back end)."""
    opened: list[Store] = []
    base = {"sqlite": _sqlite}[request.param](tmp_path)

    def make(policy: SeparationPolicy | None = None) -> Store:
        s = base(policy)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    s = store_factory()
    for pid, name in (("FR", "France"), ("RU", "Russia"), ("UK", "United Kingdom")):
        s.put_party(Party(id=pid, name=name), actor="test")
    return s


@pytest.fixture(scope="session")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def auth(signing_key: ec.EllipticCurvePrivateKey) -> AuthConfig:
    return AuthConfig([public_pem(signing_key)], ["deconfliction"])


@pytest.fixture
def tokens(signing_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    out = {p: mint_token(signing_key, p) for p in ("FR", "RU", "UK", "XX")}
    for p in ("FR", "RU", "UK"):  # each party's own admin: makes its agreements
        out[f"{p}-admin"] = mint_token(signing_key, p, scopes=[PARTY_ADMIN_SCOPE])
    out["admin"] = mint_token(signing_key, "admin", scopes=[ADMIN_SCOPE])
    return out


class _Client:
    """A synchronous face over httpx.AsyncClient + ASGITransport (the app runs in-process)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                return await c.request(method, url, **kw)

        return anyio.run(go)

    def __getattr__(self, method: str) -> Callable[..., httpx.Response]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda url, **kw: self.request(method.upper(), url, **kw)


class Api:
    """A test client that acts as one party or another: ``api.get(url, "FR")``."""

    def __init__(self, client: _Client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def __getattr__(self, method: str) -> Callable[..., httpx.Response]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(url: str, who: str | None = None, **kw: Any) -> httpx.Response:
            headers = {**(self.as_(who) if who else {}), **kw.pop("headers", {})}
            return self.client.request(method.upper(), url, headers=headers, **kw)

        return call


@pytest.fixture
def api(store: Store, auth: AuthConfig, tokens: dict[str, str]) -> Api:
    return Api(_Client(create_app(store, auth)), tokens)
