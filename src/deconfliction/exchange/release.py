"""Need-to-know: the one rule that decides what a party is shown of another party's data.

The level comes from the agreement between the two (``agreements.Terms.level``, by the record's
category): the record in full, a coarsened extent, conflict notices only, or nothing. Where the
agreement asks for reciprocity, details (full or extent) are released only where the viewer has
published an intent of its own in that space and time (within the agreement's separation
buffers, each side as the other is shown it); elsewhere the viewer gets conflict notices only.
A conflict is always such a place, so conflict notices are never held back by reciprocity, only
by a level of "none".

Everything another party is shown is derived from what its level releases, read in the same
snapshot as the data:

- a record: in full, or its coarsened extent (``coarsen``: a circle on the agreed grid, altitudes
  and times rounded outward; it contains the record), or nothing;
- a conflict: at ``full`` as detected; at ``extent`` its window and closeness are computed again
  between the viewer's own record and the other's released extent, and put on the agreed grid;
  at ``conflict`` a notice: the viewer's record, the other party and a window on the grid, no id
  or geometry of the other's; at ``none`` nothing at all (no event, no notice, no thread);
- an event about a conflict (``conflict_note``): what the viewer would be shown of it, without
  geometry; a party at ``none`` hears nothing;
- a preview or a query: tested against the released view of others' records below ``full``
  (coarser, never missing a real conflict), so that probing finds extents, not edges.

Every release of a record's details (full or extent) is recorded once per record version,
level and party (``disclosures``, with an audit entry). A read collects them in a ``Shown`` and
records the new ones through the writer after its snapshot is released (``read``); a write
records them in its own transaction (``record``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..audit import digest
from ..engine import Finding, Record, check_pair
from ..geodesy import GEOD
from ..model import (
    CircleFootprint,
    Conflict,
    Gaps,
    OperationalIntent,
    RecordExtent,
    RecordKind,
    SeparationPolicy,
    Volume4D,
)
from ..model.footprint import MAX_FOOTPRINT_RADIUS_M
from ..model.track import Track
from ..store import Store
from ..store.base import ConflictRow, StoredRecord, Tx, iso, record_key, split_key
from .agreements import Agreement, Coarsening, Release, Terms, active

T = TypeVar("T")


def category_of(rec: StoredRecord) -> str:
    return rec.category.value if isinstance(rec, OperationalIntent) else "area"


def _kind(rec: StoredRecord) -> RecordKind:
    return RecordKind.INTENT if isinstance(rec, OperationalIntent) else RecordKind.AREA


def _floor(x: float, step: float) -> float:
    return math.floor(x / step) * step


def _ceil(x: float, step: float) -> float:
    return math.ceil(x / step) * step


def coarsen(v: Volume4D, c: Coarsening) -> Volume4D:
    """A conservative envelope of ``v``: a circle on a coarse grid with a rounded-up radius,
    altitudes and times rounded outward. It always contains ``v``."""
    lon, lat, r = v.footprint.cap
    clat = max(-90.0, min(90.0, round(lat / c.position_step_deg) * c.position_step_deg))
    clon = round(lon / c.position_step_deg) * c.position_step_deg
    clon = (clon + 180.0) % 360.0 - 180.0
    _, _, moved = GEOD.inv(lon, lat, clon, clat)
    # the geodesic distance is a metric: a circle around the new centre reaching r + moved
    # contains the old circle, which contains the footprint
    radius = _ceil(r + float(moved) + 1.0, c.radius_step_m)
    if radius > MAX_FOOTPRINT_RADIUS_M:  # too large to coarsen on this grid: keep its cap
        clon, clat, radius = lon, lat, _ceil(r + 1.0, 1.0)
    fp = CircleFootprint.model_construct(type="Circle", center=[clon, clat], radius_m=radius)
    t0 = _floor(v.time_start.timestamp(), c.time_step_s)
    t1 = _ceil(v.time_end.timestamp(), c.time_step_s)
    return Volume4D.model_construct(
        footprint=fp,
        alt_lower_m=_floor(v.alt_lower_m, c.alt_step_m),
        alt_upper_m=_ceil(v.alt_upper_m, c.alt_step_m),
        time_start=datetime.fromtimestamp(t0, UTC),
        time_end=datetime.fromtimestamp(t1, UTC),
    )


def growth_bound_m(c: Coarsening) -> float:
    """How far (metres) an extent can reach beyond its record's cap: the centre moves by up to
    half the grid's diagonal and the radius grows by as much again (so the far side reaches two
    half-diagonals out), plus the radius step and the metre added by ``coarsen``."""
    return 2.0 * 111_320.0 * c.position_step_deg * math.sqrt(2.0) / 2.0 + c.radius_step_m + 2.0


# --- levels ---------------------------------------------------------------------------------
def _agreement(tx: Tx, a: str, b: str) -> Agreement | None:
    """The agreement in force between two parties, read once per transaction."""
    memo: dict[tuple[str, str], Agreement | None] = tx.memo.setdefault("agreements", {})
    k = (a, b) if a < b else (b, a)
    if k not in memo:
        memo[k] = active(tx, a, b)
    return memo[k]


def agreed_level(tx: Tx, owner: str, viewer: str, category: str) -> tuple[Release, Terms | None]:
    """The level the agreement gives ``viewer`` on ``owner``'s records of a category (before
    reciprocity); conflict notices without an agreement."""
    if owner == viewer:
        return Release.FULL, None
    ag = _agreement(tx, owner, viewer)
    if ag is None:
        return Release.CONFLICT, None
    return ag.terms.level(owner, category), ag.terms


def _gives(tx: Tx, viewer: str, rec: StoredRecord, terms: Terms) -> bool:
    """Whether ``viewer`` has published an intent of its own within the agreed buffers of
    ``rec``'s released extent. Both sides are taken as the other is shown them, so that the
    answer tells neither more than it already knows: ``rec`` by its extent (not the record
    itself: whether details are given must not tell the viewer how near the exact record is),
    and the viewer's intents as ``rec``'s owner is shown them before reciprocity (exact at
    ``full``, the extent at ``extent`` and ``conflict``, not at all at ``none``): the owner's
    audit lists what of its records was disclosed, which must not tell it how near the viewer's
    exact plans are."""
    c = terms.coarsening
    extent = [coarsen(v, c) for v in rec.volumes]
    mine = Record(_kind(rec), record_key(rec.owner, rec.id), rec.owner, extent)
    policy = terms.separation
    # the viewer's extents reach further than its records: search wider, then test as shown
    wider = SeparationPolicy.model_construct(
        lateral_m=policy.lateral_m + growth_bound_m(c),
        vertical_m=policy.vertical_m + c.alt_step_m,
        time_s=policy.time_s + c.time_step_s,
    )
    near = tx.candidates(extent, wider, ("kind = 'intent' AND owner = ?", (viewer,)))
    for stored, exact in near:
        level = terms.level(viewer, category_of(stored))
        if level is Release.NONE:
            continue
        if level is Release.FULL:
            other = exact
        else:
            shown = [coarsen(v, c) for v in stored.volumes]
            other = Record(exact.kind, exact.id, exact.owner, shown)
        if check_pair(mine, other, policy) is not None:
            return True
    # a viewer whose plans are held by another node: what it released here (federation)
    return any(h(tx, rec.owner, viewer, extent, policy) for h in tx.hooks.viewer_plans_near)


def level_for(tx: Tx, rec: StoredRecord, viewer: str) -> tuple[Release, Terms | None, str]:
    """The level ``viewer`` sees ``rec`` at, the terms it comes from, and why (for previews);
    worked out once per transaction."""
    memo: dict[tuple[str, str, int, str], tuple[Release, Terms | None, str]]
    memo = tx.memo.setdefault("levels", {})
    k = (rec.owner, rec.id, rec.version, viewer)
    if k not in memo:
        memo[k] = _level_for(tx, rec, viewer)
    return memo[k]


def _level_for(tx: Tx, rec: StoredRecord, viewer: str) -> tuple[Release, Terms | None, str]:
    if rec.owner == viewer:
        return Release.FULL, None, "own record"
    ag = _agreement(tx, rec.owner, viewer)
    if ag is None:
        return Release.CONFLICT, None, "no agreement: conflict notices only"
    level = ag.terms.level(rec.owner, category_of(rec))
    why = f"agreement v{ag.version}: {category_of(rec)} released at '{level.value}'"
    details = level in (Release.FULL, Release.EXTENT)
    if details and ag.terms.reciprocity and not _gives(tx, viewer, rec, ag.terms):
        why += "; reciprocity: no plan of yours there, conflict notices only"
        return Release.CONFLICT, ag.terms, why
    return level, ag.terms, why


def coarsening(terms: Terms | None) -> Coarsening:
    return terms.coarsening if terms is not None else Coarsening()


def volumes_for(tx: Tx, rec: StoredRecord, viewer: str) -> list[Volume4D] | None:
    """The volumes of ``rec`` that anything shown to ``viewer`` may be derived from (times,
    places and distances of a conflict or an alert): exact at ``full`` (and for its owner), the
    coarsened extent at ``extent`` and ``conflict`` (a notice's window and place are on the
    agreed grid), None at ``none`` (nothing may be derived at all). The extent contains the
    record, so what is derived from it is conservative: never a missed conflict, only a coarser
    one."""
    level, terms, _ = level_for(tx, rec, viewer)
    if level is Release.FULL:
        return list(rec.volumes)
    if level is Release.NONE:
        return None
    c = coarsening(terms)
    return [coarsen(v, c) for v in rec.volumes]


# --- what was shown -------------------------------------------------------------------------
@dataclass(frozen=True)
class Disclosure:
    """A record's details shown to another party (once per record version, level, party)."""

    key: str
    version: int
    to: str
    level: Release
    owner: str
    digest: str


