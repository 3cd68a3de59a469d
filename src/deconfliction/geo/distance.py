"""Exact horizontal gap between two footprints on the WGS84 ellipsoid.

The gap is the shortest geodesic distance between the two closed sets, 0 where they overlap or
touch. How it is found:

1. Overlap is decided exactly in the (lon, lat) plane, where the polygons' edges are straight
   (RFC 7946); a circle overlaps a polygon when its centre is within ``radius_m`` of it.
2. Otherwise a spherical azimuthal-equidistant projection centred between the two gives an
   approximate gap and the parts of each boundary that come close; those parts are then measured
   exactly: geodesic distances (Karney's algorithm, via pyproj) from each close vertex to the
   true edges of the other footprint, minimised along each edge.

Two geodesic circles are exact in closed form: ``max(0, d(centres) - r1 - r2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from numpy.typing import NDArray

from ..geodesy import EARTH_RADIUS_M, GEOD
from ..model.footprint import CircleFootprint, Footprint, PolygonFootprint

FloatArray = NDArray[np.float64]
#: Distances are resolved to this, metres: a gap within it of a buffer counts as within the buffer.
DISTANCE_RESOLUTION_M = 1e-3
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class Shape:
    """A footprint prepared for distance work."""

    footprint: Footprint

    @property
    def is_circle(self) -> bool:
        return isinstance(self.footprint, CircleFootprint)

    @cached_property
    def cap(self) -> tuple[float, float, float]:
        return self.footprint.cap

    @cached_property
    def ring(self) -> tuple[FloatArray, FloatArray]:
        """Densified closed ring (lon unwrapped), polygons only."""
        assert isinstance(self.footprint, PolygonFootprint)
        return self.footprint.dense

    @cached_property
    def vertices(self) -> tuple[FloatArray, FloatArray]:
        """The polygon's own vertices (closed, lon unwrapped)."""
        assert isinstance(self.footprint, PolygonFootprint)
        lons, lats = self.footprint.lonlat_ring()
        return np.asarray(lons), np.asarray(lats)

    @cached_property
    def lonlat_polygon(self) -> shapely.Polygon:
        lons, lats = self.vertices
        poly = shapely.Polygon(np.column_stack([lons, lats]))
        shapely.prepare(poly)
        return poly


def _geod_dist(
    lon1: float, lat1: float, lon2: float | FloatArray, lat2: float | FloatArray
) -> FloatArray:
    lon2a = np.atleast_1d(np.asarray(lon2, dtype=np.float64))
    lat2a = np.atleast_1d(np.asarray(lat2, dtype=np.float64))
    _, _, d = GEOD.inv(np.full_like(lon2a, lon1), np.full_like(lat2a, lat1), lon2a, lat2a)
    return np.asarray(d, dtype=np.float64)


def _covers_point(shape: Shape, lon: float, lat: float) -> bool:
    """Whether the polygon (closed) contains the point, trying every 360-degree shift."""
    poly = shape.lonlat_polygon
    minx, _, maxx, _ = poly.bounds
    for k in (-360.0, 0.0, 360.0):
        x = lon + k
        if minx - 1e-12 <= x <= maxx + 1e-12 and shapely.intersects_xy(poly, x, lat):
            return True
    return False


def _polygons_overlap(a: Shape, b: Shape) -> bool:
    pa, pb = a.lonlat_polygon, b.lonlat_polygon
    return any(
        pa.intersects(shapely.transform(pb, lambda xy, k=k: xy + np.array([k, 0.0])))
        for k in (-360.0, 0.0, 360.0)
    )


