"""Encounter geometry for live alerts: a pair's closest approach, a track's passage through volumes.

**Pairs** use the model of ``engine.tactical`` (each track a straight line in ECEF from its
state, altitude linear in time) and its arithmetic, so that an alert's numbers agree with the
detection that raised it. Unlike the detection, which clips the closest approach to the
look-ahead, the closest approach here is that of the two straight paths: its time does not move
while both tracks fly straight, so a countdown to it holds, and once the pair has passed it is
in the past. Beyond the look-ahead it is not given (the distance then is).

**Passage through volumes.** A track flies the geodesic that starts at its reported position
with its reported track angle (``GEOD.fwd``), at its ground speed, its altitude changing at its
vertical rate; the path is measured from the report, so every cycle describes the same path and
times computed on it stay put. A volume is a footprint (a polygon with lon/lat-straight edges,
or a geodesic circle), an altitude band and a time window, all closed. The track is inside a
volume when all three hold. The times it enters and leaves are found by geometry, not by steps:

- a circle: the distance from the centre along the path has one minimum (paths shorter than
  half the Earth), found by golden-section search; the crossings of the radius on either side of
  it are found by bisection to a microsecond;
- a polygon: the path, sampled every ``SAMPLE_M`` metres, is cut against every edge; each
  crossing of an edge's line is then solved on the exact path by bisection; a change of side
  between two samples that no crossing explains (a path grazing a vertex) is solved by bisection
  on the point-in-polygon test;
- altitude and time: linear, solved in closed form.

The stays in each volume are intersected with the band and the window, joined across volumes
(leaving one volume into the next that touches it is no exit), and clipped to the look-ahead.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from ..geodesy import GEOD
from ..model.footprint import CircleFootprint, PolygonFootprint
from ..model.volume import Volume4D
from .tactical import BOUNDARY_M, Minima

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Times are solved to this, seconds.
TIME_RESOLUTION_S = 1e-6
#: Length of the path's pieces when a polygon is cut against it, metres.
SAMPLE_M = 500.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


# --- pairs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Approach:
    """Geometry of pairs of tracks (arrays, one entry per pair); times in seconds from now."""

    #: horizontal closest approach of the straight paths, if not beyond the look-ahead (it may
    #: be past); NaN when it is beyond, or when the distance never changes
    t_cpa: FloatArray
    #: the distances then (wherever it falls; the distances now when they never change)
    d_cpa_m: FloatArray
    dz_cpa_m: FloatArray
    #: the predicted loss of separation, when it meets the look-ahead (else NaN); the start may
    #: be before now (separation already lost: NaN if it always was), the end is NaN when it
    #: lies beyond the look-ahead
    t_los_start: FloatArray
    t_los_end: FloatArray
    lost_now: NDArray[np.bool_]
    #: whether the pair conflicts within the look-ahead (exactly ``engine.tactical``'s test)
    conflict: NDArray[np.bool_]
    d_now_m: FloatArray
    dz_now_m: FloatArray


def approach(
    pos: FloatArray,
    vel: FloatArray,
    alt_m: FloatArray,
    vs_mps: FloatArray,
    cls: IntArray,
    i: IntArray,
    j: IntArray,
    minima: Sequence[Minima],
    lookahead_s: float,
) -> Approach:
    """The geometry of pairs ``(i[k], j[k])`` with their own minima ``minima[k]``; ``pos`` and
    ``vel`` as ``engine.tactical.ecef_motion`` gives them."""
    d = pos[j] - pos[i]
    v = vel[j] - vel[i]
    dz = alt_m[j] - alt_m[i]
    vz = vs_mps[j] - vs_mps[i]
    s_h = np.array([m.lateral_m[cls[a], cls[b]] for m, a, b in zip(minima, i, j, strict=True)])
    s_v = np.array([m.vertical_m[cls[a], cls[b]] for m, a, b in zip(minima, i, j, strict=True)])
    s_h = s_h - BOUNDARY_M
    s_v = s_v - BOUNDARY_M
    vv = np.einsum("ij,ij->i", v, v)
    dv = np.einsum("ij,ij->i", d, v)
    dd = np.einsum("ij,ij->i", d, d)
    c = dd - s_h * s_h
    disc = dv * dv - vv * c
    moving = vv > 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        root = np.sqrt(np.maximum(disc, 0.0))
        h_in = np.where(moving, (-dv - root) / vv, np.where(c < 0, -np.inf, np.inf))
        h_out = np.where(moving, (-dv + root) / vv, np.where(c < 0, np.inf, -np.inf))
        a = (-s_v - dz) / vz
        b = (s_v - dz) / vz
        tc = np.where(moving, -dv / vv, np.nan)
    h_ok = np.where(moving, disc > 0.0, c < 0.0)
    v_in = np.where(vz != 0.0, np.minimum(a, b), np.where(np.abs(dz) < s_v, -np.inf, np.inf))
    v_out = np.where(vz != 0.0, np.maximum(a, b), np.where(np.abs(dz) < s_v, np.inf, -np.inf))
    v_in = np.where(np.isinf(s_v), -np.inf, v_in)
    v_out = np.where(np.isinf(s_v), np.inf, v_out)
    t_in = np.maximum(h_in, v_in)
    t_out = np.minimum(h_out, v_out)
    hit = h_ok & (t_in < t_out) & (t_out > 0.0) & (t_in <= lookahead_s)
    at_cpa = np.where(np.isnan(tc), 0.0, tc)
    return Approach(
        t_cpa=np.where(tc <= lookahead_s, tc, np.nan),
        d_cpa_m=np.linalg.norm(d + v * at_cpa[:, None], axis=1),
        dz_cpa_m=np.abs(dz + vz * at_cpa),
        t_los_start=np.where(hit & np.isfinite(t_in), t_in, np.nan),
        t_los_end=np.where(hit & (t_out <= lookahead_s), t_out, np.nan),
        lost_now=hit & (t_in <= 0.0),
        conflict=hit,
        d_now_m=np.sqrt(dd),
        dz_now_m=np.abs(dz),
    )


# --- a track's passage through volumes ----------------------------------------------------------
@dataclass(frozen=True)
class Path:
    """A track's predicted path: the geodesic from its reported position (``lon``, ``lat``,
    ``alt_m``) along ``track_deg`` at ``gs_mps``, altitude changing at ``vs_mps``; ``t`` counts
    seconds from the report."""

    lon: float
    lat: float
    alt_m: float
    track_deg: float
    gs_mps: float
    vs_mps: float

    def at(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(lon, lat) at times ``t`` (longitudes in [-180, 180])."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        lon, lat, _ = GEOD.fwd(
            np.full_like(t, self.lon),
            np.full_like(t, self.lat),
            np.full_like(t, self.track_deg),
            self.gs_mps * t,
        )
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


Interval = tuple[float, float]


def _merge(spans: list[Interval], gap_s: float = TIME_RESOLUTION_S) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1] + gap_s:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


Side = Callable[[FloatArray], NDArray[np.bool_]]


def _bisect(side: Side, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Where ``side`` (vectorized over times, a boolean each) flips in each ``[lo, hi]``, to
    ``TIME_RESOLUTION_S`` (it is taken to flip once there)."""
    lo, hi = lo.copy(), hi.copy()
    side_lo = side(lo)
    while float(np.max(hi - lo, initial=0.0)) > TIME_RESOLUTION_S:
        mid = (lo + hi) / 2
        same = side(mid) == side_lo
        lo = np.where(same, mid, lo)
        hi = np.where(same, hi, mid)
    out: FloatArray = (lo + hi) / 2
    return out


