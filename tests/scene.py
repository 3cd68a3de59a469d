"""A running service with three parties, for the format tests that need a real socket.

France and Russia have an agreement: Russia releases its tracks in full and its records as
extents to France (France releases nothing). The United Kingdom has no agreement with anyone:
France must never see anything of it, whichever format asks.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from deconfliction.auth import ADMIN_SCOPE, PARTY_ADMIN_SCOPE, dev_private_key, mint_token
from helpers import free_port, serve

NOW = datetime.now(UTC).replace(microsecond=0)


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]],
    }


def vol(fp: dict[str, Any], lo: float, hi: float, t0_h: float, t1_h: float) -> dict[str, Any]:
    return {
        "footprint": fp,
        "alt_lower_m": lo,
        "alt_upper_m": hi,
        "time_start": (NOW + timedelta(hours=t0_h)).isoformat(),
        "time_end": (NOW + timedelta(hours=t1_h)).isoformat(),
    }


def state(tid: str, lon: float, lat: float, **kw: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "class": kw.pop("cls", "fixed-wing"),
        "time": datetime.now(UTC).isoformat(),
        "lon": lon,
        "lat": lat,
        "alt_m": kw.pop("alt_m", 6000.0),
        "gs_mps": 220.5,
        "track_deg": 95.0,
        "vs_mps": 0,
        **kw,
    }


@dataclass
class Scene:
    base: str
    tokens: dict[str, str]
    proc: subprocess.Popen[bytes]
    data: Path
    created: dict[str, Any] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.auth(who), timeout=30, **kw)

    def post(self, path: str, who: str, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=self.auth(who), timeout=60, **kw)

    def tracks(self) -> None:
        """Fresh states (tracks go stale after two minutes)."""
        for who, s in (
            ("FR", state("F1", 33.0, 34.0)),
            ("RU", state("R1", 33.4, 34.1, cls="rotary", alt_m=900.0)),
            ("UK", state("K1", 33.2, 34.05, cls="ship", alt_m=0.0)),
        ):
            r = self.post("/v1/tracks", who, json={"states": [s]})
            assert r.status_code == 202, r.text


def start(tmp_path: Path) -> Iterator[Scene]:
    data = tmp_path / "data"
    key = dev_private_key(data)
    port = free_port()
    proc = serve(data, port)
    tokens = {p: mint_token(key, p) for p in ("FR", "RU", "UK")}
    tokens |= {f"{p}-admin": mint_token(key, p, scopes=[PARTY_ADMIN_SCOPE]) for p in tokens}
    tokens["admin"] = mint_token(key, "admin", scopes=[ADMIN_SCOPE])
    sc = Scene(f"http://127.0.0.1:{port}", tokens, proc, data)
    try:
        for pid, name in (("FR", "France"), ("RU", "Russia"), ("UK", "United Kingdom")):
            r = sc.post("/v1/parties", "admin", json={"id": pid, "name": name})
            assert r.status_code == 201, r.text
        terms = {"releases": {"RU": {"track": "full", "default": "extent"}}, "reciprocity": False}
        r = httpx.put(f"{sc.base}/v1/agreements/FR", headers=sc.auth("RU-admin"), json=terms)
        assert r.status_code == 201, r.text
        v = r.json()["version"]
        r = sc.post(f"/v1/agreements/RU/versions/{v}/accept", "FR-admin")
        assert r.status_code == 200, r.text
        for who, body in (
            (
                "FR",
                {
                    "id": "FR-1",
                    "name": "Sortie",
                    "volumes": [vol(box(33, 34, 33.5, 34.5), 5000, 9000, -1, 2)],
                },
            ),
            (
                "RU",
                {
                    "id": "RU-1",
                    "name": "Orbit",
                    "volumes": [vol(box(33.2, 34.2, 33.6, 34.6), 6000, 8000, -1, 3)],
                },
            ),
            (
                "UK",
                {
                    "id": "UK-1",
                    "name": "Secret",
                    "volumes": [vol(box(33.1, 34.1, 33.3, 34.3), 5000, 9000, -1, 2)],
                },
            ),
        ):
            r = sc.post("/v1/intents", who, json=body)
            assert r.status_code == 201, r.text
            sc.created[body["id"]] = r.json()
        circle = {"type": "Circle", "center": [33.8, 34.8], "radius_m": 5000}
        r = sc.post(
            "/v1/areas",
            "FR",
            json={"id": "FR-A", "name": "Firing", "volumes": [vol(circle, 0, 3000, 0, 4)]},
        )
        assert r.status_code == 201, r.text
        sc.tracks()
        yield sc
    finally:
        proc.kill()
        proc.wait()
