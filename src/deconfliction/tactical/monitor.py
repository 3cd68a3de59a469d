"""The live tactical picture: every cycle, tracks against tracks, areas and their own intents.

- **Tracks against tracks** (``engine.tactical``): pairs of different parties predicted to lose
  separation within the look-ahead; the alert carries the closest approach and the predicted
  loss of separation as absolute times, and the distances then and now (``engine.encounter``).
- **Tracks against areas and intents**: a track whose predicted path enters another party's
  restricted area or intent (a naval operating area, a sortie) within the look-ahead, or is in
  it; the alert carries when it enters and when it leaves, as absolute times, computed on the
  path exactly. The volumes are those the track's owner may see of the record
  (``release.volumes_for``): exact at ``full``, the coarsened extent below, none at ``none``, so
  that nothing an alert says is finer than what the agreement releases.
- **Conformance**: a track flying an intent of its own party (``intent_id``) that is outside
  every volume of that intent now turns the intent Nonconforming (F3548 semantics) and alerts.

Each kind goes through an ``AlertBook``: raised once, recomputed every cycle while in force (the
alerts listed are never older than a cycle), an ``*.updated`` event when a time or distance moves
by more than its step, cleared with hysteresis. Every event is an outbox event for each party
concerned and an audit entry, in one transaction. Other parties' tracks are named ``PARTY/ID``
in ``tracks`` and ``track``, so that what each party is shown of them can be filtered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..audit import digest
from ..engine import Record, check_pair
from ..engine.alert_book import AlertBook, Change, Found, iso_ms
from ..engine.encounter import Path, approach, passage
from ..engine.motion import dead_reckon
from ..engine.tactical import CLASSES, Minima, Scene, detect, ecef_motion
from ..errors import DeconflictionError
from ..exchange import release
from ..exchange.agreements import Coarsening, all_active
from ..geo.distance import MIN_CURVATURE_M, Shape, horizontal_gap_m
from ..geodesy import GEOD
from ..model import (
    CircleFootprint,
    IntentDraft,
    IntentState,
    OperationalIntent,
    RecordKind,
    SeparationPolicy,
    Track,
    Volume4D,
)
from ..store.base import Store, StoredRecord, Tx, record_key, to_record
from ..store.tracks import TrackTable

#: How far one degree of latitude or longitude reaches at most, metres (a bound).
_DEG_M = 111_700.0

Key = tuple[str, ...]


class TacticalMonitor:
    def __init__(
        self,
        store: Store,
        tracks: TrackTable,
        *,
        clock: Callable[[], float] = time.time,
        lookahead_s: float = 300.0,
        minima: Minima | None = None,
    ) -> None:
        self.store = store
        self.tracks = tracks
        self.clock = clock
        self.lookahead_s = lookahead_s
        self.minima = minima or Minima()
        self.pairs = AlertBook("tactical")
        self.areas = AlertBook("area")
        self.conformance = AlertBook("conformance", clear_after_s=10.0)
        #: a monitor taking over (a restart, or another process's lease) starts from nothing:
        #: what is still true is raised again on its first cycle
        self._fresh = True

    # --- one cycle -------------------------------------------------------------------------
    def run_once(self) -> list[Change]:
        """One cycle; returns every change (``refreshed`` ones included)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        if self._fresh:
            self.store.write_tx(lambda tx: tx.x("DELETE FROM tactical_alerts"))
            self._fresh = False
        live = self.tracks.snapshot()
        by_id = {_name(t): t for t in live}
        changes: list[Change] = []
        changes += self.pairs.cycle(now, *self._pairs(live, by_id, now))
        found, current = self.store.read_tx(lambda tx: self._areas(tx, live, by_id, now))
        changes += self.areas.cycle(now, found, current)
        changes += self.conformance.cycle(now, self._conformance(live, now))
        if changes:
            self.store.write_tx(lambda tx: self._record(tx, changes, now))
        return changes

    def active(self, party: str) -> list[dict[str, Any]]:
        """Alerts in force that concern ``party`` (from the database: any process answers)."""
        rows = self.store.read_tx(
            lambda tx: tx.x(
                "SELECT kind, parties, body FROM tactical_alerts ORDER BY kind, alert_key"
            ).fetchall()
        )
        return [{"kind": r[0], **json.loads(r[2])} for r in rows if party in json.loads(r[1])]

    # --- tracks against tracks -------------------------------------------------------------
    def _pairs(
        self, live: list[Track], by_id: dict[str, Track], now: datetime
    ) -> tuple[Found, dict[Key, dict[str, Any]]]:
        """Conflicting pairs (with the service's minima, except between parties whose
        agreement sets its own), and the geometry now of the pairs in force that no longer
        conflict."""
        in_force = [k for k in self.pairs.alerts if all(x in by_id for x in k)]
        if len(live) < 2:
            return {}, {}
        custom = self.store.read_tx(
            lambda tx: {
                tuple(sorted(ag.parties)): Minima.of(
                    (ag.terms.tactical.aircraft_lateral_m, ag.terms.tactical.aircraft_vertical_m),
                    ag.terms.tactical.ship_cpa_m,
                    (
                        ag.terms.tactical.aircraft_ship_lateral_m,
                        ag.terms.tactical.aircraft_ship_vertical_m,
                    ),
                )
                for ag in all_active(tx)
                if ag.terms.tactical is not None
            }
        )
        scene = _scene(live, now)
        index = {_name(t): k for k, t in enumerate(live)}

        def minima_of(key: Key) -> Minima:
            parties = tuple(sorted(by_id[x].party for x in key))
            found: Minima = custom.get(parties, self.minima)
            return found

        found_keys = [
            k for k in self._detect(scene, live, self.minima) if minima_of(k) is self.minima
        ]
        for (a, b), m in custom.items():
            subset = np.array([k for k, t in enumerate(live) if t.party in (a, b)], np.int64)
            if len({live[int(k)].party for k in subset}) < 2:
                continue
            sub = [live[int(k)] for k in subset]
            found_keys += self._detect(_subscene(scene, subset), sub, m)
        keys = sorted(set(found_keys)) + sorted(set(in_force) - set(found_keys))
        if not keys:
            return {}, {}
        pos, vel = ecef_motion(scene)
        i = np.array([index[k[0]] for k in keys], np.int64)
        j = np.array([index[k[1]] for k in keys], np.int64)
        ap = approach(
            pos, vel, scene.alt_m, scene.vs_mps, scene.cls, i, j, [minima_of(k) for k in keys],
            self.lookahead_s,
        )  # fmt: skip

        def at(s: float) -> str | None:
            return None if np.isnan(s) else iso_ms(now + timedelta(seconds=float(s)))

        found: Found = {}
        current: dict[Key, dict[str, Any]] = {}
        conflicting = set(found_keys)
        for n, key in enumerate(keys):
            geo = {
                "tracks": list(key),
                "t_cpa": at(ap.t_cpa[n]),
                "d_cpa_m": round(float(ap.d_cpa_m[n]), 1),
                "dz_cpa_m": round(float(ap.dz_cpa_m[n]), 1),
                "t_los_start": at(ap.t_los_start[n]),
                "t_los_end": at(ap.t_los_end[n]),
                "lost": bool(ap.lost_now[n]),
                "d_now_m": round(float(ap.d_now_m[n]), 1),
                "t_cpa_s": None if np.isnan(ap.t_cpa[n]) else round(float(ap.t_cpa[n]), 1),
            }
            if key in conflicting:
                found[key] = ((by_id[key[0]].party, by_id[key[1]].party), geo)
            else:
                current[key] = geo
        return found, current

    def _detect(self, scene: Scene, live: list[Track], minima: Minima) -> list[Key]:
        c = detect(scene, self.lookahead_s, minima)
        out: list[Key] = []
        for n in range(len(c)):
            a, b = live[int(c.i[n])], live[int(c.j[n])]
            out.append(tuple(sorted((_name(a), _name(b)))))
        return out

    # --- tracks against areas and intents ------------------------------------------------------
    def _areas(
        self, tx: Tx, live: list[Track], by_id: dict[str, Track], now: datetime
    ) -> tuple[Found, dict[Key, dict[str, Any]]]:
        """Tracks whose path meets another party's record within the look-ahead (as released to
        the track's owner), and the geometry now of the alerts in force that no longer do."""
        if not live:
            return {}, {}
        near = self._near(tx, live, now)
        released: dict[tuple[str, int, str], list[Volume4D] | None] = {}

        def volumes(rec: StoredRecord, viewer: str) -> list[Volume4D] | None:
            k = (rec.id, rec.version, viewer)
            if k not in released:
                released[k] = release.volumes_for(tx, rec, viewer)
            return released[k]

        found: Found = {}
        for t in live:
            for rec in near[_name(t)]:
                if rec.owner == t.party or rec.id == t.state.intent_id:
                    continue
                vols = volumes(rec, t.party)
                if vols is None:
                    continue
                geo = self._passage(t, rec, vols, now)
                if geo is not None:
                    found[(_name(t), record_key(rec.owner, rec.id))] = ((t.party, rec.owner), geo)
        current: dict[Key, dict[str, Any]] = {}
        for key in sorted(set(self.areas.alerts) - set(found)):
            track = by_id.get(key[0])
            loaded = tx.load(key[1])  # the record's key, OWNER/ID
            if track is None or loaded is None:
                continue
            vols = volumes(loaded[0], track.party)
            if vols is not None:
                current[key] = self._passage(track, loaded[0], vols, now, always=True) or {}
        return found, current

    def _passage(
        self,
        t: Track,
        rec: StoredRecord,
        vols: list[Volume4D],
        now: datetime,
        *,
        always: bool = False,
    ) -> dict[str, Any] | None:
        """The alert's numbers for a track and a record's volumes (None: it does not meet them
        within the look-ahead, unless ``always``)."""
        s = t.state
        path = Path(s.lon, s.lat, s.alt_m, s.track_deg, s.gs_mps, s.vs_mps)
        p = passage(path, vols, s.time.timestamp(), now.timestamp(), self.lookahead_s)
        if not p.meets and not always:
            return None
        lon, lat, _ = _at(t, now)
        point = CircleFootprint.model_construct(type="Circle", center=[lon, lat], radius_m=0.0)
        here = Shape(point)
        end = now + timedelta(seconds=self.lookahead_s)
        near = [
            horizontal_gap_m(here, Shape(v.footprint))
            for v in vols
            if v.time_start <= end and v.time_end >= now
        ]

        def at(x: float | None) -> str | None:
            return None if x is None else iso_ms(now + timedelta(seconds=x))

        return {
            "track": _name(t),
            "area": rec.id,
            "record_kind": "intent" if isinstance(rec, OperationalIntent) else "area",
            "t_enter": at(p.enter_s),
            "t_exit": at(p.exit_s),
            "inside": p.inside,
            "d_now_m": round(min(near), 1) if near else None,
            "t_enter_s": None if p.enter_s is None else round(p.enter_s, 1),
        }

    def _near(self, tx: Tx, live: list[Track], now: datetime) -> dict[str, list[StoredRecord]]:
        """For each track, the other parties' records whose released volumes it may meet within
        the look-ahead: a superset. A released extent lies within ``grow`` of its record's cap
        (``release.coarsen``), so a record is kept for a track when one of its caps comes within
        ``grow`` of where the track can be (a circle of its reach); the caps are found through
        their own index (``Tx.cap_candidates``), one query per 2-degree square of tracks."""
        grow = _growth(tx)
        end = now + timedelta(seconds=self.lookahead_s)
        reach = SeparationPolicy.model_construct(
            lateral_m=grow.lateral_m, vertical_m=grow.vertical_m, time_s=grow.time_s
        )
        where: dict[tuple[int, int], list[tuple[Track, float, float, float, float, float]]] = {}
        for t in live:
            lon, lat, alt = _at(t, now)
            alt1 = alt + t.state.vs_mps * self.lookahead_s
            span = max(t.state.gs_mps * self.lookahead_s, 1.0)
            cell = (int(np.floor(lat / 2.0)), int(np.floor(lon / 2.0)))
            where.setdefault(cell, []).append((t, lon, lat, min(alt, alt1), max(alt, alt1), span))
        out: dict[str, list[StoredRecord]] = {}
        for group in where.values():
            lons = np.array([g[1] for g in group])
            lats = np.array([g[2] for g in group])
            spans = np.array([g[5] for g in group])
            clon, clat = _centre(lons, lats)
            _, _, dist = GEOD.inv(np.full_like(lons, clon), np.full_like(lats, clat), lons, lats)
            area = Volume4D.model_construct(
                footprint=CircleFootprint.model_construct(
                    type="Circle",
                    center=[clon, clat],
                    radius_m=float(np.max(np.asarray(dist) + spans)) + 1.0,
                ),
                alt_lower_m=min(g[3] for g in group),
                alt_upper_m=max(g[4] for g in group),
                time_start=now,
                time_end=end,
            )
            recs = [rec for rec, _ in tx.cap_candidates([area], reach, ("kind <> ''", ()))]
            # every volume's cap against every track's reach: a lower bound of their gap
            owner = [k for k, rec in enumerate(recs) for _ in rec.volumes]
            caps = np.array(
                [v.footprint.cap for rec in recs for v in rec.volumes], dtype=np.float64
            ).reshape(-1, 3)
            gap = _cap_gaps(lons, lats, spans, caps[:, 0], caps[:, 1], caps[:, 2])
            for n, g in enumerate(group):
                t = g[0]
                close = {owner[int(k)] for k in np.nonzero(gap[n] <= grow.lateral_m)[0]}
                out[_name(t)] = [recs[k] for k in sorted(close) if recs[k].owner != t.party]
        return out

    # --- conformance ---------------------------------------------------------------------------
    def _conformance(self, live: list[Track], now: datetime) -> Found:
        out: Found = {}
        for t in live:
            if t.state.intent_id is None:
                continue
            try:
                rec = self.store.get(RecordKind.INTENT, t.party, t.state.intent_id)
            except DeconflictionError:
                continue
            if rec.owner != t.party:
                continue
            lon, lat, alt = _at(t, now)
            here = Volume4D.model_validate(
                {
                    "footprint": {"type": "Circle", "center": [lon, lat], "radius_m": 1.0},
                    "alt_lower_m": alt,
                    "alt_upper_m": alt,
                    "time_start": now,
                    "time_end": now,
                }
            )
            point = Record(RecordKind.INTENT, f"track:{t.state.id}", t.party, (here,))
            inside = check_pair(point, to_record(RecordKind.INTENT, rec), SeparationPolicy())
            if inside is None:
                key = (_name(t), rec.id)
                out[key] = ((t.party,), {"track": _name(t), "intent": rec.id})
        return out

    # --- what each change writes -------------------------------------------------------------
    def _record(self, tx: Tx, changes: list[Change], now: datetime) -> None:
        for ch in changes:
            kind = ch.alert.kind
            payload = ch.alert.as_json()
            key = "|".join(ch.alert.key)
            parties = sorted(set(ch.alert.parties))
            tx.x("DELETE FROM tactical_alerts WHERE kind = ? AND alert_key = ?", (kind, key))
            if ch.kind != "cleared":
                tx.x(
                    "INSERT INTO tactical_alerts (kind, alert_key, parties, body) "
                    "VALUES (?, ?, ?, ?)",
                    (kind, key, json.dumps(parties), json.dumps(payload)),
                )
            if not ch.is_event:
                continue
            for p in parties:
                shown = release.view_alert(tx, payload, p)  # each party as the release rule allows
                if shown is not None:
                    tx.event(p, f"{kind}.{ch.kind}", shown, now)
            tx.audit(now, "service", f"{kind}.{ch.kind}", key, digest(payload))
            if kind == "conformance" and ch.kind == "raised":
                self._nonconforming(tx, ch.alert.parties[0], ch.alert.geometry["intent"], now)

    def _nonconforming(self, tx: Tx, owner: str, intent_id: str, now: datetime) -> None:
        found = tx.load(record_key(owner, intent_id))
        if found is None:
            return
        rec = found[0]
        if getattr(rec, "state", None) is IntentState.NONCONFORMING:
            return
        draft = IntentDraft(
            volumes=list(rec.volumes),
            state=IntentState.NONCONFORMING,
            priority=getattr(rec, "priority", 0),
            category=getattr(rec, "category", IntentDraft.model_fields["category"].default),
            name=rec.name,
        )
        tx.write(RecordKind.INTENT, rec.id, rec.owner, draft, rec.version, "service", now)


