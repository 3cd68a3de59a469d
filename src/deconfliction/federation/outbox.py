"""Each peer's outbox: messages to it, in the order their transactions committed.

A message is written in the transaction of the change it carries (``enqueue``), with the next
number of that peer's own sequence (a counter in its ``fed_peers`` row, so that two writers take
turns on it and a message's number is its commit order: the dispatcher never skips one that
commits late). The dispatcher sends a peer's messages in sequence order, a batch at a time, and
moves the peer's cursor (``delivered_seq``) only when the peer answered, signed, how far it has
applied them. The receiver applies each message once (``inbox``): in order, one sequence number
after the other, and skips a number it has applied already. So delivery is at least once and
application exactly once, in order, and a restart or a partition resumes where the cursor stood.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store.base import Tx, iso
from . import peers

#: Types of message, and what each carries (docs/federation.md).
TYPES = (
    "view.put",
    "view.withdrawn",
    "conflict.notice",
    "hotline.message",
    "hotline.ack",
    "hotline.escalated",
    "agreement.proposed",
    "agreement.accepted",
    "link.ping",
    "checkpoint",
    "checkpoint.countersigned",
    "tracks",
    "noop",
)


@dataclass(frozen=True)
class Message:
    seq: int
    id: str
    type: str
    body: dict[str, Any]
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "body": self.body,
            "created_at": self.created_at,
        }


def enqueue(tx: Tx, peer: str, type_: str, body: dict[str, Any], at: datetime) -> int:
    """Queue a message to ``peer`` in this transaction; returns its sequence number."""
    assert type_ in TYPES, type_
    seq = peers.next_seq(tx, peer)
    tx.x(
        "INSERT INTO fed_outbox (peer, seq, msg_id, type, body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (peer, seq, str(uuid.uuid4()), type_, json.dumps(body, sort_keys=True), iso(at)),
    )
    woken: list[str] | None = tx.memo.get("fed.enqueued")
    if woken is None:
        woken = tx.memo["fed.enqueued"] = []
    woken.append(peer)
    return seq


def pending(tx: Tx, peer: str, after_seq: int, limit: int, max_bytes: int) -> list[Message]:
    """Messages after ``after_seq``, in order: at most ``limit``, and no more than ``max_bytes``
    of bodies (one at least)."""
    rows = tx.x(
        "SELECT seq, msg_id, type, body, created_at FROM fed_outbox WHERE peer = ? AND seq > ? "
        "ORDER BY seq LIMIT ?",
        (peer, after_seq, limit),
    ).fetchall()
    out: list[Message] = []
    size = 0
    for r in rows:
        size += len(r[3])
        if out and size > max_bytes:
            break
        out.append(Message(int(r[0]), r[1], r[2], json.loads(r[3]), r[4]))
    return out


def has_pending(tx: Tx, peer: str, type_: str, after_seq: int) -> bool:
    row = tx.x(
        "SELECT 1 FROM fed_outbox WHERE peer = ? AND type = ? AND seq > ? LIMIT 1",
        (peer, type_, after_seq),
    ).fetchone()
    return row is not None


def coalesce(messages: list[Message]) -> list[Message]:
    """Tracks messages followed, in the same batch, by a newer one for the same pair of parties
    become ``noop`` (the newer carries the current picture); the sequence stays unbroken."""
    latest: dict[tuple[str, str], int] = {}
    for m in messages:
        if m.type == "tracks":
            latest[(str(m.body.get("from")), str(m.body.get("to")))] = m.seq
    out = []
    for m in messages:
        if m.type == "tracks" and latest[(str(m.body.get("from")), str(m.body.get("to")))] != m.seq:
            out.append(Message(m.seq, m.id, "noop", {"superseded": True}, m.created_at))
        else:
            out.append(m)
    return out


def messages_to(tx: Tx, peer: str) -> list[Message]:
    """Every message kept for ``peer`` (for checks and tests)."""
    return pending(tx, peer, 0, 1_000_000, 1 << 62)


def prune(tx: Tx, peer: str, delivered_seq: int, keep: int) -> None:
    """Forget delivered messages but the last ``keep``."""
    tx.x(
        "DELETE FROM fed_outbox WHERE peer = ? AND seq <= ?",
        (peer, delivered_seq - keep),
    )


def drop_peer(tx: Tx, peer: str) -> None:
    """Forget every message kept for ``peer`` (it is being removed)."""
    tx.x("DELETE FROM fed_outbox WHERE peer = ?", (peer,))
