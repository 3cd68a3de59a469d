"""Need-to-know: what a party is shown of another party's records and conflicts.

The level comes from the agreement between the two (``agreements.Terms.level``, by the record's
category): the record in full, a coarsened extent, conflict notices only, or nothing. Where the
agreement asks for reciprocity, details (full or extent) are released only where the viewer has
published an intent of its own in that space and time (within the agreement's separation
buffers); elsewhere the viewer gets conflict notices only. A conflict is always such a place, so
conflict notices are never held back by reciprocity, only by a level of "none".

Every release of a record's details (full or extent) to another party is recorded once per
record version, level and party (``disclosures``), with an audit entry, in the transaction that
reads it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ..audit import digest
from ..engine import check_pair
from ..geodesy import GEOD
from ..model import (
    CircleFootprint,
    Conflict,
    OperationalIntent,
    RecordExtent,
    RecordKind,
    Volume4D,
)
from ..model.footprint import MAX_FOOTPRINT_RADIUS_M
from ..model.track import Track
from ..store.base import StoredRecord, Tx, iso, to_record
from .agreements import Coarsening, Release, Terms, active


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


def _gives(tx: Tx, viewer: str, rec: StoredRecord, terms: Terms) -> bool:
    """Whether ``viewer`` has an intent of its own within the agreed buffers of ``rec``."""
    mine = to_record(_kind(rec), rec)
    policy = terms.separation
    near = tx.candidates(rec.volumes, policy, ("kind = 'intent' AND owner = ?", (viewer,)))
    return any(check_pair(mine, other, policy) is not None for _, other in near)


def level_for(tx: Tx, rec: StoredRecord, viewer: str) -> tuple[Release, Terms | None, str]:
    """The level ``viewer`` sees ``rec`` at, the terms it comes from, and why (for previews)."""
    if rec.owner == viewer:
        return Release.FULL, None, "own record"
    ag = active(tx, rec.owner, viewer)
    if ag is None:
        return Release.CONFLICT, None, "no agreement: conflict notices only"
    level = ag.terms.level(rec.owner, category_of(rec))
    why = f"agreement v{ag.version}: {category_of(rec)} released at '{level.value}'"
    details = level in (Release.FULL, Release.EXTENT)
    if details and ag.terms.reciprocity and not _gives(tx, viewer, rec, ag.terms):
        why += "; reciprocity: no plan of yours there, conflict notices only"
        return Release.CONFLICT, ag.terms, why
    return level, ag.terms, why


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
    c = terms.coarsening if terms is not None else Coarsening()
    return [coarsen(v, c) for v in rec.volumes]


def _disclose(
    tx: Tx, rec: StoredRecord, viewer: str, level: Release, via: str, shown: Any, at: datetime
) -> None:
    known = tx.x(
        "SELECT 1 FROM disclosures WHERE record_id = ? AND record_version = ? AND to_party = ? "
        "AND level = ?",
        (rec.id, rec.version, viewer, level.value),
    ).fetchone()
    if known:
        return
    tx.x(
        "INSERT INTO disclosures (record_id, record_version, to_party, level, owner, via, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rec.id, rec.version, viewer, level.value, rec.owner, via, iso(at)),
    )
    tx.audit(
        at,
        "service",
        f"disclosure.{level.value}",
        f"{rec.id}@{rec.version}->{viewer}",
        digest(shown),
    )


def shown(rec: StoredRecord, level: Release, terms: Terms | None) -> StoredRecord | RecordExtent:
    if level is Release.FULL:
        return rec
    c = terms.coarsening if terms is not None else Coarsening()
    return RecordExtent(
        kind=_kind(rec), id=rec.id, owner=rec.owner, volumes=[coarsen(v, c) for v in rec.volumes]
    )


def release_record(
    tx: Tx, rec: StoredRecord, viewer: str, via: str, at: datetime
) -> StoredRecord | RecordExtent | None:
    """What ``viewer`` may see of ``rec`` (None: nothing but conflict notices), recorded."""
    level, terms, _ = level_for(tx, rec, viewer)
    if level not in (Release.FULL, Release.EXTENT):
        return None
    out = shown(rec, level, terms)
    if rec.owner != viewer:
        _disclose(tx, rec, viewer, level, via, out.model_dump(mode="json"), at)
    return out


def release_conflict(tx: Tx, c: Conflict, viewer: str, via: str, at: datetime) -> Conflict | None:
    """The conflict as ``viewer`` (one of its parties) may see it: the other side in full, as a
    coarsened extent, or as a notice without geometry; None if the agreement says nothing."""
    if c.a.owner == viewer and c.b.owner == viewer:
        return c
    side = "b" if c.a.owner == viewer else "a"
    other: RecordExtent = getattr(c, side)
    found = tx.load(other.id)
    ag = active(tx, other.owner, viewer)
    if found is not None:
        category = category_of(found[0])
    else:
        category = "area" if other.kind is RecordKind.AREA else "default"
    level = Release.CONFLICT if ag is None else ag.terms.level(other.owner, category)
    if level is Release.NONE:
        return None
    if level is Release.CONFLICT:
        return c.model_copy(update={side: other.model_copy(update={"volumes": []})})
    if found is None:  # deleted since: what the conflict kept is all there is
        return c
    rec = found[0]
    view = shown(rec, level, ag.terms if ag else None)
    _disclose(tx, rec, viewer, level, via, view.model_dump(mode="json"), at)
    extent = RecordExtent(kind=other.kind, id=rec.id, owner=rec.owner, volumes=view.volumes)
    return c.model_copy(update={side: extent})


def release_conflicts(
    tx: Tx, conflicts: list[Conflict], viewer: str, via: str, at: datetime
) -> list[Conflict]:
    out = []
    for c in conflicts:
        r = release_conflict(tx, c, viewer, via, at)
        if r is not None:
            out.append(r)
    return out


def preview(tx: Tx, rec: StoredRecord, to_party: str) -> dict[str, Any]:
    """What ``to_party`` would be shown of the owner's ``rec`` now (nothing is recorded)."""
    level, terms, why = level_for(tx, rec, to_party)
    view = shown(rec, level, terms) if level in (Release.FULL, Release.EXTENT) else None
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
            "record_id": r[0],
            "version": int(r[1]),
            "to": r[2],
            "level": r[3],
            "via": r[4],
            "at": r[5],
        }
        for r in rows
    ]