def _circle_spans(path: Path, fp: CircleFootprint, t0: float, t1: float) -> list[Interval]:
    clon, clat = fp.center[0], fp.center[1]

    def excess(t: FloatArray) -> FloatArray:
        lon, lat = path.at(t)
        _, _, dist = GEOD.inv(np.full_like(lon, clon), np.full_like(lat, clat), lon, lat)
        out: FloatArray = np.asarray(dist, dtype=np.float64) - fp.radius_m
        return out

    if path.gs_mps * (t1 - t0) > 10_000_000.0:  # longer than a quarter of the Earth: not here
        raise ValueError("a path this long is beyond the look-ahead this geometry is made for")
    # samples first: the distance changes by at most gs * dt between two of them, so a circle
    # the samples stay clear of by more than that is not met (most are far: one call)
    n = max(2, min(64, math.ceil(path.gs_mps * (t1 - t0) / SAMPLE_M)))
    ts = np.linspace(t0, t1, n + 1)
    ex = excess(ts)
    k = int(np.argmin(ex))
    if float(ex[k]) - path.gs_mps * (t1 - t0) / n / 2 > 0.0:
        return []
    # then the minimum of the distance along the path (unimodal on paths under half the Earth),
    # between the samples either side of the lowest
    lo, hi = float(ts[max(k - 1, 0)]), float(ts[min(k + 1, n)])
    if path.gs_mps > 0.0:
        x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        f1, f2 = excess(np.array([x1, x2]))
        while hi - lo > TIME_RESOLUTION_S:
            if f1 <= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - _GOLDEN * (hi - lo)
                f1 = float(excess(np.array([x1]))[0])
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + _GOLDEN * (hi - lo)
                f2 = float(excess(np.array([x2]))[0])
    tmin = (lo + hi) / 2
    ends = excess(np.array([t0, tmin, t1]))
    if ends[1] > 0.0 and min(ends[0], ends[2]) > 0.0:
        return []
    if ends[1] > 0.0:  # the minimum found is outside but an end is inside: take the end's side
        tmin = t0 if ends[0] <= ends[2] else t1
        ends[1] = min(ends[0], ends[2])

    def outside(t: FloatArray) -> NDArray[np.bool_]:
        out: NDArray[np.bool_] = excess(t) > 0.0
        return out

    start = t0 if ends[0] <= 0.0 else float(_bisect(outside, np.array([t0]), np.array([tmin]))[0])
    end = t1 if ends[2] <= 0.0 else float(_bisect(outside, np.array([tmin]), np.array([t1]))[0])
    return [(start, end)]


