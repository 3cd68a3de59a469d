"""Demo traffic: a few French and Russian aircraft and ships reporting every second.

Each flies a circle (an orbit, a patrol) at its own speed and height, so the map always has
something moving; two fighter orbits cross at the same height every few minutes, which raises
a tactical alert for both sides and clears it afterwards. Only with ``serve --demo``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..geodesy import GEOD
from ..model import TrackState


@dataclass(frozen=True)
class Orbit:
    party: str
    id: str
    cls: str
    lon: float
    lat: float
    radius_m: float
    period_s: float
    alt_m: float
    phase: float = 0.0
    clockwise: bool = False

    def state(self, t: float) -> TrackState:
        turn = (2 * math.pi * t / self.period_s + self.phase) * (-1 if self.clockwise else 1)
        az = math.degrees(turn) % 360.0
        lon, lat, back = GEOD.fwd(self.lon, self.lat, az, self.radius_m)
        heading = (back + 180.0 + (-90.0 if self.clockwise else 90.0)) % 360.0
        return TrackState.model_validate(
            {
                "id": self.id,
                "class": self.cls,
                "time": datetime.fromtimestamp(t, UTC),
                "lon": float(lon),
                "lat": float(lat),
                "alt_m": self.alt_m,
                "gs_mps": 2 * math.pi * self.radius_m / self.period_s,
                "track_deg": heading,
                "vs_mps": 0.0,
            }
        )


ORBITS = (
    Orbit("FR", "R91-CDG", "ship", 34.70, 34.62, 8_000, 3_600, 0),
    Orbit("FR", "D620-FORBIN", "ship", 34.80, 34.55, 12_000, 4_000, 0, phase=2.0),
    Orbit("FR", "RAFALE-M-11", "fixed-wing", 35.05, 34.90, 25_000, 600, 7_600),
    Orbit("FR", "E-2C-HAWKEYE", "fixed-wing", 33.60, 34.85, 30_000, 900, 9_000, phase=1.0),
    Orbit("RU", "MOSKVA", "ship", 35.55, 35.35, 9_000, 3_000, 0, clockwise=True),
    Orbit(
        "RU",
        "SU-30SM-21",
        "fixed-wing",
        35.45,
        35.10,
        25_000,
        420,
        7_600,
        phase=math.pi,
        clockwise=True,
    ),
    Orbit("RU", "IL-20-ISR", "fixed-wing", 35.70, 35.70, 35_000, 1_200, 8_200),
)


class DemoTraffic:
    """Reports every orbit's state now; ``run_once`` is one second of traffic."""

    def __init__(self, tracks: Any, clock: Callable[[], float] = time.time) -> None:
        self.tracks = tracks
        self.clock = clock

    def run_once(self) -> int:
        t = self.clock()
        n = 0
        for party in sorted({o.party for o in ORBITS}):
            states = [o.state(t) for o in ORBITS if o.party == party]
            n += self.tracks.upsert(party, states)
        return n
