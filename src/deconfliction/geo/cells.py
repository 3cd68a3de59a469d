"""S2 cell coverings: every piece of S2 code lives here.

A covering is a set of S2 cells (levels ``MIN_LEVEL`` to ``MAX_LEVEL``) whose union contains a
footprint grown by a margin in metres. Two footprints can only come within ``m`` metres of each
other if the covering of one grown by ``m`` shares a cell (or an ancestor or descendant) with the
covering of the other: the candidate search of the store relies on nothing else.

Cell ids are unsigned 64-bit; SQL integers are signed, so ids are stored as ``id - 2**63``, which
keeps their order (a cell's descendants stay one contiguous range).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import s2geometry as s2
import shapely

from ..model.footprint import (
    MAX_FOOTPRINT_RADIUS_M,
    CircleFootprint,
    Footprint,
    PolygonFootprint,
    dense_ring,
)

MIN_LEVEL = 4
MAX_LEVEL = 16
MAX_CELLS = 8
#: Cells of a record's own covering (what the cell index stores of each volume): coarser than a
#: search's, since every cell is an index row a write inserts, and what the coarser cells bring
#: near a search the cap prefilter (``cap_gap_lower_bound_m``) rejects before any record is read.
RECORD_MAX_CELLS = 4
#: Metres per degree of latitude, and of longitude at the equator, rounded down (WGS84).
_M_PER_DEG = 110_000.0
#: Smallest radius of curvature of WGS84 (meridian, at the equator), rounded down: a distance in
#: metres over this is at least the angle it spans on the S2 sphere.
_MIN_CURVATURE_M = 6_335_000.0
#: Largest radius of curvature of WGS84 (at the poles), rounded up: an angle on the S2 sphere
#: spans at most this many metres per radian on the ellipsoid.
_MAX_CURVATURE_M = 6_400_000.0
#: Slack for what densified rings and great-circle S2 edges may miss of lon/lat-straight edges.
SLACK_M = 20.0
_OFFSET = 1 << 63

_coverer = s2.S2RegionCoverer()
_coverer.set_min_level(MIN_LEVEL)
_coverer.set_max_level(MAX_LEVEL)
_coverer.set_max_cells(MAX_CELLS)
_record_coverer = s2.S2RegionCoverer()
_record_coverer.set_min_level(MIN_LEVEL)
_record_coverer.set_max_level(MAX_LEVEL)
_record_coverer.set_max_cells(RECORD_MAX_CELLS)


def to_sql(cell_id: int) -> int:
    return cell_id - _OFFSET


def _cap(lon: float, lat: float, radius_m: float) -> s2.S2Cap:
    angle = min(math.pi, radius_m * 1.001 / _MIN_CURVATURE_M)
    return s2.S2Cap(s2.S2LatLng.FromDegrees(lat, lon).ToPoint(), s2.S1Angle.Radians(angle))


def _grown_polygon(fp: PolygonFootprint, margin_m: float) -> s2.S2Polygon | None:
    """The polygon grown by ``margin_m`` in lon/lat, as an S2Polygon; None where a cap is better."""
    lons, lats = fp.lonlat_ring()
    lat_reach = max(abs(x) for x in lats) + margin_m / _M_PER_DEG
    if lat_reach >= 85.0:
        return None
    delta = margin_m / (_M_PER_DEG * math.cos(math.radians(lat_reach)))
    if delta > 5.0:
        return None
    # the buffer draws round corners as chords (2 per quarter turn), which cut inside the true
    # circle by up to 1 - cos(22.5 deg); a radius larger by 1 / cos(22.5 deg) keeps every chord
    # outside it
    grown = shapely.Polygon(np.column_stack([lons, lats])).buffer(
        delta / math.cos(math.pi / 8), quad_segs=2
    )
    ring = np.asarray(grown.exterior.coords)
    if ring[:, 1].max() >= 89.0 or ring[:, 1].min() <= -89.0:
        return None
    glon, glat = dense_ring(list(ring[:, 0]), list(ring[:, 1]))
    pts = [
        s2.S2LatLng.FromDegrees(la, lo).ToPoint()
        for lo, la in zip(glon[:-1], glat[:-1], strict=True)
    ]
    loop = s2.S2Loop(pts)
    loop.Normalize()
    return s2.S2Polygon(loop)


def _ring_area_deg2(lons: list[float], lats: list[float]) -> float:
    """Planar area of a closed simple ring in degrees squared (the shoelace formula)."""
    twice = 0.0
    for i in range(len(lons) - 1):
        twice += lons[i] * lats[i + 1] - lons[i + 1] * lats[i]
    return abs(twice) / 2.0


def _region_and_kind(fp: Footprint, margin_m: float) -> tuple[s2.S2Region, bool]:
    """The region to cover for ``fp`` grown by ``margin_m``, and whether it is the footprint's
    cap grown by the margin (a circle's, or a compact polygon's)."""
    if isinstance(fp, CircleFootprint):
        return _cap(fp.center[0], fp.center[1], fp.radius_m + margin_m + SLACK_M), True
    lon, lat, r = fp.cap
    # a compact polygon is covered about as tightly by its cap, which is much cheaper to build
    lons, lats = fp.lonlat_ring()
    area_deg2 = _ring_area_deg2(lons, lats)
    cap_deg2 = math.pi * ((r + margin_m) / _M_PER_DEG) ** 2 * math.cos(math.radians(lat))
    if area_deg2 < 0.5 * cap_deg2:
        poly = _grown_polygon(fp, margin_m + SLACK_M)
        if poly is not None:
            return poly, False
    return _cap(lon, lat, r + margin_m + SLACK_M), True


def _region(fp: Footprint, margin_m: float) -> s2.S2Region:
    return _region_and_kind(fp, margin_m)[0]


def _ids(region: s2.S2Region) -> list[int]:
    return [c.id() for c in _coverer.GetCovering(region)]


def covering(fp: Footprint, margin_m: float = 0.0) -> list[int]:
    """S2 cell ids (unsigned) whose union contains ``fp`` grown by ``margin_m``."""
    return _ids(_region(fp, margin_m))


def cap_covering(lon: float, lat: float, radius_m: float) -> list[int]:
    """S2 cell ids (unsigned) whose union contains the geodesic circle (``covering`` of a
    ``CircleFootprint`` with this centre and radius)."""
    return _ids(_cap(lon, lat, radius_m + SLACK_M))


def record_coverings(fp: Footprint) -> tuple[list[int], list[int]]:
    """What a record indexes of a footprint: (its covering, in at most ``RECORD_MAX_CELLS``
    cells, the covering of its cap ``fp.cap``): the same list, computed once, when the
    footprint is covered through its cap anyway (circles, compact polygons)."""
    region, is_cap = _region_and_kind(fp, 0.0)
    cells = [c.id() for c in _record_coverer.GetCovering(region)]
    return cells, (cells if is_cap else cap_covering(*fp.cap))


def cover(fp: Footprint, margin_m: float = 0.0) -> list[int]:
    """The covering as stored (see ``to_sql``)."""
    return [to_sql(c) for c in covering(fp, margin_m)]


#: Finest and coarsest levels of a covering at one level (``covering_at_level``).
FIXED_LEVEL_MIN = 2
FIXED_LEVEL_MAX = 16


def _check_level(level: int) -> None:
    if not FIXED_LEVEL_MIN <= level <= FIXED_LEVEL_MAX:
        raise ValueError(f"level {level} is outside {FIXED_LEVEL_MIN}..{FIXED_LEVEL_MAX}")


def covering_at_level(
    fp: Footprint, margin_m: float, level: int, within: Iterable[int] | None = None
) -> list[int]:
    """S2 cell ids (unsigned), all at ``level``, whose union contains ``fp`` grown by
    ``margin_m``; with ``within`` (cells at coarser levels), only those inside one of them.

    Every cell at ``level`` that may meet the grown footprint is listed (a cell is dropped only
    when S2 proves it disjoint), so a point of the grown footprint that lies inside a cell (not
    on its edge) always has that cell in the covering, and, with ``within``, whenever the
    point's ancestor at a coarser level is one of ``within``. Sorted, without repeats.
    """
    _check_level(level)
    region = _region(fp, margin_m)
    if within is None:
        coverer = s2.S2RegionCoverer()
        coverer.set_min_level(level)
        coverer.set_max_level(level)
        coverer.set_max_cells(1 << 30)
        return sorted({c.id() for c in coverer.GetCovering(region)})
    out: set[int] = set()
    stack = [s2.S2CellId(c) for c in set(within)]
    while stack:
        cid = stack.pop()
        lv = cid.level()
        if lv > level:
            raise ValueError(f"cell {cid.id()} is finer than level {level}")
        if not region.MayIntersect(s2.S2Cell(cid)):
            continue
        if lv == level:
            out.add(cid.id())
        else:
            stack.extend(cid.child(k) for k in range(4))
    return sorted(out)


def _lsb(cell: int) -> int:
    return cell & -cell


def cell_level(cell: int) -> int:
    return 30 - (_lsb(cell).bit_length() - 1) // 2


def cell_parent(cell: int, level: int) -> int:
    lsb = 1 << (2 * (30 - level))
    return (cell & (-lsb & 0xFFFFFFFFFFFFFFFF)) | lsb


def cell_token(cell: int) -> str:
    """The S2 token of a cell (its id in short hex, as S2 tools print it)."""
    return str(s2.S2CellId(cell).ToToken())


def cell_bounds(cell: int) -> tuple[float, float, float, float]:
    """A cell's lon/lat bounding box (west, south, east, north), degrees."""
    rect = s2.S2Cell(s2.S2CellId(cell)).GetRectBound()
    lo, hi = rect.lo(), rect.hi()
    return (lo.lng().degrees(), lo.lat().degrees(), hi.lng().degrees(), hi.lat().degrees())


