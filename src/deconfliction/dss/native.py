"""What F3548 clients see of records written through ``/v1``: what their owner publishes.

A party chooses what of its native records DSS clients may see (``Publication``; default:
nothing): its intents as operational intent references, its areas as constraint references,
each at ``extent`` (coarsened on a grid it sets, as ``exchange.release.coarsen`` does: the
published volumes contain the real ones, so DSS discovery stays conservative) or ``full``. A
published record appears under an id derived from its key with the store's secret (a UUID that
tells nothing of the native id), managed by its owner party, with ``uss_base_url`` pointing at
this service, which serves its details (``/uss/v1``) as the managing USS would: the published
volumes, or the exact ones to a caller whose party the agreements give ``full``.

The published references are kept in ``dss_native`` and indexed by the coarse covering of their
volumes (``scd_cells`` kind ``n-oir`` / ``n-con``), written in the transaction of every native
write or publication change. "The same place" is the DSS's: sharing a level-13 cell; a published
footprint too large to list its level-13 cells (``DSS_NATIVE_MAX_CAP_KM2``) is matched by its
coarse covering, then against a circle around the cells searched (more, never fewer).

A published change is a change the DSS's subscribers must hear about: every subscription it
touches (old and new published extents) has its ``notification_index`` incremented in the same
transaction, with an outbox event (``dss.notification``) naming the published id only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..audit import digest
from ..exchange.agreements import Coarsening, Release
from ..exchange.release import coarsen, level_for
from ..geo.cells import (
    DSS_LEVEL,
    cell_level,
    cell_parent,
    cell_query,
    covering,
    dss_cells_circle,
    dss_footprint_cells,
    to_sql,
)
from ..geo.distance import Shape, horizontal_gap_m
from ..model import OperationalIntent, RecordKind, Volume4D
from ..model.footprint import _Strict
from ..store.base import StoredRecord, Tx, iso, record_key
from . import storage
from .entities import (
    GetConstraintDetailsResponse,
    GetOperationalIntentDetailsResponse,
    NotifyFlag,
    Outline,
    PublishedReference,
    Reference,
    Volume4DJson,
)
from .volumes import format_time

Level = Literal["none", "extent", "full"]
#: scd_cells kinds of published references, by DSS kind
CELL_KIND = {"oir": "n-oir", "constraint": "n-con"}
_CHUNK = 200
_NULL_SUBSCRIPTION = "00000000-0000-4000-8000-000000000000"


def _default_grid() -> Coarsening:
    return Coarsening(
        position_step_deg=0.01, radius_step_m=500.0, alt_step_m=50.0, time_step_s=60.0
    )


class Publication(_Strict):
    """What of a party's native records DSS clients see."""

    intents: Level = Field(default="none", description="intents as operational intent references")
    areas: Level = Field(default="none", description="areas as constraint references")
    grid: Coarsening = Field(
        default_factory=_default_grid, description="how published extents are coarsened"
    )


def get_publication(tx: Tx, party: str) -> Publication:
    memo: dict[str, Publication] = tx.memo.setdefault("publication", {})
    if party not in memo:
        row = tx.x("SELECT body FROM dss_publication WHERE party = ?", (party,)).fetchone()
        memo[party] = Publication() if row is None else Publication.model_validate_json(row[0])
    return memo[party]


