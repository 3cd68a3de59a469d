"""Adapters for the feeds users already have: ADS-B as BaseStation (SBS-1) text, AIS as NMEA.

Each decoder takes lines one at a time and returns a ``TrackState`` when a line completes a
position it can report (else None). They keep what they need between lines: an aircraft's
velocity (SBS sends position and velocity in separate messages), and multi-sentence AIS messages.

- **SBS-1** (what dump1090-style receivers serve on TCP port 30003): ``MSG,3`` (airborne
  position: altitude ft, lat, lon) and ``MSG,4`` (ground speed kt, track, vertical rate ft/min);
  the time is the message's generated date and time, taken as UTC. The track id is the ICAO
  24-bit address (hex), class ``fixed-wing`` unless told otherwise.
- **AIS** (NMEA 0183 ``!AIVDM``/``!AIVDO``, decoded with pyais): position reports of types 1, 2,
  3 (class A) and 18, 19 (class B): MMSI, position, speed over ground, course over ground; class
  ``ship`` at 0 m. AIS carries no date: a line may start with an RFC 3339 time and a space
  (recorded files), else the time of reception is used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..model import TrackClass, TrackState
from ..units import FPM_MPS, FT_M, KT_MPS

KT, FT, FPM = KT_MPS, FT_M, FPM_MPS


def _now() -> datetime:
    return datetime.now(UTC)


class SbsDecoder:
    """BaseStation (SBS-1) lines to track states."""

    def __init__(self, cls: TrackClass = TrackClass.FIXED_WING) -> None:
        self.cls = cls
        self._velocity: dict[str, tuple[float, float, float]] = {}
        self.skipped = 0

    def feed(self, line: str) -> TrackState | None:
        f = line.strip().split(",")
        if len(f) < 22 or f[0] != "MSG":
            self.skipped += 1
            return None
        hex_id = f[4].strip().upper()
        try:
            if f[1] == "4":
                gs, trk = float(f[12]), float(f[13])
                vr = float(f[16]) if f[16] else 0.0
                self._velocity[hex_id] = (gs * KT, trk % 360.0, vr * FPM)
                return None
            if f[1] != "3" or not (f[11] and f[14] and f[15]):
                return None
            when = datetime.strptime(f"{f[6]} {f[7]}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
            gs, trk, vs = self._velocity.get(hex_id, (0.0, 0.0, 0.0))
            return TrackState.model_validate(
                {
                    "id": hex_id,
                    "class": self.cls,
                    "time": when,
                    "lon": float(f[15]),
                    "lat": float(f[14]),
                    "alt_m": float(f[11]) * FT,
                    "gs_mps": gs,
                    "track_deg": trk,
                    "vs_mps": vs,
                }
            )
        except (ValueError, ValidationError):
            self.skipped += 1
            return None


class AisDecoder:
    """NMEA AIS sentences to ship states (pyais decodes the payloads)."""

    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self.clock = clock
        self._parts: dict[str, list[bytes]] = {}
        self.skipped = 0

    def feed(self, line: str) -> TrackState | None:
        from pyais import decode
        from pyais.exceptions import AISBaseException

        text = line.strip()
        when = None
        if text and not text.startswith(("!", "\\")):
            stamp, _, text = text.partition(" ")
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                self.skipped += 1
                return None
            if when.tzinfo is None:
                self.skipped += 1
                return None
        fields = text.split(",")
        if len(fields) < 7 or not fields[0].endswith(("VDM", "VDO")):
            self.skipped += 1
            return None
        total, number, seq = fields[1], fields[2], fields[3]
        key = f"{seq}:{fields[4]}"
        if total != "1":
            self._parts.setdefault(key, []).append(text.encode())
            if number != total:
                return None
            parts = self._parts.pop(key)
        else:
            parts = [text.encode()]
        try:
            msg: dict[str, Any] = decode(*parts).asdict()
        except (AISBaseException, ValueError, IndexError):
            self.skipped += 1
            return None
        if msg.get("msg_type") not in (1, 2, 3, 18, 19):
            return None
        lon, lat = msg.get("lon"), msg.get("lat")
        speed, course = msg.get("speed"), msg.get("course")
        if lon is None or lat is None or abs(lon) > 180 or abs(lat) > 90:
            return None  # 181 / 91: position not available
        try:
            return TrackState.model_validate(
                {
                    "id": str(msg["mmsi"]),
                    "class": TrackClass.SHIP,
                    "time": when or self.clock(),
                    "lon": float(lon),
                    "lat": float(lat),
                    "alt_m": 0.0,
                    "gs_mps": float(speed) * KT if speed is not None and speed < 102.3 else 0.0,
                    "track_deg": float(course) % 360.0
                    if course is not None and course < 360
                    else 0.0,
                    "vs_mps": 0.0,
                }
            )
        except (ValidationError, ValueError):
            self.skipped += 1
            return None