@dataclass
class Shown:
    """What one answer discloses, collected while it is built (``via``: the route or stream)."""

    via: str
    at: datetime
    items: dict[tuple[str, int, str, str], Disclosure] = field(default_factory=dict)

    def add(self, rec: StoredRecord, viewer: str, level: Release, view: Any) -> None:
        key = record_key(rec.owner, rec.id)
        k = (key, rec.version, viewer, level.value)
        if k not in self.items:
            self.items[k] = Disclosure(key, rec.version, viewer, level, rec.owner, digest(view))

    def add_track(self, t: Track, viewer: str, level: Release) -> None:
        key = f"track:{t.party}:{t.state.id}"
        k = (key, 1, viewer, level.value)
        if k not in self.items:
            self.items[k] = Disclosure(key, 1, viewer, level, t.party, digest({"track": key}))


def _known(tx: Tx, d: Disclosure) -> bool:
    row = tx.x(
        "SELECT 1 FROM disclosures WHERE record_id = ? AND record_version = ? AND to_party = ? "
        "AND level = ?",
        (d.key, d.version, d.to, d.level.value),
    ).fetchone()
    return row is not None


def given(tx: Tx, owner: str, to: str) -> dict[str, int]:
    """What ``owner`` disclosed to ``to``: versions by level (``full``, ``extent``), and
    ``updates`` (versions after the first); the reciprocity ledger counts them."""
    rows = tx.x(
        "SELECT level, COUNT(*) FROM disclosures WHERE owner = ? AND to_party = ? GROUP BY level",
        (owner, to),
    ).fetchall()
    out = {"full": 0, "extent": 0}
    out.update({r[0]: int(r[1]) for r in rows})
    out["updates"] = int(
        tx.x(
            "SELECT COUNT(*) FROM disclosures WHERE owner = ? AND to_party = ? "
            "AND record_version > 1",
            (owner, to),
        ).fetchone()[0]
    )
    return out


