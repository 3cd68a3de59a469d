"""The Store protocol and the transaction logic every back end shares.

A write runs as one transaction: the record, its S2 cells, the conflicts it opens or resolves,
the outbox events for every party concerned and the audit entry are committed together, or not
at all. ``Tx`` holds that logic over a DB-API cursor; back ends supply the connection, the
placeholder style and the isolation.

Record ids are per owner: a record is stored and referred to by its key ``OWNER/ID``
(``record_key``). What a conflict event tells each of its parties is decided by the store's
``hooks.conflict_note`` (the exchange layer installs the release rule there); by default a
party hears only of its own records in a conflict and the other party's name.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from ..audit import GENESIS, AuditEntry, digest
from ..audit.chain import canonical
from ..audit.export import CHECKPOINT_EVERY
from ..audit.signing import Signer, message
from ..engine import Finding, Record, check_pair
from ..errors import NotFound, VersionConflict
from ..geo import (
    DISTANCE_RESOLUTION_M,
    CellQuery,
    cap_covering,
    cap_gap_lower_bound_m,
    cell_query,
    covering,
    record_coverings,
    to_sql,
)
from ..model import (
    Area,
    AreaDraft,
    Conflict,
    Gaps,
    IntentDraft,
    OperationalIntent,
    Party,
    RecordExtent,
    RecordKind,
    SeparationPolicy,
    Volume4D,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
StoredRecord = OperationalIntent | Area
Draft = IntentDraft | AreaDraft


def now_utc() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=256)
def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_ovn() -> str:
    return secrets.token_urlsafe(24)


def record_key(owner: str, record_id: str) -> str:
    """Record ids are per owner: a record is stored, indexed and referred to by ``OWNER/ID``
    (an id has no ``/``), so one party's id tells nothing of, and takes nothing from, another's."""
    return f"{owner}/{record_id}"


def split_key(key: str) -> tuple[str, str]:
    """(owner, id) of a record key."""
    owner, _, rid = key.partition("/")
    return owner, rid


def conflict_id(secret: bytes, a_key: str, b_key: str) -> str:
    """A conflict's id: keyed by the store's secret, so that nobody can confirm a guess of the
    other side's record id from it."""
    msg = f"{a_key}\x00{b_key}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class WriteResult:
    """A record as written, and the conflicts it is in after the write (open ones), exact: what
    a party is shown of them goes through the release rule (``exchange.release``)."""

    record: StoredRecord
    conflicts: list[Conflict]


@dataclass(frozen=True)
class ConflictRow:
    """A conflict as stored: exact, between two record keys (``a_key < b_key``)."""

    id: str
    a_key: str
    b_key: str
    a_kind: RecordKind
    b_kind: RecordKind
    a_owner: str
    b_owner: str
    state: str
    time_start: datetime
    time_end: datetime
    gaps: Gaps
    policy: SeparationPolicy
    detected_at: datetime

    def side_of(self, party: str) -> tuple[list[str], list[str]]:
        """(keys of ``party``'s records, keys of the other records) in this conflict."""
        own = [k for k, o in ((self.a_key, self.a_owner), (self.b_key, self.b_owner)) if o == party]
        other = [k for k in (self.a_key, self.b_key) if k not in own]
        return own, other

    def other_owner(self, party: str) -> str:
        return self.b_owner if self.a_owner == party else self.a_owner


#: What a conflict change tells one of its parties: the event payload, or None for nothing at
#: all. Called in the transaction of the change with (tx, conflict, party, change), where change
#: is ``opened``, ``updated`` or ``resolved``.
ConflictNote = Callable[["Tx", ConflictRow, str, str], "dict[str, Any] | None"]
#: Called inside the transaction after a record is written (old, new) or deleted (old, None),
#: except for writes the DSS makes itself (``Tx.from_dss``).
RecordHook = Callable[
    ["Tx", "RecordKind", "StoredRecord | None", "StoredRecord | None", datetime], None
]
#: Called inside the transaction after an outbox event is written: (tx, party, type, payload, at).
EventHook = Callable[["Tx", str, str, "dict[str, Any]", datetime], None]
#: Reciprocity with plans held elsewhere (another node's): whether ``viewer`` has released to
#: ``owner`` an intent of its own within the buffers of these volumes: (tx, owner, viewer,
#: volumes, buffers).
PlansNear = Callable[["Tx", str, str, "Sequence[Volume4D]", SeparationPolicy], bool]


