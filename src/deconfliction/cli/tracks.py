"""``deconfliction tracks check FILE``: tactical detection over recorded states, offline."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

from ..engine.replay import Encounter, replay_recording
from ..engine.tactical import FT, NM, Minima, minima_table
from ..formats.tracks import TrackFileError, load_recording
from . import UsageError


def _minima(lateral_m: float | None, vertical_m: float | None) -> Minima:
    m = Minima()
    for name, v in (("--lateral-m", lateral_m), ("--vertical-m", vertical_m)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be a finite number > 0, got {v}")
    if lateral_m is None and vertical_m is None:
        return m
    lat = m.lateral_m if lateral_m is None else minima_table(lateral_m, lateral_m, lateral_m)
    vert = m.vertical_m.copy()
    if vertical_m is not None:
        vert[vert < math.inf] = vertical_m
    return Minima(lat, vert)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _line(e: Encounter) -> str:
    lat = f"{abs(e.cpa_lat):.4f}{'N' if e.cpa_lat >= 0 else 'S'}"
    lon = f"{abs(e.cpa_lon):.4f}{'E' if e.cpa_lon >= 0 else 'W'}"
    lost = "  separation lost" if e.lost else ""
    return (
        f"{e.tracks[0]} ({e.parties[0]}) x {e.tracks[1]} ({e.parties[1]}): first detected "
        f"{_iso(e.first_detected)}; CPA {_iso(e.cpa_time)} at {lat} {lon}, "
        f"{e.min_horizontal_m / NM:.2f} NM ({e.min_horizontal_m:,.0f} m) apart, "
        f"{e.vertical_at_cpa_m / FT:,.0f} ft ({e.vertical_at_cpa_m:,.0f} m) vertically{lost}"
    )


def run_tracks_check(
    path: Path,
    *,
    as_json: bool,
    lookahead_s: float,
    lateral_m: float | None,
    vertical_m: float | None,
) -> int:
    if not (math.isfinite(lookahead_s) and 0 < lookahead_s <= 3600):
        raise UsageError(f"--lookahead-s must be between 0 and 3600, got {lookahead_s}")
    minima = _minima(lateral_m, vertical_m)
    try:
        states = load_recording(path)
    except TrackFileError as exc:
        raise UsageError(str(exc)) from None
    found = replay_recording(states, lookahead_s=lookahead_s, minima=minima)
    if as_json:
        print(
            json.dumps(
                {
                    "conflicts": [
                        {
                            "tracks": list(e.tracks),
                            "parties": list(e.parties),
                            "first_detected": _iso(e.first_detected),
                            "cpa_time": _iso(e.cpa_time),
                            "cpa_position": [round(e.cpa_lon, 6), round(e.cpa_lat, 6)],
                            "min_horizontal_m": round(e.min_horizontal_m, 3),
                            "vertical_at_cpa_m": round(e.vertical_at_cpa_m, 3),
                            "separation_lost": e.lost,
                        }
                        for e in found
                    ]
                },
                indent=2,
            )
        )
    else:
        for e in found:
            print(_line(e))
        plural = "s" if len(found) != 1 else ""
        print(f"{len(found)} tactical conflict{plural} in {len(states)} states")
    return 1 if found else 0
