"""The Store protocol's operations, over any back end that runs transactions.

A back end supplies ``write_tx(fn)`` (serializable with every other write; a function that may
be run again if the back end retries) and ``read_tx(fn)`` (a consistent snapshot); every
operation here is one such transaction over ``Tx``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..audit import AuditEntry
from ..audit.signing import Signer
from ..model import Conflict, Party, RecordKind, SeparationPolicy, Volume4D
from .base import (
    Draft,
    RecordCache,
    StoredRecord,
    StoreHooks,
    Tx,
    WriteResult,
    coverings_of,
    now_utc,
)

T = TypeVar("T")


class TxStore:
    policy: SeparationPolicy
    cache: RecordCache
    signer: Signer | None
    hooks: StoreHooks
    #: the store's secret (keys conflict ids), made on first use and kept in the database
    secret: bytes

    def make_tx(self, cur: Any, placeholder: str = "?") -> Tx:
        """A transaction's logic over a back end's cursor."""
        return Tx(cur, self.cache, self.policy, placeholder, self.signer, self.hooks, self.secret)

    @staticmethod
    def _secret(cur: Any, placeholder: str) -> bytes:
        """The store's secret: read, or made now (by whichever process comes first)."""
        q = "INSERT INTO service_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
        cur.execute(q.replace("?", placeholder), ("conflict-ids", secrets.token_hex(32)))
        cur.execute(
            "SELECT value FROM service_secrets WHERE name = ?".replace("?", placeholder),
            ("conflict-ids",),
        )
        return bytes.fromhex(cur.fetchone()[0])

    def write_tx(
        self, fn: Callable[[Tx], T], *, placed: bool = False, lock: str | None = None
    ) -> T:
        raise NotImplementedError

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    # --- the Store protocol --------------------------------------------------------------
    def put_party(self, party: Party, *, actor: str) -> Party:
        return self.write_tx(lambda tx: tx.put_party(party, actor, now_utc()))

    def get_party(self, party_id: str) -> Party:
        return self.read_tx(lambda tx: tx.get_party(party_id))

    def list_parties(self) -> list[Party]:
        return self.read_tx(lambda tx: tx.list_parties())

    def create(
        self, kind: RecordKind, record_id: str | None, owner: str, draft: Draft, *, actor: str
    ) -> WriteResult:
        covers = coverings_of(draft.volumes)
        return self.write_tx(
            lambda tx: tx.write(kind, record_id, owner, draft, None, actor, now_utc(), covers),
            placed=True,
        )

    def create_many(
        self, kind: RecordKind, items: Sequence[tuple[str | None, str, Draft]], *, actor: str
    ) -> list[WriteResult]:
        covers = [coverings_of(d.volumes) for _, _, d in items]

        def run(tx: Tx) -> list[WriteResult]:
            at = now_utc()
            return [
                tx.write(kind, rid, owner, d, None, actor, at, c)
                for (rid, owner, d), c in zip(items, covers, strict=True)
            ]

        return self.write_tx(run)

    def replace(
        self,
        kind: RecordKind,
        record_id: str,
        owner: str,
        draft: Draft,
        expected_version: int,
        *,
        actor: str,
    ) -> WriteResult:
        covers = coverings_of(draft.volumes)
        return self.write_tx(
            lambda tx: tx.write(
                kind, record_id, owner, draft, expected_version, actor, now_utc(), covers
            ),
            placed=True,
        )

    def delete(
        self, kind: RecordKind, record_id: str, owner: str, expected_version: int, *, actor: str
    ) -> StoredRecord:
        return self.write_tx(
            lambda tx: tx.delete(kind, record_id, owner, expected_version, actor, now_utc()),
            placed=True,
        )

    def get(self, kind: RecordKind, owner: str, record_id: str) -> StoredRecord:
        return self.read_tx(lambda tx: tx.get(kind, owner, record_id))

    def list_owned(self, kind: RecordKind, owner: str) -> list[StoredRecord]:
        return self.read_tx(lambda tx: [rec for rec, _ in tx.owned(owner, kind)])

    def query(self, volume: Volume4D, kinds: Sequence[RecordKind]) -> list[StoredRecord]:
        return self.read_tx(lambda tx: tx.query(volume, kinds))

    def preview(
        self, owner: str, draft: Draft, kind: RecordKind, exclude_id: str | None = None
    ) -> list[Conflict]:
        return self.read_tx(lambda tx: tx.preview(owner, draft, kind, exclude_id, now_utc()))

    def list_conflicts(self, party: str, *, include_resolved: bool = False) -> list[Conflict]:
        return self.read_tx(lambda tx: tx.list_conflicts(party, include_resolved))

    def audit_entries(self) -> list[AuditEntry]:
        return self.read_tx(lambda tx: tx.entries(0))

    def outbox_events(self, party: str, after_seq: int = 0) -> list[dict[str, Any]]:
        rows = self.read_tx(lambda tx: tx.events_after(party, after_seq))
        return [
            {"seq": r[0], "type": r[1], "payload": json.loads(r[2]), "created_at": r[3]}
            for r in rows
        ]
