"""Replaying recorded track states through tactical detection, as the service would live.

At every cycle (default 1 s) from the first state to the last, each track's latest state is
extrapolated to the cycle's time (along its track on the ellipsoid, and in altitude), tracks
not reported for ``stale_s`` are dropped, and tactical detection runs. Each conflicting pair is
one encounter: when it was first detected, and the closest approach predicted over all cycles
(its time, place and the horizontal and vertical distances then).

**In columns.** A recording is held as arrays (``Recording``: one entry per state), never as an
object per state. Every cycle's snapshot is a run of rows in one table of extrapolated states
(its live tracks, in the order they first reported), extrapolated in one call to the geodesic;
small snapshots are tested pair by pair with ``tactical.check_pairs`` (what ``tactical.detect``
does below ``tactical.KERNEL_FROM`` tracks) many cycles at a time, large ones with
``tactical.detect``; the encounters are then reduced from the rows of conflicts with array
sorts. The results are those of running ``tactical.detect`` at every cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from ..geodesy import GEOD
from ..model import TrackState
from .motion import dead_reckon
from .tactical import (
    CLASSES,
    KERNEL_FROM,
    Conflicts,
    Minima,
    Scene,
    check_pairs,
    detect,
    ecef_motion,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
#: Pairs tested in one go (bounds the memory of the vectorized exact test: about 0.4 kB a pair).
_PAIRS_AT_ONCE = 20_000
#: Snapshot rows extrapolated in one go (bounds the memory of a replay, however long).
_ROWS_AT_ONCE = 20_000


@dataclass
class Encounter:
    tracks: tuple[str, str]
    parties: tuple[str, str]
    first_detected: datetime
    cpa_time: datetime
    cpa_lon: float
    cpa_lat: float
    min_horizontal_m: float
    vertical_at_cpa_m: float
    lost: bool


@dataclass(frozen=True)
class Recording:
    """Recorded states in columns, one entry per state (in any order). ``track`` indexes
    ``track_ids`` and ``track_parties`` (a track is a party's id); ``cls`` indexes
    ``tactical.CLASSES``; ``time_us``: microseconds since 1970-01-01T00:00Z."""

    track_ids: list[str]
    track_parties: list[str]
    track: IntArray
    time_us: IntArray
    cls: IntArray
    lon: FloatArray
    lat: FloatArray
    alt_m: FloatArray
    gs_mps: FloatArray
    track_deg: FloatArray
    vs_mps: FloatArray

    def __len__(self) -> int:
        return len(self.track)

    @staticmethod
    def of(states: Sequence[tuple[str, TrackState]]) -> Recording:
        """From (party, state) pairs."""
        index: dict[tuple[str, str], int] = {}
        for p, s in states:
            index.setdefault((p, s.id), len(index))
        classes = {c: k for k, c in enumerate(CLASSES)}
        return Recording(
            track_ids=[i for _, i in index],
            track_parties=[p for p, _ in index],
            track=np.array([index[(p, s.id)] for p, s in states], dtype=np.int64),
            time_us=np.array([(s.time - _EPOCH) // _US for _, s in states], dtype=np.int64),
            cls=np.array([classes[s.cls.value] for _, s in states], dtype=np.int64),
            lon=np.array([s.lon for _, s in states], dtype=np.float64),
            lat=np.array([s.lat for _, s in states], dtype=np.float64),
            alt_m=np.array([s.alt_m for _, s in states], dtype=np.float64),
            gs_mps=np.array([s.gs_mps for _, s in states], dtype=np.float64),
            track_deg=np.array([s.track_deg for _, s in states], dtype=np.float64),
            vs_mps=np.array([s.vs_mps for _, s in states], dtype=np.float64),
        )


def replay(
    states: Sequence[tuple[str, TrackState]],
    *,
    lookahead_s: float = 300.0,
    minima: Minima | None = None,
    cycle_s: float = 1.0,
    stale_s: float = 120.0,
) -> list[Encounter]:
    """Encounters between tracks of different parties, in order of first detection."""
    return replay_recording(
        Recording.of(states),
        lookahead_s=lookahead_s,
        minima=minima,
        cycle_s=cycle_s,
        stale_s=stale_s,
    )


def replay_recording(
    rec: Recording,
    *,
    lookahead_s: float = 300.0,
    minima: Minima | None = None,
    cycle_s: float = 1.0,
    stale_s: float = 120.0,
) -> list[Encounter]:
    """``replay`` on a recording in columns."""
    minima = minima or Minima()
    if len(rec) == 0:
        return []
    rows = [_conflict_rows(snap, lookahead_s, minima) for snap in _snapshots(rec, cycle_s, stale_s)]
    return _encounters(rec, _Rows.joined(rows)) if rows else []


@dataclass(frozen=True)
class _Snapshots:
    """Some cycles' live tracks, extrapolated to them: cycle ``c`` (at ``cycle_us[c]``) is rows
    ``start[c]:start[c + 1]`` of the table (its tracks in the order they first reported)."""

    start: IntArray
    cycle_us: IntArray
    track: IntArray  # the recording's track of each row
    scene: Scene  # every row, extrapolated


def _snapshots(rec: Recording, cycle_s: float, stale_s: float) -> Iterator[_Snapshots]:
    """The snapshots of every cycle, ``_ROWS_AT_ONCE`` rows or so at a time."""
    order = np.argsort(rec.time_us, kind="stable")
    t = rec.time_us[order]
    step = timedelta(seconds=cycle_s) // _US
    cycles = t[0] + step * np.arange((t[-1] - t[0]) // step + 1, dtype=np.int64)
    upto = np.searchsorted(t, cycles, side="right")
    # tracks numbered by first report, as a replay that meets them in time order would
    first = np.unique(rec.track[order], return_index=True)[1]
    number = np.empty(len(rec.track_ids), np.int64)
    number[rec.track[order][np.sort(first)]] = np.arange(len(first))
    tracks = number[rec.track[order]]
    # a state that another of its track follows before the next cycle is never the latest
    batch = np.searchsorted(upto, np.arange(len(t)), side="right")
    by_track = np.lexsort((np.arange(len(t)), tracks))
    same = (tracks[by_track[1:]] == tracks[by_track[:-1]]) & (
        batch[by_track[1:]] == batch[by_track[:-1]]
    )
    superseded = np.zeros(len(t), dtype=bool)
    superseded[by_track[:-1][same]] = True
    parties = {p: n for n, p in enumerate(sorted(set(rec.track_parties)))}
    party_of = np.array([parties[p] for p in rec.track_parties], dtype=np.int64)
    latest = np.full(len(first), -1, np.int64)  # per track, its latest state (sorted index)
    latest_t = np.zeros(len(first), np.int64)
    rows: list[IntArray] = []
    sizes: list[int] = []
    times: list[int] = []
    pending = 0
    k = 0
    for c, u in enumerate(upto.tolist()):
        if u > k:
            new = np.arange(k, u)[~superseded[k:u]]
            latest[tracks[new]] = new
            latest_t[tracks[new]] = t[new]
            k = u
        live = np.nonzero((latest >= 0) & ((cycles[c] - latest_t) / 1e6 <= stale_s))[0]
        if len(live) >= 2:
            rows.append(latest[live])
            sizes.append(len(live))
            times.append(int(cycles[c]))
            pending += len(live)
        if pending >= _ROWS_AT_ONCE or (c == len(cycles) - 1 and rows):
            state = order[np.concatenate(rows)]  # the recording's entry of each row
            at = np.repeat(np.array(times, dtype=np.int64), sizes)
            dt = (at - rec.time_us[state]) / 1e6
            gs = rec.gs_mps[state]
            trk = rec.track_deg[state]
            vs = rec.vs_mps[state]
            lon, lat, alt = dead_reckon(
                rec.lon[state], rec.lat[state], rec.alt_m[state], trk, gs, vs, dt
            )
            yield _Snapshots(
                start=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                cycle_us=np.array(times, dtype=np.int64),
                track=rec.track[state],
                scene=Scene(
                    lon=np.asarray(lon, dtype=np.float64),
                    lat=np.asarray(lat, dtype=np.float64),
                    alt_m=alt,
                    gs_mps=gs,
                    track_deg=trk,
                    vs_mps=vs,
                    party=party_of[rec.track[state]],
                    cls=rec.cls[state],
                ),
            )
            rows, sizes, times, pending = [], [], [], 0


@dataclass(frozen=True)
class _Rows:
    """Conflicts, one row per pair and cycle, in the order a cycle-by-cycle replay meets them
    (by cycle, then by position in the snapshot), with the states of both tracks then."""

    cycle_us: IntArray
    track_a: IntArray  # the recording's tracks: a first in the snapshot
    track_b: IntArray
    t_cpa: FloatArray
    d_cpa_m: FloatArray
    dz_cpa_m: FloatArray
    lost_now: NDArray[np.bool_]
    a: FloatArray  # lon, lat, track_deg, gs_mps of a (N x 4)
    b: FloatArray  # and of b

    @staticmethod
    def joined(parts: list[_Rows]) -> _Rows:
        fields = [f.name for f in dataclasses.fields(_Rows)]
        return _Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def _conflict_rows(snap: _Snapshots, lookahead_s: float, minima: Minima) -> _Rows:
    s = snap.scene
    pos, vel = ecef_motion(s)
    found: list[Conflicts] = []
    tri: dict[int, tuple[IntArray, IntArray]] = {}
    batch_i: list[IntArray] = []
    batch_j: list[IntArray] = []
    pending = 0

    def flush() -> None:
        nonlocal pending
        if pending:
            i, j = np.concatenate(batch_i), np.concatenate(batch_j)
            found.append(check_pairs(pos, vel, s, i, j, lookahead_s, minima))
        batch_i.clear()
        batch_j.clear()
        pending = 0

    for c in range(len(snap.cycle_us)):
        a, b = int(snap.start[c]), int(snap.start[c + 1])
        n = b - a
        if n >= KERNEL_FROM:  # a large snapshot: the pruned kernel, on its own
            flush()
            sub = Scene(*(getattr(s, f.name)[a:b] for f in dataclasses.fields(Scene)))
            cc = detect(sub, lookahead_s, minima)
            found.append(dataclasses.replace(cc, i=cc.i + a, j=cc.j + a))
            continue
        if n not in tri:
            ii, jj = np.triu_indices(n, k=1)
            tri[n] = (ii.astype(np.int64), jj.astype(np.int64))
        ii, jj = tri[n]
        keep = s.party[a + ii] != s.party[a + jj]
        batch_i.append(a + ii[keep])
        batch_j.append(a + jj[keep])
        pending += len(batch_i[-1])
        if pending >= _PAIRS_AT_ONCE:
            flush()
    flush()
    i = np.concatenate([f.i for f in found]) if found else np.zeros(0, np.int64)
    j = np.concatenate([f.j for f in found]) if found else np.zeros(0, np.int64)
    cycle = np.searchsorted(snap.start, i, side="right") - 1
    state = np.column_stack([s.lon, s.lat, s.track_deg, s.gs_mps])
    return _Rows(
        cycle_us=snap.cycle_us[cycle],
        track_a=snap.track[i],
        track_b=snap.track[j],
        t_cpa=np.concatenate([f.t_cpa for f in found]) if found else np.zeros(0),
        d_cpa_m=np.concatenate([f.d_cpa_m for f in found]) if found else np.zeros(0),
        dz_cpa_m=np.concatenate([f.dz_cpa_m for f in found]) if found else np.zeros(0),
        lost_now=np.concatenate([f.lost_now for f in found]) if found else np.zeros(0, bool),
        a=state[i],
        b=state[j],
    )


def _encounters(rec: Recording, rows: _Rows) -> list[Encounter]:
    if len(rows.track_a) == 0:
        return []
    # one encounter per pair of ids, named in the order of (party, id)
    ta, tb = rows.track_a, rows.track_b
    names = sorted(range(len(rec.track_ids)),
                   key=lambda k: (rec.track_parties[k], rec.track_ids[k]))  # fmt: skip
    rank = np.empty(len(names), np.int64)
    rank[np.array(names, dtype=np.int64)] = np.arange(len(names))
    ids = {v: k for k, v in enumerate(sorted(set(rec.track_ids)))}
    id_of = np.array([ids[v] for v in rec.track_ids], dtype=np.int64)
    swap = (rank[ta] > rank[tb]) & (id_of[ta] != id_of[tb])  # one id: in snapshot order
    first_t, second_t = np.where(swap, tb, ta), np.where(swap, ta, tb)
    key = id_of[first_t] * len(ids) + id_of[second_t]
    seen = np.arange(len(key))
    # per encounter: its first row, its closest row (the first of the closest), any row lost
    by_key = np.lexsort((seen, key))
    starts = np.r_[0, np.nonzero(np.diff(key[by_key]))[0] + 1]
    first_row = by_key[starts]
    closest = np.lexsort((seen, rows.d_cpa_m, key))[starts]
    lost = np.logical_or.reduceat(rows.lost_now[by_key], starts)
    # where: halfway between the two tracks at the closest approach, each ahead on its track
    a, b, tc = rows.a[closest], rows.b[closest], rows.t_cpa[closest]
    a_lon, a_lat, _ = GEOD.fwd(a[:, 0], a[:, 1], a[:, 2], a[:, 3] * tc)
    b_lon, b_lat, _ = GEOD.fwd(b[:, 0], b[:, 1], b[:, 2], b[:, 3] * tc)
    az, _, dist = GEOD.inv(a_lon, a_lat, b_lon, b_lat)
    mid_lon, mid_lat, _ = GEOD.fwd(a_lon, a_lat, az, 0.5 * np.asarray(dist))
    out = []
    for n in range(len(starts)):
        r = int(closest[n])
        fa, fb = int(first_t[r]), int(second_t[r])
        out.append(
            Encounter(
                tracks=(rec.track_ids[fa], rec.track_ids[fb]),
                parties=(rec.track_parties[fa], rec.track_parties[fb]),
                first_detected=_at(rows.cycle_us[first_row[n]]),
                cpa_time=_at(rows.cycle_us[r]) + timedelta(seconds=float(tc[n])),
                cpa_lon=float(np.asarray(mid_lon)[n]),
                cpa_lat=float(np.asarray(mid_lat)[n]),
                min_horizontal_m=float(rows.d_cpa_m[r]),
                vertical_at_cpa_m=float(rows.dz_cpa_m[r]),
                lost=bool(lost[n]),
            )
        )
    return sorted(out, key=lambda e: (e.first_detected, e.tracks))


def _at(us: np.int64) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))