def _polygon_spans(path: Path, fp: PolygonFootprint, t0: float, t1: float) -> list[Interval]:
    vlon, vlat = (np.asarray(x, dtype=np.float64) for x in fp.lonlat_ring())
    poly = shapely.Polygon(np.column_stack([vlon, vlat]))
    shapely.prepare(poly)
    minx, _, maxx, _ = poly.bounds
    shifts = (-360.0, 0.0, 360.0)

    def inside(t: FloatArray) -> NDArray[np.bool_]:
        lon, lat = path.at(t)
        hit = np.zeros(lon.shape, dtype=bool)
        for k in shifts:
            x = lon + k
            near = (x >= minx - 1e-9) & (x <= maxx + 1e-9)
            if near.any():
                hit[near] |= shapely.intersects_xy(poly, x[near], lat[near])
        return hit

    n = max(1, math.ceil(path.gs_mps * (t1 - t0) / SAMPLE_M))
    ts = np.linspace(t0, t1, n + 1)
    lon, lat = path.at(ts)
    # the sampled path, longitudes unwrapped so each piece takes the short way
    step = np.diff(lon)
    step -= 360.0 * np.round(step / 360.0)
    ulon = lon[0] + np.concatenate([[0.0], np.cumsum(step)])
    flags = inside(ts)
    changes: list[float] = []
    explained = np.zeros(n, dtype=bool)
    ax, ay = vlon[:-1], vlat[:-1]
    bx, by = vlon[1:], vlat[1:]
    pminx, pmaxx = float(ulon.min()), float(ulon.max())
    pminy, pmaxy = float(lat.min()), float(lat.max())
    for k in shifts:
        # edges whose box meets the path's box, then every piece against every such edge
        keep = (
            (np.maximum(ax, bx) + k >= pminx)
            & (np.minimum(ax, bx) + k <= pmaxx)
            & (np.maximum(ay, by) >= pminy)
            & (np.minimum(ay, by) <= pmaxy)
        )
        for e in np.array_split(np.nonzero(keep)[0], max(1, int(keep.sum()) // 256)):
            if len(e) == 0:
                continue
            pieces, edges = _cuts(ulon, lat, ax[e] + k, ay[e], bx[e] + k, by[e])
            if len(pieces) == 0:
                continue
            explained[pieces] = True
            side = _edge_side(path, ax[e][edges] + k, ay[e][edges], bx[e][edges] + k, by[e][edges])
            changes += _bisect(side, ts[pieces], ts[pieces + 1]).tolist()
    # changes of side between samples that no crossing explains (grazing a vertex)
    odd = np.nonzero((flags[:-1] != flags[1:]) & ~explained)[0]
    if len(odd):
        changes += _bisect(inside, ts[odd], ts[odd + 1]).tolist()
    cuts = sorted({t0, t1, *(c for c in changes if t0 < c < t1)})
    mids = np.array([(a + b) / 2 for a, b in itertools.pairwise(cuts)])
    held = inside(mids) if len(mids) else np.zeros(0, dtype=bool)
    spans = [(a, b) for a, b, h in zip(cuts[:-1], cuts[1:], held, strict=True) if h]
    # a path that only touches the polygon at one instant
    if not spans:
        touch = [c for c in cuts if bool(inside(np.array([c]))[0])]
        spans = [(c, c) for c in touch]
    return _merge(spans)


def _cuts(
    plon: FloatArray,
    plat: FloatArray,
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
) -> tuple[IntArray, IntArray]:
    """(piece, edge) pairs where a piece of the sampled path meets an edge (segments in lon/lat,
    ends included)."""
    px, py = plon[:-1][:, None], plat[:-1][:, None]
    qx, qy = plon[1:][:, None], plat[1:][:, None]
    ex0, ex1, ey0, ey1 = ax[None, :], bx[None, :], ay[None, :], by[None, :]
    # the side of each sample against each edge's line, and of each edge's ends against each piece
    s_p = (ex1 - ex0) * (py - ey0) - (ey1 - ey0) * (px - ex0)
    s_q = (ex1 - ex0) * (qy - ey0) - (ey1 - ey0) * (qx - ex0)
    s_a = (qx - px) * (ey0 - py) - (qy - py) * (ex0 - px)
    s_b = (qx - px) * (ey1 - py) - (qy - py) * (ex1 - px)
    cross = (s_p * s_q <= 0.0) & (s_a * s_b <= 0.0) & ((s_p != 0.0) | (s_q != 0.0))
    pieces, edges = np.nonzero(cross)
    return pieces.astype(np.int64), edges.astype(np.int64)


def _edge_side(path: Path, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray) -> Side:
    """Which side of each edge's line the exact path is on, at times given one per edge."""
    mid = (ax + bx) / 2

    def side(t: FloatArray) -> NDArray[np.bool_]:
        plon, plat = path.at(t)
        plon = plon + 360.0 * np.round((mid - plon) / 360.0)
        out: NDArray[np.bool_] = (bx - ax) * (plat - ay) - (by - ay) * (plon - ax) > 0.0
        return out

    return side


def _band(lo: float, hi: float, x0: float, rate: float) -> Interval | None:
    """When ``x0 + rate * t`` lies in [lo, hi] (t unbounded)."""
    if rate == 0.0:
        return (-math.inf, math.inf) if lo <= x0 <= hi else None
    a, b = (lo - x0) / rate, (hi - x0) / rate
    return (min(a, b), max(a, b))


def stays(
    path: Path, volumes: Sequence[Volume4D], report_s: float, t0: float, t1: float
) -> list[Interval]:
    """When the path is inside any of the volumes between ``t0`` and ``t1`` (seconds from the
    report, whose epoch time is ``report_s``), as sorted disjoint closed intervals."""
    spans: list[Interval] = []
    for v in volumes:
        alt = _band(v.alt_lower_m, v.alt_upper_m, path.alt_m, path.vs_mps)
        if alt is None:
            continue
        lo = max(t0, alt[0], v.time_start.timestamp() - report_s)
        hi = min(t1, alt[1], v.time_end.timestamp() - report_s)
        if lo > hi:
            continue
        fp = v.footprint
        if isinstance(fp, CircleFootprint):
            found = _circle_spans(path, fp, lo, hi)
        else:
            found = _polygon_spans(path, fp, lo, hi)
        spans += found
    return _merge(spans)


@dataclass(frozen=True)
class Passage:
    """A track and volumes over the look-ahead; times in seconds from now."""

    inside: bool
    #: when it enters (None: inside now, or it does not enter within the look-ahead)
    enter_s: float | None
    #: when it leaves after that (None: it does not leave within the look-ahead, or never in)
    exit_s: float | None

    @property
    def meets(self) -> bool:
        """Whether the track is inside at some time within the look-ahead."""
        return self.inside or self.enter_s is not None


def passage(
    path: Path, volumes: Sequence[Volume4D], report_s: float, now_s: float, lookahead_s: float
) -> Passage:
    """The first stay of the path in the volumes within ``[now, now + lookahead]``."""
    t0 = now_s - report_s
    found = stays(path, volumes, report_s, t0, t0 + lookahead_s)
    if not found:
        return Passage(False, None, None)
    s, e = found[0]
    inside = s <= t0
    leaves = e < t0 + lookahead_s
    return Passage(inside, None if inside else s - t0, e - t0 if leaves else None)
