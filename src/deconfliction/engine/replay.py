"""Replaying recorded track states through tactical detection, as the service would live.

At every cycle (default 1 s) from the first state to the last, each track's latest state is
extrapolated to the cycle's time (along its track on the ellipsoid, and in altitude), tracks
not reported for ``stale_s`` are dropped, and ``tactical.detect`` runs. Each conflicting pair is
one encounter: when it was first detected, and the closest approach predicted over all cycles
(its time, place and the horizontal and vertical distances then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ..geodesy import GEOD
from ..model import TrackState
from .tactical import CLASSES, Minima, Scene, detect


@dataclass
class Encounter:
    tracks: tuple[str, str]
    parties: tuple[str, str]
    first_detected: datetime
    cpa_time: datetime
    cpa_lon: float
    cpa_lat: float
    min_horizontal_m: float
    vertical_at_cpa_m: float
    lost: bool


def replay(
    states: Sequence[tuple[str, TrackState]],
    *,
    lookahead_s: float = 300.0,
    minima: Minima | None = None,
    cycle_s: float = 1.0,
    stale_s: float = 120.0,
) -> list[Encounter]:
    """Encounters between tracks of different parties, in order of first detection."""
    minima = minima or Minima()
    ordered = sorted(states, key=lambda ps: ps[1].time)
    if not ordered:
        return []
    parties = {p: k for k, p in enumerate(sorted({p for p, _ in ordered}))}
    start, end = ordered[0][1].time, ordered[-1][1].time
    latest: dict[tuple[str, str], TrackState] = {}
    found: dict[tuple[str, str], Encounter] = {}
    k = 0
    t = start
    while t <= end:
        while k < len(ordered) and ordered[k][1].time <= t:
            p, s = ordered[k]
            latest[(p, s.id)] = s
            k += 1
        live = [(key, s) for key, s in latest.items() if (t - s.time).total_seconds() <= stale_s]
        if len(live) >= 2:
            _cycle(t, live, parties, lookahead_s, minima, found)
        t += timedelta(seconds=cycle_s)
    return sorted(found.values(), key=lambda e: (e.first_detected, e.tracks))


def _cycle(
    t: datetime,
    live: list[tuple[tuple[str, str], TrackState]],
    parties: dict[str, int],
    lookahead_s: float,
    minima: Minima,
    found: dict[tuple[str, str], Encounter],
) -> None:
    dt = np.array([(t - s.time).total_seconds() for _, s in live])
    lon0 = np.array([s.lon for _, s in live])
    lat0 = np.array([s.lat for _, s in live])
    trk = np.array([s.track_deg for _, s in live])
    gs = np.array([s.gs_mps for _, s in live])
    vs = np.array([s.vs_mps for _, s in live])
    lon, lat, _ = GEOD.fwd(lon0, lat0, trk, gs * dt)
    scene = Scene(
        lon=np.asarray(lon, dtype=np.float64),
        lat=np.asarray(lat, dtype=np.float64),
        alt_m=np.array([s.alt_m for _, s in live]) + vs * dt,
        gs_mps=gs,
        track_deg=trk,
        vs_mps=vs,
        party=np.array([parties[key[0]] for key, _ in live], dtype=np.int64),
        cls=np.array([CLASSES.index(s.cls.value) for _, s in live], dtype=np.int64),
    )
    c = detect(scene, lookahead_s, minima)
    for n in range(len(c)):
        i, j = int(c.i[n]), int(c.j[n])
        (pa, ida), (pb, idb) = live[i][0], live[j][0]
        key = (ida, idb) if (pa, ida) < (pb, idb) else (idb, ida)
        enc = found.get(key)
        d = float(c.d_cpa_m[n])
        if enc is not None and d >= enc.min_horizontal_m:
            enc.lost = enc.lost or bool(c.lost_now[n])
            continue
        tc = float(c.t_cpa[n])
        la, lo = _ahead(scene, i, tc), _ahead(scene, j, tc)
        mid_lon, mid_lat, _ = GEOD.fwd(
            la[0],
            la[1],
            GEOD.inv(la[0], la[1], lo[0], lo[1])[0],
            0.5 * GEOD.inv(la[0], la[1], lo[0], lo[1])[2],
        )
        new = Encounter(
            tracks=key,
            parties=(pa, pb) if key == (ida, idb) else (pb, pa),
            first_detected=enc.first_detected if enc else t,
            cpa_time=t + timedelta(seconds=tc),
            cpa_lon=float(mid_lon),
            cpa_lat=float(mid_lat),
            min_horizontal_m=d,
            vertical_at_cpa_m=float(c.dz_cpa_m[n]),
            lost=(enc.lost if enc else False) or bool(c.lost_now[n]),
        )
        found[key] = new


def _ahead(scene: Scene, i: int, seconds: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(
        scene.lon[i], scene.lat[i], scene.track_deg[i], scene.gs_mps[i] * seconds
    )
    return float(lon), float(lat)