def dss_id(tx: Tx, key: str) -> str:
    """The published id of a record: a UUID (version 4 form) keyed by the store's secret."""
    raw = bytearray(hmac.new(tx.secret, f"dss:{key}".encode(), hashlib.sha256).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def _dss_kind(kind: RecordKind) -> str:
    return "oir" if kind is RecordKind.INTENT else "constraint"


def published_volumes(rec: StoredRecord, kind: RecordKind, pub: Publication) -> list[Volume4D]:
    """The volumes DSS clients see of ``rec`` ([]: it is not published)."""
    level = pub.intents if kind is RecordKind.INTENT else pub.areas
    if level == "none":
        return []
    if level == "full":
        return list(rec.volumes)
    return [coarsen(v, pub.grid) for v in rec.volumes]


def _is_mirror(tx: Tx, kind: RecordKind, rec: StoredRecord) -> bool:
    """Whether the record is the native view of a DSS client's own reference."""
    if kind is not RecordKind.INTENT:
        return False
    return storage.is_managed_oir(tx, rec.id, rec.owner)


# --- the published references ---------------------------------------------------------------
_COLS = "dss_id, kind, record_key, owner, version, ovn, state, volumes"


def _volumes_json(volumes: Sequence[Volume4D]) -> str:
    return json.dumps([v.model_dump(mode="json") for v in volumes])


def _row_entity(r: Sequence[Any], base_url: str) -> Reference:
    volumes = [Volume4D.model_validate(v) for v in json.loads(r[7])]
    cells = _cells(volumes)
    ent: Reference = {
        "id": r[0],
        "manager": r[3],
        "version": int(r[4]),
        "ovn": r[5],
        "time_start": min(v.time_start for v in volumes),
        "time_end": max(v.time_end for v in volumes),
        "alt_lower": min(v.alt_lower_m for v in volumes),
        "alt_upper": max(v.alt_upper_m for v in volumes),
        "uss_base_url": base_url,
        "subscription_id": None,
        "cells": sorted(cells) if cells is not None else [],
        "native": {"key": r[2], "volumes": volumes},
    }
    if r[1] == "oir":
        ent["state"] = r[6]
    return ent


#: Level-13 cells of published volumes (by their JSON): cutting a footprint costs milliseconds.
_CELLS: OrderedDict[str, frozenset[int] | None] = OrderedDict()
_CELLS_MAX = 4096


def _cells(volumes: Sequence[Volume4D]) -> frozenset[int] | None:
    """Level-13 cells of all the volumes, or None when one is too large to list."""
    key = _volumes_json(volumes)
    if key in _CELLS:
        _CELLS.move_to_end(key)
        return _CELLS[key]
    cells: set[int] = set()
    out: frozenset[int] | None = None
    for v in volumes:
        c = dss_footprint_cells(v.footprint)
        if c is None:
            break
        cells |= c
    else:
        out = frozenset(cells)
    _CELLS[key] = out
    if len(_CELLS) > _CELLS_MAX:
        _CELLS.popitem(last=False)
    return out


def reference(tx: Tx, kind: str, did: str, base_url: str) -> Reference | None:
    """A published reference by its id (``kind``: oir or constraint)."""
    r = tx.x(
        f"SELECT {_COLS} FROM dss_native WHERE dss_id = ? AND kind = ?", (did, kind)
    ).fetchone()
    return None if r is None else _row_entity(r, base_url)


def is_published_id(tx: Tx, did: str) -> str | None:
    """The owner of the published reference with this id, if there is one."""
    r = tx.x("SELECT owner FROM dss_native WHERE dss_id = ?", (did,)).fetchone()
    return None if r is None else str(r[0])


def search(tx: Tx, kind: str, cells: frozenset[int], base_url: str) -> list[Reference]:
    """Published references of a kind sharing a level-13 cell with ``cells``."""
    ids: set[str] = set()
    ordered = sorted(cells)
    for k in range(0, len(ordered), _CHUNK):
        q = cell_query(ordered[k : k + _CHUNK])
        ids.update(storage.ids_in_ranges(tx, CELL_KIND[kind], list(q.ranges), sorted(q.ancestors)))
    out = []
    around: Shape | None = None
    for did in sorted(ids):
        ent = reference(tx, kind, did, base_url)
        if ent is None:
            continue
        own = _cells(ent["native"]["volumes"])
        if own is not None:
            if not own.isdisjoint(cells):
                out.append(ent)
            continue
        # too large to list its cells: does it reach the circle around the cells searched?
        around = around or Shape(dss_cells_circle(cells))
        if any(
            horizontal_gap_m(Shape(v.footprint), around, within_m=0.0) <= 0.0
            for v in ent["native"]["volumes"]
        ):
            out.append(ent)
    return out


def _unpublish(tx: Tx, did: str, kind: str) -> list[Volume4D]:
    r = tx.x("SELECT volumes FROM dss_native WHERE dss_id = ?", (did,)).fetchone()
    if r is None:
        return []
    storage.unindex(tx, CELL_KIND[kind], did)
    tx.x("DELETE FROM dss_native WHERE dss_id = ?", (did,))
    return [Volume4D.model_validate(v) for v in json.loads(r[0])]


def _publish(tx: Tx, kind: RecordKind, rec: StoredRecord, volumes: list[Volume4D]) -> None:
    did = dss_id(tx, record_key(rec.owner, rec.id))
    dkind = _dss_kind(kind)
    state = rec.state.value if isinstance(rec, OperationalIntent) else None
    tx.x(
        f"INSERT INTO dss_native ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            did,
            dkind,
            record_key(rec.owner, rec.id),
            rec.owner,
            rec.version,
            rec.ovn,
            state,
            _volumes_json(volumes),
        ),
    )
    coarse = sorted({to_sql(c) for v in volumes for c in covering(v.footprint)})
    storage.index_cells(tx, CELL_KIND[dkind], did, coarse)


