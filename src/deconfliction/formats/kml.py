"""KML and KMZ (Google Earth, QGIS, GDAL) of a party's released picture or of plan files.

Written with simplekml. One folder per kind (intents, areas, tracks, conflicts); one placemark
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
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from ..geodesy import GEOD
from ..model import Volume4D

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


class _Writer:
    def __init__(self, name: str) -> None:
        import simplekml

        self.simplekml = simplekml
        self.kml = simplekml.Kml(name=name)
        self.folders: dict[str, Any] = {}

    def folder(self, name: str) -> Any:
        if name not in self.folders:
            self.folders[name] = self.kml.newfolder(name=name)
        return self.folders[name]

    def _style(self, geom: Any, color: str) -> None:
        geom.style.polystyle.color = color
        geom.style.linestyle.color = "ff" + color[2:]
        geom.style.linestyle.width = 2

    def volume(
        self,
        folder: Any,
        title: str,
        v: Volume4D,
        color: str,
        data: dict[str, Any],
    ) -> None:
        pts = ring(v)
        absolute = self.simplekml.AltitudeMode.absolute
        if v.alt_lower_m <= 0.0:
            pm = folder.newpolygon(name=title)
            pm.outerboundaryis = [(lon, lat, v.alt_upper_m) for lon, lat in pts]
            pm.altitudemode = absolute
            pm.extrude = 1
            target = pm
        else:
            target = folder.newmultigeometry(name=title)
            for alt in (v.alt_upper_m, v.alt_lower_m):
                p = target.newpolygon()
                p.outerboundaryis = [(lon, lat, alt) for lon, lat in pts]
                p.altitudemode = absolute
            for (x0, y0), (x1, y1) in itertools.pairwise(pts):
                w = target.newpolygon()
                w.outerboundaryis = [
                    (x0, y0, v.alt_lower_m),
                    (x1, y1, v.alt_lower_m),
                    (x1, y1, v.alt_upper_m),
                    (x0, y0, v.alt_upper_m),
                    (x0, y0, v.alt_lower_m),
                ]
                w.altitudemode = absolute
        target.timespan.begin = _iso(v.time_start)
        target.timespan.end = _iso(v.time_end)
        self._style(target, color)
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
        for k, val in extra.items():
            target.extendeddata.newdata(name=k, value=str(val))
        target.description = "; ".join(f"{k}: {val}" for k, val in extra.items())

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
        color = _AREA if kind == "area" else (_OWN if own else _OTHER)
        for i, v in enumerate(volumes):
            title = f"{name or rec_id} ({owner})" + (f" #{i + 1}" if len(volumes) > 1 else "")
            data = {"record_id": rec_id, "kind": kind, "owner": owner, "level": level}
            self.volume(folder, title, v, color, data)

    def track(self, t: dict[str, Any]) -> None:
        pt = self.folder("tracks").newpoint(name=f"{t['id']} ({t['party']})")
        pt.coords = [(float(t["lon"]), float(t["lat"]), float(t.get("alt_m", 0.0)))]
        pt.altitudemode = self.simplekml.AltitudeMode.absolute
        pt.extrude = 1
        pt.timestamp.when = str(t["time"])
        for k, val in t.items():
            pt.extendeddata.newdata(name=k, value=str(val))

    def conflict(self, c: Any) -> None:
        sides = [s for s in (c.a, c.b) if s.volumes]
        if not sides:
            return
        mg = self.folder("conflicts").newmultigeometry(
            name=f"Conflict {c.a.id} ({c.a.owner}) x {c.b.id} ({c.b.owner})"
        )
        for s in sides:
            for v in s.volumes:
                p = mg.newpolygon()
                p.outerboundaryis = [(lon, lat, v.alt_upper_m) for lon, lat in ring(v)]
                p.altitudemode = self.simplekml.AltitudeMode.absolute
        mg.timespan.begin = _iso(c.time_start)
        mg.timespan.end = _iso(c.time_end)
        self._style(mg, _CONFLICT)
        data = {
            "conflict_id": c.id,
            "a": f"{c.a.id} ({c.a.owner})",
            "b": f"{c.b.id} ({c.b.owner})",
            "horizontal_gap_m": f"{c.gaps.horizontal_m:g}",
            "vertical_gap_m": f"{c.gaps.vertical_m:g}",
            "time_gap_s": f"{c.gaps.time_s:g}",
        }
        for k, val in data.items():
            mg.extendeddata.newdata(name=k, value=val)

    def text(self) -> str:
        out: str = self.kml.kml()
        return out


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
        w.track(t)
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