def pending(tx: Tx, shown: Shown) -> list[Disclosure]:
    """The disclosures of ``shown`` not recorded yet (read in the reader's snapshot)."""
    return [d for d in shown.items.values() if not _known(tx, d)]


def record(tx: Tx, disclosures: Iterable[Disclosure], via: str, at: datetime) -> int:
    """Record disclosures (in a write transaction): each new one once, with an audit entry, in
    the order of their keys (not the order an answer listed them in: conflicts come ordered by
    keyed ids, so that order would put a per-service random order into the log)."""
    n = 0
    for d in sorted(disclosures, key=lambda d: (d.key, d.version, d.to, d.level.value)):
        if _known(tx, d):
            continue
        tx.x(
            "INSERT INTO disclosures (record_id, record_version, to_party, level, owner, via, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (d.key, d.version, d.to, d.level.value, d.owner, via, iso(at)),
        )
        tx.audit(
            at, "service", f"disclosure.{d.level.value}", f"{d.key}@{d.version}->{d.to}", d.digest
        )
        n += 1
    return n


def read(store: Store, fn: Callable[[Tx, Shown], T], via: str, at: datetime | None = None) -> T:
    """Run ``fn(tx, shown)`` on a read snapshot; the disclosures it collected that are new are
    then recorded through the writer (the reader is released first). If they cannot be
    recorded, nothing is answered: the error propagates."""
    shown = Shown(via, at or datetime.now(UTC))

    def run(tx: Tx) -> tuple[T, list[Disclosure]]:
        return fn(tx, shown), pending(tx, shown)

    out, new = store.read_tx(run)
    if new:
        store.write_tx(lambda tx: record(tx, new, via, shown.at))
    return out