@dataclass(frozen=True)
class CellQuery:
    """What a query covering matches in stored coverings: descendants (ranges) or ancestors."""

    ranges: tuple[tuple[int, int], ...]
    ancestors: frozenset[int]


def cell_query(cells: list[int]) -> CellQuery:
    """The ranges and ancestors (stored ids) that a query covering (unsigned ids) matches."""
    spans = []
    ancestors: set[int] = set()
    coarsest = 1 << (2 * (30 - MIN_LEVEL))  # the lowest set bit of a level-MIN_LEVEL cell
    for c in cells:
        lsb = c & -c
        spans.append((c - lsb + 1 - _OFFSET, c + lsb - 1 - _OFFSET))
        step = lsb << 2  # the parent's lowest set bit
        while step <= coarsest:
            a = ((c & -step) | step) - _OFFSET  # to_sql(cell_parent(c, level))
            if a in ancestors:
                break  # and every coarser one is there too
            ancestors.add(a)
            step <<= 2
    return CellQuery(tuple(spans), frozenset(ancestors))


def query_cells(fp: Footprint, margin_m: float) -> CellQuery:
    """For a search within ``margin_m`` of ``fp``: what to match against stored coverings."""
    return cell_query(covering(fp, margin_m))


# --- ASTM F3548-21 DSS cells: every level-13 cell a volume touches ------------------------------
#: The DSS's notion of "the same place" is sharing a level-13 cell (as the InterUSS reference).
DSS_LEVEL = 13
#: Radius of the sphere the DSS builds circles on, metres.
DSS_EARTH_RADIUS_M = 6_371_010.0
_DSS_EARTH_AREA_KM2 = 510_072_000.0