def cell_filter(query: CellQuery) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) on a ``cell`` column that a covering's query
    matches: its descendants' ranges, or one of its ancestors."""
    terms = ["cell BETWEEN ? AND ?"] * len(query.ranges)
    params: list[Any] = [x for span in query.ranges for x in span]
    if query.ancestors:
        terms.append(f"cell IN ({', '.join('?' * len(query.ancestors))})")
        params += sorted(query.ancestors)
    return f"({' OR '.join(terms)})", params


def own_records_note(tx: Tx, row: ConflictRow, party: str, change: str) -> dict[str, Any] | None:
    """The default note: the party's own records in the conflict and the other party's name."""
    own, _ = row.side_of(party)
    return {
        "id": row.id,
        "records": [split_key(k)[1] for k in own],
        "with": row.other_owner(party),
    }


@dataclass
class StoreHooks:
    """What the application that uses a store plugs into its transactions (nothing is
    registered by importing a module)."""

    record_changed: list[RecordHook] = field(default_factory=list)
    conflict_note: ConflictNote = own_records_note
    event_written: list[EventHook] = field(default_factory=list)
    viewer_plans_near: list[PlansNear] = field(default_factory=list)


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
    def write_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` as one write transaction (serializable with every other write)."""
        ...

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` on a consistent read snapshot."""
        ...


class VolumeCover(NamedTuple):
    """What a write indexes and searches of one volume (``geo.record_coverings``)."""

    #: the volume's covering (``record_cells``)
    cells: list[int]
    #: its cap's covering (``record_caps``): the same list when it is covered through its cap
    caps: list[int]
    #: what its covering matches in stored ones (the candidate search without buffers)
    query: CellQuery
    #: its time and altitude ranges and its cap, as index rows hold them
    bounds: tuple[float, ...]


def coverings_of(volumes: Sequence[Volume4D]) -> list[VolumeCover]:
    """What a write indexes and searches of its volumes: it needs nothing stored, so a caller
    may work it out before it queues its transaction (outside the one writer's turn)."""
    out = []
    for v in volumes:
        cells, caps = record_coverings(v.footprint)
        out.append(VolumeCover(cells, caps, cell_query(cells), _bounds(v)))
    return out


def to_record(kind: RecordKind, rec: StoredRecord) -> Record:
    """The engine's view of a stored record (its id is the record's key)."""
    return Record(kind, record_key(rec.owner, rec.id), rec.owner, rec.volumes)


class RecordCache:
    """Parsed records by (key, version), checked against the stored body's hash (so that a write
    rolled back and redone, or retried, can never serve a stale parse): parsing and preparing
    geometry is the costly part of a read."""

    def __init__(self, size: int = 50_000) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[int, StoredRecord, Record]] = OrderedDict()
        self._size = size

    def get(self, kind: str, body: str, key: str, version: int) -> tuple[StoredRecord, Record]:
        hit = self._items.get((key, version))
        if hit is not None and hit[0] == hash(body):
            self._items.move_to_end((key, version))
            return hit[1], hit[2]
        k = RecordKind(kind)
        model: type[StoredRecord] = OperationalIntent if k is RecordKind.INTENT else Area
        rec = model.model_validate_json(body, context={"trusted": True})
        val = (rec, to_record(k, rec))
        self.put(key, version, body, *val)
        return val

    def put(self, key: str, version: int, body: str, rec: StoredRecord, engine_rec: Record) -> None:
        self._items[(key, version)] = (hash(body), rec, engine_rec)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