def in_write(tx: Tx, fn: Callable[[Tx, Shown], T], via: str, at: datetime) -> T:
    """Run ``fn(tx, shown)`` inside a write transaction and record what it disclosed there."""
    shown = Shown(via, at)
    out = fn(tx, shown)
    record(tx, shown.items.values(), via, at)
    return out


# --- records --------------------------------------------------------------------------------
def shown_as(rec: StoredRecord, level: Release, terms: Terms | None) -> StoredRecord | RecordExtent:
    """A record as shown at ``full`` (itself) or ``extent`` (its coarsened envelope)."""
    if level is Release.FULL:
        return rec
    c = coarsening(terms)
    return RecordExtent(
        kind=_kind(rec), id=rec.id, owner=rec.owner, volumes=[coarsen(v, c) for v in rec.volumes]
    )


def view_record(
    tx: Tx, rec: StoredRecord, viewer: str, shown: Shown
) -> StoredRecord | RecordExtent | None:
    """What ``viewer`` may see of ``rec`` (None: nothing but conflict notices)."""
    level, terms, _ = level_for(tx, rec, viewer)
    if level not in (Release.FULL, Release.EXTENT):
        return None
    out = shown_as(rec, level, terms)
    if rec.owner != viewer:
        shown.add(rec, viewer, level, out.model_dump(mode="json"))
    return out


def preview(tx: Tx, rec: StoredRecord, to_party: str) -> dict[str, Any]:
    """What ``to_party`` would be shown of the owner's ``rec`` now (nothing is recorded)."""
    level, terms, why = level_for(tx, rec, to_party)
    view = shown_as(rec, level, terms) if level in (Release.FULL, Release.EXTENT) else None
    return {
        "to": to_party,
        "level": level.value,
        "reason": why,
        "shown": None if view is None else view.model_dump(mode="json"),
    }


def disclosures(tx: Tx, owner: str) -> list[dict[str, Any]]:
    """What was released of ``owner``'s records, to whom, when and at which level."""
    rows = tx.x(
        "SELECT record_id, record_version, to_party, level, via, at FROM disclosures "
        "WHERE owner = ? ORDER BY at, record_id, to_party",
        (owner,),
    ).fetchall()
    return [
        {
            "record_id": r[0] if r[0].startswith("track:") else split_key(r[0])[1],
            "version": int(r[1]),
            "to": r[2],
            "level": r[3],
            "via": r[4],
            "at": r[5],
        }
        for r in rows
    ]


