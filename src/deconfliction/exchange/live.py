"""The live tactical picture: every cycle, tracks against tracks, areas and their own intents.

- **Tracks against tracks** (``engine.tactical``): pairs of different parties predicted to lose
  separation within the look-ahead.
- **Tracks against areas and intents**: a track whose straight path over the look-ahead (a 4D
  corridor) meets another party's restricted area or intent (a naval operating area, a sortie)
  while it is active.
- **Conformance**: a track flying an intent of its own party (``intent_id``) that is outside
  every volume of that intent now turns the intent Nonconforming (F3548 semantics) and alerts.

Each kind goes through an ``AlertBook`` (raised once, updated, cleared with hysteresis); every
change is an outbox event for each party concerned and an audit entry, in one transaction.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ..audit import digest
from ..engine import Record, check_pair
from ..engine.alerts import AlertBook, Change
from ..engine.tactical import CLASSES, Minima, Scene, detect
from ..errors import DeconflictionError
from ..geo.distance import Shape, horizontal_gap_m
from ..geodesy import GEOD
from ..model import (
    CircleFootprint,
    IntentDraft,
    IntentState,
    RecordKind,
    SeparationPolicy,
    Track,
    Volume4D,
)
from ..store.base import Tx, record_key, to_record
from ..store.tracks import TrackTable
from .agreements import all_active
from .release import view_alert

#: Half-width of a track's corridor when it is checked against areas (metres).
CORRIDOR_HALF_WIDTH_M = 50.0


class TacticalMonitor:
    def __init__(
        self,
        store: Any,
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
        self.pairs = AlertBook()
        self.areas = AlertBook()
        self.conformance = AlertBook(clear_after_s=10.0)
        #: a monitor taking over (a restart, or another process's lease) starts from nothing:
        #: what is still true is raised again on its first cycle
        self._fresh = True

    # --- one cycle -------------------------------------------------------------------------
    def run_once(self) -> list[tuple[str, Change]]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        if self._fresh:
            self.store.write_tx(lambda tx: tx.x("DELETE FROM tactical_alerts"))
            self._fresh = False
        live = self.tracks.snapshot()
        changes: list[tuple[str, Change]] = []
        changes += [("tactical", c) for c in self.pairs.cycle(now, self._pairs(live, now))]
        changes += [("area", c) for c in self.areas.cycle(now, self._areas(live, now))]
        found = self._conformance(live, now)
        changes += [("conformance", c) for c in self.conformance.cycle(now, found)]
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

    # --- the three checks ----------------------------------------------------------------------
    def _pairs(
        self, live: list[Track], now: datetime
    ) -> dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]]:
        """Conflicting pairs: with the service's minima, except between parties whose agreement
        sets its own (detected again among those two parties' tracks with them)."""
        if len(live) < 2:
            return {}
        custom = self.store.read_tx(
            lambda tx: {
                tuple(sorted(ag.parties)): ag.terms.tactical
                for ag in all_active(tx)
                if ag.terms.tactical is not None
            }
        )
        out = {
            k: v
            for k, v in self._detect(live, now, self.minima).items()
            if tuple(sorted(v[0])) not in custom
        }
        for (a, b), tm in custom.items():
            subset = [t for t in live if t.party in (a, b)]
            if len({t.party for t in subset}) < 2:
                continue
            m = Minima.of(
                (tm.aircraft_lateral_m, tm.aircraft_vertical_m),
                tm.ship_cpa_m,
                (tm.aircraft_ship_lateral_m, tm.aircraft_ship_vertical_m),
            )
            out.update(self._detect(subset, now, m))
        return out

    def _detect(
        self, live: list[Track], now: datetime, minima: Minima
    ) -> dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]]:
        parties = {p: k for k, p in enumerate(sorted({t.party for t in live}))}
        states = [_at(t, now) for t in live]
        scene = Scene(
            lon=np.array([s[0] for s in states]),
            lat=np.array([s[1] for s in states]),
            alt_m=np.array([s[2] for s in states]),
            gs_mps=np.array([t.state.gs_mps for t in live]),
            track_deg=np.array([t.state.track_deg for t in live]),
            vs_mps=np.array([t.state.vs_mps for t in live]),
            party=np.array([parties[t.party] for t in live], dtype=np.int64),
            cls=np.array([CLASSES.index(t.state.cls.value) for t in live], dtype=np.int64),
        )
        c = detect(scene, self.lookahead_s, minima)
        out: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]] = {}
        for n in range(len(c)):
            a, b = live[int(c.i[n])], live[int(c.j[n])]
            key = tuple(sorted((f"{a.party}/{a.state.id}", f"{b.party}/{b.state.id}")))
            out[key] = (
                (a.party, b.party),
                {
                    "tracks": [f"{a.party}/{a.state.id}", f"{b.party}/{b.state.id}"],
                    "t_in_s": round(float(c.t_in[n]), 1),
                    "t_cpa_s": round(float(c.t_cpa[n]), 1),
                    "d_cpa_m": round(float(c.d_cpa_m[n]), 1),
                    "dz_cpa_m": round(float(c.dz_cpa_m[n]), 1),
                    "lost": bool(c.lost_now[n]),
                },
            )
        return out

    def _areas(
        self, live: list[Track], now: datetime
    ) -> dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]]:
        out: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]] = {}
        for t in live:
            corridor = _corridor(t, now, self.lookahead_s)
            if corridor is None:
                continue
            draft = IntentDraft(volumes=[corridor])
            try:
                found = self.store.preview(t.party, draft, RecordKind.INTENT)
            except DeconflictionError:
                continue
            for c in found:
                other = c.b if c.a.owner == t.party else c.a
                if other.owner == t.party or other.id == t.state.intent_id:
                    continue
                key = (f"{t.party}/{t.state.id}", other.id)
                enter = _entry_s(t, now, other.volumes, self.lookahead_s)
                out[key] = (
                    (t.party, other.owner),
                    {
                        "track": f"{t.party}/{t.state.id}",
                        "area": other.id,
                        "record_kind": other.kind.value,
                        "t_enter_s": round(enter, 1),
                    },
                )
        return out

    def _conformance(
        self, live: list[Track], now: datetime
    ) -> dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]]:
        out: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]] = {}
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
                key = (f"{t.party}/{t.state.id}", rec.id)
                out[key] = ((t.party,), {"track": f"{t.party}/{t.state.id}", "intent": rec.id})
        return out

    # --- what each change writes -------------------------------------------------------------
    def _record(self, tx: Tx, changes: list[tuple[str, Change]], now: datetime) -> None:
        for kind, ch in changes:
            payload = {"kind": kind, **ch.alert.as_json()}
            key = "|".join(ch.alert.key)
            tx.x("DELETE FROM tactical_alerts WHERE kind = ? AND alert_key = ?", (kind, key))
            if ch.kind != "cleared":
                tx.x(
                    "INSERT INTO tactical_alerts (kind, alert_key, parties, body) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        kind,
                        key,
                        json.dumps(sorted(set(ch.alert.parties))),
                        json.dumps(ch.alert.as_json()),
                    ),
                )
            for p in sorted(set(ch.alert.parties)):
                shown = view_alert(tx, payload, p)  # each party as the release rule allows
                if shown is not None:
                    tx.event(p, f"{kind}.{ch.kind}", shown, now)
            tx.audit(now, "service", f"{kind}.{ch.kind}", "|".join(ch.alert.key), digest(payload))
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


