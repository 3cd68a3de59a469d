"""The DSS's transactions: operational intent references, constraints, subscriptions.

Every function here runs inside one store transaction (writes on the store's single writer, so
they are serial: the key rule cannot be raced). Entities are kept as JSON with their level-13
cells indexed in ``scd_cells``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, overload

from pydantic import ValidationError

from ..errors import DeconflictionError
from ..model import IntentCategory, IntentDraft, IntentState, Party, RecordKind, Volume4D
from ..store import availability as uss_availability
from ..store.base import Tx, VolumeCover, record_key
from . import native, storage
from .entities import (
    AirspaceConflictResponse,
    ChangeConstraintReferenceResponse,
    ChangeOperationalIntentReferenceResponse,
    ConstraintReference,
    DeleteSubscriptionResponse,
    GetConstraintReferenceResponse,
    GetOperationalIntentReferenceResponse,
    GetSubscriptionResponse,
    Kind,
    NotifyFlag,
    OperationalIntentReference,
    PutSubscriptionResponse,
    Reference,
    RefKind,
    StoredSubscription,
    SubscriberToNotify,
    Subscription,
    SubscriptionState,
    UssAvailabilityStatusResponse,
)
from .volumes import BadRequest, Extent, format_time

HIDDEN_OVN = "Available from USS"
NULL_SUBSCRIPTION = "00000000-0000-4000-8000-000000000000"
SUB_MAX_DURATION = timedelta(hours=24)
SUB_START_SLACK = timedelta(minutes=5)
STATES = ("Accepted", "Activated", "Nonconforming", "Contingent")


class ScdError(DeconflictionError):
    """An error the standard answers with its status and body (``{"message"}`` or more)."""

    code = "f3548"

    def __init__(
        self, status: int, message: str, body: AirspaceConflictResponse | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True)
class Caller:
    manager: str
    scopes: frozenset[str]


def new_version() -> str:
    return secrets.token_urlsafe(32)


class Scd:
    """DSS operations over one DB-API cursor (``?`` placeholders)."""

    def __init__(self, tx: Tx, now: datetime, native_base_url: str = "") -> None:
        self.tx = tx
        self.cur = tx.cur
        self.now = now
        #: ``uss_base_url`` of native intents: this service, which serves their details
        self.native_base_url = native_base_url
        self._availability: dict[str, tuple[str, str]] = {}

    # --- storage (dss/storage.py) ---------------------------------------------------------
    @overload
    def get(self, kind: RefKind, eid: str) -> Reference | None: ...
    @overload
    def get(self, kind: Literal["sub"], eid: str) -> StoredSubscription | None: ...
    @overload
    def get(self, kind: Kind, eid: str) -> Reference | StoredSubscription | None: ...
    def get(self, kind: Kind, eid: str) -> Reference | StoredSubscription | None:
        return storage.get(self.tx, kind, eid)

    def save(
        self,
        kind: Kind,
        ent: Reference | StoredSubscription,
        old: Reference | StoredSubscription | None,
    ) -> None:
        storage.save(self.tx, kind, ent, old)

    def delete(self, kind: Kind, ent: Reference | StoredSubscription) -> None:
        storage.delete(self.tx, kind, ent)

    @overload
    def search(self, kind: RefKind, cells: Iterable[int]) -> list[Reference]: ...
    @overload
    def search(self, kind: Literal["sub"], cells: Iterable[int]) -> list[StoredSubscription]: ...
    def search(self, kind: Kind, cells: Iterable[int]) -> Sequence[Reference | StoredSubscription]:
        """Entities of a kind sharing at least one cell, by id."""
        cells = frozenset(cells)
        found = storage.in_cells(self.tx, kind, cells)
        if kind in native.CELL_KIND:
            found += native.search(self.tx, kind, cells, self.native_base_url)
        return found

    def dependents(self, sub_id: str) -> list[str]:
        return storage.oirs_of_subscription(self.tx, sub_id)

    def availability(self, uss: str) -> tuple[str, str]:
        """(availability, version) of a USS, read once per transaction (an answer names the
        same managers again and again)."""
        known = self._availability.get(uss)
        if known is None:
            known = self._availability[uss] = uss_availability.get(self.tx, uss) or ("Unknown", "")
        return known

    # --- JSON views ------------------------------------------------------------------------
    def oir_json(self, e: Reference, caller: str) -> OperationalIntentReference:
        return {
            "id": e["id"],
            "manager": e["manager"],
            "uss_availability": self.availability(e["manager"])[0],
            "version": e["version"],
            "state": e["state"],
            "ovn": e["ovn"] if e["manager"] == caller else HIDDEN_OVN,
            "time_start": format_time(e["time_start"]),
            "time_end": format_time(e["time_end"]),
            "uss_base_url": e["uss_base_url"],
            "subscription_id": e["subscription_id"] or NULL_SUBSCRIPTION,
        }

    def constraint_json(self, e: Reference, caller: str) -> ConstraintReference:
        return {
            "id": e["id"],
            "manager": e["manager"],
            "uss_availability": "Unknown",
            "version": e["version"],
            "ovn": e["ovn"] if e["manager"] == caller else HIDDEN_OVN,
            "time_start": format_time(e["time_start"]),
            "time_end": format_time(e["time_end"]),
            "uss_base_url": e["uss_base_url"],
        }

    def sub_json(self, s: StoredSubscription) -> Subscription:
        return {
            "id": s["id"],
            "version": s["version"],
            "notification_index": s["notification_index"],
            "time_start": format_time(s["time_start"]),
            "time_end": format_time(s["time_end"]),
            "uss_base_url": s["uss_base_url"],
            "notify_for_operational_intents": s["notify_for_operational_intents"],
            "notify_for_constraints": s["notify_for_constraints"],
            "implicit_subscription": s["implicit_subscription"],
            "dependent_operational_intents": self.dependents(s["id"]),
        }

    # --- notifications ---------------------------------------------------------------------
    def notify(
        self, flag: NotifyFlag, cells: Iterable[int], start: datetime | None, end: datetime | None
    ) -> list[SubscriberToNotify]:
        """Increment the index of every subscription concerned; the subscribers, grouped."""
        hit = []
        for s in self.search("sub", cells):
            if not s[flag]:
                continue
            if (end is not None and s["time_start"] > end) or (
                start is not None and s["time_end"] < start
            ):
                continue
            s["notification_index"] += 1
            self.save("sub", s, s)
            hit.append(s)
        groups: dict[str, list[SubscriptionState]] = {}
        for s in hit:
            groups.setdefault(s["uss_base_url"], []).append(
                {"subscription_id": s["id"], "notification_index": s["notification_index"]}
            )
        return [{"uss_base_url": url, "subscriptions": subs} for url, subs in groups.items()]

    # --- operational intent references -----------------------------------------------------
    def put_oir(
        self,
        caller: Caller,
        eid: str,
        ovn: str | None,
        ext: Extent,
        state: str,
        key: set[str],
        base_url: str,
        sub_id: str | None,
        new_sub: dict[str, Any] | None,
        native: list[Volume4D] | None = None,
        native_covers: Sequence[VolumeCover] | None = None,
    ) -> ChangeOperationalIntentReferenceResponse:
        assert ext.cells is not None and ext.time_start and ext.time_end  # _extents checked
        self._hold(caller.manager, eid, native)
        old = self._replaceable("oir", eid, caller, ovn, missing_status=400)
        prev_sub = (
            self.get("sub", old["subscription_id"]) if old and old["subscription_id"] else None
        )
        sub: StoredSubscription | None = None
        if sub_id is not None:
            sub = self.get("sub", sub_id)
            if sub is None:
                raise ScdError(400, f"subscription {sub_id} does not exist")
            if sub["manager"] != caller.manager:
                raise ScdError(403, f"subscription {sub_id} is managed by another USS")
            covers = (
                sub["time_start"] <= ext.time_start
                and sub["time_end"] >= ext.time_end
                and ext.cells <= frozenset(sub["cells"])
            )
            if not covers:
                if not sub["implicit_subscription"]:
                    raise ScdError(400, f"subscription {sub_id} does not cover the intent")
                sub["time_start"] = min(sub["time_start"], ext.time_start)
                sub["time_end"] = max(sub["time_end"], ext.time_end)
                sub["cells"] = sorted(frozenset(sub["cells"]) | ext.cells)
        if state in ("Accepted", "Activated"):
            self._check_key(eid, ext, key, sub)
        if sub is not None and sub_id is not None:
            self.save("sub", sub, self.get("sub", sub_id))
        if new_sub is not None:
            sub = {
                "id": str(uuid.uuid4()),
                "manager": caller.manager,
                "version": new_version(),
                "notification_index": 0,
                "time_start": ext.time_start,
                "time_end": ext.time_end,
                "alt_lower": ext.alt_lower,
                "alt_upper": ext.alt_upper,
                "uss_base_url": new_sub["uss_base_url"],
                "notify_for_operational_intents": True,
                "notify_for_constraints": bool(new_sub.get("notify_for_constraints", False)),
                "implicit_subscription": True,
                "cells": sorted(ext.cells),
            }
            self.save("sub", sub, None)
        ent = _reference(caller, eid, old, ext, base_url)
        ent["state"] = state
        ent["subscription_id"] = sub["id"] if sub else None
        self.save("oir", ent, old)
        self._mirror(caller.manager, eid, state, native, native_covers, new=old is None)
        if (
            prev_sub is not None
            and prev_sub["implicit_subscription"]
            and (sub is None or sub["id"] != prev_sub["id"])
            and not self.dependents(prev_sub["id"])
        ):
            self.delete("sub", prev_sub)
        subscribers = self._notify_change("notify_for_operational_intents", ext, old)
        return {
            "operational_intent_reference": self.oir_json(ent, caller.manager),
            "subscribers": subscribers,
        }

    def _hold(self, manager: str, eid: str, volumes: list[Volume4D] | None) -> None:
        """Where writes run side by side (``tx.locks``: PostgreSQL), before anything is read:
        hold the intent's native view (its record, and the places of its new and old volumes),
        then the journal, which every DSS write of an intent holds from its start, so that it
        reads every DSS write committed before it and none runs meanwhile; writes of native
        records elsewhere go on."""
        locks = self.tx.locks
        if locks is None:
            return
        key = record_key(manager, eid)
        locks.record(key)
        found = self.tx.load(key)
        self.tx.hold_places([*(volumes or ()), *(found[0].volumes if found else ())])
        locks.tail()

    def _mirror(
        self,
        manager: str,
        eid: str,
        state: str,
        native_volumes: list[Volume4D] | None,
        covers: Sequence[VolumeCover] | None = None,
        *,
        new: bool = False,
    ) -> None:
        """Keep the native view of a DSS intent: the manager's intent with the same id, so that
        ``/v1`` conflicts see it. Written in the same transaction as the reference. ``covers``:
        the native volumes' (``coverings_of``), worked out before the transaction, or None."""
        self.tx.from_dss = True
        try:
            self._write_native(manager, eid, state, native_volumes, covers, new=new)
        finally:
            self.tx.from_dss = False

    def _write_native(
        self,
        manager: str,
        eid: str,
        state: str,
        native_volumes: list[Volume4D] | None,
        covers: Sequence[VolumeCover] | None,
        *,
        new: bool = False,
    ) -> None:
        found = self.tx.load(record_key(manager, eid))
        if found is not None and (found[1].kind is not RecordKind.INTENT or new):
            return  # the manager's own native record with that id: the DSS view stands alone
        try:
            if native_volumes is None:
                if found is not None:
                    self.tx.delete(
                        RecordKind.INTENT, eid, manager, found[0].version, manager, self.now
                    )
                return
            if not self.tx.has_party(manager):
                self.tx.put_party(Party(id=manager, name=manager), manager, self.now)
            draft = IntentDraft(
                volumes=native_volumes,
                state=IntentState(state),
                category=IntentCategory.DRONE_FLIGHT,
            )
            self.tx.write(
                RecordKind.INTENT,
                eid,
                manager,
                draft,
                found[0].version if found else None,
                manager,
                self.now,
                covers,
            )
        except (ValidationError, ValueError):
            return  # a manager name that is no party id: no native view

    def _check_key(
        self, eid: str, ext: Extent, key: set[str], sub: StoredSubscription | None
    ) -> None:
        assert ext.cells is not None
        missing_ops = []
        for o in self.search("oir", ext.cells):
            if o["id"] == eid or o["ovn"] in key:
                continue
            if not _meets(o, ext, altitude=True):
                continue
            if o["state"] == "Accepted" and self.availability(o["manager"])[0] == "Down":
                continue
            missing_ops.append(o)
        missing_cons = []
        if sub is not None and sub["notify_for_constraints"]:
            missing_cons = [
                c
                for c in self.search("constraint", ext.cells)
                if c["ovn"] not in key and _meets(c, ext, altitude=False)
            ]
        if missing_ops or missing_cons:
            raise ScdError(
                409,
                "Current OVNs not provided for one or more OperationalIntents or Constraints",
                {
                    "message": "Current OVNs not provided for one or more OperationalIntents or "
                    "Constraints",
                    "missing_operational_intents": [self.oir_json(o, "") for o in missing_ops],
                    "missing_constraints": [self.constraint_json(c, "") for c in missing_cons],
                },
            )

    def _replaceable(
        self, kind: RefKind, eid: str, caller: Caller, ovn: str | None, *, missing_status: int
    ) -> Reference | None:
        """The entity a PUT replaces (None on create): the caller's, at the OVN given (none on
        the create path); an update of a missing entity answers ``missing_status``."""
        old = self.get(kind, eid)
        if old is None:
            owner = native.is_published_id(self.tx, eid)
            if owner is not None:
                if owner != caller.manager:
                    raise ScdError(403, f"{_NAMES[kind]} {eid} is managed by another USS")
                raise ScdError(409, f"{_NAMES[kind]} {eid} is managed through the native API")
            if ovn is not None:
                raise ScdError(missing_status, f"{_NAMES[kind]} {eid} does not exist")
            return None
        if old["manager"] != caller.manager:
            raise ScdError(403, f"{_NAMES[kind]} {eid} is managed by another USS")
        if (ovn or "") != old["ovn"]:
            raise ScdError(409, "the OVN given is not the current one")
        return old

    def _current(self, kind: RefKind, eid: str, caller: Caller, ovn: str) -> Reference:
        """The entity, if it exists, is the caller's and is at this OVN (else 404, 403, 409)."""
        old = self.get(kind, eid)
        if old is None:
            raise ScdError(404, f"{_NAMES[kind]} {eid} not found")
        if old["manager"] != caller.manager:
            raise ScdError(403, f"{_NAMES[kind]} {eid} is managed by another USS")
        if ovn != old["ovn"]:
            raise ScdError(409, "the OVN given is not the current one")
        return old

    def _notify_change(
        self, flag: NotifyFlag, ext: Extent, old: Reference | None
    ) -> list[SubscriberToNotify]:
        """Notify over the new extent and, for an update, the old one too."""
        assert ext.cells is not None
        cells, start, end = set(ext.cells), ext.time_start, ext.time_end
        if old is not None:
            cells |= set(old["cells"])
            start = min(start, old["time_start"]) if start else old["time_start"]
            end = max(end, old["time_end"]) if end else old["time_end"]
        return self.notify(flag, cells, start, end)

    def delete_oir(
        self, caller: Caller, eid: str, ovn: str
    ) -> ChangeOperationalIntentReferenceResponse:
        self._hold(caller.manager, eid, None)
        old = self._current("oir", eid, caller, ovn)
        subscribers = self.notify(
            "notify_for_operational_intents", old["cells"], old["time_start"], old["time_end"]
        )
        self.delete("oir", old)
        self._mirror(caller.manager, eid, "", None)
        if old["subscription_id"]:
            sub = self.get("sub", old["subscription_id"])
            if sub and sub["implicit_subscription"] and not self.dependents(sub["id"]):
                self.delete("sub", sub)
        return {
            "operational_intent_reference": self.oir_json(old, caller.manager),
            "subscribers": subscribers,
        }

    def view(
        self, kind: RefKind, eid: str, caller: str
    ) -> GetOperationalIntentReferenceResponse | GetConstraintReferenceResponse:
        """GET of an intent or a constraint reference (404 if missing)."""
        e = self.get(kind, eid)
        if e is None:
            e = native.reference(self.tx, kind, eid, self.native_base_url)
        if e is None:
            raise ScdError(404, f"{_NAMES[kind]} {eid} not found")
        if kind == "oir":
            return {"operational_intent_reference": self.oir_json(e, caller)}
        return {"constraint_reference": self.constraint_json(e, caller)}

    def query(
        self, kind: RefKind, ext: Extent, caller: str
    ) -> list[OperationalIntentReference] | list[ConstraintReference]:
        assert ext.cells is not None
        found = [e for e in self.search(kind, ext.cells) if _meets(e, ext, altitude=kind == "oir")]
        view = self.oir_json if kind == "oir" else self.constraint_json
        return [view(e, caller) for e in found]

    # --- constraint references -------------------------------------------------------------
    def put_constraint(
        self, caller: Caller, eid: str, ovn: str | None, ext: Extent, base_url: str
    ) -> ChangeConstraintReferenceResponse:
        assert ext.cells is not None
        old = self._replaceable("constraint", eid, caller, ovn, missing_status=409)
        ent = _reference(caller, eid, old, ext, base_url)
        self.save("constraint", ent, old)
        subscribers = self._notify_change("notify_for_constraints", ext, old)
        return {
            "constraint_reference": self.constraint_json(ent, caller.manager),
            "subscribers": subscribers,
        }

    def delete_constraint(
        self, caller: Caller, eid: str, ovn: str
    ) -> ChangeConstraintReferenceResponse:
        old = self._current("constraint", eid, caller, ovn)
        subscribers = self.notify(
            "notify_for_constraints", old["cells"], old["time_start"], old["time_end"]
        )
        self.delete("constraint", old)
        return {
            "constraint_reference": self.constraint_json(old, caller.manager),
            "subscribers": subscribers,
        }

    # --- subscriptions ---------------------------------------------------------------------
    def put_sub(
        self,
        caller: Caller,
        sid: str,
        version: str | None,
        ext: Extent,
        base_url: str,
        notify_ops: bool,
        notify_cons: bool,
    ) -> PutSubscriptionResponse:
        old = self.get("sub", sid)
        start = ext.time_start
        if start is None:
            start = self.now if old is None else old["time_start"]
        elif start < self.now - SUB_START_SLACK:
            raise BadRequest("subscriptions may not start more than 5 minutes in the past")
        end = ext.time_end
        if end is None:
            end = old["time_end"] if old is not None else start + SUB_MAX_DURATION
        if end < start:
            raise BadRequest("time_end is before time_start")
        if end - start > SUB_MAX_DURATION:
            raise BadRequest("a subscription may last at most 24 hours")
        if old is None and version is not None:
            raise ScdError(400, f"subscription {sid} does not exist")
        if old is not None:
            if version is None:
                raise ScdError(409, f"subscription {sid} already exists")
            if version != old["version"]:
                raise ScdError(409, "the version given is not the current one")
            if old["manager"] != caller.manager:
                raise ScdError(403, f"subscription {sid} is managed by another USS")
        cells = ext.cells if ext.cells is not None else (frozenset(old["cells"]) if old else None)
        if cells is None:
            raise BadRequest("extents: an outline is required")
        if old is not None:
            for oid in self.dependents(sid):
                o = self.get("oir", oid)
                assert o is not None
                if not frozenset(o["cells"]) <= cells:
                    raise BadRequest(f"the subscription would no longer cover intent {oid}")
                if ext.alt_lower is not None and (
                    o["alt_lower"] is None or o["alt_lower"] < ext.alt_lower
                ):
                    raise BadRequest(f"the subscription would no longer cover intent {oid}")
                if ext.alt_upper is not None and (
                    o["alt_upper"] is None or o["alt_upper"] > ext.alt_upper
                ):
                    raise BadRequest(f"the subscription would no longer cover intent {oid}")
                if start - o["time_start"] > SUB_START_SLACK or o["time_end"] > end:
                    raise BadRequest(f"the subscription would no longer cover intent {oid}")
        sub: StoredSubscription = {
            "id": sid,
            "manager": caller.manager,
            "version": new_version(),
            "notification_index": old["notification_index"] if old else 0,
            "time_start": start,
            "time_end": end,
            "alt_lower": ext.alt_lower,
            "alt_upper": ext.alt_upper,
            "uss_base_url": base_url,
            "notify_for_operational_intents": notify_ops,
            "notify_for_constraints": notify_cons,
            "implicit_subscription": False,
            "cells": sorted(cells),
        }
        self.save("sub", sub, old)
        out: PutSubscriptionResponse = {"subscription": self.sub_json(sub)}
        window = Extent(cells, start, end, None, None)
        if notify_ops:
            out["operational_intent_references"] = [
                self.oir_json(o, caller.manager)
                for o in self.search("oir", cells)
                if _meets(o, window, altitude=False)
            ]
        if notify_cons:
            out["constraint_references"] = [
                self.constraint_json(c, caller.manager)
                for c in self.search("constraint", cells)
                if _meets(c, window, altitude=False)
            ]
        return out

    def get_sub(self, caller: Caller, sid: str) -> GetSubscriptionResponse:
        s = self.get("sub", sid)
        if s is None:
            raise ScdError(404, f"subscription {sid} not found")
        if s["manager"] != caller.manager:
            raise ScdError(403, f"subscription {sid} is managed by another USS")
        return {"subscription": self.sub_json(s)}

    def delete_sub(self, caller: Caller, sid: str, version: str) -> DeleteSubscriptionResponse:
        s = self.get("sub", sid)
        if s is None:
            raise ScdError(404, f"subscription {sid} not found")
        if s["manager"] != caller.manager:
            raise ScdError(403, f"subscription {sid} is managed by another USS")
        if version != s["version"]:
            raise ScdError(409, "the version given is not the current one")
        if self.dependents(sid):
            raise ScdError(400, f"operational intents depend on subscription {sid}")
        view = self.sub_json(s)
        self.delete("sub", s)
        return {"subscription": view}

    def query_subs(self, caller: Caller, ext: Extent) -> list[Subscription]:
        assert ext.cells is not None
        return [
            self.sub_json(s)
            for s in self.search("sub", ext.cells)
            if s["manager"] == caller.manager
            and s["time_end"] >= self.now
            and _meets(s, ext, altitude=False)
        ]

    # --- availability ----------------------------------------------------------------------
    def put_availability(
        self, uss: str, availability: str, old_version: str
    ) -> UssAvailabilityStatusResponse:
        _, version = self.availability(uss)
        if old_version != version:
            raise ScdError(409, "old_version is not the current version")
        new = new_version()
        uss_availability.put(self.tx, uss, availability, new)
        self._availability[uss] = (availability, new)
        return {"status": {"uss": uss, "availability": availability}, "version": new}