#: How near (metres) a viewer's own track must be for give-and-take on tracks, beyond the
#: agreement's lateral buffer.
TRACK_RECIPROCITY_M = 100_000.0


def release_tracks(tx: Tx, tracks: list[Track], viewer: str, at: datetime) -> list[dict[str, Any]]:
    """The live tracks ``viewer`` may see: its own, and others' as their agreement releases the
    "track" category (full state, or a position rounded to the agreed grid with no velocity)."""
    mine = [t for t in tracks if t.party == viewer]
    out = [_track_json(t, "full") for t in mine]
    terms_by_owner: dict[str, Terms | None] = {}
    for t in tracks:
        if t.party == viewer:
            continue
        if t.party not in terms_by_owner:
            ag = active(tx, t.party, viewer)
            terms_by_owner[t.party] = ag.terms if ag else None
        terms = terms_by_owner[t.party]
        if terms is None:
            continue
        level = terms.level(t.party, "track")
        if level not in (Release.FULL, Release.EXTENT):
            continue
        if terms.reciprocity:
            reach = TRACK_RECIPROCITY_M + terms.separation.lateral_m
            near = any(
                GEOD.inv(t.state.lon, t.state.lat, m.state.lon, m.state.lat)[2] <= reach
                for m in mine
            )
            if not near:
                continue
        shown = _track_json(t, level.value, terms.coarsening)
        out.append(shown)
        _disclose_track(tx, t, viewer, level, at)
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


def _disclose_track(tx: Tx, t: Track, viewer: str, level: Release, at: datetime) -> None:
    key = f"track:{t.party}:{t.state.id}"
    known = tx.x(
        "SELECT 1 FROM disclosures WHERE record_id = ? AND record_version = 1 AND to_party = ? "
        "AND level = ?",
        (key, viewer, level.value),
    ).fetchone()
    if known:
        return
    tx.x(
        "INSERT INTO disclosures (record_id, record_version, to_party, level, owner, via, at) "
        "VALUES (?, 1, ?, ?, ?, 'tracks', ?)",
        (key, viewer, level.value, t.party, iso(at)),
    )
    tx.audit(at, "service", f"disclosure.{level.value}", f"{key}->{viewer}", digest({"track": key}))
