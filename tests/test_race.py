"""The F3548 key rule under a race, over real HTTP: 50 clients each see an empty volume and
write there with the empty key they saw; exactly one may win. 100 rounds, on SQLite and on
PostgreSQL with two API processes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deconfliction.auth import dev_private_key, mint_token
from helpers import free_port, serve

CLIENTS = 50
ROUNDS = 100
SC = "utm.strategic_coordination"


def _time(minutes: float) -> dict[str, str]:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"value": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"}


def _volume(k: int) -> dict[str, Any]:
    # each round in its own place: a 50 m circle on a 0.1 degree grid
    return {
        "volume": {
            "outline_circle": {
                "center": {"lat": 40.0 + (k // 40) * 0.1, "lng": 10.0 + (k % 40) * 0.1},
                "radius": {"value": 50, "units": "M"},
            },
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 100, "reference": "W84", "units": "M"},
        },
        "time_start": _time(5),
        "time_end": _time(30),
    }


@pytest.fixture(params=["sqlite", "postgresql-2-workers"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "data"
    dev_private_key(data)
    extra: list[str] = []
    if request.param != "sqlite":
        import psycopg

        base = request.getfixturevalue("pg_cluster")
        name = f"race_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        extra = ["--db", f"{base}/{name}", "--workers", "2"]
    port = free_port()
    proc = serve(data, port, ["--rate-limit", "100000", *extra])
    yield f"http://127.0.0.1:{port}/dss/v1", data
    proc.terminate()
    proc.wait(timeout=30)


def test_exactly_one_writer_wins_each_race(server: tuple[str, Path]) -> None:
    base, data = server
    key = dev_private_key(data)
    barrier = threading.Barrier(CLIENTS)
    outcomes: list[list[int]] = [[] for _ in range(ROUNDS)]
    lock = threading.Lock()
    errors: list[str] = []

    def client(n: int) -> None:
        token = mint_token(key, f"uss{n}", audience="deconfliction", scopes=[SC])
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as c:
            for k in range(ROUNDS):
                vol = _volume(k)
                try:
                    q = c.post(
                        "/operational_intent_references/query", json={"area_of_interest": vol}
                    )
                    seen = [r["ovn"] for r in q.json()["operational_intent_references"]]
                    barrier.wait(timeout=60)  # everyone has looked: now everyone writes
                    body = {
                        "extents": [vol],
                        "key": seen,
                        "state": "Accepted",
                        "uss_base_url": f"https://uss{n}.example",
                    }
                    r = c.put(f"/operational_intent_references/{uuid.uuid4()}", json=body)
                    with lock:
                        outcomes[k].append(r.status_code)
                    barrier.wait(timeout=60)  # the round is over for everyone
                except Exception as exc:
                    with lock:
                        errors.append(f"round {k}: {type(exc).__name__}: {exc}")
                    barrier.abort()
                    return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert errors == []
    for k, codes in enumerate(outcomes):
        assert sorted(codes) == [201] + [409] * (CLIENTS - 1), (k, sorted(codes))


def test_tracks_and_the_tactical_picture_span_every_process(server: tuple[str, Path]) -> None:
    """Tracks reported to any process are seen from every process (with several processes
    they are shared through the database), and the one tactical picture sees them all."""
    base, data = server
    root = base.removesuffix("/dss/v1")
    key = dev_private_key(data)
    admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=['deconfliction.admin'])}"}
    for p in ("FR", "RU"):
        assert (
            httpx.post(f"{root}/v1/parties", json={"id": p, "name": p}, headers=admin).status_code
            == 201
        )
    now = datetime.now(UTC).isoformat()
    for n in range(20):  # a new connection each time: the requests spread over the processes
        party = "FR" if n % 2 else "RU"
        s = {
            "id": f"T{n}",
            "class": "fixed-wing",
            "time": now,
            "lon": 30 + n * 0.01,
            "lat": 34.0,
            "alt_m": 5000,
            "gs_mps": 200,
            "track_deg": 90 if party == "FR" else 270,
            "vs_mps": 0,
        }
        h = {"Authorization": f"Bearer {mint_token(key, party)}"}
        assert httpx.post(f"{root}/v1/tracks", json={"states": [s]}, headers=h).status_code == 202
    fr = {"Authorization": f"Bearer {mint_token(key, 'FR')}"}
    for _ in range(6):
        mine = httpx.get(f"{root}/v1/tracks", headers=fr).json()["tracks"]
        assert len([t for t in mine if t["party"] == "FR"]) == 10
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alerts = httpx.get(f"{root}/v1/tactical", headers=fr).json()["alerts"]
        if alerts:
            break
        time.sleep(0.3)
    assert alerts and all(a["kind"] == "tactical" for a in alerts)
