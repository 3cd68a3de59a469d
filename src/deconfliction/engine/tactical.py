"""Tactical conflict detection: closest point of approach between live tracks, vectorized.

**The model.** Each track moves in a straight line from its state: horizontally along the tangent
plane at its position (ground speed ``gs_mps`` towards ``track_deg``), vertically at ``vs_mps``.
Positions are taken in Earth-centred, Earth-fixed coordinates (WGS84) of the point on the ellipsoid
below the track; a track's horizontal path is ``G(t) = G0 + V t`` with ``V`` in its local east-
north plane, and its altitude ``alt(t) = alt0 + vs t``. Between two tracks the **horizontal
distance** is the length of ``G_b(t) - G_a(t)`` (the chord; within tens of kilometres it equals the
geodesic distance to well under a metre) and the **vertical distance** is ``|alt_b(t) -
alt_a(t)|``. Working in ECEF makes the antimeridian and the poles ordinary places.

**A conflict** (as in state-based detection): within the look-ahead ``[0, T]`` there is a time when
the horizontal distance is below the pair's lateral minimum *and* the vertical distance is below
its vertical minimum. Both are strict: tracks exactly at the minimum are separated (a margin of
``BOUNDARY_M`` absorbs float rounding, so that 1,000 ft apart computed from feet does not come out
as 304.79999 m). Reported: the window of lost separation ``[t_in, t_out]``, the time of horizontal
closest approach within the look-ahead ``t_cpa``, the horizontal and vertical distances then, and
whether separation is lost now.

**Pruning.** All pairs are never formed. The look-ahead is cut into slices; in each slice, every
track lies within ``gs * slice / 2`` of its position at the slice's middle, so two tracks that
conflict during the slice are, at its middle, closer than the minima plus the distance both can
cover in half a slice. Tracks are hashed on a 3D grid (their ECEF ground points projected on the
plane perpendicular to the scene's mean direction, and altitude) whose cells are that large (a
projection never lengthens a distance, so the grid is conservative anywhere); only tracks in
neighbouring cells become candidates, and each candidate is tested exactly with the same arithmetic
as the brute-force reference (``brute_force``), so the results are identical.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NM = 1852.0
FT = 0.3048
#: Separation exactly at a minimum is kept: distances within this of it count as separated.
BOUNDARY_M = 1e-6
#: WGS84.
_A = 6_378_137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)

#: Track classes, in the order of ``Minima`` tables.
CLASSES = ("fixed-wing", "rotary", "drone", "ship")
SHIP = CLASSES.index("ship")


@dataclass(frozen=True)
class Minima:
    """Lateral and vertical minima (metres) for each pair of classes (symmetric tables).

    Defaults: aircraft 5 NM and 1,000 ft; ships 2 NM at any height (vertical minimum infinite);
    aircraft against ships 2 NM and 1,000 ft (an aircraft 1,000 ft above a ship passes).
    """

    lateral_m: FloatArray = field(default_factory=lambda: minima_table(5 * NM, 2 * NM, 2 * NM))
    vertical_m: FloatArray = field(
        default_factory=lambda: minima_table(1000 * FT, np.inf, 1000 * FT)
    )

    @staticmethod
    def of(
        aircraft: tuple[float, float], ship_m: float, aircraft_ship: tuple[float, float]
    ) -> Minima:
        return Minima(
            minima_table(aircraft[0], ship_m, aircraft_ship[0]),
            minima_table(aircraft[1], np.inf, aircraft_ship[1]),
        )


def minima_table(air: float, ship: float, mixed: float) -> FloatArray:
    n = len(CLASSES)
    t = np.full((n, n), air, dtype=np.float64)
    t[SHIP, :] = mixed
    t[:, SHIP] = mixed
    t[SHIP, SHIP] = ship
    return t


@dataclass(frozen=True)
class Scene:
    """Tracks at one moment (states already extrapolated to it), as arrays of length N."""

    lon: FloatArray
    lat: FloatArray
    alt_m: FloatArray
    gs_mps: FloatArray
    track_deg: FloatArray
    vs_mps: FloatArray
    party: IntArray  # an index per party; pairs of the same party are never reported
    cls: IntArray  # index in CLASSES

    def __len__(self) -> int:
        return len(self.lon)


@dataclass(frozen=True)
class Conflicts:
    """Conflicting pairs (i < j, indices into the scene) and their geometry, sorted by (i, j)."""

    i: IntArray
    j: IntArray
    t_in: FloatArray  # seconds from now: separation lost (0 if already lost)
    t_out: FloatArray  # seconds from now: regained (may be beyond the look-ahead)
    t_cpa: FloatArray  # horizontal closest approach within [0, T]
    d_cpa_m: FloatArray  # horizontal distance then
    dz_cpa_m: FloatArray  # vertical distance then
    lost_now: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.i)

    def pairs(self) -> set[tuple[int, int]]:
        return set(zip(self.i.tolist(), self.j.tolist(), strict=True))


def ecef_motion(scene: Scene) -> tuple[FloatArray, FloatArray]:
    """Ground positions on the ellipsoid (N x 3) and horizontal velocities (N x 3), ECEF."""
    lam = np.radians(scene.lon)
    phi = np.radians(scene.lat)
    sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    n = _A / np.sqrt(1 - _E2 * sp * sp)
    pos = np.stack([n * cp * cl, n * cp * sl, n * (1 - _E2) * sp], axis=1)
    east = np.stack([-sl, cl, np.zeros_like(sl)], axis=1)
    north = np.stack([-sp * cl, -sp * sl, cp], axis=1)
    trk = np.radians(scene.track_deg)
    vel = scene.gs_mps[:, None] * (np.sin(trk)[:, None] * east + np.cos(trk)[:, None] * north)
    return pos, vel


def check_pairs(
    pos: FloatArray,
    vel: FloatArray,
    scene: Scene,
    i: IntArray,
    j: IntArray,
    lookahead_s: float,
    minima: Minima,
) -> Conflicts:
    """The exact test on given pairs (the same arithmetic for the kernel and the reference)."""
    d = pos[j] - pos[i]
    v = vel[j] - vel[i]
    dz = scene.alt_m[j] - scene.alt_m[i]
    vz = scene.vs_mps[j] - scene.vs_mps[i]
    s_h = minima.lateral_m[scene.cls[i], scene.cls[j]] - BOUNDARY_M
    s_v = minima.vertical_m[scene.cls[i], scene.cls[j]] - BOUNDARY_M
    vv = np.einsum("ij,ij->i", v, v)
    dv = np.einsum("ij,ij->i", d, v)
    dd = np.einsum("ij,ij->i", d, d)
    # horizontal: |d + v t|^2 < s_h^2  <=>  vv t^2 + 2 dv t + (dd - s_h^2) < 0
    c = dd - s_h * s_h
    disc = dv * dv - vv * c
    moving = vv > 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        root = np.sqrt(np.maximum(disc, 0.0))
        h_in = np.where(moving, (-dv - root) / vv, np.where(c < 0, -np.inf, np.inf))
        h_out = np.where(moving, (-dv + root) / vv, np.where(c < 0, np.inf, -np.inf))
    h_ok = np.where(moving, disc > 0.0, c < 0.0)
    # vertical: |dz + vz t| < s_v
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = (-s_v - dz) / vz
        b = (s_v - dz) / vz
    v_in = np.where(vz != 0.0, np.minimum(a, b), np.where(np.abs(dz) < s_v, -np.inf, np.inf))
    v_out = np.where(vz != 0.0, np.maximum(a, b), np.where(np.abs(dz) < s_v, np.inf, -np.inf))
    v_in = np.where(np.isinf(s_v), -np.inf, v_in)
    v_out = np.where(np.isinf(s_v), np.inf, v_out)
    t_in = np.maximum(h_in, v_in)
    t_out = np.minimum(h_out, v_out)
    hit = h_ok & (t_in < t_out) & (t_out > 0.0) & (t_in <= lookahead_s)
    idx = np.nonzero(hit)[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tc = np.where(moving[idx], -dv[idx] / vv[idx], 0.0)
    tc = np.clip(tc, 0.0, lookahead_s)
    dcpa = np.linalg.norm(d[idx] + v[idx] * tc[:, None], axis=1)
    dzc = np.abs(dz[idx] + vz[idx] * tc)
    return Conflicts(
        i=i[idx],
        j=j[idx],
        t_in=np.maximum(t_in[idx], 0.0),
        t_out=t_out[idx],
        t_cpa=tc,
        d_cpa_m=dcpa,
        dz_cpa_m=dzc,
        lost_now=t_in[idx] <= 0.0,
    )


def brute_force(
    scene: Scene, lookahead_s: float = 300.0, minima: Minima | None = None
) -> Conflicts:
    """Every pair of tracks of different parties, tested: the reference (O(N^2))."""
    minima = minima or Minima()
    pos, vel = ecef_motion(scene)
    n = len(scene)
    i, j = np.triu_indices(n, k=1)
    keep = scene.party[i] != scene.party[j]
    return check_pairs(pos, vel, scene, i[keep].astype(np.int64), j[keep].astype(np.int64),
                       lookahead_s, minima)  # fmt: skip


def _plane_axes(pos: FloatArray) -> FloatArray:
    """Two orthonormal axes (3 x 2) of the plane perpendicular to the tracks' mean direction.

    Projecting onto a plane never lengthens a distance, so two points closer than a bound
    stay closer than it in the projection: the grid on the plane prunes conservatively
    anywhere on Earth (and tightly over a region, where the plane is nearly the tangent one).
    """
    c = pos.mean(axis=0)
    norm = float(np.linalg.norm(c))
    c = c / norm if norm > 1.0 else np.array([0.0, 0.0, 1.0])
    helper = np.array([1.0, 0.0, 0.0]) if abs(c[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(c, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(c, e1)
    return np.column_stack([e1, e2])


def _half_offsets() -> IntArray:
    """The cell itself and the 3D neighbour offsets (two plane axes and altitude) whose first
    non-zero component is positive (so each pair of neighbouring cells is visited once)."""
    out: list[tuple[int, ...]] = [(0, 0, 0)]
    for o in np.ndindex(3, 3, 3):
        d = tuple(int(x) - 1 for x in o)
        first = next((x for x in d if x != 0), 0)
        if first > 0:
            out.append(d)
    return np.array(out, dtype=np.int64)


_OFFSETS = _half_offsets()


def candidates(
    pos: FloatArray,
    vel: FloatArray,
    scene: Scene,
    lookahead_s: float,
    minima: Minima,
    slices: int = 6,
) -> tuple[IntArray, IntArray]:
    """Pairs (i < j, different parties) that may conflict within the look-ahead: a superset of
    the conflicts, found slice by slice on the 3D grid (see the module's docstring)."""
    n = len(scene)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tau = lookahead_s / slices
    gs = np.sqrt(np.einsum("ij,ij->i", vel, vel))
    vsa = np.abs(scene.vs_mps)
    lat_max = float(np.max(minima.lateral_m))
    finite_v = minima.vertical_m[np.isfinite(minima.vertical_m)]
    vertical_all = not bool(np.all(np.isfinite(minima.vertical_m)))
    vert_max = float(finite_v.max()) if finite_v.size else 0.0
    reach_h = lat_max + float(gs.max()) * tau + _SLACK_M
    reach_v = vert_max + float(vsa.max()) * tau + _SLACK_M
    lat_t = np.ascontiguousarray(minima.lateral_m)
    vert_t = np.where(np.isfinite(minima.vertical_m), minima.vertical_m, -1.0)
    plane = _plane_axes(pos)

    def one_slice(k: int) -> tuple[IntArray, IntArray]:
        t = (k + 0.5) * tau
        p = pos + vel * t
        z = scene.alt_m + scene.vs_mps * t
        cell = np.floor((p @ plane) / reach_h).astype(np.int64)
        za = np.zeros(n, np.int64) if vertical_all else np.floor(z / reach_v).astype(np.int64)
        grid = np.column_stack([cell, za])
        lo = grid.min(axis=0) - 1
        span = grid.max(axis=0) - lo + 2
        flat = np.asarray(np.ravel_multi_index(tuple((grid - lo).T), span), dtype=np.int64)
        order = np.argsort(flat, kind="stable").astype(np.int64)
        uniq, first, count = np.unique(flat[order], return_index=True, return_counts=True)
        strides = np.array([int(np.prod(span[d + 1 :])) for d in range(3)], dtype=np.int64)
        offsets = (_OFFSETS @ strides).astype(np.int64)
        # everything in cell order, so that the scan reads memory in sequence
        i, j = _scan_slice(
            k,
            tau,
            lookahead_s,
            uniq.astype(np.int64),
            first.astype(np.int64),
            count.astype(np.int64),
            offsets,
            p[order],
            z[order],
            gs[order],
            vsa[order],
            pos[order],
            vel[order],
            scene.alt_m[order],
            scene.vs_mps[order],
            scene.cls[order],
            scene.party[order],
            lat_t,
            vert_t,
            lat_max,
            vert_max,
            vertical_all,
        )
        a, b = order[i], order[j]
        return np.minimum(a, b), np.maximum(a, b)

    # the scan releases the GIL: slices run on every core
    if n >= _PARALLEL_FROM:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            parts = list(pool.map(one_slice, range(slices)))
    else:
        parts = [one_slice(k) for k in range(slices)]
    found_i = [p[0] for p in parts]
    found_j = [p[1] for p in parts]
    keys = np.unique(np.concatenate(found_i) * n + np.concatenate(found_j))
    return keys // n, keys % n


#: Scenes smaller than this run their slices on one thread.
_PARALLEL_FROM = 2000

#: Slack (metres) added to every pruning bound, so that rounding in the scan never prunes a
#: pair the exact test would keep.
_SLACK_M = 2.0


@njit(cache=True, nogil=True)
def _scan_slice(
    k: int,
    tau: float,
    lookahead: float,
    uniq: IntArray,
    first: IntArray,
    count: IntArray,
    offsets: IntArray,
    p: FloatArray,
    z: FloatArray,
    gs: FloatArray,
    vsa: FloatArray,
    pos: FloatArray,
    vel: FloatArray,
    alt: FloatArray,
    vs: FloatArray,
    cls: IntArray,
    party: IntArray,
    lat_t: FloatArray,
    vert_t: FloatArray,
    lat_max: float,
    vert_max: float,
    vertical_all: bool,
) -> tuple[IntArray, IntArray]:
    """Pairs (positions in cell order) of tracks in neighbouring cells that nearly conflict
    (minima + slack) and whose nearly-conflicting time starts in slice ``k`` (so each such
    pair is found in one slice)."""
    # cell key -> cell index, open addressing (a binary search per neighbour costs more)
    size = 1
    while size < 2 * uniq.shape[0]:
        size *= 2
    mask = size - 1
    tkeys = np.full(size, -1, np.int64)
    tvals = np.empty(size, np.int64)
    for c in range(uniq.shape[0]):
        h = uniq[c] & mask
        while tkeys[h] != -1:
            h = (h + 1) & mask
        tkeys[h] = uniq[c]
        tvals[h] = c
    cap = 1024
    out_i = np.empty(cap, np.int64)
    out_j = np.empty(cap, np.int64)
    m = 0
    ncell = uniq.shape[0]
    half = tau / 2
    for c in range(ncell):
        for o in range(offsets.shape[0]):
            if offsets[o] == 0:
                d = c
            else:
                target = uniq[c] + offsets[o]
                h = target & mask
                d = -1
                while tkeys[h] != -1:
                    if tkeys[h] == target:
                        d = tvals[h]
                        break
                    h = (h + 1) & mask
                if d < 0:
                    continue
            for a in range(first[c], first[c] + count[c]):
                jb0 = a + 1 if offsets[o] == 0 else first[d]
                for b in range(jb0, first[d] + count[d]):
                    if party[a] == party[b]:
                        continue
                    dx = p[b, 0] - p[a, 0]
                    dy = p[b, 1] - p[a, 1]
                    dz3 = p[b, 2] - p[a, 2]
                    r = lat_max + (gs[a] + gs[b]) * half + 2.0
                    if dx * dx + dy * dy + dz3 * dz3 >= r * r:
                        continue
                    if (
                        not vertical_all
                        and abs(z[b] - z[a]) >= vert_max + (vsa[a] + vsa[b]) * half + 2.0
                    ):
                        continue
                    t0 = _near_start(a, b, pos, vel, alt, vs, cls, lat_t, vert_t, lookahead)
                    if t0 < 0.0:
                        continue
                    if min(int(t0 / tau), int(lookahead / tau) - 1) != k:
                        continue
                    if m == cap:
                        cap *= 2
                        ni = np.empty(cap, np.int64)
                        nj = np.empty(cap, np.int64)
                        ni[:m] = out_i[:m]
                        nj[:m] = out_j[:m]
                        out_i, out_j = ni, nj
                    out_i[m] = a
                    out_j[m] = b
                    m += 1
    return out_i[:m], out_j[:m]


@njit(cache=True, nogil=True)
def _near_start(
    a: int,
    b: int,
    pos: FloatArray,
    vel: FloatArray,
    alt: FloatArray,
    vs: FloatArray,
    cls: IntArray,
    lat_t: FloatArray,
    vert_t: FloatArray,
    lookahead: float,
) -> float:
    """When the pair first comes within its minima plus 1 m (>= 0), or -1 if it never does
    within the look-ahead: a slightly generous version of the exact test."""
    s_h = lat_t[cls[a], cls[b]] + 1.0
    s_v = vert_t[cls[a], cls[b]]
    dx = pos[b, 0] - pos[a, 0]
    dy = pos[b, 1] - pos[a, 1]
    dzz = pos[b, 2] - pos[a, 2]
    vx = vel[b, 0] - vel[a, 0]
    vy = vel[b, 1] - vel[a, 1]
    vzz = vel[b, 2] - vel[a, 2]
    vv = vx * vx + vy * vy + vzz * vzz
    dv = dx * vx + dy * vy + dzz * vzz
    c = dx * dx + dy * dy + dzz * dzz - s_h * s_h
    if vv > 0.0:
        disc = dv * dv - vv * c
        if disc <= 0.0:
            return -1.0
        root = np.sqrt(disc)
        h_in = (-dv - root) / vv
        h_out = (-dv + root) / vv
    elif c < 0.0:
        h_in, h_out = -np.inf, np.inf
    else:
        return -1.0
    t_in, t_out = h_in, h_out
    if s_v >= 0.0:  # a finite vertical minimum (negative: height does not matter)
        s_v += 1.0
        dz = alt[b] - alt[a]
        vz = vs[b] - vs[a]
        if vz != 0.0:
            x1 = (-s_v - dz) / vz
            x2 = (s_v - dz) / vz
            t_in = max(t_in, min(x1, x2))
            t_out = min(t_out, max(x1, x2))
        elif abs(dz) >= s_v:
            return -1.0
    if t_in >= t_out or t_out <= 0.0 or t_in > lookahead:
        return -1.0
    return float(max(t_in, 0.0))


def _pair_keys(a: IntArray, b: IntArray, n: int) -> IntArray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    keys: IntArray = lo[keep] * n + hi[keep]
    return keys


def detect(scene: Scene, lookahead_s: float = 300.0, minima: Minima | None = None) -> Conflicts:
    """Every conflicting pair (different parties) within the look-ahead: the pruned kernel."""
    minima = minima or Minima()
    pos, vel = ecef_motion(scene)
    i, j = candidates(pos, vel, scene, lookahead_s, minima)
    return check_pairs(pos, vel, scene, i, j, lookahead_s, minima)
