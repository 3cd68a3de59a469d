"""The stored log as the audit code reads it: its entries, the checkpoints the service signed,
and the parties' countersignatures.

The store's journal (``store.journal``) owns the tables and answers these reads; the export and
the guard ask a transaction for them through ``AuditLog``, and so write no SQL of their own.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from .chain import AuditEntry


class SignedCheckpoint(NamedTuple):
    """A checkpoint the service signed: the chain's head at entry ``seq``."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str


class Countersignature(NamedTuple):
    """A party's signature over the service's checkpoint at entry ``seq``."""

    seq: int
    party: str
    key_id: str
    signature: str
    at: str


class AuditLog(Protocol):
    """What a store transaction answers of the log (``store.journal.JournalTx``)."""

    def entry_hash(self, seq: int) -> str | None: ...

    def entries(self, after: int, to: int | None = None) -> list[AuditEntry]: ...

    def checkpoints_after(self, after: int, limit: int | None = None) -> list[SignedCheckpoint]: ...

    def countersignatures(self) -> list[Countersignature]: ...