# --- conflicts ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sides:
    own_key: str
    own_kind: RecordKind
    other_key: str
    other_kind: RecordKind


def _sides(row: ConflictRow, viewer: str) -> _Sides | None:
    if viewer == row.a_owner:
        return _Sides(row.a_key, row.a_kind, row.b_key, row.b_kind)
    if viewer == row.b_owner:
        return _Sides(row.b_key, row.b_kind, row.a_key, row.a_kind)
    return None


@dataclass(frozen=True)
class _SeenSide:
    """One side of a conflict as its viewer may see it (``id`` None: not shown)."""

    kind: RecordKind
    id: str | None
    owner: str
    volumes: Sequence[Volume4D]

    def extent(self) -> RecordExtent:
        return RecordExtent(
            kind=self.kind, id=self.id, owner=self.owner, volumes=list(self.volumes)
        )


def _seen_side(key: str, kind: RecordKind, volumes: Sequence[Volume4D]) -> _SeenSide:
    owner, rid = split_key(key)
    return _SeenSide(kind, rid, owner, volumes)


@dataclass(frozen=True)
class _Seen:
    """What the release rule lets a viewer see of a conflict (``view_conflict``), before it is
    made a ``Conflict``: a conflict note keeps a few fields of it and needs no model."""

    a: _SeenSide
    b: _SeenSide
    time_start: datetime
    time_end: datetime
    gaps: Gaps | None
    level: str


@dataclass(frozen=True)
class ConflictView:
    """A conflict as one of its parties may see it, and at which level the other side is shown
    (``own``: both records are the viewer's)."""

    conflict: Conflict
    level: str


def _engine(tx: Tx, key: str, draft: tuple[str, Record] | None) -> tuple[str, Record] | None:
    """The record of ``key`` and its OVN ("" for the draft, which has none)."""
    if draft is not None and draft[0] == key:
        return "", draft[1]
    found = tx.load(key)
    return None if found is None else (found[0].ovn, found[1])


#: What the view of a conflict at ``extent`` works out from the stored versions it is given (a
#: record's OVN is new with each write, so a key never names two contents): the other record's
#: coarsened volumes, and the exact test of the viewer's record against them. A picture polled
#: again (the map, every few seconds) does not do them again. Bounded: emptied when full.
_COARSENED: dict[tuple[Any, ...], list[Volume4D]] = {}
_EXTENT_FINDINGS: dict[tuple[Any, ...], Finding | None] = {}
_MEMO_MAX = 8192


def _memo(memo: dict[tuple[Any, ...], T], key: tuple[Any, ...], make: Callable[[], T]) -> T:
    try:
        return memo[key]
    except KeyError:
        pass
    value = make()
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
    return value


def view_conflict(
    tx: Tx,
    row: ConflictRow,
    viewer: str,
    shown: Shown | None,
    *,
    draft: tuple[str, Record] | None = None,
) -> ConflictView | None:
    """The conflict as ``viewer`` (one of its parties) may see it, or None. ``draft``: (key,
    record) of a record not stored (a preview), which stands for the stored one of that key.
    ``shown``: where what the view discloses of the other side is collected; None for a caller
    that shows the viewer none of the records' volumes (a conflict note, a thread's check), so
    that nothing is disclosed and the disclosure is not worked out."""
    seen = _see(tx, row, viewer, shown, draft)
    if seen is None:
        return None
    c = Conflict(
        id=row.id,
        a=seen.a.extent(),
        b=seen.b.extent(),
        time_start=seen.time_start,
        time_end=seen.time_end,
        gaps=seen.gaps,
        policy=row.policy,
        detected_at=row.detected_at,
    )
    return ConflictView(c, seen.level)


