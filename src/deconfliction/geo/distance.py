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
#: Smallest radius of curvature of WGS84 (the meridian's, at the equator), rounded down. Every
#: path on the ellipsoid is at least this times its length on the unit sphere in geodetic
#: coordinates, so it turns a central angle into a lower bound of the geodesic distance.
MIN_CURVATURE_M = 6_335_000.0
#: Largest radius of curvature of WGS84 (at the poles, a^2 / b), rounded up: no path on the
#: ellipsoid is longer than this times its length on the unit sphere in geodetic coordinates.
MAX_CURVATURE_M = 6_400_000.0
#: From a distance in ``_aeqd`` (a central angle times the mean radius) to an upper bound of the
#: geodesic distance on the ellipsoid.
_SPHERE_TO_UPPER = MAX_CURVATURE_M / EARTH_RADIUS_M


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
    def lonlat(self) -> tuple[list[float], list[float]]:
        """The polygon's own vertices (closed, lon unwrapped), as lists."""
        assert isinstance(self.footprint, PolygonFootprint)
        return self.footprint.lonlat_ring()

    @cached_property
    def vertices(self) -> tuple[FloatArray, FloatArray]:
        """The polygon's own vertices (closed, lon unwrapped)."""
        lons, lats = self.lonlat
        return np.asarray(lons), np.asarray(lats)

    @cached_property
    def lon_range(self) -> tuple[float, float]:
        """Smallest and largest longitude of the polygon's (unwrapped) vertices."""
        lons = self.lonlat[0]
        return min(lons), max(lons)

    @cached_property
    def lonlat_polygon(self) -> shapely.Polygon:
        lons, lats = self.vertices
        poly = shapely.Polygon(np.column_stack([lons, lats]))
        shapely.prepare(poly)
        return poly


#: Up to this many distances, pyproj is called once for each: faster than its array call, whose
#: fixed cost is about ten of its scalar calls.
_FEW = 12


def _geod_dist(
    lon1: float, lat1: float, lon2: float | FloatArray, lat2: float | FloatArray
) -> FloatArray:
    lon2a = np.atleast_1d(np.asarray(lon2, dtype=np.float64))
    lat2a = np.atleast_1d(np.asarray(lat2, dtype=np.float64))
    return _geod_dist_pairs(np.full_like(lon2a, lon1), np.full_like(lat2a, lat1), lon2a, lat2a)


def _geod_dist_pairs(
    lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray
) -> FloatArray:
    if lon1.size <= _FEW:
        inv = GEOD.inv
        return np.array(
            [
                inv(a, b, c, d)[2]
                for a, b, c, d in zip(
                    lon1.tolist(), lat1.tolist(), lon2.tolist(), lat2.tolist(), strict=True
                )
            ]
        )
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d, dtype=np.float64)


def _covers_point(shape: Shape, lon: float, lat: float) -> bool:
    """Whether the polygon (closed) contains the point, trying every 360-degree shift.

    A small ring is tested by counting crossings, where a point on the boundary may be found on
    either side: the callers measure such a point's distance to the boundary next, 0 either way.
    """
    lons, lats = shape.lonlat
    minx, maxx = shape.lon_range
    for k in (0.0, -360.0, 360.0):
        x = lon + k
        if minx - 1e-12 <= x <= maxx + 1e-12:
            if len(lons) <= _SMALL_RING:
                if _crossings_odd(lons, lats, x, lat):
                    return True
            elif shapely.intersects_xy(shape.lonlat_polygon, x, lat):
                return True
    return False


#: Rings of at most this many positions are tested point by point in Python, without building
#: a shapely polygon first.
_SMALL_RING = 33


