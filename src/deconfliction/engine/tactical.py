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

**Pruning** (``scan``). All pairs are never formed. The look-ahead is cut into slices (as many as
make the fastest track cover about 1.5 lateral minima in one); in each slice, every track lies
within ``gs * slice / 2`` of its position at the slice's middle, so two tracks that conflict
during the slice are, at its middle, closer than the minima plus the distance both can cover in
half a slice. Tracks are counting-sorted into a grid at each slice's middle: columns on the plane
perpendicular to the scene's mean direction (a projection never lengthens a distance, so the grid
is conservative anywhere) as wide as that bound, each cut into cells a quarter of the vertical
bound high, so that a track's neighbours are one contiguous run of cells in each of the nine
columns around it. A pair near at the middle is tested exactly (no cheaper test first: it cost
what it saved) and kept in the one slice where its conflict begins. Pairs whose vertical minimum is
infinite (ships) are found in a second pass without the vertical cut. The scan is compiled
(numba, ``tactical_grid``; the slices run on every core) and its exact test does the operations
of the vectorized reference (``check_pairs``, which ``brute_force`` runs on every pair) in the
same order, so the results are identical bit for bit. ``detect`` runs the scan from
``KERNEL_FROM`` tracks and the reference below, where it costs less (and no compiler is loaded).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy.typing import NDArray

from ..units import FT_M, NM_M

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NM = NM_M  # the names the tables below read
FT = FT_M
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

    def __post_init__(self) -> None:
        n = len(CLASSES)
        for name in ("lateral_m", "vertical_m"):
            t = getattr(self, name)
            if t.shape != (n, n) or not np.array_equal(t, t.T) or bool(np.any(t < 0)):
                raise ValueError(f"{name}: a symmetric {n}x{n} table of minima >= 0 expected")

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
    """The exact test on given pairs ``i < j``, vectorized: the reference's arithmetic. The
    compiled kernel (``tactical_grid.exact``) does the same operations in the same order, so
    both give the same bits (IEEE arithmetic: overflow, division by zero and NaN as they come,
    unwarned)."""
    with np.errstate(all="ignore"):
        return _check_pairs(pos, vel, scene, i, j, lookahead_s, minima)


def _check_pairs(
    pos: FloatArray,
    vel: FloatArray,
    scene: Scene,
    i: IntArray,
    j: IntArray,
    lookahead_s: float,
    minima: Minima,
) -> Conflicts:
    pi, pj, vi, vj = pos[i], pos[j], vel[i], vel[j]
    dx = pj[:, 0] - pi[:, 0]
    dy = pj[:, 1] - pi[:, 1]
    dz3 = pj[:, 2] - pi[:, 2]
    vx = vj[:, 0] - vi[:, 0]
    vy = vj[:, 1] - vi[:, 1]
    vz3 = vj[:, 2] - vi[:, 2]
    ci, cj = scene.cls[i], scene.cls[j]
    s_h = minima.lateral_m[ci, cj] - BOUNDARY_M
    s_v = minima.vertical_m[ci, cj] - BOUNDARY_M
    vv = vx * vx + vy * vy + vz3 * vz3
    dv = dx * vx + dy * vy + dz3 * vz3
    dd = dx * dx + dy * dy + dz3 * dz3
    # horizontal: |d + v t|^2 < s_h^2  <=>  vv t^2 + 2 dv t + (dd - s_h^2) < 0
    c = dd - s_h * s_h
    disc = dv * dv - vv * c
    moving = vv > 0.0
    root = np.sqrt(disc)
    h_in = np.where(moving, (-dv - root) / vv, -np.inf)
    h_out = np.where(moving, (-dv + root) / vv, np.inf)
    h_ok = np.where(moving, disc > 0.0, c < 0.0)
    # vertical: |dz + vz t| < s_v
    dz = scene.alt_m[j] - scene.alt_m[i]
    vz = scene.vs_mps[j] - scene.vs_mps[i]
    climbing = vz != 0.0
    a = (-s_v - dz) / vz
    b = (s_v - dz) / vz
    free = np.isinf(s_v)
    v_in = np.where(free | ~climbing, -np.inf, np.minimum(a, b))
    v_out = np.where(free | ~climbing, np.inf, np.maximum(a, b))
    v_ok = free | climbing | (np.abs(dz) < s_v)
    t_in = np.maximum(h_in, v_in)
    t_out = np.minimum(h_out, v_out)
    hit = h_ok & v_ok & (t_in < t_out) & (t_out > 0.0) & (t_in <= lookahead_s)
    k = np.nonzero(hit)[0]
    tc = np.where(moving[k], -dv[k] / vv[k], 0.0)
    tc = np.minimum(np.maximum(tc, 0.0), lookahead_s)
    ex = dx[k] + vx[k] * tc
    ey = dy[k] + vy[k] * tc
    ez = dz3[k] + vz3[k] * tc
    return Conflicts(
        i=i[k],
        j=j[k],
        t_in=np.maximum(t_in[k], 0.0),
        t_out=t_out[k],
        t_cpa=tc,
        d_cpa_m=np.sqrt(ex * ex + ey * ey + ez * ez),
        dz_cpa_m=np.abs(dz[k] + vz[k] * tc),
        lost_now=t_in[k] <= 0.0,
    )