def _see(
    tx: Tx,
    row: ConflictRow,
    viewer: str,
    shown: Shown | None,
    draft: tuple[str, Record] | None,
) -> _Seen | None:
    """What ``viewer`` may see of the conflict (the rule that ``view_conflict`` describes),
    or None where it may see nothing of it."""
    sides = _sides(row, viewer)
    if sides is None:
        return None
    own_found = _engine(tx, sides.own_key, draft)
    own = own_found[1] if own_found else None
    own_ext = _seen_side(sides.own_key, sides.own_kind, own.volumes if own else ())
    if row.a_owner == row.b_owner:
        mine_found = _engine(tx, sides.other_key, draft)
        mine = mine_found[1] if mine_found else None
        other_own = _seen_side(sides.other_key, sides.other_kind, mine.volumes if mine else ())
        mine_first = sides.own_key == row.a_key
        return _Seen(
            own_ext if mine_first else other_own,
            other_own if mine_first else own_ext,
            row.time_start,
            row.time_end,
            row.gaps,
            "own",
        )
    other = tx.load(sides.other_key)
    other_owner, other_id = split_key(sides.other_key)
    if other is not None:
        level, terms, _ = level_for(tx, other[0], viewer)
    else:  # gone since: never more than a notice of what was
        cat = "area" if sides.other_kind is RecordKind.AREA else "default"
        level, terms = agreed_level(tx, other_owner, viewer, cat)
        if level is Release.EXTENT:
            level = Release.CONFLICT
    if level is Release.NONE:
        return None
    t0, t1 = row.time_start, row.time_end
    gaps: Gaps | None = row.gaps
    if level is Release.FULL:
        other_ext = _seen_side(sides.other_key, sides.other_kind, other[0].volumes if other else ())
        if other is not None and shown is not None:
            shown.add(other[0], viewer, level, other[0].model_dump(mode="json"))
    else:
        grid = coarsening(terms)
        steps = (grid.position_step_deg, grid.radius_step_m, grid.alt_step_m, grid.time_step_s)
        ext_vols: list[Volume4D] = []
        if other is not None:
            o = other[0]
            ext_vols = _memo(
                _COARSENED,
                (sides.other_key, o.ovn, steps),
                lambda: [coarsen(v, grid) for v in o.volumes],
            )
        finding = None
        if own_found is not None and own is not None and other is not None and ext_vols:
            ext_rec = Record(sides.other_kind, sides.other_key, other_owner, ext_vols)
            p = row.policy

            def test() -> Finding | None:
                assert own is not None
                return check_pair(own, ext_rec, p)

            if own_found[0]:  # stored: the same versions give the same answer
                key = (sides.own_key, own_found[0], sides.other_key, other[0].ovn, steps)
                finding = _memo(_EXTENT_FINDINGS, (*key, p.lateral_m, p.vertical_m, p.time_s), test)
            else:
                finding = test()
        shown_gaps: Gaps | None = None
        if finding is not None:
            t0, t1 = finding.time_start, finding.time_end
            shown_gaps = Gaps(
                horizontal_m=_floor(finding.gaps.horizontal_m, grid.radius_step_m),
                vertical_m=_floor(finding.gaps.vertical_m, grid.alt_step_m),
                time_s=_floor(finding.gaps.time_s, grid.time_step_s),
            )
        t0 = datetime.fromtimestamp(_floor(t0.timestamp(), grid.time_step_s), UTC)
        t1 = datetime.fromtimestamp(_ceil(t1.timestamp(), grid.time_step_s), UTC)
        if level is Release.EXTENT and other is not None:
            gaps = shown_gaps
            other_ext = _SeenSide(sides.other_kind, other_id, other_owner, ext_vols)
            if shown is not None:
                shown.add(other[0], viewer, level, other_ext.extent().model_dump(mode="json"))
        else:
            level = Release.CONFLICT
            other_ext = _SeenSide(sides.other_kind, None, other_owner, ())
            gaps = None
    a, b = (own_ext, other_ext) if sides.own_key == row.a_key else (other_ext, own_ext)
    return _Seen(a, b, t0, t1, gaps, level.value)


