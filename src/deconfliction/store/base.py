"""The Store protocol and the transaction logic every back end shares.

A write runs as one transaction: the record, its S2 cells, the conflicts it opens or resolves,
the outbox events for every party concerned and the audit entry are committed together, or not
at all. ``Tx`` holds that logic over a DB-API cursor; back ends supply the connection, the
placeholder style and the isolation.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from ..audit import GENESIS, AuditEntry, digest
from ..audit.signing import Signer, message
from ..engine import Finding, Record, check_pair
from ..errors import Forbidden, NotFound, VersionConflict
from ..geo import DISTANCE_RESOLUTION_M, cap_gap_lower_bound_m, cell_query, covering, to_sql
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
#: A signed checkpoint every this many audit entries (and on demand: ``Tx.checkpoint``).
CHECKPOINT_EVERY = 100
StoredRecord = OperationalIntent | Area
Draft = IntentDraft | AreaDraft


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_ovn() -> str:
    return secrets.token_urlsafe(24)


def conflict_id(a_id: str, b_id: str) -> str:
    return hashlib.sha256(f"{a_id}\x00{b_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class WriteResult:
    """A record as written, and the conflicts it is in after the write (open ones)."""

    record: StoredRecord
    conflicts: list[Conflict]


class Store(Protocol):
    """Where records live. Every write is one transaction (record + outbox + audit)."""

    policy: SeparationPolicy
    #: signs audit checkpoints when set
    signer: Signer | None

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
    def get(self, kind: RecordKind, record_id: str) -> StoredRecord: ...
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


#: Called inside the transaction after an intent is written (old, new) or deleted (old, None),
#: except for writes the DSS makes itself (``Tx.from_dss``). The DSS view of native intents
#: registers here (``dss/native.py``), so a store knows nothing of the DSS.
IntentHook = Callable[["Tx", OperationalIntent | None, OperationalIntent | None, datetime], None]
INTENT_HOOKS: list[IntentHook] = []


def to_record(kind: RecordKind, rec: StoredRecord) -> Record:
    return Record(kind, rec.id, rec.owner, rec.volumes)


class RecordCache:
    """Parsed records by (id, version), checked against the stored body's hash (so that a write
    rolled back and redone, or retried, can never serve a stale parse): parsing and preparing
    geometry is the costly part of a read."""

    def __init__(self, size: int = 50_000) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[int, StoredRecord, Record]] = OrderedDict()
        self._size = size

    def get(self, kind: str, body: str, rid: str, version: int) -> tuple[StoredRecord, Record]:
        key = (rid, version)
        hit = self._items.get(key)
        if hit is not None and hit[0] == hash(body):
            self._items.move_to_end(key)
            return hit[1], hit[2]
        k = RecordKind(kind)
        model: type[StoredRecord] = OperationalIntent if k is RecordKind.INTENT else Area
        rec = model.model_validate_json(body, context={"trusted": True})
        val = (rec, to_record(k, rec))
        self.put(rid, version, body, *val)
        return val

    def put(self, rid: str, version: int, body: str, rec: StoredRecord, engine_rec: Record) -> None:
        self._items[(rid, version)] = (hash(body), rec, engine_rec)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class Tx:
    """The shared transaction logic over one DB-API cursor (placeholders written as ``?``)."""

    def __init__(
        self,
        cur: Any,
        cache: RecordCache,
        policy: SeparationPolicy,
        placeholder: str = "?",
        signer: Signer | None = None,
    ) -> None:
        self.cur = cur
        self.cache = cache
        self.policy = policy
        self._ph = placeholder
        #: signs audit checkpoints (None: no checkpoints, e.g. a store opened by a tool)
        self.signer = signer
        #: set while the DSS writes the native view of its own references (no hooks then)
        self.from_dss = False

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

    def get_party(self, party_id: str) -> Party:
        row = self.x("SELECT id, name FROM parties WHERE id = ?", (party_id,)).fetchone()
        if row is None:
            raise NotFound(f"no party {party_id!r}")
        return Party(id=row[0], name=row[1])

    # --- records -------------------------------------------------------------------------
    def load(self, record_id: str) -> tuple[StoredRecord, Record] | None:
        row = self.x(
            "SELECT kind, body, version FROM records WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            return None
        return self.cache.get(row[0], row[1], record_id, int(row[2]))

    def get(self, kind: RecordKind, record_id: str) -> StoredRecord:
        found = self.load(record_id)
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
    ) -> WriteResult:
        self.get_party(owner)
        rid = record_id or str(uuid.uuid4())
        existing = self.load(rid)
        if expected_version is None:
            if existing is not None:
                raise VersionConflict(f"{rid!r} already exists (version {existing[0].version})")
            version = 1
        else:
            old = _owned_at_version(existing, kind, rid, owner, expected_version)
            self._drop_cells(rid)
            version = old.version + 1
        # the draft is validated already: build the record without validating it again
        model: type[StoredRecord] = OperationalIntent if kind is RecordKind.INTENT else Area
        rec = model.model_construct(
            **dict(draft), id=rid, owner=owner, version=version, ovn=new_ovn(), updated_at=at
        )
        body = rec.model_dump_json()
        cells = [covering(v.footprint) for v in rec.volumes]
        cells_json = json.dumps(cells)
        if existing is None:
            self.x(
                "INSERT INTO records (id, kind, owner, version, ovn, body, cells, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rid, kind.value, owner, version, rec.ovn, body, cells_json, iso(at)),
            )
        else:
            self.x(
                "UPDATE records SET version = ?, ovn = ?, body = ?, cells = ?, updated_at = ? "
                "WHERE id = ?",
                (version, rec.ovn, body, cells_json, iso(at), rid),
            )
        engine_rec = to_record(kind, rec)
        self.cache.put(rid, version, body, rec, engine_rec)
        self._add_cells(engine_rec, cells)
        action = f"{kind.value}.{'created' if existing is None else 'updated'}"
        self.event(owner, action, {"id": rid, "version": version}, at)
        conflicts = self._redetect(engine_rec, at, cells)
        self.audit(at, actor, action, rid, digest(json.loads(body)))
        if kind is RecordKind.INTENT:
            self._intent_changed(existing[0] if existing else None, rec, at)
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
        old = _owned_at_version(self.load(record_id), kind, record_id, owner, expected_version)
        self._drop_cells(record_id)
        self.x("DELETE FROM records WHERE id = ?", (record_id,))
        self._resolve_all(record_id, at)
        self.event(owner, f"{kind.value}.deleted", {"id": record_id, "version": old.version}, at)
        self.audit(
            at, actor, f"{kind.value}.deleted", record_id, digest(old.model_dump(mode="json"))
        )
        if kind is RecordKind.INTENT:
            self._intent_changed(old, None, at)
        return old

    def _intent_changed(
        self, old: StoredRecord | None, new: StoredRecord | None, at: datetime
    ) -> None:
        if self.from_dss:
            return
        assert old is None or isinstance(old, OperationalIntent)
        assert new is None or isinstance(new, OperationalIntent)
        for hook in INTENT_HOOKS:
            hook(self, old, new, at)

    def _add_cells(self, rec: Record, cells: list[list[int]]) -> None:
        rows = []
        for i, (v, vcells) in enumerate(zip(rec.volumes, cells, strict=True)):
            for c in vcells:
                rows.append(
                    (
                        to_sql(c),
                        rec.id,
                        i,
                        rec.kind.value,
                        rec.owner,
                        v.t_start_s,
                        v.t_end_s,
                        v.alt_lower_m,
                        v.alt_upper_m,
                        *v.footprint.cap,
                    )
                )
        self.xm(
            "INSERT INTO record_cells (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _drop_cells(self, rid: str) -> None:
        row = self.x("SELECT cells FROM records WHERE id = ?", (rid,)).fetchone()
        cells: list[list[int]] = json.loads(row[0]) if row else []
        keys = [(to_sql(c), rid, i) for i, vcells in enumerate(cells) for c in vcells]
        self.xm("DELETE FROM record_cells WHERE cell = ? AND record_id = ? AND volume = ?", keys)

    # --- candidate search ----------------------------------------------------------------
    def candidates(
        self,
        volumes: Sequence[Volume4D],
        policy: SeparationPolicy,
        scope: tuple[str, Sequence[Any]],
        *,
        exclude_id: str | None = None,
        cells: list[list[int]] | None = None,
    ) -> list[tuple[StoredRecord, Record]]:
        """Records with a volume near (cells, time and altitude ranges grown by the buffers).

        ``scope`` is an SQL condition on ``kind`` and ``owner`` with its parameters (see
        ``scope_for``); ``cells``: the volumes' own coverings, reused when the lateral buffer is 0.
        """
        ids: set[str] = set()
        for i, v in enumerate(volumes):
            if cells is not None and policy.lateral_m == 0.0:
                query = cell_query(cells[i])
            else:
                query = cell_query(covering(v.footprint, policy.lateral_m))
            terms = ["cell BETWEEN ? AND ?"] * len(query.ranges)
            params: list[Any] = [x for span in query.ranges for x in span]
            if query.ancestors:
                terms.append(f"cell IN ({', '.join('?' * len(query.ancestors))})")
                params += sorted(query.ancestors)
            sql = (
                "SELECT DISTINCT record_id, volume, cap_lon, cap_lat, cap_r FROM record_cells "
                f"WHERE ({' OR '.join(terms)}) "
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

    def load_many(self, ids: Sequence[str]) -> list[tuple[StoredRecord, Record]]:
        """Records by id (those that exist), in the order given."""
        out = []
        for k in range(0, len(ids), 500):
            chunk = list(ids[k : k + 500])
            rows = self.x(
                f"SELECT id, kind, body, version FROM records WHERE id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            by_id = {r[0]: self.cache.get(r[1], r[2], r[0], int(r[3])) for r in rows}
            out += [by_id[i] for i in chunk if i in by_id]
        return out

    def findings(
        self, rec: Record, policy: SeparationPolicy, cells: list[list[int]] | None = None
    ) -> list[tuple[Record, Finding]]:
        """Exact conflicts of a record with stored ones (see ``engine.may_conflict``)."""
        out = []
        for _, other in self.candidates(
            rec.volumes, policy, scope_for(rec), exclude_id=rec.id, cells=cells
        ):
            finding = check_pair(rec, other, policy)
            if finding is not None:
                out.append((other, finding))
        return out

    # --- conflicts -----------------------------------------------------------------------
    def _redetect(self, rec: Record, at: datetime, cells: list[list[int]]) -> list[Conflict]:
        found = {o.id: (o, f) for o, f in self.findings(rec, self.policy, cells)}
        open_rows = self.x(
            "SELECT id, a_id, b_id FROM conflicts WHERE (a_id = ? OR b_id = ?) AND state = 'open'",
            (rec.id, rec.id),
        ).fetchall()
        for cid, a_id, b_id in open_rows:
            other = b_id if a_id == rec.id else a_id
            if other not in found:
                self._set_resolved(cid, a_id, b_id, at)
        out = []
        for other, finding in found.values():
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(self._upsert_conflict(a, b, finding, at))
        return out

    def _upsert_conflict(self, a: Record, b: Record, f: Finding, at: datetime) -> Conflict:
        cid = conflict_id(a.id, b.id)
        p = self.policy
        row = self.x("SELECT state, detected_at FROM conflicts WHERE id = ?", (cid,)).fetchone()
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
            self.x(
                "INSERT INTO conflicts (id, a_id, b_id, a_owner, b_owner, state, time_start, "
                "time_end, horizontal_m, vertical_m, time_s, lateral_buffer_m, "
                "vertical_buffer_m, time_buffer_s, updated_at, detected_at) VALUES "
                "(?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, a.id, b.id, a.owner, b.owner, *vals, iso(at)),
            )
            event, detected = "conflict.opened", at
        else:
            self.x(
                "UPDATE conflicts SET state = 'open', time_start = ?, time_end = ?, "
                "horizontal_m = ?, vertical_m = ?, time_s = ?, lateral_buffer_m = ?, "
                "vertical_buffer_m = ?, time_buffer_s = ?, updated_at = ? WHERE id = ?",
                (*vals, cid),
            )
            event = "conflict.updated" if row[0] == "open" else "conflict.opened"
            detected = datetime.fromisoformat(row[1])
        payload = {"id": cid, "records": [a.id, b.id]}
        for party in sorted({a.owner, b.owner}):
            self.event(party, event, payload, at)
        return make_conflict(a, b, f, p, detected)

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
        rec = Record(kind, exclude_id or "\x00preview", owner, draft.volumes)
        out = []
        for other, f in self.findings(rec, self.policy):
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(make_conflict(a, b, f, self.policy, at))
        return out

    def _set_resolved(self, cid: str, a_id: str, b_id: str, at: datetime) -> None:
        row = self.x("SELECT a_owner, b_owner FROM conflicts WHERE id = ?", (cid,)).fetchone()
        self.x(
            "UPDATE conflicts SET state = 'resolved', updated_at = ? WHERE id = ?", (iso(at), cid)
        )
        for party in sorted({row[0], row[1]}):
            self.event(party, "conflict.resolved", {"id": cid, "records": [a_id, b_id]}, at)

    def _resolve_all(self, record_id: str, at: datetime) -> None:
        for cid, a_id, b_id in self.x(
            "SELECT id, a_id, b_id FROM conflicts WHERE (a_id = ? OR b_id = ?) AND state = 'open'",
            (record_id, record_id),
        ).fetchall():
            self._set_resolved(cid, a_id, b_id, at)

    def list_conflicts(self, party: str, include_resolved: bool) -> list[Conflict]:
        states = ("open", "resolved") if include_resolved else ("open", "open")
        rows = self.x(
            "SELECT id, a_id, b_id, a_owner, b_owner, time_start, time_end, horizontal_m, "
            "vertical_m, time_s, lateral_buffer_m, vertical_buffer_m, time_buffer_s, detected_at "
            "FROM conflicts WHERE (a_owner = ? OR b_owner = ?) AND state IN (?, ?) "
            "ORDER BY time_start, id",
            (party, party, *states),
        ).fetchall()
        out = []
        for r in rows:
            extents = []
            for rid, owner in ((r[1], r[3]), (r[2], r[4])):
                found = self.load(rid)
                kind = found[1].kind if found else RecordKind.INTENT
                vols = list(found[0].volumes) if found else []
                extents.append(RecordExtent(kind=kind, id=rid, owner=owner, volumes=vols))
            out.append(
                Conflict(
                    id=r[0],
                    a=extents[0],
                    b=extents[1],
                    time_start=datetime.fromisoformat(r[5]),
                    time_end=datetime.fromisoformat(r[6]),
                    gaps=Gaps(horizontal_m=r[7], vertical_m=r[8], time_s=r[9]),
                    policy=SeparationPolicy(lateral_m=r[10], vertical_m=r[11], time_s=r[12]),
                    detected_at=datetime.fromisoformat(r[13]),
                )
            )
        return out

    # --- outbox and audit ----------------------------------------------------------------
    def event(self, party: str, type_: str, payload: dict[str, Any], at: datetime) -> None:
        self.x(
            "INSERT INTO outbox (party, type, payload, created_at) VALUES (?, ?, ?, ?)",
            (party, type_, json.dumps(payload, sort_keys=True), iso(at)),
        )

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
        assert self.signer is not None
        self.x(
            "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (seq, entry_hash, at, self.signer.key_id, self.signer.sign(message(seq, entry_hash))),
        )


def _owned_at_version(
    found: tuple[StoredRecord, Record] | None,
    kind: RecordKind,
    rid: str,
    owner: str,
    expected_version: int,
) -> StoredRecord:
    """The stored record, if it is of this kind, this owner's and at the expected version."""
    if found is None or found[1].kind is not kind:
        raise NotFound(f"no {kind.value} {rid!r}")
    old = found[0]
    if old.owner != owner:
        raise Forbidden(f"{kind.value} {rid!r} belongs to another party")
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
    a: Record, b: Record, f: Finding, policy: SeparationPolicy, detected_at: datetime
) -> Conflict:
    return Conflict(
        id=conflict_id(a.id, b.id),
        a=RecordExtent(kind=a.kind, id=a.id, owner=a.owner, volumes=list(a.volumes)),
        b=RecordExtent(kind=b.kind, id=b.id, owner=b.owner, volumes=list(b.volumes)),
        time_start=f.time_start,
        time_end=f.time_end,
        gaps=f.gaps,
        policy=policy,
        detected_at=detected_at,
    )
