"""The Store protocol and the transaction logic every back end shares.

A write runs as one transaction: the record, its S2 cells, the conflicts it opens or resolves,
the outbox events for every party concerned and the audit entry are committed together, or not
at all. ``Tx`` holds that logic over a DB-API cursor, one module per concern and per table it
writes: ``journal`` (the cursor, ``outbox``, ``audit_log`` and its checkpoints), ``record_table``
(``parties``, ``records``), ``cell_index`` (``record_cells``, ``record_caps`` and the candidate
searches), ``conflict_table`` (``conflicts``), and here the write and the delete that use them
all; ``rows`` holds what they share. Back ends supply the connection, the placeholder style and
the isolation.

Record ids are per owner: a record is stored and referred to by its key ``OWNER/ID``
(``record_key``). What a conflict event tells each of its parties is decided by the store's
``hooks.conflict_note`` (the exchange layer installs the release rule there); by default a
party hears only of its own records in a conflict and the other party's name.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ..audit import AuditEntry, digest
from ..audit.chain import canonical
from ..audit.signing import Signer
from ..errors import VersionConflict
from ..model import (
    Area,
    Conflict,
    OperationalIntent,
    Party,
    RecordKind,
    SeparationPolicy,
    Volume4D,
)
from .conflict_table import ConflictsTx
from .places import WholeStore, places_of
from .rows import (
    PREVIEW_ID,
    ConflictNote,
    ConflictRow,
    Draft,
    EventHook,
    PlansNear,
    RecordCache,
    RecordHook,
    StoredRecord,
    StoreHooks,
    VolumeCover,
    WriteResult,
    _owned_at_version,
    cap_rows,
    cell_filter,
    conflict_id,
    coverings_of,
    iso,
    make_conflict,
    near_filter,
    new_ovn,
    now_utc,
    own_records_note,
    record_key,
    scope_for,
    split_key,
    to_record,
)

T = TypeVar("T")
#: What the other layers import from here (the store's modules keep their own).
__all__ = [
    "PREVIEW_ID",
    "ConflictNote",
    "ConflictRow",
    "Draft",
    "EventHook",
    "PlansNear",
    "RecordCache",
    "RecordHook",
    "Store",
    "StoreHooks",
    "StoredRecord",
    "Tx",
    "VolumeCover",
    "WriteResult",
    "cap_rows",
    "cell_filter",
    "conflict_id",
    "coverings_of",
    "iso",
    "make_conflict",
    "near_filter",
    "new_ovn",
    "now_utc",
    "own_records_note",
    "record_key",
    "scope_for",
    "split_key",
    "to_record",
]


class Store(Protocol):
    """Where records live. Every write is one transaction (record + outbox + audit)."""

    policy: SeparationPolicy
    #: signs audit checkpoints when set
    signer: Signer | None
    hooks: StoreHooks

    def close(self) -> None: ...
    def put_party(self, party: Party, *, actor: str) -> Party: ...
    def get_party(self, party_id: str) -> Party: ...
    def list_parties(self) -> list[Party]: ...
    def create(
        self, kind: RecordKind, record_id: str | None, owner: str, draft: Draft, *, actor: str
    ) -> WriteResult: ...
    def create_many(
        self, kind: RecordKind, items: Sequence[tuple[str | None, str, Draft]], *, actor: str
    ) -> list[WriteResult]:
        """Create several records in one transaction: all are written, or none."""
        ...

    def replace(
        self,
        kind: RecordKind,
        record_id: str,
        owner: str,
        draft: Draft,
        expected_version: int,
        *,
        actor: str,
    ) -> WriteResult: ...
    def delete(
        self, kind: RecordKind, record_id: str, owner: str, expected_version: int, *, actor: str
    ) -> StoredRecord: ...
    def get(self, kind: RecordKind, owner: str, record_id: str) -> StoredRecord: ...
    def list_owned(self, kind: RecordKind, owner: str) -> list[StoredRecord]: ...
    def query(self, volume: Volume4D, kinds: Sequence[RecordKind]) -> list[StoredRecord]: ...
    def preview(
        self, owner: str, draft: Draft, kind: RecordKind, exclude_id: str | None = None
    ) -> list[Conflict]: ...
    def list_conflicts(self, party: str, *, include_resolved: bool = False) -> list[Conflict]: ...
    def audit_entries(self) -> list[AuditEntry]: ...
    def outbox_events(self, party: str, after_seq: int = 0) -> list[dict[str, Any]]: ...
    def write_tx(
        self, fn: Callable[[Tx], T], *, placed: bool = False, lock: str | None = None
    ) -> T:
        """Run ``fn(tx)`` as one write transaction (serializable with every other write).
        ``placed``: before it reads anything, ``fn`` holds one record and its places
        (``Tx.write``, ``Tx.delete``, a DSS intent's write), so a back end may run it beside
        writes into other places. ``lock``: ``fn`` writes only rows that every writer of them
        names so (a lease's row), so a back end may run it beside writes that do not name it."""
        ...

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` on a consistent read snapshot."""
        ...


class Tx(ConflictsTx):
    """The shared transaction logic over one DB-API cursor (placeholders written as ``?``),
    by concern: the cursor and the journal (``journal``), parties and records (``record_table``),
    the cell indexes (``cell_index``), conflicts (``conflict_table``); writes here."""

    def write(
        self,
        kind: RecordKind,
        record_id: str | None,
        owner: str,
        draft: Draft,
        expected_version: int | None,
        actor: str,
        at: datetime,
        coverings: Sequence[VolumeCover] | None = None,
    ) -> WriteResult:
        """Write a record (``expected_version`` None: create it); ``coverings``: the draft's,
        worked out before the transaction (``coverings_of(draft.volumes)``), or None."""
        self._party_exists(owner)
        rid = record_id or str(uuid.uuid4())
        key = record_key(owner, rid)
        if self.locks is not None:
            self.locks.record(key)
        existing = self.load(key)
        if self.locks is not None:
            self.hold_places([*draft.volumes, *(existing[0].volumes if existing else ())])
        if expected_version is None:
            if existing is not None:
                raise VersionConflict(f"{rid!r} already exists (version {existing[0].version})")
            version = 1
        else:
            old = _owned_at_version(existing, kind, rid, expected_version)
            self._drop_cells(key)
            version = old.version + 1
        # the draft is validated already: build the record without validating it again
        model: type[StoredRecord] = OperationalIntent if kind is RecordKind.INTENT else Area
        rec = model.model_construct(
            **dict(draft), id=rid, owner=owner, version=version, ovn=new_ovn(), updated_at=at
        )
        # one encoding serves as the stored body and for the audit digest (canonical JSON)
        canon = canonical(rec.model_dump(mode="json"))
        body = canon.decode()
        covers = coverings_of(rec.volumes) if coverings is None else coverings
        cells_json = json.dumps([c.cells for c in covers])
        # most volumes are covered through their cap: the same lists, encoded once
        same = all(c.caps is c.cells for c in covers)
        caps_json = cells_json if same else json.dumps([c.caps for c in covers])
        self.put_row(key, kind, rec, body, cells_json, caps_json, new=existing is None)
        engine_rec = to_record(kind, rec)
        self.cache.put(key, version, body, rec, engine_rec)
        self.loaded[key] = (rec, engine_rec)
        self._add_cells(engine_rec, covers)
        # the exact search before the first journal entry: with places held, other writes go
        # on meanwhile, and wait only for this one's journal entries and commit
        found = self.findings(engine_rec, self.policy, covers)
        action = f"{kind.value}.{'created' if existing is None else 'updated'}"
        self.event(owner, action, {"id": rid, "version": version}, at)
        conflicts = self._redetect(engine_rec, at, covers, found, new=existing is None)
        self.audit(at, actor, action, key, hashlib.sha256(canon).hexdigest())
        self._record_changed(kind, existing[0] if existing else None, rec, at)
        return WriteResult(rec, conflicts)

    def delete(
        self,
        kind: RecordKind,
        record_id: str,
        owner: str,
        expected_version: int,
        actor: str,
        at: datetime,
    ) -> StoredRecord:
        key = record_key(owner, record_id)
        if self.locks is not None:
            self.locks.record(key)
        old = _owned_at_version(self.load(key), kind, record_id, expected_version)
        if self.locks is not None:
            self.hold_places(old.volumes)
        self._drop_cells(key)
        self.delete_row(key)
        self._resolve_all(key, at)
        self.event(owner, f"{kind.value}.deleted", {"id": record_id, "version": old.version}, at)
        self.audit(at, actor, f"{kind.value}.deleted", key, digest(old.model_dump(mode="json")))
        self._record_changed(kind, old, None, at)
        return old

    def hold_places(self, volumes: Sequence[Volume4D]) -> None:
        """Hold the places of these volumes (``places``), or ask for the whole store (on a back
        end that runs writes side by side: ``locks`` set)."""
        assert self.locks is not None
        ids = places_of(volumes, self.policy)
        if ids is None:
            raise WholeStore
        self.locks.places(ids)