def view_conflicts(
    tx: Tx, rows: Iterable[ConflictRow], viewer: str, shown: Shown
) -> list[Conflict]:
    out = []
    for row in rows:
        v = view_conflict(tx, row, viewer, shown)
        if v is not None:
            out.append(v.conflict)
    return out


def list_conflicts(
    tx: Tx, viewer: str, shown: Shown, include_resolved: bool = False
) -> list[Conflict]:
    """The viewer's conflicts as it may see them."""
    return view_conflicts(tx, tx.conflict_rows(viewer, include_resolved), viewer, shown)


def conflict_note(tx: Tx, row: ConflictRow, party: str, change: str) -> dict[str, Any] | None:
    """What an event tells ``party`` of a change of a conflict: the conflict's id, the ids of
    the records it may see, the other party, the window and closeness as it may see them; None
    (no event at all) at ``none``. Installed as the store's ``conflict_note``."""
    seen = _see(tx, row, party, None, None)  # a note shows no volumes: nothing disclosed
    if seen is None:
        return None
    return {
        "id": row.id,
        "state": "resolved" if change == "resolved" else "open",
        "records": [s.id for s in (seen.a, seen.b) if s.id is not None],
        "parties": sorted({seen.a.owner, seen.b.owner}),
        "level": seen.level,
        "time_start": iso(seen.time_start),
        "time_end": iso(seen.time_end),
        "gaps": None if seen.gaps is None else seen.gaps.model_dump(mode="json"),
    }


# --- live tracks ----------------------------------------------------------------------------
#: How near (metres) a viewer's own track must be for give-and-take on tracks, beyond the
#: agreement's lateral buffer.
TRACK_RECIPROCITY_M = 100_000.0


def view_tracks(tx: Tx, tracks: list[Track], viewer: str, shown: Shown) -> list[dict[str, Any]]:
    """The live tracks ``viewer`` may see: its own, and others' as their agreement releases the
    "track" category (full state, or a position rounded to the agreed grid with no velocity)."""
    mine = [t for t in tracks if t.party == viewer]
    out = [_track_json(t, "full") for t in mine]
    for t in tracks:
        if t.party == viewer:
            continue
        level, terms = agreed_level(tx, t.party, viewer, "track")
        if terms is None or level not in (Release.FULL, Release.EXTENT):
            continue
        if terms.reciprocity:
            reach = TRACK_RECIPROCITY_M + terms.separation.lateral_m
            near = any(
                GEOD.inv(t.state.lon, t.state.lat, m.state.lon, m.state.lat)[2] <= reach
                for m in mine
            )
            if not near:
                continue
        out.append(_track_json(t, level.value, terms.coarsening))
        shown.add_track(t, viewer, level)
    return out


def _track_json(t: Track, level: str, c: Coarsening | None = None) -> dict[str, Any]:
    s = t.state
    if level == "full" or c is None:
        return {"party": t.party, "level": level, **s.model_dump(mode="json", by_alias=True)}
    step = c.position_step_deg
    return {
        "party": t.party,
        "level": level,
        "id": s.id,
        "class": s.cls.value,
        "time": iso(s.time),
        "lon": round(s.lon / step) * step,
        "lat": round(s.lat / step) * step,
        "alt_m": _floor(s.alt_m, c.alt_step_m),
        "uncertainty_m": step * 111_320.0,
    }


# --- tactical alerts ------------------------------------------------------------------------
#: Alert fields that are times: the start of something (floored to the grid below ``full``)
#: and its end (ceiled).
_ALERT_STARTS = ("t_cpa", "t_los_start", "t_enter")
_ALERT_ENDS = ("t_los_end", "t_exit")
#: Alert fields that are distances (floored to the grid's radius or altitude step).
_ALERT_LATERAL = ("d_cpa_m", "d_now_m")
_ALERT_VERTICAL = ("dz_cpa_m",)
#: Relative times (seconds from now) floored to the grid's time step.
_ALERT_SECONDS = ("t_in_s", "t_cpa_s", "t_enter_s", "t_exit_s")