def _reference(
    caller: Caller, eid: str, old: Reference | None, ext: Extent, base_url: str
) -> Reference:
    """The fields an intent and a constraint reference share, at their next version."""
    assert ext.cells is not None and ext.time_start and ext.time_end  # _extents checked
    return {
        "id": eid,
        "manager": caller.manager,
        "version": (old["version"] + 1) if old else 1,
        "ovn": new_version(),
        "time_start": ext.time_start,
        "time_end": ext.time_end,
        "alt_lower": ext.alt_lower,
        "alt_upper": ext.alt_upper,
        "uss_base_url": base_url,
        "cells": sorted(ext.cells),
    }


def _meets(e: Reference | StoredSubscription, ext: Extent, *, altitude: bool) -> bool:
    if ext.time_end is not None and e["time_start"] is not None and e["time_start"] > ext.time_end:
        return False
    if ext.time_start is not None and e["time_end"] is not None and e["time_end"] < ext.time_start:
        return False
    if altitude:
        if (
            ext.alt_upper is not None
            and e["alt_lower"] is not None
            and e["alt_lower"] > ext.alt_upper
        ):
            return False
        if (
            ext.alt_lower is not None
            and e["alt_upper"] is not None
            and e["alt_upper"] < ext.alt_lower
        ):
            return False
    return True


_NAMES = {"oir": "operational intent", "constraint": "constraint", "sub": "subscription"}
