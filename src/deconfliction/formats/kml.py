"""KML and KMZ (Google Earth, QGIS, GDAL) of a party's released picture or of plan files.

One folder per kind (intents, areas, tracks, conflicts); one placemark
per 4D volume, named after its record, with a ``TimeSpan`` (its window) and its altitudes
``absolute``:

- a volume from the ground (lower limit 0 m or below) is its footprint at the upper limit,
  extruded to the ground;
- a volume above the ground is a closed band: the footprint at the upper and at the lower
  limit, and a wall along each edge (a ``MultiGeometry``);
- circles are drawn as 72-sided geodesic polygons (KML has no circle);
- tracks are points at their altitude, extruded, with a ``TimeStamp``;
- conflicts are placemarks over the released volumes of their sides, with the conflict's window.

``ExtendedData`` keeps what KML has no place for: owner, release level, limits in metres, the
exact window, a circle's centre and radius. Dropped: KML altitudes are above mean sea level
and ours above the WGS84 ellipsoid (tens of metres apart; written as they are).
"""

from __future__ import annotations

import io
import itertools
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from ..geodesy import GEOD
from ..model import Volume4D
from .cot import side_label

CIRCLE_SIDES = 72
#: colours (aabbggrr): own records blue, others' orange, areas grey, conflicts red
_OWN, _OTHER, _AREA, _CONFLICT = "7fff641e", "7f008cff", "7f808080", "9f0000ff"


def _iso(t: Any) -> str:
    return str(t.isoformat()).replace("+00:00", "Z")


def ring(v: Volume4D) -> list[tuple[float, float]]:
    """The footprint's closed ring, (lon, lat); circles as polygons."""
    fp = v.footprint
    if fp.type == "Circle":
        lon, lat, r = fp.cap
        pts = []
        for i in range(CIRCLE_SIDES):
            plon, plat, _ = GEOD.fwd(lon, lat, 360.0 * i / CIRCLE_SIDES, r)
            pts.append((float(plon), float(plat)))
        return [*pts, pts[0]]
    return [(float(p[0]), float(p[1])) for p in fp.coordinates[0]]


KML = "http://www.opengis.net/kml/2.2"
ET.register_namespace("", KML)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, f"{{{KML}}}{tag}", attrs)
    if text is not None:
        e.text = text
    return e


def _coords(pts: Sequence[tuple[float, float]], alt: float) -> str:
    return " ".join(f"{lon:.7f},{lat:.7f},{alt:g}" for lon, lat in pts)


def _polygon(
    parent: ET.Element, pts: Sequence[tuple[float, float]], alt: float, extrude: bool
) -> None:
    poly = _el(parent, "Polygon")
    if extrude:
        _el(poly, "extrude", "1")
    _el(poly, "altitudeMode", "absolute")
    ring = _el(_el(poly, "outerBoundaryIs"), "LinearRing")
    _el(ring, "coordinates", _coords(pts, alt))


def _wall(
    parent: ET.Element, a: tuple[float, float], b: tuple[float, float], lo: float, hi: float
) -> None:
    poly = _el(parent, "Polygon")
    _el(poly, "altitudeMode", "absolute")
    ring = _el(_el(poly, "outerBoundaryIs"), "LinearRing")
    (x0, y0), (x1, y1) = a, b
    _el(
        ring,
        "coordinates",
        f"{x0:.7f},{y0:.7f},{lo:g} {x1:.7f},{y1:.7f},{lo:g} {x1:.7f},{y1:.7f},{hi:g} "
        f"{x0:.7f},{y0:.7f},{hi:g} {x0:.7f},{y0:.7f},{lo:g}",
    )