_dss_coverer = s2.S2RegionCoverer()
_dss_coverer.set_min_level(DSS_LEVEL)
_dss_coverer.set_max_level(DSS_LEVEL)
_dss_coverer.set_max_cells(1 << 30)


def _s2_point(lat: float, lng: float) -> s2.S2Point:
    return s2.S2LatLng.FromDegrees(lat, lng).ToPoint()


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    n = math.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
    return (v[0] / n, v[1] / n, v[2] / n)


def _cross(
    a: tuple[float, float, float], b: tuple[float, float, float]
) -> tuple[float, float, float]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _ortho(v: tuple[float, float, float]) -> tuple[float, float, float]:
    o = [0.012, 0.0053, 0.00457]
    k = max(range(3), key=lambda i: abs(v[i]))
    o[(k + 2) % 3] = 1.0
    return _unit(_cross(v, (o[0], o[1], o[2])))


def dss_circle_cells(lat: float, lng: float, radius_m: float) -> frozenset[int]:
    """Level-13 cells of a circle, drawn as a regular 20-gon on the sphere (as the reference)."""
    c = _s2_point(lat, lng)
    z = (c.x(), c.y(), c.z())
    y = _ortho(z)
    x = _cross(y, z)
    ang = radius_m / DSS_EARTH_RADIUS_M
    zc, r = math.cos(ang), math.sin(ang)
    pts = []
    for i in range(20):
        a = 2 * math.pi * i / 20
        q = (r * math.cos(a), r * math.sin(a), zc)
        v = _unit(tuple(q[0] * x[k] + q[1] * y[k] + q[2] * z[k] for k in range(3)))
        pts.append(s2.S2Point_FromRaw(*v))
    return frozenset(c.id() for c in _dss_coverer.GetCovering(s2.S2Loop(pts)))


