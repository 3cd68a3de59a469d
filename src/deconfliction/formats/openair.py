"""OpenAir airspace files (the WinPilot format, with the usual extensions) to areas.

Read: ``AC`` class, ``AN`` name, ``AL``/``AH`` limits, ``DP`` points, ``V X=`` centre,
``V D=+|-`` direction, ``DA`` (radius NM, start and end bearings), ``DB`` (arc between two
points round the centre), ``DC`` (circle, radius NM); comments (``*``) and the extended tags
(``AY``, ``AF``, ``AG``, ``AI``, ``AA``, ``SP``, ``SB``, ``AT``) are passed over. Coordinates
``DD:MM:SS[.s] N DDD:MM:SS[.s] E`` or ``DD:MM.mmm N ...``.

Imported: class ``R`` (restricted), ``Q`` (danger) and ``P`` (prohibited); every other class
(controlled airspace, TMZ, RMZ, wave windows...) is counted and left out. Arcs are drawn every
2 degrees along the geodesic circle. ``DY`` (airway segments) is refused with its line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..geodesy import GEOD
from ..model import AreaKind
from .airspace import (
    NM,
    AreaImportError,
    ImportedArea,
    Window,
    altitude_m,
    arc,
    make_id,
    polygon,
    volume,
)

KINDS = {"R": AreaKind.RESTRICTED, "Q": AreaKind.DANGER, "P": AreaKind.PROHIBITED}
_PART = r"(\d{1,3}):(\d{1,2}(?:\.\d+)?)(?::(\d{1,2}(?:\.\d+)?))?"
_COORD = re.compile(rf"{_PART}\s*([NS])\s*,?\s*{_PART}\s*([EW])", re.I)
_PASSED = {"AY", "AF", "AG", "AI", "AA", "SP", "SB", "AT", "TO", "TC"}


def _deg(d: str, m: str, s: str | None) -> float:
    return float(d) + float(m) / 60.0 + (float(s) / 3600.0 if s else 0.0)


def coordinate(text: str, where: str) -> tuple[float, float]:
    """(lon, lat) of an OpenAir coordinate."""
    m = _COORD.search(text)
    if m is None:
        raise AreaImportError(f"{where}: {text.strip()!r} is not a coordinate")
    lat = _deg(m[1], m[2], m[3]) * (1 if m[4].upper() == "N" else -1)
    lon = _deg(m[5], m[6], m[7]) * (1 if m[8].upper() == "E" else -1)
    if not (abs(lat) <= 90 and abs(lon) <= 180) or float(m[2]) >= 60 or float(m[6]) >= 60:
        raise AreaImportError(f"{where}: {text.strip()!r} is out of range")
    return lon, lat


def _number(text: str, what: str, where: str) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise AreaImportError(f"{where}: {what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise AreaImportError(f"{where}: {what}: not finite")
    return v


@dataclass
class _Block:
    line: int
    cls: str
    name: str = ""
    lower: str | None = None
    upper: str | None = None
    lower_line: int = 0
    upper_line: int = 0
    points: list[tuple[float, float]] = field(default_factory=list)
    circle: tuple[float, float, float] | None = None
    center: tuple[float, float] | None = None
    clockwise: bool = True


@dataclass
class OpenAirResult:
    areas: list[ImportedArea]
    #: airspace of a class not imported, by class
    left_out: dict[str, int]


def read_openair(
    text: str,
    source: str | Path,
    window: Window,
    *,
    prefix: str = "",
    agl_m: float | None = None,
) -> OpenAirResult:
    """Every R, Q and P airspace of an OpenAir text; the first error raises."""
    blocks: list[_Block] = []
    cur: _Block | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("*", 1)[0].strip() if not raw.lstrip().startswith("*") else ""
        if not line:
            continue
        where = f"{source}:{n}"
        tag, _, rest = line.partition(" ")
        tag = tag.upper()
        rest = rest.strip()
        if tag == "AC":
            cur = _Block(n, rest.upper())
            blocks.append(cur)
            continue
        if cur is None:
            raise AreaImportError(f"{where}: {tag} before any AC (airspace class)")
        if tag == "AN":
            cur.name = rest
        elif tag == "AL":
            cur.lower, cur.lower_line = rest, n
        elif tag == "AH":
            cur.upper, cur.upper_line = rest, n
        elif tag == "DP":
            cur.points.append(coordinate(rest, where))
        elif tag == "V":
            key, _, val = rest.partition("=")
            key = key.strip().upper()
            if key == "X":
                cur.center = coordinate(val, where)
            elif key == "D":
                if val.strip() not in ("+", "-"):
                    raise AreaImportError(f"{where}: V D= must be + or -, got {val.strip()!r}")
                cur.clockwise = val.strip() == "+"
            elif key in ("W", "Z"):
                pass
            else:
                raise AreaImportError(f"{where}: V {key}= is not a variable OpenAir knows")
        elif tag == "DC":
            if cur.center is None:
                raise AreaImportError(f"{where}: DC without a centre (V X=...) before it")
            r = _number(rest, "DC radius", where)
            if r <= 0:
                raise AreaImportError(f"{where}: DC radius must be > 0, got {r:g}")
            cur.circle = (cur.center[0], cur.center[1], r * NM)
        elif tag == "DA":
            if cur.center is None:
                raise AreaImportError(f"{where}: DA without a centre (V X=...) before it")
            parts = rest.split(",")
            if len(parts) != 3:
                raise AreaImportError(f"{where}: DA radius, start, end expected, got {rest!r}")
            r, a0, a1 = (_number(p, f"DA {w}", where) for p, w in zip(parts, "rse", strict=True))
            cx, cy = cur.center
            cur.points += arc(cx, cy, r * NM, a0, a1, cur.clockwise)
        elif tag == "DB":
            if cur.center is None:
                raise AreaImportError(f"{where}: DB without a centre (V X=...) before it")
            ends = rest.split(",")
            if len(ends) != 2:
                raise AreaImportError(f"{where}: DB needs two coordinates, got {rest!r}")
            p0, p1 = coordinate(ends[0], where), coordinate(ends[1], where)
            cx, cy = cur.center
            az0, _, r0 = GEOD.inv(cx, cy, *p0)
            az1, _, _ = GEOD.inv(cx, cy, *p1)
            pts = arc(cx, cy, float(r0), float(az0), float(az1), cur.clockwise)
            cur.points += [p0, *pts[1:-1], p1]
        elif tag == "DY":
            raise AreaImportError(f"{where}: DY (airway segments) is not imported")
        elif tag in _PASSED:
            pass
        else:
            raise AreaImportError(f"{where}: {tag!r} is not an OpenAir command")
    areas: list[ImportedArea] = []
    left_out: dict[str, int] = {}
    taken: set[str] = set()
    for b in blocks:
        if b.cls not in KINDS:
            left_out[b.cls] = left_out.get(b.cls, 0) + 1
            continue
        where = f"{source}:{b.line}"
        label = f"{where} ({b.name})" if b.name else where
        if not b.name:
            raise AreaImportError(f"{where}: AN (name) missing")
        if b.lower is None or b.upper is None:
            raise AreaImportError(f"{label}: {'AL' if b.lower is None else 'AH'} missing")
        lower = altitude_m(b.lower, upper=False, agl_m=agl_m, where=f"{source}:{b.lower_line} AL")
        upper = altitude_m(b.upper, upper=True, agl_m=agl_m, where=f"{source}:{b.upper_line} AH")
        if b.circle is not None:
            if b.points:
                raise AreaImportError(f"{label}: both a circle (DC) and points")
            lon, lat, r = b.circle
            fp: dict[str, object] = {"type": "Circle", "center": [lon, lat], "radius_m": r}
        else:
            pts = list(dict.fromkeys(b.points))  # an arc ends where the next point starts
            if len(pts) < 3:
                raise AreaImportError(f"{label}: fewer than 3 distinct points")
            fp = polygon(pts)
        vol = volume(fp, lower, upper, window, label)
        rid = make_id(b.name, prefix, taken)
        areas.append(ImportedArea(rid, b.name, KINDS[b.cls], [vol], where))
    return OpenAirResult(areas, left_out)