class _Writer:
    """KML written with the standard library's ElementTree: a picture of a few thousand
    volumes is written in well under a second (a general KML builder took seconds; see
    docs/formats.md)."""

    def __init__(self, name: str) -> None:
        self.root = ET.Element(f"{{{KML}}}kml")
        self.doc = _el(self.root, "Document")
        _el(self.doc, "name", name)
        for sid, color in (
            ("own", _OWN),
            ("other", _OTHER),
            ("area", _AREA),
            ("conflict", _CONFLICT),
        ):
            style = _el(self.doc, "Style", id=sid)
            line = _el(style, "LineStyle")
            _el(line, "color", "ff" + color[2:])
            _el(line, "width", "2")
            _el(_el(style, "PolyStyle"), "color", color)
        self.folders: dict[str, ET.Element] = {}

    def folder(self, name: str) -> ET.Element:
        if name not in self.folders:
            self.folders[name] = _el(self.doc, "Folder")
            _el(self.folders[name], "name", name)
        return self.folders[name]

    def _placemark(
        self, folder: ET.Element, title: str, style: str, data: dict[str, Any]
    ) -> ET.Element:
        pm = _el(folder, "Placemark")
        _el(pm, "name", title)
        _el(pm, "description", "; ".join(f"{k}: {v}" for k, v in data.items()))
        _el(pm, "styleUrl", f"#{style}")
        return pm

    @staticmethod
    def _data(pm: ET.Element, data: dict[str, Any]) -> None:
        ext = _el(pm, "ExtendedData")
        for k, v in data.items():
            _el(_el(ext, "Data", name=k), "value", str(v))

    @staticmethod
    def _span(pm: ET.Element, t0: Any, t1: Any) -> None:
        span = _el(pm, "TimeSpan")
        _el(span, "begin", _iso(t0))
        _el(span, "end", _iso(t1))

    def volume(
        self, folder: ET.Element, title: str, v: Volume4D, style: str, data: dict[str, Any]
    ) -> None:
        fp = v.footprint
        extra = {
            **data,
            "alt_lower_m": f"{v.alt_lower_m:g}",
            "alt_upper_m": f"{v.alt_upper_m:g}",
            "time_start": _iso(v.time_start),
            "time_end": _iso(v.time_end),
        }
        if fp.type == "Circle":
            extra["center"] = f"{fp.center[0]:.7f},{fp.center[1]:.7f}"
            extra["radius_m"] = f"{fp.radius_m:g}"
        pm = self._placemark(folder, title, style, extra)
        self._span(pm, v.time_start, v.time_end)
        self._data(pm, extra)
        pts = ring(v)
        if v.alt_lower_m <= 0.0:
            _polygon(pm, pts, v.alt_upper_m, extrude=True)
            return
        multi = _el(pm, "MultiGeometry")
        _polygon(multi, pts, v.alt_upper_m, extrude=False)
        _polygon(multi, pts, v.alt_lower_m, extrude=False)
        for a, b in itertools.pairwise(pts):
            _wall(multi, a, b, v.alt_lower_m, v.alt_upper_m)

    def record(
        self,
        kind: str,
        rec_id: str,
        owner: str,
        name: str,
        level: str,
        volumes: Sequence[Volume4D],
        own: bool,
    ) -> None:
        folder = self.folder(f"{kind}s")
        style = "area" if kind == "area" else ("own" if own else "other")
        for i, v in enumerate(volumes):
            title = f"{name or rec_id} ({owner})" + (f" #{i + 1}" if len(volumes) > 1 else "")
            data = {"record_id": rec_id, "kind": kind, "owner": owner, "level": level}
            self.volume(folder, title, v, style, data)

    def track(self, t: dict[str, Any], own: bool) -> None:
        pm = self._placemark(
            self.folder("tracks"), f"{t['id']} ({t['party']})", "own" if own else "other", t
        )
        _el(_el(pm, "TimeStamp"), "when", str(t["time"]))
        self._data(pm, t)
        pt = _el(pm, "Point")
        _el(pt, "extrude", "1")
        _el(pt, "altitudeMode", "absolute")
        _el(
            pt,
            "coordinates",
            f"{float(t['lon']):.7f},{float(t['lat']):.7f},{float(t.get('alt_m', 0.0)):g}",
        )

    def conflict(self, c: Any) -> None:
        sides = [s for s in (c.a, c.b) if s.volumes]
        if not sides:
            return
        a, b = side_label(c.a), side_label(c.b)
        data = {
            "conflict_id": c.id,
            "a": f"{a} ({c.a.owner})",
            "b": f"{b} ({c.b.owner})",
        }
        if c.gaps is not None:  # a notice carries none
            data["horizontal_gap_m"] = f"{c.gaps.horizontal_m:g}"
            data["vertical_gap_m"] = f"{c.gaps.vertical_m:g}"
            data["time_gap_s"] = f"{c.gaps.time_s:g}"
        title = f"Conflict {a} ({c.a.owner}) x {b} ({c.b.owner})"
        pm = self._placemark(self.folder("conflicts"), title, "conflict", data)
        self._span(pm, c.time_start, c.time_end)
        self._data(pm, data)
        multi = _el(pm, "MultiGeometry")
        for side in sides:
            for v in side.volumes:
                _polygon(multi, ring(v), v.alt_upper_m, extrude=False)

    def text(self) -> str:
        body = ET.tostring(self.root, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def picture_kml(picture: Any) -> str:
    """A released picture (``exchange.picture.Picture``) as KML."""
    w = _Writer(f"deconfliction: picture of {picture.party} at {_iso(picture.at)}")
    for pr in picture.records:
        rec = pr.record
        w.record(
            pr.kind.value,
            rec.id,
            rec.owner,
            getattr(rec, "name", ""),
            pr.level,
            rec.volumes,
            rec.owner == picture.party,
        )
    for t in picture.tracks:
        w.track(t, t["party"] == picture.party)
    for c in picture.conflicts:
        w.conflict(c)
    return w.text()


def plans_kml(records: Iterable[Any], title: str = "deconfliction: plans") -> str:
    """Plan-file records (``formats.plans.PlanRecord``) as KML: the user's own data."""
    w = _Writer(title)
    for r in records:
        w.record(r.kind.value, r.id, r.party, r.name, "own", r.volumes, True)
    return w.text()


def to_kmz(kml_text: str) -> bytes:
    """A KMZ: the KML zipped as ``doc.kml``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", kml_text)
    return buf.getvalue()