def _on_grid(alert: dict[str, Any], grid: Coarsening) -> dict[str, Any]:
    out = dict(alert)
    for k in _ALERT_STARTS + _ALERT_ENDS:
        v = out.get(k)
        if isinstance(v, str):
            t = datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            step = grid.time_step_s
            t = _floor(t, step) if k in _ALERT_STARTS else _ceil(t, step)
            out[k] = iso(datetime.fromtimestamp(t, UTC))
    for k in _ALERT_LATERAL:
        if isinstance(out.get(k), int | float):
            out[k] = _floor(float(out[k]), grid.radius_step_m)
    for k in _ALERT_VERTICAL:
        if isinstance(out.get(k), int | float):
            out[k] = _floor(abs(float(out[k])), grid.alt_step_m)
    for k in _ALERT_SECONDS:
        if isinstance(out.get(k), int | float):
            out[k] = _floor(float(out[k]), grid.time_step_s)
    return out


def _track_party(ref: str) -> str:
    return ref.split("/", 1)[0]


def _hidden_key(alert: dict[str, Any]) -> list[str]:
    """An alert's key without the other party's references: stable (the same alert keeps it),
    telling nothing of what it names."""
    key = "|".join(str(k) for k in alert.get("key", []))
    return ["alert:" + hashlib.sha256(key.encode()).hexdigest()[:24]]


def view_alert(tx: Tx, alert: dict[str, Any], viewer: str) -> dict[str, Any] | None:
    """A tactical alert as ``viewer`` (one of its parties) may see it: the other party's track
    as its "track" release allows (at ``full`` as is; at ``extent`` named, with times and
    distances on the agreed grid; at ``conflict`` unnamed, on the grid; at ``none`` no alert),
    and the other party's area or intent likewise by its category's level."""
    parties = alert.get("parties", [])
    if viewer not in parties:
        return None
    kind = alert.get("kind")
    if kind == "tactical":
        refs = list(alert.get("tracks", []))
        others = [r for r in refs if _track_party(r) != viewer]
        if not others:
            return alert
        level, terms = agreed_level(tx, _track_party(others[0]), viewer, "track")
        if level is Release.NONE:
            return None
        if level is Release.FULL:
            return alert
        out = _on_grid(alert, coarsening(terms))
        if level is not Release.EXTENT:
            out["tracks"] = [r if _track_party(r) == viewer else None for r in refs]
            out["key"] = _hidden_key(alert)
        out["with"] = _track_party(others[0])
        return out
    if kind == "area":
        track = str(alert.get("track", ""))
        track_owner = _track_party(track)
        area_owner = next((p for p in parties if p != track_owner), track_owner)
        if area_owner == track_owner:
            return alert
        if viewer == track_owner:
            cat = "area" if alert.get("record_kind", "area") == "area" else "default"
            level, terms = agreed_level(tx, area_owner, viewer, cat)
            hide = "area"
        else:
            level, terms = agreed_level(tx, track_owner, viewer, "track")
            hide = "track"
        if level is Release.NONE:
            return None
        if level is Release.FULL:
            return alert
        # the track's owner: its times and distances come from its own track and the area's
        # released extent (the monitor computes them so), no finer than what it may know;
        # the area's owner: they come from the other party's exact track, put on the grid
        out = dict(alert) if viewer == track_owner else _on_grid(alert, coarsening(terms))
        if level is not Release.EXTENT:
            out[hide] = None
            out["key"] = _hidden_key(alert)
        out["with"] = area_owner if viewer == track_owner else track_owner
        return out
    return alert  # conformance: the party's own track and intent only


def view_alerts(tx: Tx, alerts: Iterable[dict[str, Any]], viewer: str) -> list[dict[str, Any]]:
    out = []
    for a in alerts:
        v = view_alert(tx, a, viewer)
        if v is not None:
            out.append(v)
    return out
