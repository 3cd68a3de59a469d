"""Reading the outbox: each party's events in the order they were committed.

Every change writes its events in the same transaction as the change (``Tx.event``), so an event
exists exactly when its change does. ``seq`` grows with every event; a party's events in ``seq``
order are its notifications in order, and ``seq`` is the id a reader resumes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..store.base import Tx

#: Most events read at once.
PAGE = 500


@dataclass(frozen=True)
class Event:
    seq: int
    party: str
    type: str
    payload: dict[str, Any]
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.seq,
            "party": self.party,
            "type": self.type,
            "created_at": self.created_at,
            "payload": self.payload,
        }

    def body(self) -> bytes:
        """The event as sent: canonical JSON (keys sorted, no spaces, UTF-8)."""
        return json.dumps(
            self.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()


def events_after(tx: Tx, party: str, after_seq: int, limit: int = PAGE) -> list[Event]:
    rows = tx.events_after(party, after_seq, limit)
    return [Event(seq, party, type_, json.loads(payload), at) for seq, type_, payload, at in rows]


def last_seq(tx: Tx, party: str) -> int:
    return tx.last_event_seq(party)
