"""The compiled scan of ``engine.tactical`` (numba): loaded only where a scene is large enough
to need it (``tactical.KERNEL_FROM`` tracks), so that a small process never pays for a compiler.

``exact`` is ``tactical.check_pairs`` for one pair, operation for operation in the same order
(IEEE arithmetic, no fused multiply-add), so both give the same bits; ``tests/test_tactical.py``
compares them bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: As ``tactical.BOUNDARY_M``.
BOUNDARY_M = 1e-6
#: Slack (metres) added to every pruning bound, so that rounding in the scan never prunes a
#: pair the exact test keeps (the exact test's rounding moves a time of entry by far less than
#: a millimetre's travel).
SLACK_M = 2.0
#: Vertical cells are this many times thinner than the vertical reach (a track's neighbours are
#: one contiguous run of cells in each column, so thin cells cost nothing and cut the height
#: scanned from three reaches to about two).
THIN = 4


@njit(cache=True, nogil=True, inline="always")
def exact(
    i: int,
    j: int,
    pos: FloatArray,
    vel: FloatArray,
    alt: FloatArray,
    vs: FloatArray,
    s_h: float,
    s_v: float,
    lookahead: float,
) -> tuple[bool, float, float, float, float, float]:
    """The exact test of tracks ``i < j``, as ``tactical.check_pairs``: whether they conflict,
    and then (t_in as computed, t_out, t_cpa, d_cpa, dz_cpa)."""
    dx = pos[j, 0] - pos[i, 0]
    dy = pos[j, 1] - pos[i, 1]
    dz3 = pos[j, 2] - pos[i, 2]
    vx = vel[j, 0] - vel[i, 0]
    vy = vel[j, 1] - vel[i, 1]
    vz3 = vel[j, 2] - vel[i, 2]
    vv = vx * vx + vy * vy + vz3 * vz3
    dv = dx * vx + dy * vy + dz3 * vz3
    dd = dx * dx + dy * dy + dz3 * dz3
    # horizontal: |d + v t|^2 < s_h^2  <=>  vv t^2 + 2 dv t + (dd - s_h^2) < 0
    c = dd - s_h * s_h
    if vv > 0.0:
        disc = dv * dv - vv * c
        if not disc > 0.0:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0
        root = np.sqrt(disc)
        h_in = (-dv - root) / vv
        h_out = (-dv + root) / vv
    elif c < 0.0:
        h_in, h_out = -np.inf, np.inf
    else:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    # vertical: |dz + vz t| < s_v
    dz = alt[j] - alt[i]
    vz = vs[j] - vs[i]
    if s_v == np.inf:
        v_in, v_out = -np.inf, np.inf
    elif vz != 0.0:
        a = (-s_v - dz) / vz
        b = (s_v - dz) / vz
        v_in, v_out = min(a, b), max(a, b)
    elif abs(dz) < s_v:
        v_in, v_out = -np.inf, np.inf
    else:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    t_in = max(h_in, v_in)
    t_out = min(h_out, v_out)
    if not (t_in < t_out and t_out > 0.0 and t_in <= lookahead):
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    tc = -dv / vv if vv > 0.0 else 0.0
    tc = min(max(tc, 0.0), lookahead)
    ex = dx + vx * tc
    ey = dy + vy * tc
    ez = dz3 + vz3 * tc
    return True, t_in, t_out, tc, np.sqrt(ex * ex + ey * ey + ez * ez), abs(dz + vz * tc)


@njit(cache=True, nogil=True)
def scan_slice(
    k: int,
    slices: int,
    lookahead: float,
    ids: IntArray,
    pos: FloatArray,
    vel: FloatArray,
    alt: FloatArray,
    vs: FloatArray,
    gs: FloatArray,
    vsa: FloatArray,
    party: IntArray,
    cls: IntArray,
    lat_t: FloatArray,
    vert_t: FloatArray,
    plane: FloatArray,
    lat_max: float,
    vert_max: float,
    vertical: bool,
    pairs: int,
) -> tuple[IntArray, IntArray, FloatArray]:
    """The conflicts among tracks ``ids`` that begin (``max(t_in, 0)``) in slice ``k``.

    Every track is placed where it is at the slice's middle ``tm``; a pair that conflicts at a
    time in the slice is then closer than ``lat_max + (gs_a + gs_b) tau / 2`` (chord) and than
    ``vert_max + (|vs_a| + |vs_b|) tau / 2`` (height), plus the slack: only such pairs are
    tested exactly. Tracks are counting-sorted into a dense grid of columns on the plane (cells
    as wide as the largest such bound) cut into thin vertical cells, column-major; a track's
    neighbours are then, in each of the nine columns around it, one contiguous run.
    """
    n = ids.shape[0]
    tau = lookahead / slices
    half = 0.5 * tau
    tm = (k + 0.5) * tau
    x = np.empty(n)
    y = np.empty(n)
    z = np.empty(n)
    h = np.empty(n)
    u = np.empty(n)
    w = np.empty(n)
    gmax = 0.0
    vmax = 0.0
    for a in range(n):
        t = ids[a]
        x[a] = pos[t, 0] + vel[t, 0] * tm
        y[a] = pos[t, 1] + vel[t, 1] * tm
        z[a] = pos[t, 2] + vel[t, 2] * tm
        h[a] = alt[t] + vs[t] * tm
        u[a] = x[a] * plane[0, 0] + y[a] * plane[0, 1] + z[a] * plane[0, 2]
        w[a] = x[a] * plane[1, 0] + y[a] * plane[1, 1] + z[a] * plane[1, 2]
        gmax = max(gmax, gs[t])
        vmax = max(vmax, vsa[t])
    # cells: at least as large as the largest bound (with a margin for the division's rounding)
    reach_h = (lat_max + 2.0 * gmax * half + SLACK_M) * (1.0 + 1e-9)
    reach_v = (vert_max + 2.0 * vmax * half + SLACK_M) * (1.0 + 1e-9)
    umin, umax, wmin, wmax, hmin, hmax = u.min(), u.max(), w.min(), w.max(), h.min(), h.max()
    cell_h = reach_h
    thin = THIN if vertical else 0
    cell_v = reach_v / THIN
    cap = 8 * n + 4096
    while True:
        nx = int((umax - umin) / cell_h) + 3
        ny = int((wmax - wmin) / cell_h) + 3
        nz = int((hmax - hmin) / cell_v) + 1 + 2 * thin if vertical else 1
        if nx * ny * nz <= cap:
            break
        if vertical and thin > 1:
            thin //= 2
            cell_v = reach_v / thin
        elif vertical and nz > nx:
            cell_v *= 2.0
        else:
            cell_h *= 2.0
    # counting sort by cell (column-major: x, y, then height)
    total = nx * ny * nz
    start = np.zeros(total + 2, np.int64)
    key = np.empty(n, np.int64)
    for a in range(n):
        ix = int((u[a] - umin) / cell_h) + 1
        iy = int((w[a] - wmin) / cell_h) + 1
        iz = int((h[a] - hmin) / cell_v) + thin if vertical else 0
        key[a] = (ix * ny + iy) * nz + iz
        start[key[a] + 1] += 1
    for c in range(total):
        start[c + 1] += start[c]
    fill = start[:total].copy()
    order = np.empty(n, np.int64)
    for a in range(n):
        order[fill[key[a]]] = a
        fill[key[a]] += 1
    sx = x[order]
    sy = y[order]
    sz = z[order]
    sh = h[order]
    sk = key[order]
    sid = ids[order]
    sg = np.empty(n)
    sv = np.empty(n)
    sp = np.empty(n, np.int64)
    sc = np.empty(n, np.int64)
    spos = np.empty((n, 3))
    svel = np.empty((n, 3))
    salt = np.empty(n)
    svs = np.empty(n)
    for a in range(n):
        t = sid[a]
        sg[a] = gs[t] * half
        sv[a] = vsa[t] * half
        sp[a] = party[t]
        sc[a] = cls[t]
        spos[a, 0] = pos[t, 0]
        spos[a, 1] = pos[t, 1]
        spos[a, 2] = pos[t, 2]
        svel[a, 0] = vel[t, 0]
        svel[a, 1] = vel[t, 1]
        svel[a, 2] = vel[t, 2]
        salt[a] = alt[t]
        svs[a] = vs[t]
    cols = np.array([0, 1, ny - 1, ny, ny + 1], np.int64) * nz
    runs = np.empty((5, 2), np.int64)
    # near pairs (within the bounds at the slice's middle), gathered a buffer at a time
    ca = np.empty(8192, np.int64)
    cb = np.empty(8192, np.int64)
    nc = 0
    oi, oj, of = _rows(1024)
    m = 0
    for a in range(n):
        ka = sk[a]
        many = 0
        for q in range(5):
            runs[q, 0] = a + 1 if q == 0 else start[ka + cols[q] - thin]
            runs[q, 1] = start[ka + cols[q] + thin + 1]
            many += runs[q, 1] - runs[q, 0]
        if nc + many > ca.shape[0]:
            oi, oj, of, m = _conflicts_of(
                ca[:nc], cb[:nc], oi, oj, of, m, k, slices, lookahead, pairs, spos, svel, salt,
                svs, sc, sid, lat_t, vert_t,
            )  # fmt: skip
            nc = 0
            if many > ca.shape[0]:
                ca = np.empty(2 * many, np.int64)
                cb = np.empty(2 * many, np.int64)
        xa, ya, za, ha, pa = sx[a], sy[a], sz[a], sh[a], sp[a]
        hb = lat_max + sg[a] + SLACK_M
        vb = vert_max + sv[a] + SLACK_M
        for q in range(5):
            for b in range(runs[q, 0], runs[q, 1]):
                dx = sx[b] - xa
                dy = sy[b] - ya
                dz = sz[b] - za
                r = hb + sg[b]
                near = (dx * dx + dy * dy + dz * dz < r * r) & (sp[b] != pa)
                if vertical:
                    lim = vb + sv[b]
                    dh = sh[b] - ha
                    near &= dh * dh < lim * lim
                ca[nc] = a  # written always, kept if near (no branch to mispredict)
                cb[nc] = b
                nc += near
    oi, oj, of, m = _conflicts_of(
        ca[:nc], cb[:nc], oi, oj, of, m, k, slices, lookahead, pairs, spos, svel, salt, svs, sc,
        sid, lat_t, vert_t,
    )  # fmt: skip
    return oi[:m], oj[:m], of[:m]


@njit(cache=True, nogil=True)
def _conflicts_of(
    ca: IntArray,
    cb: IntArray,
    oi: IntArray,
    oj: IntArray,
    of: FloatArray,
    m: int,
    k: int,
    slices: int,
    lookahead: float,
    pairs: int,
    spos: FloatArray,
    svel: FloatArray,
    salt: FloatArray,
    svs: FloatArray,
    sc: IntArray,
    sid: IntArray,
    lat_t: FloatArray,
    vert_t: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray, int]:
    """The near pairs ``(ca, cb)`` of slice ``k`` whose conflict begins in it (by the exact
    test), appended to the rows ``(oi, oj, of)[:m]``."""
    tau = lookahead / slices
    for e in range(ca.shape[0]):
        a = ca[e]
        b = cb[e]
        s_v = vert_t[sc[a], sc[b]]
        if pairs != 0 and (s_v == np.inf) != (pairs == 2):
            continue
        s_h = lat_t[sc[a], sc[b]]
        # in the order of the scene, as the reference tests them
        i, j = (a, b) if sid[a] < sid[b] else (b, a)
        hit, t_in, t_out, tc, d, dzc = exact(
            i, j, spos, svel, salt, svs, s_h - BOUNDARY_M, s_v - BOUNDARY_M, lookahead
        )
        if not hit or min(int(max(t_in, 0.0) / tau), slices - 1) != k:
            continue
        if m == oi.shape[0]:
            oi, oj, of = _grow(oi, oj, of)
        oi[m] = sid[i]
        oj[m] = sid[j]
        of[m, 0] = t_in
        of[m, 1] = t_out
        of[m, 2] = tc
        of[m, 3] = d
        of[m, 4] = dzc
        m += 1
    return oi, oj, of, m


@njit(cache=True, nogil=True)
def _rows(cap: int) -> tuple[IntArray, IntArray, FloatArray]:
    return np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty((cap, 5))


@njit(cache=True, nogil=True)
def _grow(oi: IntArray, oj: IntArray, of: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    """Output rows twice as many (the kernels append found pairs)."""
    m = oi.shape[0]
    ni, nj, nf = _rows(2 * m)
    ni[:m] = oi
    nj[:m] = oj
    nf[:m] = of
    return ni, nj, nf


@njit(cache=True, nogil=True)
def pair_order(i: IntArray, j: IntArray, n: int) -> IntArray:
    """The permutation that sorts pairs by (i, j): counting sort on i, insertion sort on j."""
    m = i.shape[0]
    start = np.zeros(n + 1, np.int64)
    for e in range(m):
        start[i[e] + 1] += 1
    for c in range(n):
        start[c + 1] += start[c]
    fill = start[:n].copy()
    order = np.empty(m, np.int64)
    for e in range(m):
        order[fill[i[e]]] = e
        fill[i[e]] += 1
    for c in range(n):
        for e in range(start[c] + 1, start[c + 1]):
            v = order[e]
            f = e - 1
            while f >= start[c] and j[order[f]] > j[v]:
                order[f + 1] = order[f]
                f -= 1
            order[f + 1] = v
    return order


@njit(cache=True, nogil=True)
def in_order(
    i: IntArray, j: IntArray, f: FloatArray, n: int
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray,
           NDArray[np.bool_]]:  # fmt: skip
    """The rows sorted by (i, j), as the fields of ``tactical.Conflicts``."""
    order = pair_order(i, j, n)
    m = order.shape[0]
    oi = np.empty(m, np.int64)
    oj = np.empty(m, np.int64)
    t_in = np.empty(m)
    t_out = np.empty(m)
    t_cpa = np.empty(m)
    d = np.empty(m)
    dz = np.empty(m)
    lost = np.empty(m, np.bool_)
    for e in range(m):
        r = order[e]
        oi[e] = i[r]
        oj[e] = j[r]
        t_in[e] = max(f[r, 0], 0.0)
        t_out[e] = f[r, 1]
        t_cpa[e] = f[r, 2]
        d[e] = f[r, 3]
        dz[e] = f[r, 4]
        lost[e] = f[r, 0] <= 0.0
    return oi, oj, t_in, t_out, t_cpa, d, dz, lost
