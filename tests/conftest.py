"""Shared fixtures: stores on every back end, an in-process API with real tokens."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from deconfliction import dss, exchange
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
from helpers import free_port

StoreFactory = Callable[..., Store]


def _sqlite(tmp_path: Path) -> StoreFactory:
    def make(policy: SeparationPolicy | None = None) -> Store:
        return SqliteStore(tmp_path / "store.db", policy)

    return make


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a loopback port, for this test session (each xdist
    worker has its own). Skipped without PostgreSQL, except in CI where it must be there."""
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError(
                "PostgreSQL (initdb, pg_ctl) is needed in CI: apt-get install postgresql"
            )
        pytest.skip("PostgreSQL is not installed here")
    root = Path(tempfile.mkdtemp(prefix="deconfliction-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        root.chmod(0o755)
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _postgresql(request: pytest.FixtureRequest) -> StoreFactory:
    import psycopg

    from deconfliction.store.postgres import PostgresStore

    base = request.getfixturevalue("pg_cluster")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    made: list[Store] = []

    def make(policy: SeparationPolicy | None = None) -> Store:
        if made:  # a second store on the same database (a restart)
            return PostgresStore(f"{base}/{name}", policy, pool_size=8)
        s = PostgresStore(f"{base}/{name}", policy, pool_size=8)
        made.append(s)
        return s

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores of one back end (every test using it runs on each back end)."""
    opened: list[Store] = []
    base = _sqlite(tmp_path) if request.param == "sqlite" else _postgresql(request)

    def make(policy: SeparationPolicy | None = None) -> Store:
        s = base(policy)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """A store as the service runs it (the release rule and the DSS plugged in), with three
    parties."""
    s = store_factory()
    exchange.install(s.hooks)
    dss.install(s.hooks)
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
