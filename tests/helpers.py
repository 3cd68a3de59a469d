"""Small builders shared by the tests: footprints, volumes, engine records, drafts.

Import as ``from helpers import box, circle, volume, record`` (pytest puts ``tests/`` on the path).
Times are given in seconds after ``T0`` (or as datetimes); altitudes in metres.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pyproj import Geod

from deconfliction.engine import Record
from deconfliction.model import (
    AreaDraft,
    CircleFootprint,
    IntentDraft,
    PolygonFootprint,
    RecordKind,
    Volume4D,
)

# one way to pick a free port, shared with the HA cluster script (which runs on its own too)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from hacluster import free_port as free_port

#: An independent WGS84 ellipsoid, for expected values (the library keeps its own).
GEOD = Geod(ellps="WGS84")
#: The origin of test times.
T0 = datetime(2030, 1, 1, tzinfo=UTC)

INTENT = RecordKind.INTENT
AREA = RecordKind.AREA

Footprint = PolygonFootprint | CircleFootprint
Time = float | datetime


def polygon(*points: tuple[float, float]) -> PolygonFootprint:
    """A polygon from its vertices (lon, lat); the ring is closed for you."""
    ring = [[float(lon), float(lat)] for lon, lat in points]
    if ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    return PolygonFootprint.model_validate({"type": "Polygon", "coordinates": [ring]})


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> PolygonFootprint:
    """The lon/lat box from (lon0, lat0) to (lon1, lat1); lon0 > lon1 crosses the antimeridian."""
    return polygon((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1))


def circle(lon: float, lat: float, r: float) -> CircleFootprint:
    """A geodesic circle of radius ``r`` metres."""
    return CircleFootprint.model_validate({"type": "Circle", "center": [lon, lat], "radius_m": r})


def at(t: Time) -> datetime:
    """A time: seconds after T0, or a datetime as is."""
    return t if isinstance(t, datetime) else T0 + timedelta(seconds=t)


def volume(
    fp: Footprint, alt: tuple[float, float] = (0.0, 100.0), t: tuple[Time, Time] = (0, 3600)
) -> Volume4D:
    return Volume4D(
        footprint=fp,
        alt_lower_m=alt[0],
        alt_upper_m=alt[1],
        time_start=at(t[0]),
        time_end=at(t[1]),
    )


def record(rid: str, owner: str, *volumes: Volume4D, kind: RecordKind = INTENT) -> Record:
    """An engine record (what ``check_pair`` and ``conflicts_among`` take)."""
    return Record(kind, rid, owner, list(volumes))


def draft(kind: RecordKind, volumes: Sequence[Volume4D]) -> IntentDraft | AreaDraft:
    """What a store's ``create`` takes for a record of this kind."""
    if kind is AREA:
        return AreaDraft(volumes=list(volumes))
    return IntentDraft(volumes=list(volumes))


def geodesic_m(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Geodesic distance on WGS84 (pyproj, independent of the library)."""
    return float(GEOD.inv(lon0, lat0, lon1, lat1)[2])


def meridian_m(lat0: float, lat1: float, lon: float = 0.0) -> float:
    """Length of the meridian arc between two latitudes."""
    return geodesic_m(lon, lat0, lon, lat1)


def agree(api: Any, a: str, b: str, terms: dict[str, Any]) -> dict[str, Any]:
    """Make ``terms`` the agreement between parties ``a`` and ``b``: a's admin proposes it,
    b's admin accepts it."""
    r = api.put(f"/v1/agreements/{b}", f"{a}-admin", json=terms)
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    done = api.post(f"/v1/agreements/{a}/versions/{version}/accept", f"{b}-admin")
    assert done.status_code == 200, done.text
    out: dict[str, Any] = done.json()
    return out


def serve(data: Path, port: int, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    """``deconfliction serve`` on a loopback port, in its own process group (so that SIGKILL
    can take every worker at once), once it answers."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconfliction",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            *(extra or []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")