def dss_polygon_cells(vertices: list[tuple[float, float]], max_area_km2: float) -> frozenset[int]:
    """Level-13 cells of a polygon given as (lat, lng) vertices; ValueError says why it is bad.

    Edges are great circles (S2). No two non-adjacent edges may cross or touch (so the last
    vertex must not repeat the first); the smaller of the two regions is the polygon.
    """
    if len(vertices) < 3:
        raise ValueError("a polygon needs at least 3 vertices")
    pts = [_s2_point(a, b) for a, b in vertices]
    if len(set(vertices)) != len(vertices):
        raise ValueError("a vertex repeats (the last one must not repeat the first)")
    # S2's own check finds crossing edges through its index: about n log n
    loop = s2.S2Loop(pts)
    if not loop.IsValid():
        raise ValueError("its edges cross or touch (the polygon is not a simple loop)")
    loop.Normalize()
    area = loop.GetArea() * _DSS_EARTH_AREA_KM2 / (4 * math.pi)
    if area > max_area_km2:
        raise ValueError(f"the polygon's area ({area:.0f} km^2) is over {max_area_km2:g} km^2")
    return frozenset(c.id() for c in _dss_coverer.GetCovering(loop))


#: Footprints whose bounding cap is larger than this are not cut into level-13 cells for the DSS
#: view (about 4 times the largest area the DSS accepts): their coarse covering stands in.
DSS_NATIVE_MAX_CAP_KM2 = 10_000.0


def dss_footprint_cells(fp: Footprint) -> frozenset[int] | None:
    """Level-13 cells of a native footprint (a superset, for the DSS view of native intents), or
    None when the footprint is too large to list them (see ``DSS_NATIVE_MAX_CAP_KM2``)."""
    r_m = fp.cap[2]
    if math.pi * (r_m / 1000.0) ** 2 > DSS_NATIVE_MAX_CAP_KM2:
        return None
    return frozenset(c.id() for c in _dss_coverer.GetCovering(_region(fp, 0.0)))


def dss_cells_circle(cells: frozenset[int]) -> CircleFootprint:
    """A geodesic circle that contains every one of these cells (a conservative bound)."""
    cap = s2.S2CellUnion([s2.S2CellId(c) for c in sorted(cells)]).GetCapBound()
    centre = s2.S2LatLng(cap.center())
    angle = math.acos(max(-1.0, min(1.0, 1.0 - cap.height())))
    # the ellipsoid's largest radius of curvature bounds the geodesic length of the cap's angle
    radius_m = min(angle * _MAX_CURVATURE_M * 1.001 + SLACK_M, MAX_FOOTPRINT_RADIUS_M)
    return CircleFootprint.model_validate(
        {
            "type": "Circle",
            "center": [centre.lng().degrees(), centre.lat().degrees()],
            "radius_m": max(radius_m, 1.0),
        }
    )
