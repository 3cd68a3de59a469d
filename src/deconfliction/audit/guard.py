"""The service's own check of its chain: history no one can rewrite quietly.

Whoever can write the database can change entries and recompute every hash after them, or cut
the newest entries off with their checkpoints; a fresh export would then verify. The service
does not sign over such a chain. Before each checkpoint it signs (and when it starts) it checks,
against the last checkpoint it has seen committed under its own key (kept in memory and in the
data folder, ``audit-head.json``, out of the database's reach):

- that entry is still there with the same hash (nothing before it was rewritten or cut off);
- every link from it to the head holds.

On a mismatch it signs nothing more and raises an alarm (an ``audit.alarm`` event to every party
and an entry in the chain) at each checkpoint it should have signed. Parties hold the rest of
the answer: their countersignatures and the exports they keep, checked with
``deconfliction audit verify NEW --after OLD``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import GENESIS
from .keys import message, verify
from .log import AuditLog

HEAD_FILE = "audit-head.json"


class ChainGuard:
    """The last checkpoint this service has seen committed under its key, and the check."""

    def __init__(self, public: Ed25519PublicKey, path: Path | None = None) -> None:
        self.public = public
        self.path = path
        self.seq = 0
        self.hash = GENESIS
        #: the mismatch found, once found (nothing is signed after it)
        self.problem: str | None = None
        self._lock = threading.Lock()
        if path is not None and path.exists():
            doc = json.loads(path.read_text(encoding="utf-8"))
            self.seq, self.hash = int(doc["seq"]), str(doc["hash"])

    def check(self, tx: AuditLog) -> str | None:
        """None if the chain still holds what was signed and links up to its head; else why
        not (and from then on, always that)."""
        with self._lock:
            if self.problem is None:
                self.problem = self._check(tx)
            return self.problem

    def _check(self, tx: AuditLog) -> str | None:
        if self.seq:
            kept = tx.entry_hash(self.seq)
            if kept is None:
                return (
                    f"entry {self.seq} is gone: the log was cut back below a checkpoint this "
                    "service signed"
                )
            if kept != self.hash:
                return (
                    f"entry {self.seq} changed since this service signed it: history before "
                    "it was rewritten"
                )
        prev, expected = self.hash, self.seq + 1
        hashes: dict[int, str] = {}
        for e in tx.entries(self.seq):
            if e.seq != expected or e.prev_hash != prev or e.hash != e.expected_hash():
                return f"entry {e.seq}: the chain is broken there"
            hashes[e.seq] = e.hash
            prev, expected = e.hash, expected + 1
        # remember the newest checkpoint committed under this key
        for cp in reversed(tx.checkpoints_after(self.seq)):
            if hashes.get(cp.seq) == cp.hash and verify(
                self.public, message(cp.seq, cp.hash), cp.signature
            ):
                self._remember(cp.seq, cp.hash)
                break
        return None

    def remember(self, seq: int, entry_hash: str) -> None:
        """A checkpoint this service signed has committed: the chain must hold it from now on."""
        with self._lock:
            if seq > self.seq:
                self._remember(seq, entry_hash)

    def _remember(self, seq: int, entry_hash: str) -> None:
        self.seq, self.hash = seq, entry_hash
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": seq, "hash": entry_hash}), encoding="utf-8")
        os.replace(tmp, self.path)