def _min_along_steps(
    lon: float,
    lat: float,
    lon0: FloatArray,
    lat0: FloatArray,
    lon1: FloatArray,
    lat1: FloatArray,
    enough_m: float = -math.inf,
) -> FloatArray:
    """Shortest geodesic distance from a point to each lon/lat-straight step (vectorized).

    A step is one densified piece of an edge (at most 0.1 degrees), over which the distance to a
    point is unimodal: a golden-section search on the step parameter, all steps at once, finds
    each minimum to about a micrometre. Every distance it measures is one to a point of a step,
    so as soon as one is at or below ``enough_m`` the search stops: the smallest of the values
    returned is then at or below ``enough_m`` too (not the minimum, which is no larger).
    """
    # keep each step as it is (the short way, from the unwrapped ring), moved near the point
    shifted = lon + ((lon0 - lon + 180.0) % 360.0 - 180.0)
    lon1 = shifted + (lon1 - lon0)
    lon0 = shifted

    def at(t: FloatArray) -> FloatArray:
        return _geod_dist(lon, lat, lon0 + t * (lon1 - lon0), lat0 + t * (lat1 - lat0))

    lo, hi = np.zeros_like(lon0), np.ones_like(lon0)
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = at(x1), at(x2)
    for _ in range(48):  # (0.618)^48 * 11 km ~ 1e-6 m along the step
        if min(float(np.min(f1)), float(np.min(f2))) <= enough_m:
            return np.minimum(f1, f2)
        left = f1 <= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        nx1 = np.where(left, hi - _GOLDEN * (hi - lo), x2)
        nx2 = np.where(left, x1, lo + _GOLDEN * (hi - lo))
        probe = np.where(left, nx1, nx2)
        fp = at(probe)
        f1, f2 = np.where(left, fp, f2), np.where(left, f1, fp)
        x1, x2 = nx1, nx2
    ends = np.minimum(at(np.zeros_like(lo)), at(np.ones_like(lo)))
    return np.minimum(np.minimum(ends, at((lo + hi) / 2)), np.minimum(f1, f2))


def point_to_ring_m(
    lon: float,
    lat: float,
    shape: Shape,
    *,
    within_m: float = math.inf,
    enough_m: float = -math.inf,
) -> float:
    """Exact geodesic distance from a point to a polygon's boundary (not its interior).

    Results above ``within_m`` may be lower bounds; only steps that may come within
    ``within_m`` (and within the nearest vertex's distance) are refined. Where the distance is
    at or below ``enough_m``, the result may be any distance from the point to the boundary
    that is at or below ``enough_m`` (a circle of that radius meets the boundary: how far in
    does not matter).
    """
    lons, lats = shape.ring
    # Lower bounds per step: in a spherical azimuthal-equidistant projection centred on the
    # point, distances from the point are its spherical distances; a step (at most 0.1 degrees)
    # bends away from its chord by metres at most, and sphere and ellipsoid differ by < 0.5 %.
    xy = _aeqd(lon, lat, lons, lats)
    a, ab = xy[:-1], xy[1:] - xy[:-1]
    len2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(-np.einsum("ij,ij->i", a, ab) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
    plane = np.hypot(a[:, 0] + t * ab[:, 0], a[:, 1] + t * ab[:, 1])
    lower = plane * 0.99 - 5.0
    if float(np.min(lower)) > within_m:
        return float(np.min(lower))
    d = _geod_dist(lon, lat, lons, lats)
    best = float(np.min(d))
    if best <= enough_m:
        return best
    # a step's closest point is nearer than its nearer end by at most the step's length: tight
    # where steps are short (near the poles, where the projected bound above is loose)
    steps = _geod_dist_pairs(lons[:-1], lats[:-1], lons[1:], lats[1:])
    lower = np.maximum(lower, np.minimum(d[:-1], d[1:]) - steps * 0.51 - 1e-3)
    i = np.nonzero(lower <= min(best, within_m))[0]
    if len(i):
        best = min(
            best,
            float(
                np.min(
                    _min_along_steps(lon, lat, lons[i], lats[i], lons[i + 1], lats[i + 1], enough_m)
                )
            ),
        )
    return best


def _geod_dist_pairs(
    lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray
) -> FloatArray:
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d, dtype=np.float64)


def _aeqd(lon0: float, lat0: float, lons: FloatArray, lats: FloatArray) -> FloatArray:
    """Spherical azimuthal-equidistant projection centred on (lon0, lat0), metres."""
    p0, lam0 = math.radians(lat0), math.radians(lon0)
    p, dl = np.radians(lats), np.radians(lons) - lam0
    cp = np.cos(p)
    xs = cp * np.sin(dl)
    ys = math.cos(p0) * np.sin(p) - math.sin(p0) * cp * np.cos(dl)
    cz = math.sin(p0) * np.sin(p) + math.cos(p0) * cp * np.cos(dl)
    norm = np.hypot(xs, ys)
    c = np.arctan2(norm, cz)
    scale = np.where(norm > 0, c / np.where(norm > 0, norm, 1.0), 1.0) * EARTH_RADIUS_M
    return np.column_stack([xs * scale, ys * scale])