def _at(t: Track, now: datetime) -> tuple[float, float, float]:
    """The track's position and altitude extrapolated to ``now``."""
    s = t.state
    dt = (now - s.time).total_seconds()
    lon, lat, _ = GEOD.fwd(s.lon, s.lat, s.track_deg, s.gs_mps * dt)
    return float(lon), float(lat), s.alt_m + s.vs_mps * dt


def _entry_s(t: Track, now: datetime, volumes: list[Volume4D], lookahead_s: float) -> float:
    """When the track's straight path first enters one of the volumes (to 1 s; the corridor
    test said it does)."""
    for k in range(int(lookahead_s) + 1):
        at = now + timedelta(seconds=k)
        lon, lat, alt = _at(t, at)
        here = Shape(
            CircleFootprint(type="Circle", center=[lon, lat], radius_m=CORRIDOR_HALF_WIDTH_M)
        )
        for v in volumes:
            if not (v.time_start <= at <= v.time_end and v.alt_lower_m <= alt <= v.alt_upper_m):
                continue
            if horizontal_gap_m(here, Shape(v.footprint), within_m=0.0) <= 0.0:
                return float(k)
    return lookahead_s


def _corridor(t: Track, now: datetime, lookahead_s: float) -> Volume4D | None:
    """The 4D corridor a track flies over the look-ahead: its straight path, 100 m wide."""
    s = t.state
    lon0, lat0, alt0 = _at(t, now)
    dist = max(s.gs_mps * lookahead_s, 1.0)
    lon1, lat1, _ = GEOD.fwd(lon0, lat0, s.track_deg, dist)
    pts = []
    for lon, lat, side in (
        (lon0, lat0, -90),
        (lon1, lat1, -90),
        (lon1, lat1, 90),
        (lon0, lat0, 90),
    ):
        x, y, _ = GEOD.fwd(lon, lat, s.track_deg + side, CORRIDOR_HALF_WIDTH_M)
        pts.append([float(x), float(y)])
    if abs(lat0) > 85 or math.isnan(pts[0][0]):
        return None
    alt1 = alt0 + s.vs_mps * lookahead_s
    try:
        return Volume4D.model_validate(
            {
                "footprint": {"type": "Polygon", "coordinates": [[*pts, pts[0]]]},
                "alt_lower_m": max(-12_000.0, min(alt0, alt1)),
                "alt_upper_m": min(100_000.0, max(alt0, alt1)),
                "time_start": now,
                "time_end": now + timedelta(seconds=lookahead_s),
            }
        )
    except ValueError:
        return None
