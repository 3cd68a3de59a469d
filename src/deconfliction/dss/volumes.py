"""F3548 Volume4D documents: parsing with the standard's validation, union of extents, times."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..errors import DeconflictionError
from ..geo.cells import dss_circle_cells, dss_polygon_cells
from ..model import Volume4D
from .entities import Time

#: The cells of recent small circles: a USS queries an area and then writes the intent it
#: checked, and updates it again and again, with the same circles (the cells are an immutable
#: set). Only circles up to ``_CACHED_RADIUS_M`` (a few dozen cells each: a few MB at most), so
#: that nobody can fill memory with large ones.
_CACHED_RADIUS_M = 2000.0
_circle_cells = functools.lru_cache(maxsize=4096)(dss_circle_cells)

MAX_AREA_KM2 = 2500.0
#: Most vertices of one polygon outline (the work to check it grows with them).
MAX_VERTICES = 2_000
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class BadRequest(DeconflictionError):
    """An input the standard refuses (400), with the reason."""

    code = "bad-request"
    http_status = status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_time(obj: Any, where: str) -> datetime:
    if not isinstance(obj, dict):
        raise BadRequest(f"{where}: a Time object is expected")
    value, fmt = obj.get("value"), obj.get("format", "RFC3339")
    if fmt != "RFC3339":
        raise BadRequest(f"{where}.format: only RFC3339 is supported")
    m = _RFC3339.match(value) if isinstance(value, str) else None
    if m is None:
        raise BadRequest(f"{where}.value: not an RFC 3339 date-time with a zone: {value!r}")
    frac = (m.group(3) or ".0")[1:7].ljust(6, "0")
    zone = "+00:00" if m.group(4) in ("Z", "z") else m.group(4)
    try:
        t = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{frac}{zone}")
    except ValueError as exc:
        raise BadRequest(f"{where}.value: {exc}") from None
    return t.astimezone(UTC)


def format_time(t: datetime) -> Time:
    return {"value": t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"}


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BadRequest(f"{where}: a finite number is expected")
    return float(v)


def _altitude(obj: Any, where: str) -> float | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise BadRequest(f"{where}: an Altitude object is expected")
    if obj.get("units") != "M":
        raise BadRequest(f"{where}.units: only M (metres) is supported")
    if obj.get("reference") != "W84":
        raise BadRequest(f"{where}.reference: only W84 is supported")
    return _number(obj.get("value"), f"{where}.value")


def _latlng(obj: Any, where: str) -> tuple[float, float]:
    if not isinstance(obj, dict):
        raise BadRequest(f"{where}: a LatLngPoint is expected")
    lat, lng = _number(obj.get("lat"), f"{where}.lat"), _number(obj.get("lng"), f"{where}.lng")
    if not -90.0 <= lat <= 90.0:
        raise BadRequest(f"{where}.lat: {lat} is outside [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise BadRequest(f"{where}.lng: {lng} is outside [-180, 180]")
    return lat, lng


@dataclass(frozen=True)
class Extent:
    """A 4D extent as the DSS sees it: level-13 cells, times and altitudes (None: unbounded)."""

    cells: frozenset[int] | None
    time_start: datetime | None
    time_end: datetime | None
    alt_lower: float | None
    alt_upper: float | None

    def overlaps_time(self, start: datetime | None, end: datetime | None) -> bool:
        return (self.time_start is None or end is None or self.time_start <= end) and (
            self.time_end is None or start is None or self.time_end >= start
        )

    def overlaps_alt(self, lower: float | None, upper: float | None) -> bool:
        return (self.alt_upper is None or lower is None or self.alt_upper >= lower) and (
            self.alt_lower is None or upper is None or self.alt_lower <= upper
        )


def parse_volume4d(obj: Any, where: str, *, max_area_km2: float = MAX_AREA_KM2) -> Extent:
    if not isinstance(obj, dict):
        raise BadRequest(f"{where}: a Volume4D object is expected")
    vol = obj.get("volume")
    if not isinstance(vol, dict):
        raise BadRequest(f"{where}.volume: a Volume3D object is expected")
    lower = _altitude(vol.get("altitude_lower"), f"{where}.volume.altitude_lower")
    upper = _altitude(vol.get("altitude_upper"), f"{where}.volume.altitude_upper")
    if lower is not None and upper is not None and upper < lower:
        raise BadRequest(f"{where}.volume: altitude_upper is below altitude_lower")
    start = end = None
    if obj.get("time_start") is not None:
        start = parse_time(obj["time_start"], f"{where}.time_start")
    if obj.get("time_end") is not None:
        end = parse_time(obj["time_end"], f"{where}.time_end")
    if start is not None and end is not None and start > end:
        raise BadRequest(f"{where}: time_start is after time_end")
    circle, polygon = vol.get("outline_circle"), vol.get("outline_polygon")
    if circle is not None and polygon is not None:
        raise BadRequest(f"{where}.volume: give outline_circle or outline_polygon, not both")
    cells: frozenset[int] | None = None
    if circle is not None:
        if not isinstance(circle, dict):
            raise BadRequest(f"{where}.volume.outline_circle: a Circle is expected")
        lat, lng = _latlng(circle.get("center"), f"{where}.volume.outline_circle.center")
        radius = circle.get("radius")
        if not isinstance(radius, dict):
            raise BadRequest(f"{where}.volume.outline_circle.radius: a Radius is expected")
        if radius.get("units", "M") != "M":
            raise BadRequest(f"{where}.volume.outline_circle.radius.units: only M is supported")
        r = _number(radius.get("value"), f"{where}.volume.outline_circle.radius.value")
        if r <= 0:
            raise BadRequest(f"{where}.volume.outline_circle.radius.value: must be > 0")
        if r > math.sqrt(max_area_km2 / math.pi) * 1000.0:
            raise BadRequest(f"{where}.volume.outline_circle: area over {max_area_km2:g} km^2")
        small = r <= _CACHED_RADIUS_M
        cells = _circle_cells(lat, lng, r) if small else dss_circle_cells(lat, lng, r)
    elif polygon is not None:
        verts = polygon.get("vertices") if isinstance(polygon, dict) else None
        if not isinstance(verts, list):
            raise BadRequest(f"{where}.volume.outline_polygon.vertices: a list is expected")
        if len(verts) > MAX_VERTICES:
            raise BadRequest(
                f"{where}.volume.outline_polygon.vertices: at most {MAX_VERTICES} vertices"
            )
        pts = [
            _latlng(v, f"{where}.volume.outline_polygon.vertices[{i}]") for i, v in enumerate(verts)
        ]
        try:
            cells = dss_polygon_cells(pts, max_area_km2)
        except ValueError as exc:
            raise BadRequest(f"{where}.volume.outline_polygon: {exc}") from None
    return Extent(cells, start, end, lower, upper)


def native_volumes(extents: list[Any]) -> list[Volume4D] | None:
    """The extents (already validated as F3548) as native volumes, for the native view of the
    same intent; None where the native model cannot hold them (a window over 31 days, say)."""
    out = []
    try:
        for e in extents:
            vol = e["volume"]
            if vol.get("outline_circle") is not None:
                c = vol["outline_circle"]
                fp: dict[str, Any] = {
                    "type": "Circle",
                    "center": [c["center"]["lng"], c["center"]["lat"]],
                    "radius_m": c["radius"]["value"],
                }
            else:
                ring = [[v["lng"], v["lat"]] for v in vol["outline_polygon"]["vertices"]]
                fp = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
            out.append(
                Volume4D.model_validate(
                    {
                        "footprint": fp,
                        "alt_lower_m": vol["altitude_lower"]["value"],
                        "alt_upper_m": vol["altitude_upper"]["value"],
                        "time_start": parse_time(e["time_start"], "time_start"),
                        "time_end": parse_time(e["time_end"], "time_end"),
                    }
                )
            )
    except (ValidationError, KeyError, TypeError, BadRequest):
        return None
    return out


def union(extents: list[Extent]) -> Extent:
    """One extent holding several: cells united, bounds widened (None if any is unbounded)."""
    cells: set[int] = set()
    for e in extents:
        if e.cells is None:
            raise BadRequest("extents: every extent needs an outline")
        cells |= e.cells

    def bound(vals: list[Any], pick: Any) -> Any:
        return None if any(v is None for v in vals) else pick(vals)

    return Extent(
        frozenset(cells),
        bound([e.time_start for e in extents], min),
        bound([e.time_end for e in extents], max),
        bound([e.alt_lower for e in extents], min),
        bound([e.alt_upper for e in extents], max),
    )