@dataclass(frozen=True)
class _Growth:
    """How far a released extent may reach beyond its record's cap, band and window."""

    lateral_m: float
    vertical_m: float
    time_s: float


def _growth(tx: Tx) -> _Growth:
    """The largest growth any coarsening in force (or the default) may give: the centre moves
    to the grid by at most half a cell's diagonal and the radius grows by that, plus a radius
    step (``release.coarsen``); altitudes and times round outward by a step."""
    cs = [Coarsening(), *(ag.terms.coarsening for ag in all_active(tx))]
    return _Growth(
        lateral_m=max(2 * c.position_step_deg * _DEG_M + c.radius_step_m for c in cs) + 2.0,
        vertical_m=max(c.alt_step_m for c in cs),
        time_s=max(c.time_step_s for c in cs),
    )


def _centre(lons: NDArray[np.float64], lats: NDArray[np.float64]) -> tuple[float, float]:
    """The normalized mean of points as unit vectors (robust across the antimeridian)."""
    lo, la = np.radians(lons), np.radians(lats)
    x = float(np.mean(np.cos(la) * np.cos(lo)))
    y = float(np.mean(np.cos(la) * np.sin(lo)))
    z = float(np.mean(np.sin(la)))
    return float(np.degrees(np.arctan2(y, x))), float(np.degrees(np.arctan2(z, np.hypot(x, y))))


