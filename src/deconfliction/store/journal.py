"""A store transaction's cursor, and what every write leaves behind it: outbox events
(``outbox``) and the audit log with its signed checkpoints (``audit_log``, ``checkpoints``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from ..audit import GENESIS, AuditEntry, digest
from ..audit.export import CHECKPOINT_EVERY
from ..audit.log import Countersignature, SignedCheckpoint
from ..audit.signing import Signer, load_public, message, verify
from ..errors import FieldError, InvalidInput, NotFound
from ..model import (
    SeparationPolicy,
)
from .rows import (
    RecordCache,
    StoreHooks,
    iso,
)

log = logging.getLogger(__name__)


if TYPE_CHECKING:
    from ..engine import Record
    from .base import Tx
    from .places import PlaceLocks
    from .rows import StoredRecord


class JournalTx:
    """The base of ``Tx``: one DB-API cursor (statements written with ``?`` placeholders), what
    the transaction's upper layers keep for its length, its outbox and its audit log."""

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
        #: records read (or written) in this transaction, by key (None: there is none), so that
        #: a record read again (a conflict's notes read both sides, for each party) is not
        #: fetched again; kept in step by every write of ``records`` (``record_table``)
        self.loaded: dict[str, tuple[StoredRecord, Record] | None] = {}
        #: called once the transaction has committed (never if it rolls back)
        self.after_commit: list[Callable[[], None]] = []
        #: set by a back end that runs writes into different places side by side
        #: (``places``): the write holds its record and places, then the journal
        self.locks: PlaceLocks | None = None

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

    def rows_in(self, select: str, keys: Sequence[Any], params: Sequence[Any] = ()) -> list[Any]:
        """The rows of ``select``, a statement ending in ``WHERE column`` (after ``params``, the
        values of its own placeholders), whose column is one of ``keys`` (``IN``, at most 500
        keys a statement)."""
        out: list[Any] = []
        for k in range(0, len(keys), 500):
            chunk = list(keys[k : k + 500])
            sql = f"{select} IN ({', '.join('?' * len(chunk))})"
            out += self.x(sql, [*params, *chunk]).fetchall()
        return out

    def xm(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many rows (``?`` placeholders)."""
        if not rows:
            return
        if self._ph != "?":
            sql = sql.replace("?", self._ph)
        self.cur.executemany(sql, [tuple(r) for r in rows])

    # --- outbox and audit ----------------------------------------------------------------
    def event(self, party: str, type_: str, payload: dict[str, Any], at: datetime) -> None:
        if self.locks is not None:
            self.locks.tail()
        self.x(
            "INSERT INTO outbox (party, type, payload, created_at) VALUES (?, ?, ?, ?)",
            (party, type_, json.dumps(payload, sort_keys=True), iso(at)),
        )
        for hook in self.hooks.event_written:
            hook(cast("Tx", self), party, type_, payload, at)

    def events_after(
        self, party: str, after_seq: int, limit: int | None = None
    ) -> list[tuple[int, str, str, str]]:
        """A party's outbox events after ``after_seq``, in order (at most ``limit``):
        (seq, type, payload as JSON, created_at)."""
        sql = (
            "SELECT seq, type, payload, created_at FROM outbox WHERE party = ? AND seq > ? "
            "ORDER BY seq"
        )
        params: list[Any] = [party, after_seq]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [(int(r[0]), r[1], r[2], r[3]) for r in self.x(sql, params).fetchall()]

    def events_by_seq(self, seqs: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """Outbox events by seq (those that exist): (type, payload as JSON, created_at)."""
        rows = self.rows_in("SELECT seq, type, payload, created_at FROM outbox WHERE seq", seqs)
        return {int(r[0]): (r[1], r[2], r[3]) for r in rows}

    def last_event_seq(self, party: str) -> int:
        """The seq of a party's newest outbox event (0 if none)."""
        row = self.x("SELECT MAX(seq) FROM outbox WHERE party = ?", (party,)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def events_pending(self, party: str, after_seq: int) -> int:
        """How many of a party's outbox events come after ``after_seq``."""
        row = self.x(
            "SELECT COUNT(*) FROM outbox WHERE party = ? AND seq > ?", (party, after_seq)
        ).fetchone()
        return int(row[0])

    def audit(
        self, at: datetime, actor: str, action: str, subject: str, record_digest: str
    ) -> AuditEntry:
        if self.locks is not None:
            self.locks.tail()
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
        if self.locks is not None:
            self.locks.tail()
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

    # --- what the parties add to the log: their keys and countersignatures -----------------
    def register_key(self, key_id_: str, party: str, pem: str, actor: str, at: datetime) -> None:
        """Register a party's public key for countersigning (once per key), audited."""
        self.x(
            "INSERT INTO party_keys (key_id, party, public_key_pem, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_id) DO NOTHING",
            (key_id_, party, pem, iso(at)),
        )
        self.audit(at, actor, "audit.key", party, digest({"key_id": key_id_}))

    def checkpoints_after(self, after: int, limit: int | None = None) -> list[SignedCheckpoint]:
        """The signed checkpoints after entry ``after``, at most ``limit``, in order."""
        sql = "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq > ? "
        sql += "ORDER BY seq" if limit is None else "ORDER BY seq LIMIT ?"
        params = (after,) if limit is None else (after, limit)
        rows = self.x(sql, params).fetchall()
        return [
            SignedCheckpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows
        ]

    def checkpoint_hash(self, seq: int) -> str | None:
        """The hash the checkpoint at entry ``seq`` signed, if there is one."""
        row = self.x("SELECT hash FROM audit_checkpoints WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def newest_checkpoint_seq(self) -> int:
        """The entry of the newest signed checkpoint (0 if none)."""
        row = self.x("SELECT MAX(seq) FROM audit_checkpoints").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def countersignatures(self) -> list[Countersignature]:
        """Every countersignature of the service's checkpoints, by entry and party."""
        rows = self.x(
            "SELECT seq, party, key_id, signature, at FROM audit_countersignatures "
            "ORDER BY seq, party"
        ).fetchall()
        return [Countersignature(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def countersigners(self, seq: int) -> list[str]:
        """The parties that countersigned checkpoint ``seq``."""
        rows = self.x(
            "SELECT party FROM audit_countersignatures WHERE seq = ? ORDER BY party", (seq,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def countersign(
        self, seq: int, party: str, key_id_: str, signature: str, actor: str, at: datetime
    ) -> None:
        """Record a party's countersignature of checkpoint ``seq`` (once per party), audited:
        the signature must verify, with a registered key of the party, over the checkpoint's
        message."""
        cp_hash = self.checkpoint_hash(seq)
        if cp_hash is None:
            raise NotFound(f"no checkpoint at entry {seq}")
        k = self.x(
            "SELECT public_key_pem FROM party_keys WHERE key_id = ? AND party = ?",
            (key_id_, party),
        ).fetchone()
        if k is None:
            raise InvalidInput([FieldError("/key_id", "not a registered key of your party")])
        if not verify(load_public(k[0]), message(seq, cp_hash), signature):
            raise InvalidInput([FieldError("/signature", "does not verify over the message")])
        self.x(
            "INSERT INTO audit_countersignatures (seq, party, key_id, signature, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq, party) DO NOTHING",
            (seq, party, key_id_, signature, iso(at)),
        )
        self.audit(
            at,
            actor,
            "audit.countersigned",
            f"{party}|checkpoint:{seq}",
            digest({"seq": seq, "key_id": key_id_, "signature": signature}),
        )

    def entries(self, after: int, to: int | None = None) -> list[AuditEntry]:
        """The log's entries after ``after`` up to ``to`` (the head if None), in order."""
        sql = (
            "SELECT seq, at, actor, action, subject, digest, prev_hash, hash FROM audit_log "
            "WHERE seq > ? "
        )
        sql += "ORDER BY seq" if to is None else "AND seq <= ? ORDER BY seq"
        params = (after,) if to is None else (after, to)
        rows = self.x(sql, params).fetchall()
        return [AuditEntry(int(r[0]), *r[1:]) for r in rows]

    def entry_hash(self, seq: int) -> str | None:
        """The hash of entry ``seq``, if the log holds it."""
        row = self.x("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def _alarm(self, problem: str, at: datetime) -> None:
        """Tell every party that the audit chain was changed under the service (an event each,
        and an entry every party sees in its export)."""
        if self.memo.get("audit-alarm"):
            return
        self.memo["audit-alarm"] = True
        note = {"problem": problem, "at": iso(at)}
        for party in cast("Tx", self).party_ids():
            self.event(party, "audit.alarm", note, at)
        self.audit(at, "service", "audit.alarm", "*", digest(note))
