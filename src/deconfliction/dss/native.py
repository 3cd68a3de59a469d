"""The DSS view of native intents: what F3548 clients see of intents written through ``/v1``.

A native intent (one not written through the DSS) appears to DSS clients as an operational
intent reference managed by its owner party: same id, its version and OVN, its state, the union
of its volumes' times and altitudes, and ``uss_base_url`` pointing at this service, which serves
its details (``GET /uss/v1/operational_intents/{id}``) as the managing USS would. Nothing is
copied: the view is built from the native record when the DSS searches, so it can never be stale.

"The same place" is the DSS's: sharing a level-13 cell. A native footprint is cut into level-13
cells unless it is very large (``DSS_NATIVE_MAX_CAP_KM2``); then its coarse covering stands in,
which can only find more, never fewer (discovery stays conservative).

A native write or delete is a change the DSS's subscribers must hear about: every subscription
for operational intents that it touches has its ``notification_index`` incremented in the same
transaction, and an outbox event (``dss.notification``) records the notification to deliver.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

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
from ..model import OperationalIntent, RecordKind
from ..store.base import Tx, iso
from .volumes import format_time

#: Level-13 cells of native intents by (id, version): cutting a large footprint costs milliseconds.
_CELLS: OrderedDict[tuple[str, int], frozenset[int] | None] = OrderedDict()
_CELLS_MAX = 4096
_CHUNK = 200


def dss_cells(rec: OperationalIntent) -> frozenset[int] | None:
    """Level-13 cells of all the intent's volumes, or None when one is too large to list."""
    key = (rec.id, rec.version)
    if key in _CELLS:
        _CELLS.move_to_end(key)
        return _CELLS[key]
    cells: set[int] = set()
    out: frozenset[int] | None = None
    for v in rec.volumes:
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


def entity(rec: OperationalIntent, base_url: str) -> dict[str, Any]:
    """The intent as a DSS entity (the shape ``dss.scd`` keeps its references in)."""
    cells = dss_cells(rec)
    return {
        "id": rec.id,
        "manager": rec.owner,
        "version": rec.version,
        "ovn": rec.ovn,
        "state": rec.state.value,
        "time_start": min(v.time_start for v in rec.volumes),
        "time_end": max(v.time_end for v in rec.volumes),
        "alt_lower": min(v.alt_lower_m for v in rec.volumes),
        "alt_upper": max(v.alt_upper_m for v in rec.volumes),
        "uss_base_url": base_url,
        "subscription_id": None,
        "cells": sorted(cells) if cells is not None else [],
    }