def _cap_gaps(
    lon1: NDArray[np.float64],
    lat1: NDArray[np.float64],
    r1: NDArray[np.float64],
    lon2: NDArray[np.float64],
    lat2: NDArray[np.float64],
    r2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``geo.distance.cap_gap_lower_bound_m`` for every pair of the two sets (rows, columns)."""
    p1, p2 = np.radians(lat1)[:, None], np.radians(lat2)[None, :]
    dl = np.radians(lon2[None, :] - lon1[:, None])
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    angle = 2.0 * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    gaps: NDArray[np.float64] = angle * MIN_CURVATURE_M - r1[:, None] - r2[None, :]
    return gaps


def _name(t: Track) -> str:
    return f"{t.party}/{t.state.id}"


def _at(t: Track, now: datetime) -> tuple[float, float, float]:
    """The track's position and altitude extrapolated to ``now``."""
    s = t.state
    dt = (now - s.time).total_seconds()
    return dead_reckon(s.lon, s.lat, s.alt_m, s.track_deg, s.gs_mps, s.vs_mps, dt)


def _scene(live: list[Track], now: datetime) -> Scene:
    parties = {p: k for k, p in enumerate(sorted({t.party for t in live}))}
    states = [_at(t, now) for t in live]
    return Scene(
        lon=np.array([s[0] for s in states], dtype=np.float64),
        lat=np.array([s[1] for s in states], dtype=np.float64),
        alt_m=np.array([s[2] for s in states], dtype=np.float64),
        gs_mps=np.array([t.state.gs_mps for t in live], dtype=np.float64),
        track_deg=np.array([t.state.track_deg for t in live], dtype=np.float64),
        vs_mps=np.array([t.state.vs_mps for t in live], dtype=np.float64),
        party=np.array([parties[t.party] for t in live], dtype=np.int64),
        cls=np.array([CLASSES.index(t.state.cls.value) for t in live], dtype=np.int64),
    )


def _subscene(scene: Scene, idx: NDArray[np.int64]) -> Scene:
    return Scene(
        lon=scene.lon[idx],
        lat=scene.lat[idx],
        alt_m=scene.alt_m[idx],
        gs_mps=scene.gs_mps[idx],
        track_deg=scene.track_deg[idx],
        vs_mps=scene.vs_mps[idx],
        party=scene.party[idx],
        cls=scene.cls[idx],
    )