def _republish(
    tx: Tx, kind: RecordKind, old: StoredRecord | None, new: StoredRecord | None, at: datetime
) -> None:
    changed = new or old
    assert changed is not None
    did = dss_id(tx, record_key(changed.owner, changed.id))
    dkind = _dss_kind(kind)
    before = _unpublish(tx, did, dkind)
    after: list[Volume4D] = []
    if new is not None and not _is_mirror(tx, kind, new):
        after = published_volumes(new, kind, get_publication(tx, new.owner))
        if after:
            _publish(tx, kind, new, after)
    if before or after:
        _notify(tx, dkind, did, before, after, deleted=not after, at=at)


def on_record_change(
    tx: Tx, kind: RecordKind, old: StoredRecord | None, new: StoredRecord | None, at: datetime
) -> None:
    """Keep a native record's published reference and notify the DSS's subscribers (same
    transaction as the write)."""
    _republish(tx, kind, old, new, at)


def put_publication(tx: Tx, party: str, pub: Publication, actor: str, at: datetime) -> Publication:
    """Set what of ``party``'s records DSS clients see, and publish (or withdraw) every record
    of it now."""
    tx.x(
        "INSERT INTO dss_publication (party, body, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (party) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        (party, pub.model_dump_json(), iso(at)),
    )
    tx.memo.setdefault("publication", {})[party] = pub
    for rec, eng in tx.owned(party):
        _republish(tx, eng.kind, rec, rec, at)
    tx.audit(at, actor, "dss.publication", party, digest(pub.model_dump(mode="json")))
    return pub


# --- notifications --------------------------------------------------------------------------
def _subs_in(tx: Tx, coarse: list[int]) -> set[str]:
    """Subscriptions with a level-13 cell inside (or being the parent of) covering cells."""
    ids: set[str] = set()
    parents = sorted(
        {to_sql(cell_parent(c, DSS_LEVEL)) for c in coarse if cell_level(c) > DSS_LEVEL}
    )
    if parents:
        ids.update(storage.ids_in_cells(tx, "sub", parents))
    spans = [s for c in coarse if cell_level(c) <= DSS_LEVEL for s in cell_query([c]).ranges]
    for k in range(0, len(spans), _CHUNK):
        ids.update(storage.ids_in_ranges(tx, "sub", list(spans[k : k + _CHUNK])))
    return ids


def _touching(tx: Tx, volumes: list[Volume4D]) -> set[str]:
    """Subscriptions sharing a level-13 cell with the volumes (their coarse covering if they
    are large). The coarse covering is asked first: when no subscription is near (the usual
    case for a native write), the volumes are never cut into level-13 cells."""
    coarse = [c for v in volumes for c in covering(v.footprint)]
    near = _subs_in(tx, coarse)
    if not near:
        return set()
    own = _cells(volumes)
    if own is None:
        return near
    ids: set[str] = set()
    probe = [to_sql(c) for c in sorted(own)]
    for k in range(0, len(probe), _CHUNK):
        ids.update(storage.ids_in_cells(tx, "sub", probe[k : k + _CHUNK]))
    return ids