def cap_rows(
    key: str,
    kind: RecordKind,
    owner: str,
    volumes: Sequence[Volume4D],
    caps: Sequence[list[int]] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of the cap index for a record: per volume, a coarse covering of its cap (``caps``:
    those coverings, when they are known already)."""
    rows: list[tuple[Any, ...]] = []
    for i, v in enumerate(volumes):
        lon, lat, r = v.footprint.cap
        cells = cap_covering(lon, lat, r) if caps is None else caps[i]
        rows += _index_rows(cells, _index_tail(key, i, kind, owner, v))
    return rows


def _index_tail(key: str, i: int, kind: RecordKind, owner: str, v: Volume4D) -> tuple[Any, ...]:
    """What an index row (``record_cells``, ``record_caps``) holds after its cell."""
    return (key, i, kind.value, owner, *_bounds(v))


def _bounds(v: Volume4D) -> tuple[float, ...]:
    """A volume's time and altitude ranges and its cap, as index rows hold them."""
    return (v.t_start_s, v.t_end_s, v.alt_lower_m, v.alt_upper_m, *v.footprint.cap)


def _index_rows(cells: list[int], tail: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Index rows of one volume: each of its cells (stored ids), then ``tail``."""
    return [(to_sql(c), *tail) for c in cells]


_CONFLICT_COLS = (
    "id, a_id, b_id, a_kind, b_kind, a_owner, b_owner, state, time_start, time_end, "
    "horizontal_m, vertical_m, time_s, lateral_buffer_m, vertical_buffer_m, time_buffer_s, "
    "detected_at"
)


def _conflict_row(r: Sequence[Any]) -> ConflictRow:
    return ConflictRow(
        id=r[0],
        a_key=r[1],
        b_key=r[2],
        a_kind=RecordKind(r[3]),
        b_kind=RecordKind(r[4]),
        a_owner=r[5],
        b_owner=r[6],
        state=r[7],
        time_start=datetime.fromisoformat(r[8]),
        time_end=datetime.fromisoformat(r[9]),
        gaps=Gaps(horizontal_m=r[10], vertical_m=r[11], time_s=r[12]),
        policy=SeparationPolicy(lateral_m=r[13], vertical_m=r[14], time_s=r[15]),
        detected_at=datetime.fromisoformat(r[16]),
    )


class Tx:
    """The shared transaction logic over one DB-API cursor (placeholders written as ``?``)."""

    def __init__(
        self,
        cur: Any,
        cache: RecordCache,
        policy: SeparationPolicy,
        placeholder: str = "?",
        signer: Signer | None = None,
        hooks: StoreHooks | None = None,
        secret: bytes = b"",
    ) -> None:
        self.cur = cur
        self.cache = cache
        self.policy = policy
        self._ph = placeholder
        #: signs audit checkpoints (None: no checkpoints, e.g. a store opened by a tool)
        self.signer = signer
        self.hooks = hooks or StoreHooks()
        #: the store's secret (keys conflict ids)
        self.secret = secret
        #: set while the DSS writes the native view of its own references (no hooks then)
        self.from_dss = False
        #: what upper layers work out once per transaction (agreements, levels)
        self.memo: dict[str, Any] = {}
        #: called once the transaction has committed (never if it rolls back)
        self.after_commit: list[Callable[[], None]] = []

    def committed(self) -> None:
        """Run what waits for the commit (the back end calls it after committing)."""
        for fn in self.after_commit:
            try:
                fn()
            except Exception:  # the commit stands: what follows it must not undo the answer
                log.exception("after-commit step failed")

    def x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement written with ``?`` placeholders; the cursor, to fetch from."""
        if self._ph != "?":
            sql = sql.replace("?", self._ph)
        self.cur.execute(sql, tuple(params))
        return self.cur

    def xm(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many rows (``?`` placeholders)."""
        if not rows:
            return
        if self._ph != "?":
            sql = sql.replace("?", self._ph)
        self.cur.executemany(sql, [tuple(r) for r in rows])

    # --- parties -------------------------------------------------------------------------
    def put_party(self, party: Party, actor: str, at: datetime) -> Party:
        row = self.x("SELECT name FROM parties WHERE id = ?", (party.id,)).fetchone()
        if row is None:
            self.x(
                "INSERT INTO parties (id, name, created_at) VALUES (?, ?, ?)",
                (party.id, party.name, iso(at)),
            )
        else:
            self.x("UPDATE parties SET name = ? WHERE id = ?", (party.name, party.id))
        self.audit(at, actor, "party.put", party.id, digest(party.model_dump(mode="json")))
        return party

    def _party_exists(self, party_id: str) -> None:
        if self.x("SELECT 1 FROM parties WHERE id = ?", (party_id,)).fetchone() is None:
            raise NotFound(f"no party {party_id!r}")

    def get_party(self, party_id: str) -> Party:
        row = self.x("SELECT id, name FROM parties WHERE id = ?", (party_id,)).fetchone()
        if row is None:
            raise NotFound(f"no party {party_id!r}")
        return Party(id=row[0], name=row[1])

    # --- records -------------------------------------------------------------------------
    def load(self, key: str) -> tuple[StoredRecord, Record] | None:
        """The record with this key (``record_key(owner, id)``), if there is one."""
        row = self.x("SELECT kind, body, version FROM records WHERE id = ?", (key,)).fetchone()
        if row is None:
            return None
        return self.cache.get(row[0], row[1], key, int(row[2]))

    def get(self, kind: RecordKind, owner: str, record_id: str) -> StoredRecord:
        found = self.load(record_key(owner, record_id))
        if found is None or RecordKind(found[1].kind) is not kind:
            raise NotFound(f"no {kind.value} {record_id!r}")
        return found[0]

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
        existing = self.load(key)
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
        caps_json = json.dumps([c.caps for c in covers])
        if existing is None:
            self.x(
                "INSERT INTO records (id, kind, owner, version, ovn, body, cells, cap_cells, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, kind.value, owner, version, rec.ovn, body, cells_json, caps_json, iso(at)),
            )
        else:
            self.x(
                "UPDATE records SET version = ?, ovn = ?, body = ?, cells = ?, cap_cells = ?, "
                "updated_at = ? WHERE id = ?",
                (version, rec.ovn, body, cells_json, caps_json, iso(at), key),
            )
        engine_rec = to_record(kind, rec)
        self.cache.put(key, version, body, rec, engine_rec)
        self._add_cells(engine_rec, covers)
        action = f"{kind.value}.{'created' if existing is None else 'updated'}"
        self.event(owner, action, {"id": rid, "version": version}, at)
        conflicts = self._redetect(engine_rec, at, covers)
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
        old = _owned_at_version(self.load(key), kind, record_id, expected_version)
        self._drop_cells(key)
        self.x("DELETE FROM records WHERE id = ?", (key,))
        self._resolve_all(key, at)
        self.event(owner, f"{kind.value}.deleted", {"id": record_id, "version": old.version}, at)
        self.audit(at, actor, f"{kind.value}.deleted", key, digest(old.model_dump(mode="json")))
        self._record_changed(kind, old, None, at)
        return old

    def _record_changed(
        self, kind: RecordKind, old: StoredRecord | None, new: StoredRecord | None, at: datetime
    ) -> None:
        if self.from_dss:
            return
        for hook in self.hooks.record_changed:
            hook(self, kind, old, new, at)

    def _add_cells(self, rec: Record, covers: Sequence[VolumeCover]) -> None:
        """Index rows of a record: its volumes' coverings (``record_cells``) and their caps'
        (``record_caps``); the same rows where a volume is covered through its cap."""
        cell_rows: list[tuple[Any, ...]] = []
        cap_rows_: list[tuple[Any, ...]] = []
        kind = rec.kind.value
        for i, cover in enumerate(covers):
            tail = (rec.id, i, kind, rec.owner, *cover.bounds)
            rows = _index_rows(cover.cells, tail)
            cell_rows += rows
            cap_rows_ += rows if cover.caps is cover.cells else _index_rows(cover.caps, tail)
        self.xm(
            "INSERT INTO record_cells (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cell_rows,
        )
        self.xm(
            "INSERT INTO record_caps (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cap_rows_,
        )

    def _drop_cells(self, key: str) -> None:
        row = self.x("SELECT cells, cap_cells FROM records WHERE id = ?", (key,)).fetchone()
        cells: list[list[int]] = json.loads(row[0]) if row else []
        keys = [(to_sql(c), key, i) for i, vcells in enumerate(cells) for c in vcells]
        self.xm("DELETE FROM record_cells WHERE cell = ? AND record_id = ? AND volume = ?", keys)
        if row is None or row[1] is None:  # written before its cap cells were kept
            self.x("DELETE FROM record_caps WHERE record_id = ?", (key,))
            return
        caps: list[list[int]] = json.loads(row[1])
        keys = [(to_sql(c), key, i) for i, vcaps in enumerate(caps) for c in vcaps]
        self.xm("DELETE FROM record_caps WHERE cell = ? AND record_id = ? AND volume = ?", keys)

    # --- candidate search ----------------------------------------------------------------
    def candidates(
        self,
        volumes: Sequence[Volume4D],
        policy: SeparationPolicy,
        scope: tuple[str, Sequence[Any]],
        *,
        exclude_id: str | None = None,
        covers: Sequence[VolumeCover] | None = None,
    ) -> list[tuple[StoredRecord, Record]]:
        """Records with a volume near (cells, time and altitude ranges grown by the buffers).

        ``scope`` is an SQL condition on ``kind`` and ``owner`` with its parameters (see
        ``scope_for``); ``exclude_id``: a record key to leave out; ``covers``: the volumes' own
        (``coverings_of``), whose cell queries serve when the lateral buffer is 0.
        """
        ids: set[str] = set()
        for i, v in enumerate(volumes):
            if covers is not None and policy.lateral_m == 0.0:
                query = covers[i].query
            else:
                query = cell_query(covering(v.footprint, policy.lateral_m))
            cell_sql, params = cell_filter(query)
            sql = (
                "SELECT DISTINCT record_id, volume, cap_lon, cap_lat, cap_r FROM record_cells "
                f"WHERE {cell_sql} "
                f"AND t_start <= ? AND t_end >= ? AND alt_lower <= ? AND alt_upper >= ? "
                f"AND {scope[0]}"
            )
            params += [
                v.t_end_s + policy.time_s,
                v.t_start_s - policy.time_s,
                v.alt_upper_m + policy.vertical_m,
                v.alt_lower_m - policy.vertical_m,
                *scope[1],
            ]
            lon, lat, r = v.footprint.cap
            reach = policy.lateral_m + DISTANCE_RESOLUTION_M
            for rid, _, clon, clat, cr in self.x(sql, params).fetchall():
                if rid not in ids and cap_gap_lower_bound_m(lon, lat, r, clon, clat, cr) <= reach:
                    ids.add(rid)
        ids.discard(exclude_id or "")
        return self.load_many(sorted(ids))

    def cap_candidates(
        self,
        volumes: Sequence[Volume4D],
        reach: SeparationPolicy,
        scope: tuple[str, Sequence[Any]],
        *,
        exclude_id: str | None = None,
    ) -> list[tuple[StoredRecord, Record]]:
        """Records whose cap (the circle holding a volume's footprint) comes within ``reach``
        of a volume: every record whose exact volumes or extents (``reach.lateral_m`` covering
        the extent's growth beyond the cap) may meet them."""
        ids: set[str] = set()
        for v in volumes:
            query = cell_query(covering(v.footprint, reach.lateral_m))
            cell_sql, params = cell_filter(query)
            sql = (
                "SELECT DISTINCT record_id, cap_lon, cap_lat, cap_r FROM record_caps "
                f"WHERE {cell_sql} "
                f"AND t_start <= ? AND t_end >= ? AND alt_lower <= ? AND alt_upper >= ? "
                f"AND {scope[0]}"
            )
            params += [
                v.t_end_s + reach.time_s,
                v.t_start_s - reach.time_s,
                v.alt_upper_m + reach.vertical_m,
                v.alt_lower_m - reach.vertical_m,
                *scope[1],
            ]
            lon, lat, r = v.footprint.cap
            limit = reach.lateral_m + DISTANCE_RESOLUTION_M
            for rid, clon, clat, cr in self.x(sql, params).fetchall():
                if rid not in ids and cap_gap_lower_bound_m(lon, lat, r, clon, clat, cr) <= limit:
                    ids.add(rid)
        ids.discard(exclude_id or "")
        return self.load_many(sorted(ids))

    def load_many(self, keys: Sequence[str]) -> list[tuple[StoredRecord, Record]]:
        """Records by key (those that exist), in the order given."""
        out = []
        for k in range(0, len(keys), 500):
            chunk = list(keys[k : k + 500])
            rows = self.x(
                f"SELECT id, kind, body, version FROM records WHERE id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            by_key = {r[0]: self.cache.get(r[1], r[2], r[0], int(r[3])) for r in rows}
            out += [by_key[i] for i in chunk if i in by_key]
        return out

    def findings(
        self, rec: Record, policy: SeparationPolicy, covers: Sequence[VolumeCover] | None = None
    ) -> list[tuple[Record, Finding]]:
        """Exact conflicts of a record with stored ones (see ``engine.may_conflict``)."""
        out = []
        for _, other in self.candidates(
            rec.volumes, policy, scope_for(rec), exclude_id=rec.id, covers=covers
        ):
            finding = check_pair(rec, other, policy)
            if finding is not None:
                out.append((other, finding))
        return out

    # --- conflicts -----------------------------------------------------------------------
    def _redetect(self, rec: Record, at: datetime, covers: Sequence[VolumeCover]) -> list[Conflict]:
        found = {o.id: (o, f) for o, f in self.findings(rec, self.policy, covers)}
        open_rows = self.x(
            "SELECT id, a_id, b_id FROM conflicts WHERE (a_id = ? OR b_id = ?) AND state = 'open'",
            (rec.id, rec.id),
        ).fetchall()
        for cid, a_id, b_id in open_rows:
            other = b_id if a_id == rec.id else a_id
            if other not in found:
                self._set_resolved(cid, at)
        out = []
        for other, finding in found.values():
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(self._upsert_conflict(a, b, finding, at))
        return out

    def _upsert_conflict(self, a: Record, b: Record, f: Finding, at: datetime) -> Conflict:
        p = self.policy
        row = self.x(
            "SELECT id, state, detected_at FROM conflicts WHERE a_id = ? AND b_id = ?",
            (a.id, b.id),
        ).fetchone()
        vals = (
            iso(f.time_start),
            iso(f.time_end),
            f.gaps.horizontal_m,
            f.gaps.vertical_m,
            f.gaps.time_s,
            p.lateral_m,
            p.vertical_m,
            p.time_s,
            iso(at),
        )
        if row is None:
            cid = conflict_id(self.secret, a.id, b.id)
            self.x(
                "INSERT INTO conflicts (id, a_id, b_id, a_kind, b_kind, a_owner, b_owner, state, "
                "time_start, time_end, horizontal_m, vertical_m, time_s, lateral_buffer_m, "
                "vertical_buffer_m, time_buffer_s, updated_at, detected_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, a.id, b.id, a.kind.value, b.kind.value, a.owner, b.owner, *vals, iso(at)),
            )
            change, detected = "opened", at
        else:
            cid = row[0]
            self.x(
                "UPDATE conflicts SET state = 'open', time_start = ?, time_end = ?, "
                "horizontal_m = ?, vertical_m = ?, time_s = ?, lateral_buffer_m = ?, "
                "vertical_buffer_m = ?, time_buffer_s = ?, updated_at = ? WHERE id = ?",
                (*vals, cid),
            )
            change = "updated" if row[1] == "open" else "opened"
            detected = datetime.fromisoformat(row[2])
        self._notify(cid, change, at)
        return make_conflict(cid, a, b, f, p, detected)

    def conflict(self, cid: str) -> ConflictRow | None:
        r = self.x(f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE id = ?", (cid,)).fetchone()
        return None if r is None else _conflict_row(r)

    def _notify(self, cid: str, change: str, at: datetime) -> None:
        """Tell each party of the conflict what changed, as far as the conflict note allows;
        a party is told of an update only when what it is told changes, and of a resolution
        only if it was told of the conflict."""
        row = self.conflict(cid)
        assert row is not None
        told = self.x("SELECT a_note, b_note FROM conflicts WHERE id = ?", (cid,)).fetchone()
        notes = {}
        for col, party, before in (
            ("a_note", row.a_owner, told[0]),
            ("b_note", row.b_owner, told[1]),
        ):
            if party in notes:
                continue
            note = self.hooks.conflict_note(self, row, party, change)
            now = None if note is None else digest(note)
            notes[party] = now
            if change == "resolved":
                if before is not None and note is not None:
                    self.event(party, "conflict.resolved", note, at)
                continue
            self.x(f"UPDATE conflicts SET {col} = ? WHERE id = ?", (now, cid))
            if note is None or now == before:
                continue
            kind = (
                "conflict.updated"
                if before is not None and change == "updated"
                else "conflict.opened"
            )
            self.event(party, kind, note, at)
        if row.a_owner == row.b_owner:
            self.x("UPDATE conflicts SET b_note = a_note WHERE id = ?", (cid,))

    def query(self, volume: Volume4D, kinds: Sequence[RecordKind]) -> list[StoredRecord]:
        """Stored records of these kinds that meet the volume (no buffers)."""
        probe = Record(RecordKind.INTENT, "\x00query", "\x00query", [volume])
        zero = SeparationPolicy()
        kind_list = ", ".join(f"'{RecordKind(k).value}'" for k in kinds)
        return [
            rec
            for rec, eng in self.candidates([volume], zero, (f"kind IN ({kind_list})", ()))
            if check_pair(probe, eng, zero) is not None
        ]

    def preview(
        self, owner: str, draft: Draft, kind: RecordKind, exclude_id: str | None, at: datetime
    ) -> list[Conflict]:
        """The conflicts a draft would be in if written now; nothing is written."""
        key = record_key(owner, exclude_id or PREVIEW_ID)
        rec = Record(kind, key, owner, draft.volumes)
        out = []
        for other, f in self.findings(rec, self.policy):
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(
                make_conflict(conflict_id(self.secret, a.id, b.id), a, b, f, self.policy, at)
            )
        return out

    def _set_resolved(self, cid: str, at: datetime) -> None:
        self.x(
            "UPDATE conflicts SET state = 'resolved', updated_at = ? WHERE id = ?", (iso(at), cid)
        )
        self._notify(cid, "resolved", at)

    def _resolve_all(self, key: str, at: datetime) -> None:
        for (cid,) in self.x(
            "SELECT id FROM conflicts WHERE (a_id = ? OR b_id = ?) AND state = 'open'", (key, key)
        ).fetchall():
            self._set_resolved(cid, at)

    def conflict_rows(self, party: str, include_resolved: bool) -> list[ConflictRow]:
        """The conflicts ``party`` has a record in, exact (what it is shown goes through the
        release rule)."""
        states = ("open", "resolved") if include_resolved else ("open", "open")
        rows = self.x(
            f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE (a_owner = ? OR b_owner = ?) "
            "AND state IN (?, ?) ORDER BY time_start, id",
            (party, party, *states),
        ).fetchall()
        return [_conflict_row(r) for r in rows]

    def list_conflicts(self, party: str, include_resolved: bool) -> list[Conflict]:
        """The conflicts ``party`` has a record in, with both sides exact: for the service's
        own use only, never to be shown to a party as is."""
        out = []
        for r in self.conflict_rows(party, include_resolved):
            extents = []
            for key, kind in ((r.a_key, r.a_kind), (r.b_key, r.b_kind)):
                found = self.load(key)
                owner, rid = split_key(key)
                vols = list(found[0].volumes) if found else []
                extents.append(RecordExtent(kind=kind, id=rid, owner=owner, volumes=vols))
            out.append(
                Conflict(
                    id=r.id,
                    a=extents[0],
                    b=extents[1],
                    time_start=r.time_start,
                    time_end=r.time_end,
                    gaps=r.gaps,
                    policy=r.policy,
                    detected_at=r.detected_at,
                )
            )
        return out

    # --- outbox and audit ----------------------------------------------------------------
    def event(self, party: str, type_: str, payload: dict[str, Any], at: datetime) -> None:
        self.x(
            "INSERT INTO outbox (party, type, payload, created_at) VALUES (?, ?, ?, ?)",
            (party, type_, json.dumps(payload, sort_keys=True), iso(at)),
        )
        for hook in self.hooks.event_written:
            hook(self, party, type_, payload, at)

    def audit(
        self, at: datetime, actor: str, action: str, subject: str, record_digest: str
    ) -> AuditEntry:
        row = self.x("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(row[0]) + 1, row[1]) if row else (1, GENESIS)
        e = AuditEntry.make(seq, iso(at), actor, action, subject, record_digest, prev)
        self.x(
            "INSERT INTO audit_log (seq, at, actor, action, subject, digest, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (e.seq, e.at, e.actor, e.action, e.subject, e.digest, e.prev_hash, e.hash),
        )
        if self.signer is not None and e.seq % CHECKPOINT_EVERY == 0:
            self._sign(e.seq, e.hash, e.at)
        return e

    def checkpoint(self, at: datetime) -> tuple[int, str] | None:
        """Sign the chain's head now, if it is not signed yet: (seq, hash), or None if the log
        is empty or there is no signer."""
        if self.signer is None:
            return None
        row = self.x("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        seq, h = int(row[0]), str(row[1])
        done = self.x("SELECT 1 FROM audit_checkpoints WHERE seq = ?", (seq,)).fetchone()
        if done is None:
            self._sign(seq, h, iso(at))
        return seq, h

    def _sign(self, seq: int, entry_hash: str, at: str) -> None:
        """Sign a checkpoint, unless the chain no longer holds what this service signed before
        (``audit.guard``): then raise the alarm instead."""
        assert self.signer is not None
        problem = self.signer.guard.check(self)
        if problem is not None:
            self._alarm(problem, datetime.fromisoformat(at.replace("Z", "+00:00")))
            return
        self.x(
            "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (seq, entry_hash, at, self.signer.key_id, self.signer.sign(message(seq, entry_hash))),
        )
        guard = self.signer.guard
        self.after_commit.append(lambda: guard.remember(seq, entry_hash))

    def _alarm(self, problem: str, at: datetime) -> None:
        """Tell every party that the audit chain was changed under the service (an event each,
        and an entry every party sees in its export)."""
        if self.memo.get("audit-alarm"):
            return
        self.memo["audit-alarm"] = True
        note = {"problem": problem, "at": iso(at)}
        for (party,) in self.x("SELECT id FROM parties ORDER BY id").fetchall():
            self.event(party, "audit.alarm", note, at)
        self.audit(at, "service", "audit.alarm", "*", digest(note))


#: The id a draft has in a preview (no real id has a NUL).
PREVIEW_ID = "\x00preview"


def _owned_at_version(
    found: tuple[StoredRecord, Record] | None,
    kind: RecordKind,
    rid: str,
    expected_version: int,
) -> StoredRecord:
    """The stored record, if it is of this kind and at the expected version (it is the
    caller's: keys are per owner)."""
    if found is None or found[1].kind is not kind:
        raise NotFound(f"no {kind.value} {rid!r}")
    old = found[0]
    if old.version != expected_version:
        raise VersionConflict(f"{rid!r} is at version {old.version}, not {expected_version}")
    return old


def scope_for(rec: Record) -> tuple[str, tuple[str, ...]]:
    """The SQL condition for the records that ``rec`` may conflict with (``may_conflict``):
    an intent meets every intent and other parties' areas; an area meets other parties' intents.
    """
    if rec.kind is RecordKind.INTENT:
        return "(kind = 'intent' OR owner <> ?)", (rec.owner,)
    return "kind = 'intent' AND owner <> ?", (rec.owner,)


def make_conflict(
    cid: str, a: Record, b: Record, f: Finding, policy: SeparationPolicy, detected_at: datetime
) -> Conflict:
    """An exact conflict between two engine records (ids are keys)."""
    return Conflict(
        id=cid,
        a=RecordExtent(kind=a.kind, id=split_key(a.id)[1], owner=a.owner, volumes=list(a.volumes)),
        b=RecordExtent(kind=b.kind, id=split_key(b.id)[1], owner=b.owner, volumes=list(b.volumes)),
        time_start=f.time_start,
        time_end=f.time_end,
        gaps=f.gaps,
        policy=policy,
        detected_at=detected_at,
    )