#: Smallest radius of curvature of WGS84 (the meridian's, at the equator), rounded down. Every
#: path on the ellipsoid is at least this times its length on the unit sphere in geodetic
#: coordinates, so it turns a central angle into a lower bound of the geodesic distance.
MIN_CURVATURE_M = 6_335_000.0


def cap_gap_lower_bound_m(
    lon1: float, lat1: float, r1: float, lon2: float, lat2: float, r2: float
) -> float:
    """A lower bound of the gap between two footprints held in caps (centre, radius), cheaply."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    angle = 2.0 * math.asin(min(1.0, math.sqrt(h)))
    return angle * MIN_CURVATURE_M - r1 - r2


def horizontal_gap_m(a: Shape, b: Shape, *, within_m: float = math.inf) -> float:
    """Shortest geodesic distance between two footprints, 0 where they overlap or touch.

    With ``within_m``, any result larger than ``within_m`` may be returned as a lower bound
    instead of the exact value (enough to decide ``gap <= within_m``); results at or below it
    are exact.
    """
    alon, alat, ar = a.cap
    blon, blat, br = b.cap
    lower = cap_gap_lower_bound_m(alon, alat, ar, blon, blat, br)
    if lower > within_m:
        return lower
    if a.is_circle and b.is_circle:
        return max(0.0, float(_geod_dist(alon, alat, blon, blat)[0]) - ar - br)
    if a.is_circle or b.is_circle:
        circle, poly = (a, b) if a.is_circle else (b, a)
        clon, clat, r = circle.cap
        # how far inside the circle the polygon's boundary comes does not matter: the gap is 0
        return max(0.0, _point_to_polygon(clon, clat, poly, within_m + r, enough_m=r) - r)
    if _polygons_overlap(a, b):
        return 0.0
    return _polygon_gap(a, b, within_m)


def _point_to_polygon(
    lon: float, lat: float, shape: Shape, within_m: float, *, enough_m: float = -math.inf
) -> float:
    if _covers_point(shape, lon, lat):
        return 0.0
    return point_to_ring_m(lon, lat, shape, within_m=within_m, enough_m=enough_m)


def _polygon_gap(a: Shape, b: Shape, within_m: float) -> float:
    # approximate in a projection centred between the two, then measure the close parts exactly
    alon, alat, _ = a.cap
    blon, blat, _ = b.cap
    az, _, d = GEOD.inv(alon, alat, blon, blat)
    mlon, mlat, _ = GEOD.fwd(alon, alat, az, d / 2.0)
    la, pa = a.ring
    lb, pb = b.ring
    xa, xb = _aeqd(mlon, mlat, la, pa), _aeqd(mlon, mlat, lb, pb)
    ga, gb = shapely.LineString(xa), shapely.LineString(xb)
    approx = float(ga.distance(gb))
    reach = max(
        float(np.max(np.hypot(xa[:, 0], xa[:, 1]))), float(np.max(np.hypot(xb[:, 0], xb[:, 1])))
    )
    rel = 0.02 + (reach / EARTH_RADIUS_M) ** 2
    lower = approx * (1.0 - rel) - 50.0
    if lower > within_m:
        return lower
    band = approx * (1.0 + 2.0 * rel) + 100.0
    best = math.inf
    # vertices of one ring that may be within the band of the other, measured exactly to it
    # nearest first, stopping where the projected distance cannot beat the best so far
    for (xs, lons, lats), other, other_line in (((xa, la, pa), b, gb), ((xb, lb, pb), a, ga)):
        proj = shapely.distance(shapely.points(xs[:-1]), other_line)
        for i in np.argsort(proj):
            if proj[i] > band or proj[i] * (1.0 - rel) - 50.0 > best:
                break
            best = min(
                best,
                point_to_ring_m(float(lons[i]), float(lats[i]), other, within_m=min(best, band)),
            )
    return best