def brute_force(
    scene: Scene, lookahead_s: float = 300.0, minima: Minima | None = None
) -> Conflicts:
    """Every pair of tracks of different parties, tested: the reference (O(N^2))."""
    minima = minima or Minima()
    scene = _checked(scene)
    pos, vel = ecef_motion(scene)
    n = len(scene)
    parts = []
    row = 0
    while row < n - 1:  # rows of pairs (i, i+1..n-1), about _PAIRS_AT_ONCE at a time
        last = row + 1
        count = n - 1 - row
        while last < n - 1 and count + (n - 1 - last) <= _PAIRS_AT_ONCE:
            count += n - 1 - last
            last += 1
        i = np.repeat(np.arange(row, last, dtype=np.int64), n - 1 - np.arange(row, last))
        j = np.concatenate([np.arange(r + 1, n, dtype=np.int64) for r in range(row, last)])
        keep = scene.party[i] != scene.party[j]
        parts.append(check_pairs(pos, vel, scene, i[keep], j[keep], lookahead_s, minima))
        row = last
    if not parts:
        return _no_conflicts()
    return Conflicts(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))


#: Pairs tested in one go by ``brute_force`` (bounds its memory: about 0.4 kB a pair).
_PAIRS_AT_ONCE = 50_000
_FIELDS = ("i", "j", "t_in", "t_out", "t_cpa", "d_cpa_m", "dz_cpa_m", "lost_now")

#: Speeds and heights past which ``scan`` leaves a scene to the reference.
_FASTEST_MPS = 1e6
_HIGHEST_M = 1e9

#: From this many tracks ``detect`` uses the compiled kernel (``scan``); below, the reference
#: costs less than the kernel's start-up, and a small process never loads the compiler.
KERNEL_FROM = 64


def detect(scene: Scene, lookahead_s: float = 300.0, minima: Minima | None = None) -> Conflicts:
    """Every conflicting pair (different parties) within the look-ahead: ``scan`` on scenes of
    ``KERNEL_FROM`` tracks or more, ``brute_force`` below (the same results either way)."""
    if len(scene) < KERNEL_FROM:
        return brute_force(scene, lookahead_s, minima)
    return scan(scene, lookahead_s, minima)


def scan(
    scene: Scene,
    lookahead_s: float = 300.0,
    minima: Minima | None = None,
    slices: int | None = None,
) -> Conflicts:
    """The pruned kernel (see the module's docstring) at any size: ``slices`` time slices
    (default: as many as suit the scene)."""
    from . import tactical_grid as grid

    minima = minima or Minima()
    scene = _checked(scene)
    n = len(scene)
    if n < 2:
        return _no_conflicts()
    if max(np.abs(scene.gs_mps).max(), np.abs(scene.vs_mps).max()) > _FASTEST_MPS or (
        np.abs(scene.alt_m).max() > _HIGHEST_M
    ):  # beyond any vehicle: the grid's arithmetic could overflow; the reference cannot go wrong
        return brute_force(scene, lookahead_s, minima)
    k = _Kernel.of(scene, minima)
    slices = slices or _slices(k, lookahead_s)
    tasks = [(p, s) for p in k.passes() for s in range(slices)]

    def run(task: tuple[_Pass, int]) -> tuple[IntArray, IntArray, FloatArray]:
        p, s = task
        return grid.scan_slice(s, slices, lookahead_s, p.ids, k.pos, k.vel, k.alt, k.vs, k.gs,
                               k.vsa, k.party, k.cls, k.lat_t, k.vert_t, k.plane, p.lat_max_m,
                               p.vert_max_m, p.vertical, p.pairs)  # fmt: skip

    parts = list(_pool().map(run, tasks)) if n >= _PARALLEL_FROM else [run(t) for t in tasks]
    if not parts:
        return _no_conflicts()
    ii = np.concatenate([p[0] for p in parts])
    jj = np.concatenate([p[1] for p in parts])
    f = np.concatenate([p[2] for p in parts])
    return Conflicts(*grid.in_order(ii, jj, f, n))