def _is_dss_reference(tx: Tx, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for k in range(0, len(ids), _CHUNK):
        chunk = ids[k : k + _CHUNK]
        rows = tx.x(
            f"SELECT id FROM scd_entities WHERE kind = 'oir' AND id IN "
            f"({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
        found.update(r[0] for r in rows)
    return found


def native_intent(tx: Tx, eid: str) -> OperationalIntent | None:
    """The native intent with this id, if there is one that the DSS did not write."""
    found = tx.load(eid)
    if found is None or found[1].kind is not RecordKind.INTENT or _is_dss_reference(tx, [eid]):
        return None
    rec = found[0]
    assert isinstance(rec, OperationalIntent)
    return rec


def search(tx: Tx, cells: frozenset[int], base_url: str) -> list[dict[str, Any]]:
    """Native intents (not written through the DSS) sharing a level-13 cell with ``cells``."""
    ids: set[str] = set()
    ordered = sorted(cells)
    for k in range(0, len(ordered), _CHUNK):
        q = cell_query(ordered[k : k + _CHUNK])
        terms = ["cell BETWEEN ? AND ?"] * len(q.ranges)
        params: list[Any] = [x for span in q.ranges for x in span]
        if q.ancestors:
            terms.append(f"cell IN ({', '.join('?' * len(q.ancestors))})")
            params += sorted(q.ancestors)
        rows = tx.x(
            "SELECT DISTINCT record_id FROM record_cells WHERE kind = 'intent' "
            f"AND ({' OR '.join(terms)})",
            params,
        ).fetchall()
        ids.update(r[0] for r in rows)
    if not ids:
        return []
    candidates = sorted(ids - _is_dss_reference(tx, sorted(ids)))
    out = []
    around: Shape | None = None
    for rec, _ in tx.load_many(candidates):
        assert isinstance(rec, OperationalIntent)
        own = dss_cells(rec)
        if own is not None:
            if not own.isdisjoint(cells):
                out.append(entity(rec, base_url))
            continue
        # too large to list its cells: does it reach the circle around the cells searched?
        around = around or Shape(dss_cells_circle(cells))
        if any(
            horizontal_gap_m(Shape(v.footprint), around, within_m=0.0) <= 0.0 for v in rec.volumes
        ):
            out.append(entity(rec, base_url))
    return out


def _subscriptions_touching(tx: Tx, rec: OperationalIntent) -> list[str]:
    """Ids of subscriptions sharing a level-13 cell with the intent (its coarse covering if it
    is large). The coarse covering is asked first, a few range scans: when no subscription is
    near (the usual case for a native write), the intent is never cut into level-13 cells."""
    if tx.x("SELECT 1 FROM scd_cells WHERE kind = 'sub' LIMIT 1").fetchone() is None:
        return []  # no subscription anywhere
    coarse = [c for v in rec.volumes for c in covering(v.footprint)]
    near = _subs_in(tx, coarse)
    if not near:
        return []
    own = dss_cells(rec)
    if own is None:
        return near
    ids: set[str] = set()
    probe = [to_sql(c) for c in sorted(own)]
    for k in range(0, len(probe), _CHUNK):
        chunk = probe[k : k + _CHUNK]
        rows = tx.x(
            f"SELECT DISTINCT id FROM scd_cells WHERE kind = 'sub' AND cell IN "
            f"({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
        ids.update(r[0] for r in rows)
    return sorted(ids)


def _subs_in(tx: Tx, coarse: list[int]) -> list[str]:
    """Subscriptions with a level-13 cell inside (or being the parent of) covering cells."""
    ids: set[str] = set()
    parents = sorted(
        {to_sql(cell_parent(c, DSS_LEVEL)) for c in coarse if cell_level(c) > DSS_LEVEL}
    )
    if parents:
        rows = tx.x(
            f"SELECT DISTINCT id FROM scd_cells WHERE kind = 'sub' AND cell IN "
            f"({', '.join('?' * len(parents))})",
            parents,
        ).fetchall()
        ids.update(r[0] for r in rows)
    spans = [s for c in coarse if cell_level(c) <= DSS_LEVEL for s in cell_query([c]).ranges]
    if spans:
        rows = tx.x(
            "SELECT DISTINCT id FROM scd_cells WHERE kind = 'sub' AND ("
            + " OR ".join(["cell BETWEEN ? AND ?"] * len(spans))
            + ")",
            [x for span in spans for x in span],
        ).fetchall()
        ids.update(r[0] for r in rows)
    return sorted(ids)


def on_intent_change(
    tx: Tx, old: OperationalIntent | None, new: OperationalIntent | None, at: datetime
) -> None:
    """Notify the DSS's subscribers of a native intent written or deleted (same transaction)."""
    from .scd import Scd  # the DSS's own storage of subscriptions

    scd = Scd(tx, at)
    changed = new or old
    assert changed is not None
    sub_ids: set[str] = set()
    span_start: datetime | None = None
    span_end: datetime | None = None
    for rec in (old, new):
        if rec is None:
            continue
        sub_ids.update(_subscriptions_touching(tx, rec))
        start = min(v.time_start for v in rec.volumes)
        end = max(v.time_end for v in rec.volumes)
        span_start = start if span_start is None else min(span_start, start)
        span_end = end if span_end is None else max(span_end, end)
    for sid in sorted(sub_ids):
        sub = scd.get("sub", sid)
        if sub is None or not sub["notify_for_operational_intents"]:
            continue
        assert span_start is not None and span_end is not None
        if sub["time_start"] > span_end or sub["time_end"] < span_start:
            continue
        sub["notification_index"] += 1
        scd.save("sub", sub, sub)
        tx.event(
            sub["manager"],
            "dss.notification",
            {
                "uss_base_url": sub["uss_base_url"],
                "subscription_id": sid,
                "notification_index": sub["notification_index"],
                "operational_intent_id": changed.id,
                "deleted": new is None,
                "at": iso(at),
            },
            at,
        )


def details(rec: OperationalIntent, base_url: str) -> dict[str, Any]:
    """``GetOperationalIntentDetailsResponse`` for a native intent, as its managing USS."""
    ent = entity(rec, base_url)
    return {
        "operational_intent": {
            "reference": {
                "id": ent["id"],
                "manager": ent["manager"],
                "uss_availability": "Unknown",
                "version": ent["version"],
                "state": ent["state"],
                "ovn": ent["ovn"],
                "time_start": format_time(ent["time_start"]),
                "time_end": format_time(ent["time_end"]),
                "uss_base_url": base_url,
                "subscription_id": "00000000-0000-4000-8000-000000000000",
            },
            "details": {
                "volumes": [_volume_json(v) for v in rec.volumes],
                "off_nominal_volumes": [],
                "priority": rec.priority,
            },
        }
    }


def _volume_json(v: Any) -> dict[str, Any]:
    fp = v.footprint
    if fp.type == "Circle":
        outline: dict[str, Any] = {
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
