"""AIXM 5.1 ``Airspace`` features (an AIXM basic message, as AIP data services publish them)
to areas.

Per ``aixm:Airspace``, its newest ``AirspaceTimeSlice`` (BASELINE or SNAPSHOT, highest
sequence and correction numbers); imported when ``aixm:type`` is ``R`` (restricted), ``P``
(prohibited), ``D`` (danger), or ``TRA``/``TSA`` (temporary reserved or segregated: reserved);
every other type is counted and left out. Each ``AirspaceGeometryComponent`` gives one volume:
``upperLimit``/``lowerLimit`` with their ``uom`` (FL, FT, M) and reference (STD, MSL, SFC),
and the ``horizontalProjection`` surface: a ``gml:PolygonPatch`` or ``gml:Polygon`` whose
exterior is a ``gml:LinearRing`` (``posList`` or ``pos``) or a ``gml:Ring`` of curves
(``LineStringSegment``, ``GeodesicString``, ``ArcByCenterPoint``, ``CircleByCenterPoint``).
Axis order follows ``srsName``: EPSG:4326 (the AIXM default) is latitude first, CRS84
longitude first. Components that subtract or intersect (``operation`` SUBTR, INTERS) are
taken as a union: the area only grows. Volumes built from other airspace
(``contributorAirspace``) and time slices that ended before the import window are refused or
left out, with the feature named.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..model import AreaKind, Volume4D
from .airspace import (
    FT,
    NM,
    AreaImportError,
    ImportedArea,
    Window,
    arc,
    make_id,
    polygon,
    volume,
)
from .airspace import altitude_m as _text_altitude

A = "{http://www.aixm.aero/schema/5.1}"
GML = "{http://www.opengis.net/gml/3.2}"
KINDS = {
    "R": AreaKind.RESTRICTED,
    "P": AreaKind.PROHIBITED,
    "D": AreaKind.DANGER,
    "TRA": AreaKind.RESERVED,
    "TSA": AreaKind.RESERVED,
}
_UOM_M = {"M": 1.0, "FT": FT, "KM": 1000.0, "NM": NM, "[NMI_I]": NM, "MI": 1609.344}


@dataclass
class AixmResult:
    areas: list[ImportedArea]
    left_out: dict[str, int]


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _limit(
    ts: ET.Element, comp: ET.Element, name: str, upper: bool, agl_m: float | None, where: str
) -> float:
    el = comp.find(f".//{A}{name}")
    if el is None or _text(el) is None:
        nil = el is not None and el.get("{http://www.w3.org/2001/XMLSchema-instance}nil")
        raise AreaImportError(f"{where}: aixm:{name}: {'nil' if nil else 'missing'}")
    value = _text(el) or ""
    uom = (el.get("uom") or "").upper()
    ref = (_text(comp.find(f".//{A}{name}Reference")) or "MSL").upper()
    if value.upper() in ("GND", "FLOOR"):
        return 0.0
    if value.upper() in ("UNL", "CEILING"):
        return _text_altitude("UNL", upper=upper, agl_m=agl_m, where=where)
    if uom == "FL":
        return _text_altitude(f"FL{value}", upper=upper, agl_m=agl_m, where=where)
    unit = {"FT": "FT", "M": "M"}.get(uom)
    if unit is None:
        raise AreaImportError(f"{where}: aixm:{name}/@uom: {uom or 'missing'} is not FL, FT or M")
    aref = {"SFC": "AGL", "MSL": "MSL", "STD": "STD", "W84": "MSL"}.get(ref)
    if aref is None:
        raise AreaImportError(f"{where}: aixm:{name}Reference: {ref!r} is not SFC, MSL or STD")
    return _text_altitude(f"{value} {unit} {aref}", upper=upper, agl_m=agl_m, where=where)


def _srs(el: ET.Element, inherited: str | None) -> str | None:
    return el.get("srsName") or inherited


def _lonlat_first(srs: str | None) -> bool:
    return srs is not None and "CRS84" in srs.upper()


def _positions(text: str, srs: str | None, dim: int, where: str) -> list[tuple[float, float]]:
    try:
        nums = [float(x) for x in text.split()]
    except ValueError:
        raise AreaImportError(f"{where}: gml:posList: not a list of numbers") from None
    if dim < 2 or len(nums) % dim:
        raise AreaImportError(f"{where}: gml:posList: {len(nums)} numbers in pairs of {dim}")
    out = []
    for i in range(0, len(nums), dim):
        a, b = nums[i], nums[i + 1]
        out.append((a, b) if _lonlat_first(srs) else (b, a))
    return out


def _dim(el: ET.Element) -> int:
    return int(el.get("srsDimension") or 2)


def _radius_m(el: ET.Element | None, where: str) -> float:
    if el is None or _text(el) is None:
        raise AreaImportError(f"{where}: gml:radius: missing")
    uom = (el.get("uom") or "").upper()
    if uom not in _UOM_M:
        raise AreaImportError(f"{where}: gml:radius/@uom: {uom or 'missing'} is not a length")
    try:
        return float(_text(el) or "") * _UOM_M[uom]
    except ValueError:
        raise AreaImportError(f"{where}: gml:radius: not a number") from None


def _center(seg: ET.Element, srs: str | None, where: str) -> tuple[float, float]:
    pos = seg.find(f"{GML}pos")
    if pos is None:
        pos = seg.find(f"{GML}pointProperty/{GML}Point/{GML}pos")
    if pos is None or _text(pos) is None:
        raise AreaImportError(f"{where}: gml:pos (the centre): missing")
    return _positions(_text(pos) or "", _srs(pos, srs), _dim(pos), where)[0]


def _ring_points(
    ring: ET.Element, srs: str | None, where: str
) -> tuple[list[tuple[float, float]], tuple[float, float, float] | None]:
    """The points of an exterior, or the circle it is (centre lon, lat, radius)."""
    srs = _srs(ring, srs)
    if ring.tag == f"{GML}LinearRing":
        pl = ring.find(f"{GML}posList")
        if pl is not None:
            return _positions(_text(pl) or "", _srs(pl, srs), _dim(pl), where), None
        return [
            _positions(_text(p) or "", _srs(p, srs), _dim(p), where)[0]
            for p in ring.findall(f"{GML}pos")
        ], None
    pts: list[tuple[float, float]] = []
    for curve in ring.iter(f"{GML}segments"):
        for seg in curve:
            name = seg.tag.replace(GML, "gml:")
            if seg.tag in (f"{GML}LineStringSegment", f"{GML}GeodesicString"):
                pl = seg.find(f"{GML}posList")
                if pl is None:
                    raise AreaImportError(f"{where}: {name}: no gml:posList")
                pts += _positions(_text(pl) or "", _srs(pl, srs), _dim(pl), where)
            elif seg.tag == f"{GML}CircleByCenterPoint":
                lon, lat = _center(seg, srs, where)
                return [], (lon, lat, _radius_m(seg.find(f"{GML}radius"), where))
            elif seg.tag == f"{GML}ArcByCenterPoint":
                lon, lat = _center(seg, srs, where)
                r = _radius_m(seg.find(f"{GML}radius"), where)
                try:
                    a0 = float(_text(seg.find(f"{GML}startAngle")) or "")
                    a1 = float(_text(seg.find(f"{GML}endAngle")) or "")
                except ValueError:
                    raise AreaImportError(f"{where}: {name}: start or end angle missing") from None
                # GML angles run counter-clockwise from east; bearings clockwise from north
                pts += arc(lon, lat, r, 90.0 - a0, 90.0 - a1, clockwise=a1 < a0)
            else:
                raise AreaImportError(f"{where}: {name} is not a curve segment read here")
    return pts, None


def _footprint(comp: ET.Element, srs: str | None, where: str) -> dict[str, object]:
    proj = comp.find(f".//{A}horizontalProjection")
    if proj is None:
        if comp.find(f".//{A}contributorAirspace") is not None:
            raise AreaImportError(f"{where}: volumes made of other airspace are not imported")
        if comp.find(f".//{A}centreline") is not None:
            raise AreaImportError(f"{where}: corridors (a centreline and a width) are not read")
        raise AreaImportError(f"{where}: aixm:horizontalProjection: missing")
    surface = next(iter(proj), None)
    if surface is None:
        raise AreaImportError(f"{where}: aixm:horizontalProjection: empty")
    srs = _srs(surface, srs)
    ext = surface.find(f".//{GML}exterior")
    if ext is None or len(ext) == 0:
        raise AreaImportError(f"{where}: gml:exterior: missing")
    pts, circle = _ring_points(ext[0], srs, where)
    if circle is not None:
        return {"type": "Circle", "center": [circle[0], circle[1]], "radius_m": circle[2]}
    pts = list(dict.fromkeys(pts))
    if len(pts) < 3:
        raise AreaImportError(f"{where}: gml:exterior: fewer than 3 distinct points")
    return polygon(pts)


def _slices(feature: ET.Element) -> list[ET.Element]:
    out = []
    for ts in feature.iter(f"{A}AirspaceTimeSlice"):
        interp = _text(ts.find(f"{A}interpretation"))
        if interp in (None, "BASELINE", "SNAPSHOT"):
            out.append(ts)
    return out


def _newest(slices: list[ET.Element]) -> ET.Element:
    def key(ts: ET.Element) -> tuple[int, int]:
        return (
            int(_text(ts.find(f"{A}sequenceNumber")) or 0),
            int(_text(ts.find(f"{A}correctionNumber")) or 0),
        )

    return max(slices, key=key)


def _features(root: ET.Element) -> Iterator[ET.Element]:
    if root.tag == f"{A}Airspace":
        yield root
        return
    yield from root.iter(f"{A}Airspace")


def read_aixm(
    data: bytes,
    source: str | Path,
    window: Window,
    *,
    prefix: str = "",
    agl_m: float | None = None,
) -> AixmResult:
    """Every restricted, prohibited, danger and reserved airspace of an AIXM 5.1 document."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise AreaImportError(f"{source}: not XML ({exc})") from None
    areas: list[ImportedArea] = []
    left_out: dict[str, int] = {}
    taken: set[str] = set()
    found = False
    for n, feat in enumerate(_features(root), 1):
        found = True
        gid = feat.get(f"{GML}id") or _text(feat.find(f"{GML}identifier")) or f"#{n}"
        where = f"{source}: Airspace {gid}"
        slices = _slices(feat)
        if not slices:
            left_out["no baseline time slice"] = left_out.get("no baseline time slice", 0) + 1
            continue
        ts = _newest(slices)
        kind = _text(ts.find(f"{A}type")) or "?"
        if kind not in KINDS:
            left_out[kind] = left_out.get(kind, 0) + 1
            continue
        end = _text(ts.find(f"{GML}validTime/{GML}TimePeriod/{GML}endPosition"))
        if end is not None and end[:10] < window.start.date().isoformat():
            left_out["ended"] = left_out.get("ended", 0) + 1
            continue
        designator = _text(ts.find(f"{A}designator"))
        name = _text(ts.find(f"{A}name")) or designator or gid
        label = f"{where} ({designator or name})"
        srs = root.get("srsName")
        vols: list[Volume4D] = []
        for i, comp in enumerate(ts.iter(f"{A}AirspaceVolume")):
            w = f"{label} volume {i + 1}"
            lower = _limit(ts, comp, "lowerLimit", False, agl_m, w)
            upper = _limit(ts, comp, "upperLimit", True, agl_m, w)
            vols.append(volume(_footprint(comp, srs, w), lower, upper, window, w))
        if not vols:
            raise AreaImportError(f"{label}: no aixm:AirspaceVolume")
        if len(vols) > 100:
            raise AreaImportError(f"{label}: more than 100 volumes")
        rid = make_id(designator or name, prefix, taken)
        full = f"{designator} {name}" if designator and designator not in name else name
        areas.append(ImportedArea(rid, full, KINDS[kind], vols, label))
    if not found:
        raise AreaImportError(f"{source}: no aixm:Airspace feature (is it AIXM 5.1?)")
    return AixmResult(areas, left_out)