def _no_conflicts() -> Conflicts:
    e = np.zeros(0)
    return Conflicts(np.zeros(0, np.int64), np.zeros(0, np.int64), e, e, e, e, e,
                     np.zeros(0, bool))  # fmt: skip


def _checked(scene: Scene) -> Scene:
    """The scene in float64 and int64 arrays, refused (``ValueError``) if a value is not finite
    or a class not one of ``CLASSES``."""
    floats = ("lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps")
    f = {name: np.asarray(getattr(scene, name), dtype=np.float64) for name in floats}
    out = Scene(
        **f,
        party=np.asarray(scene.party, dtype=np.int64),
        cls=np.asarray(scene.cls, dtype=np.int64),
    )
    for name in floats:
        if not np.isfinite(getattr(out, name)).all():
            raise ValueError(f"{name}: every value must be a finite number")
    if len(out) and (out.cls.min() < 0 or out.cls.max() >= len(CLASSES)):
        raise ValueError(f"cls: every value must be an index into {CLASSES}")
    return out


@dataclass(frozen=True)
class _Pass:
    """One scan over some tracks for some pairs: with a vertical grid for the pairs whose vertical
    minimum is finite (``pairs`` 0: every pair, 1: those only), without one for the pairs whose
    vertical minimum is infinite (``pairs`` 2: ships against ships by default)."""

    ids: IntArray
    lat_max_m: float
    vert_max_m: float
    vertical: bool
    pairs: int


@dataclass(frozen=True)
class _Kernel:
    """The scene as the compiled kernels read it (contiguous float64 and int64 arrays)."""

    pos: FloatArray
    vel: FloatArray
    alt: FloatArray
    vs: FloatArray
    gs: FloatArray
    vsa: FloatArray
    party: IntArray
    cls: IntArray
    lat_t: FloatArray
    vert_t: FloatArray
    plane: FloatArray

    @staticmethod
    def of(scene: Scene, minima: Minima) -> _Kernel:
        n = len(scene)
        cls = np.ascontiguousarray(scene.cls, dtype=np.int64)
        pos, vel = ecef_motion(scene)
        vs = np.ascontiguousarray(scene.vs_mps, dtype=np.float64)
        return _Kernel(
            pos=np.ascontiguousarray(pos),
            vel=np.ascontiguousarray(vel),
            alt=np.ascontiguousarray(scene.alt_m, dtype=np.float64),
            vs=vs,
            gs=np.sqrt(np.einsum("ij,ij->i", vel, vel)),
            vsa=np.abs(vs),
            party=np.ascontiguousarray(scene.party, dtype=np.int64),
            cls=cls,
            lat_t=np.ascontiguousarray(minima.lateral_m, dtype=np.float64),
            vert_t=np.ascontiguousarray(minima.vertical_m, dtype=np.float64),
            plane=np.ascontiguousarray(_plane_axes(pos).T) if n else np.eye(2, 3),
        )

    def passes(self) -> list[_Pass]:
        finite = np.isfinite(self.vert_t)
        out = []
        if finite.any():
            out.append(
                _Pass(
                    ids=np.arange(len(self.cls), dtype=np.int64),
                    lat_max_m=float(self.lat_t[finite].max()),
                    vert_max_m=float(self.vert_t[finite].max()),
                    vertical=True,
                    pairs=0 if finite.all() else 1,
                )
            )
        if not finite.all():
            classes = np.nonzero(~finite.all(axis=1))[0]
            ids = np.nonzero(np.isin(self.cls, classes))[0].astype(np.int64)
            if len(ids) >= 2:
                out.append(_Pass(ids, float(self.lat_t[~finite].max()), 0.0, False, 2))
        return out


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


def _slices(k: _Kernel, lookahead_s: float) -> int:
    """How many time slices: as many as make the fastest track cover about one and a half
    lateral minima in a slice (thinner slices make smaller neighbourhoods, but each costs a pass
    over every track and tests again the pairs near in several; measured best on the bench's
    scenes), from 1 to 32."""
    reach = float(k.gs.max()) * lookahead_s / (_SLICE_MINIMA * max(float(np.max(k.lat_t)), 1.0))
    return int(min(max(round(reach), 1), 32))


#: How many lateral minima the fastest track covers in a slice.
_SLICE_MINIMA = 1.5


#: Scenes smaller than this run their slices on one thread.
_PARALLEL_FROM = 2000


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="tactical")