def _crossings_odd(lons: list[float], lats: list[float], x: float, y: float) -> bool:
    """Whether a ray from (x, y) towards +x crosses the closed ring an odd number of times."""
    odd = False
    x0, y0 = lons[-1], lats[-1]
    for x1, y1 in zip(lons, lats, strict=True):
        if (y1 > y) != (y0 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            odd = not odd
        x0, y0 = x1, y1
    return odd


def _polygons_overlap(a: Shape, b: Shape) -> bool:
    (amin, amax), (bmin, bmax) = a.lon_range, b.lon_range
    pa = a.lonlat_polygon
    for k in (0.0, -360.0, 360.0):
        if bmin + k > amax or bmax + k < amin:
            continue
        pb = b.lonlat_polygon
        if k:
            pb = shapely.transform(pb, lambda xy, k=k: xy + np.array([k, 0.0]))
        if pa.intersects(pb):
            return True
    return False


def _min_along_steps(
    lon: float,
    lat: float,
    lon0: FloatArray,
    lat0: FloatArray,
    lon1: FloatArray,
    lat1: FloatArray,
    *,
    within_m: float = math.inf,
    enough_m: float = -math.inf,
) -> float:
    """Shortest geodesic distance from a point to some lon/lat-straight steps (vectorized).

    A step is one densified piece of an edge (at most 0.1 degrees), over which the distance to a
    point is unimodal: a golden-section search on the step parameter, all steps at once, finds
    each minimum to about a micrometre. Every distance it measures is one to a point of a step,
    so as soon as one is at or below ``enough_m`` the search stops: the value returned is then
    at or below ``enough_m`` too (not the minimum, which is no larger).

    Where the minimum is above ``within_m``, the search stops as soon as every step is shown to
    stay beyond it, and returns a lower bound above ``within_m``: a step's minimum lies in its
    bracket, and no nearer to the point than the distance measured inside the bracket less the
    bracket's length along the step (``MAX_CURVATURE_M`` times its extent in angle, at the
    step's widest parallel).
    """
    # keep each step as it is (the short way, from the unwrapped ring), moved near the point
    shifted = lon + ((lon0 - lon + 180.0) % 360.0 - 180.0)
    lon1 = shifted + (lon1 - lon0)
    lon0 = shifted
    # metres per unit of the step parameter, at most: the step's extent in radians of latitude,
    # and of longitude at its parallel nearest the equator, on the largest radius of curvature
    widest = np.where(
        lat0 * lat1 <= 0.0, 1.0, np.cos(np.radians(np.minimum(np.abs(lat0), np.abs(lat1))))
    )
    speed = MAX_CURVATURE_M * np.hypot(np.radians(lat1 - lat0), widest * np.radians(lon1 - lon0))

    def at(t: FloatArray) -> FloatArray:
        return _geod_dist(lon, lat, lon0 + t * (lon1 - lon0), lat0 + t * (lat1 - lat0))

    lo, hi = np.zeros_like(lon0), np.ones_like(lon0)
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = at(x1), at(x2)
    for _ in range(48):  # (0.618)^48 * 11 km ~ 1e-6 m along the step
        near = np.minimum(f1, f2)
        if float(np.min(near)) <= enough_m:
            return float(np.min(near))
        if within_m < math.inf:
            beyond = float(np.min(np.maximum(f1, f2) - speed * (hi - lo))) - 1e-6
            if beyond > within_m:
                return beyond
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
    return float(np.min(np.minimum(np.minimum(ends, at((lo + hi) / 2)), np.minimum(f1, f2))))


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
    at or below ``enough_m``, the result may be any value from the distance to ``enough_m``
    (a circle of that radius meets the boundary: how far in does not matter).
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
    if enough_m > 0.0:
        # an upper bound: the projection keeps the central angle to each vertex, and no path on
        # the ellipsoid is longer than that angle times ``MAX_CURVATURE_M``
        upper = float(np.min(np.hypot(xy[:, 0], xy[:, 1]))) * _SPHERE_TO_UPPER + 1e-3
        if upper <= enough_m:
            return upper
    d = _geod_dist(lon, lat, lons, lats)
    best = float(np.min(d))
    if best <= enough_m:
        return best
    # a step's closest point is nearer than its nearer end by at most the step's length: tight
    # where steps are short (near the poles, where the projected bound above is loose)
    steps = _geod_dist_pairs(lons[:-1], lats[:-1], lons[1:], lats[1:])
    lower = np.maximum(lower, np.minimum(d[:-1], d[1:]) - steps * 0.51 - 1e-3)
    limit = min(best, within_m)
    near = lower <= limit
    if not near.any():  # every step beyond ``within_m`` (the steps by the nearest vertex are not
        return float(np.min(lower))  # beyond ``best``)
    i = np.nonzero(near)[0]
    found = _min_along_steps(
        lon,
        lat,
        lons[i],
        lats[i],
        lons[i + 1],
        lats[i + 1],
        within_m=limit,
        enough_m=enough_m,
    )
    if min(best, found) <= max(within_m, enough_m):
        return min(best, found)
    # beyond ``within_m``: a lower bound, from the steps searched and those left out
    return min(found, float(np.min(lower[~near]))) if not near.all() else found


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
        return max(0.0, float(GEOD.inv(alon, alat, blon, blat)[2]) - ar - br)
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
    # nearest first, stopping where the projected distance cannot beat the best so far; a
    # vertex beyond ``within_m`` gives a lower bound of its distance, so ``best`` is exact when
    # at or below ``within_m``, and a lower bound of the gap otherwise
    for (xs, lons, lats), other, other_line in (((xa, la, pa), b, gb), ((xb, lb, pb), a, ga)):
        proj = shapely.distance(shapely.points(xs[:-1]), other_line)
        for i in np.argsort(proj):
            if proj[i] > band or proj[i] * (1.0 - rel) - 50.0 > best:
                break
            best = min(
                best,
                point_to_ring_m(
                    float(lons[i]), float(lats[i]), other, within_m=min(best, band, within_m)
                ),
            )
    return best
