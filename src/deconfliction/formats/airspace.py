"""What the area imports share (OpenAir, AIXM 5.1, NOTAM and navigational warnings).

An import reads the whole input first and gives a list of ``ImportedArea`` or one
``AreaImportError`` naming the file, the line (or feature, or message) and the field; only then
does the caller write, every area in one transaction (``Store.create_many``): nothing is ever
half imported.

Vertical limits become metres above the WGS84 ellipsoid:

- ``GND``/``SFC`` 0 m; ``UNL`` the highest altitude we accept (100 km);
- feet or metres ``MSL``/``AMSL`` as they are (the geoid's undulation, tens of metres, is
  dropped);
- flight levels as pressure altitudes in the standard atmosphere (FL100 = 10,000 ft);
- ``AGL``: a lower limit as if the ground were at sea level (the real one is higher, so the
  area only grows), an upper limit only with the highest ground under the area given
  (``agl_m``), else the import is refused.

Airspace from AIP files is permanent; a volume here has a window of at most 31 days, so an
import gives its window (default: one AIRAC cycle, 28 days, from today 00:00 UTC).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from ..errors import field_errors
from ..geodesy import GEOD
from ..model import AreaDraft, AreaKind, Volume4D
from ..model.volume import MAX_ALT_M

FT = 0.3048
NM = 1852.0
AIRAC_DAYS = 28


class AreaImportError(ValueError):
    """Input that cannot be imported: the message names the place and the field."""


@dataclass
class ImportedArea:
    id: str
    name: str
    kind: AreaKind
    volumes: list[Volume4D] = field(default_factory=list)
    #: where it was read (file:line, or feature), for messages
    where: str = ""

    def draft(self) -> AreaDraft:
        return AreaDraft(volumes=self.volumes, kind=self.kind, name=self.name[:200])


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @staticmethod
    def airac(start: datetime | None = None, days: int = AIRAC_DAYS) -> Window:
        now = (start or datetime.now(UTC)).astimezone(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(day, day + timedelta(days=days))


_ALT = re.compile(
    r"^\s*(?:(?P<gnd>GND|SFC|MSL)|(?P<unl>UNL(?:IM(?:ITED)?)?)|FL\s*(?P<fl>\d+(?:\.\d+)?)|"
    r"(?P<v>\d+(?:\.\d+)?)\s*(?P<u>FT|F|M)?\s*(?P<ref>AMSL|MSL|AGL|AAL|GND|SFC|STD)?)\s*$",
    re.I,
)


def altitude_m(text: str, *, upper: bool, agl_m: float | None, where: str) -> float:
    """One vertical limit as written in OpenAir, NOTAM items F and G, and similar."""
    m = _ALT.match(text)
    if m is None:
        raise AreaImportError(f"{where}: {text.strip()!r} is not a vertical limit")
    if m["gnd"]:
        return 0.0
    if m["unl"]:
        return MAX_ALT_M
    if m["fl"]:
        return float(m["fl"]) * 100.0 * FT
    value = float(m["v"]) * (1.0 if (m["u"] or "FT").upper() == "M" else FT)
    ref = (m["ref"] or "MSL").upper()
    if ref in ("AGL", "AAL", "GND", "SFC"):
        if not upper:
            return value
        if agl_m is None:
            raise AreaImportError(
                f"{where}: {text.strip()!r} is above the ground: give the highest ground "
                "under the area (--agl-m)"
            )
        return value + agl_m
    if ref == "STD":
        return value
    return value


def arc(
    lon: float,
    lat: float,
    radius_m: float,
    start_deg: float,
    end_deg: float,
    clockwise: bool,
    step_deg: float = 2.0,
) -> list[tuple[float, float]]:
    """Points along a geodesic circle from one bearing to another (both ends included)."""
    span = (end_deg - start_deg) % 360.0 if clockwise else (start_deg - end_deg) % 360.0
    if span == 0.0:
        span = 360.0
    n = max(1, math.ceil(span / step_deg))
    out = []
    for i in range(n + 1):
        az = start_deg + (span * i / n if clockwise else -span * i / n)
        x, y, _ = GEOD.fwd(lon, lat, az, radius_m)
        out.append((float(x), float(y)))
    return out


def volume(
    footprint: dict[str, object],
    lower_m: float,
    upper_m: float,
    window: Window,
    where: str,
) -> Volume4D:
    try:
        return Volume4D.model_validate(
            {
                "footprint": footprint,
                "alt_lower_m": lower_m,
                "alt_upper_m": upper_m,
                "time_start": window.start,
                "time_end": window.end,
            }
        )
    except ValidationError as exc:
        e = field_errors(exc.errors())[0]
        raise AreaImportError(f"{where}: {e.pointer.lstrip('/') or 'volume'}: {e.reason}") from None


def polygon(points: list[tuple[float, float]]) -> dict[str, object]:
    pts = [list(p) for p in points]
    if pts and pts[0] != pts[-1]:
        pts.append(pts[0])
    return {"type": "Polygon", "coordinates": [pts]}


_BAD = re.compile(r"[^A-Za-z0-9._:-]+")


def make_id(name: str, prefix: str, taken: set[str]) -> str:
    """A record id from a name: letters, digits and ``.-_:`` kept, the rest as ``-``."""
    base = (prefix + _BAD.sub("-", name.strip()).strip("-._:"))[:60] or f"{prefix}area"
    if not base[0].isalnum():
        base = "A" + base[:59]
    rid, n = base, 2
    while rid in taken:
        rid = f"{base}-{n}"
        n += 1
    taken.add(rid)
    return rid