def _notify(
    tx: Tx,
    kind: str,
    did: str,
    before: list[Volume4D],
    after: list[Volume4D],
    *,
    deleted: bool,
    at: datetime,
) -> None:
    if not storage.any_of_kind(tx, "sub"):
        return  # no subscription anywhere
    flag: NotifyFlag = (
        "notify_for_operational_intents" if kind == "oir" else "notify_for_constraints"
    )
    sub_ids: set[str] = set()
    vols = [*before, *after]
    for part in (before, after):
        if part:
            sub_ids |= _touching(tx, part)
    start = min(v.time_start for v in vols)
    end = max(v.time_end for v in vols)
    for sid in sorted(sub_ids):
        sub = storage.get(tx, "sub", sid)
        if sub is None or not sub[flag]:
            continue
        if sub["time_start"] > end or sub["time_end"] < start:
            continue
        sub["notification_index"] += 1
        storage.save(tx, "sub", sub, sub)
        tx.event(
            sub["manager"],
            "dss.notification",
            {
                "uss_base_url": sub["uss_base_url"],
                "subscription_id": sid,
                "notification_index": sub["notification_index"],
                ("operational_intent_id" if kind == "oir" else "constraint_id"): did,
                "deleted": deleted,
                "at": iso(at),
            },
            at,
        )


# --- details, as the managing USS -----------------------------------------------------------
def details_volumes(tx: Tx, ent: Reference, caller: str) -> list[Volume4D]:
    """The volumes a caller is shown in details: the exact ones when the caller is a party
    the agreements give ``full`` on the record, else the published ones."""
    found = tx.load(ent["native"]["key"])
    if found is not None and tx.has_party(caller):
        level, _, _ = level_for(tx, found[0], caller)
        if level is Release.FULL:
            return list(found[0].volumes)
    return list(ent["native"]["volumes"])


def _reference_json(ent: Reference, base_url: str, caller: str) -> PublishedReference:
    out: PublishedReference = {
        "id": ent["id"],
        "manager": ent["manager"],
        "uss_availability": "Unknown",
        "version": ent["version"],
        "ovn": ent["ovn"],
        "time_start": format_time(ent["time_start"]),
        "time_end": format_time(ent["time_end"]),
        "uss_base_url": base_url,
    }
    if "state" in ent:
        out["state"] = ent["state"]
        out["subscription_id"] = _NULL_SUBSCRIPTION
    return out


def intent_details(
    tx: Tx, ent: Reference, base_url: str, caller: str
) -> GetOperationalIntentDetailsResponse:
    """``GetOperationalIntentDetailsResponse`` for a published intent."""
    found = tx.load(ent["native"]["key"])
    priority = found[0].priority if found and isinstance(found[0], OperationalIntent) else 0
    return {
        "operational_intent": {
            "reference": _reference_json(ent, base_url, caller),
            "details": {
                "volumes": [_volume_json(v) for v in details_volumes(tx, ent, caller)],
                "off_nominal_volumes": [],
                "priority": priority,
            },
        }
    }


def constraint_details(
    tx: Tx, ent: Reference, base_url: str, caller: str
) -> GetConstraintDetailsResponse:
    """``GetConstraintDetailsResponse`` for a published area."""
    return {
        "constraint": {
            "reference": _reference_json(ent, base_url, caller),
            "details": {
                "volumes": [_volume_json(v) for v in details_volumes(tx, ent, caller)],
                "type": "Restricted",
            },
        }
    }


def _volume_json(v: Volume4D) -> Volume4DJson:
    fp = v.footprint
    if fp.type == "Circle":
        outline: Outline = {
            "outline_circle": {
                "center": {"lng": fp.center[0], "lat": fp.center[1]},
                "radius": {"value": fp.radius_m, "units": "M"},
            }
        }
    else:
        ring = fp.coordinates[0][:-1]  # F3548 polygons do not repeat the first vertex
        outline = {"outline_polygon": {"vertices": [{"lng": p[0], "lat": p[1]} for p in ring]}}
    return {
        "volume": {
            **outline,
            "altitude_lower": {"value": v.alt_lower_m, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": v.alt_upper_m, "reference": "W84", "units": "M"},
        },
        "time_start": format_time(v.time_start),
        "time_end": format_time(v.time_end),
    }
