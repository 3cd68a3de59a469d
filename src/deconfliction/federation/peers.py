"""Peers: the other nodes this node talks to, each with its URL, its pinned public key and the
parties it speaks for (a party is hosted by one node only).

A party registered here and hosted by no peer is one of this node's own parties: its records
are held here in full. A party a peer speaks for is registered here too (agreements, threads
and link health name it), but holds no record here: only what it released to this node's
parties (``views``), and nothing can be written here in its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..audit import digest
from ..errors import FieldError, InvalidInput, VersionConflict
from ..model import Party
from ..model.records import _check_id
from ..store.base import Tx, iso
from .keys import key_id, load_public


@dataclass(frozen=True)
class Peer:
    name: str
    url: str
    key_id: str
    public_key_pem: str
    parties: tuple[str, ...]
    added_at: str
    next_seq: int = 0
    delivered_seq: int = 0
    received_seq: int = 0
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    last_ok_at: float | None = None
    synced: bool = False
    checkpoint_seq: int = 0
    audit_key_pem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "key_id": self.key_id,
            "parties": list(self.parties),
            "added_at": self.added_at,
            "queued": self.next_seq - self.delivered_seq,
            "delivered_seq": self.delivered_seq,
            "received_seq": self.received_seq,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_ok_at": self.last_ok_at,
        }


_COLS = (
    "name, url, key_id, public_key_pem, added_at, next_seq, delivered_seq, received_seq, "
    "attempts, next_attempt_at, last_error, last_ok_at, synced, checkpoint_seq, audit_key_pem"
)


def _peer(tx: Tx, r: Any) -> Peer:
    parties = tuple(
        p[0]
        for p in tx.x(
            "SELECT party FROM fed_peer_parties WHERE peer = ? ORDER BY party", (r[0],)
        ).fetchall()
    )
    return Peer(
        name=r[0],
        url=r[1],
        key_id=r[2],
        public_key_pem=r[3],
        parties=parties,
        added_at=r[4],
        next_seq=int(r[5]),
        delivered_seq=int(r[6]),
        received_seq=int(r[7]),
        attempts=int(r[8]),
        next_attempt_at=float(r[9]),
        last_error=r[10],
        last_ok_at=None if r[11] is None else float(r[11]),
        synced=bool(r[12]),
        checkpoint_seq=int(r[13]),
        audit_key_pem=r[14],
    )


def all_peers(tx: Tx) -> list[Peer]:
    return [_peer(tx, r) for r in tx.x(f"SELECT {_COLS} FROM fed_peers ORDER BY name").fetchall()]


def get(tx: Tx, name: str) -> Peer | None:
    r = tx.x(f"SELECT {_COLS} FROM fed_peers WHERE name = ?", (name,)).fetchone()
    return None if r is None else _peer(tx, r)


def by_key(tx: Tx, kid: str) -> Peer | None:
    r = tx.x(f"SELECT {_COLS} FROM fed_peers WHERE key_id = ?", (kid,)).fetchone()
    return None if r is None else _peer(tx, r)


def hosted(tx: Tx) -> dict[str, str]:
    """party -> the peer that speaks for it (memoized per transaction)."""
    memo: dict[str, str] | None = tx.memo.get("fed.hosted")
    if memo is None:
        rows = tx.x("SELECT party, peer FROM fed_peer_parties").fetchall()
        memo = {r[0]: r[1] for r in rows}
        tx.memo["fed.hosted"] = memo
    return memo


def local_parties(tx: Tx) -> list[str]:
    """This node's own parties: registered, and hosted by no peer."""
    elsewhere = hosted(tx)
    return [p for p in tx.party_ids() if p not in elsewhere]


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput([FieldError("/url", "must be http://HOST:PORT or https://HOST:PORT")])
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput([FieldError("/url", "give the node's base URL, without a path")])
    return url.rstrip("/")


def add(
    tx: Tx,
    name: str,
    url: str,
    public_key_pem: str,
    parties: list[tuple[str, str]],
    own_key_id: str,
    actor: str,
    at: datetime,
) -> Peer:
    """Add a peer: ``parties`` (id, name) are the parties it speaks for."""
    try:
        _check_id(name)
    except ValueError as exc:
        raise InvalidInput([FieldError("/name", str(exc))]) from None
    url = check_url(url)
    try:
        kid = key_id(load_public(public_key_pem))
    except ValueError as exc:
        raise InvalidInput([FieldError("/key", f"not an Ed25519 public key: {exc}")]) from None
    if kid == own_key_id:
        raise InvalidInput([FieldError("/key", "this is this node's own key")])
    if not parties:
        raise InvalidInput([FieldError("/parties", "name at least one party the peer hosts")])
    if get(tx, name) is not None:
        raise VersionConflict(f"peer {name!r} exists already (remove it first)")
    if by_key(tx, kid) is not None:
        raise VersionConflict("another peer has this key already")
    elsewhere = hosted(tx)
    for pid, _ in parties:
        try:
            _check_id(pid)
        except ValueError as exc:
            raise InvalidInput([FieldError("/parties", f"{pid!r}: {exc}")]) from None
        if pid in elsewhere:
            raise VersionConflict(f"party {pid!r} is hosted by peer {elsewhere[pid]!r} already")
        if tx.owns_records(pid):
            raise VersionConflict(f"party {pid!r} has records on this node: it is hosted here")
    tx.x(
        f"INSERT INTO fed_peers ({_COLS}) VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, 0, NULL, NULL, 0, "
        "0, NULL)",
        (name, url, kid, public_key_pem, iso(at)),
    )
    for pid, pname in parties:
        tx.x("INSERT INTO fed_peer_parties (party, peer) VALUES (?, ?)", (pid, name))
        if not tx.has_party(pid):
            tx.put_party(Party(id=pid, name=pname), actor, at)
    tx.memo.pop("fed.hosted", None)
    note = {"name": name, "url": url, "key_id": kid, "parties": [p for p, _ in parties]}
    tx.audit(at, actor, "federation.peer-added", name, digest(note))
    found = get(tx, name)
    assert found is not None
    return found


def forget(tx: Tx, name: str, actor: str, at: datetime) -> None:
    """Remove a peer's rows (its parties and the peer), audited; its outbox, what was sent to
    it, and what its parties released here are dropped first by ``service.remove_peer``."""
    tx.x("DELETE FROM fed_peer_parties WHERE peer = ?", (name,))
    tx.x("DELETE FROM fed_peers WHERE name = ?", (name,))
    tx.memo.pop("fed.hosted", None)
    tx.audit(at, actor, "federation.peer-removed", name, digest({"name": name}))


# --- the peer's row: sequences, delivery state (this module owns fed_peers) -----------------
def next_seq(tx: Tx, name: str) -> int:
    """The next number of ``name``'s outbox sequence (writers take turns on its row)."""
    tx.x("UPDATE fed_peers SET next_seq = next_seq + 1 WHERE name = ?", (name,))
    row = tx.x("SELECT next_seq FROM fed_peers WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise LookupError(f"no peer {name!r}")
    return int(row[0])


def delivered(tx: Tx, name: str, seq: int) -> None:
    """The peer applied our messages up to ``seq``: the cursor moves, the retries reset."""
    tx.x(
        "UPDATE fed_peers SET delivered_seq = ?, attempts = 0, next_attempt_at = 0, "
        "last_error = NULL WHERE name = ? AND delivered_seq <= ?",
        (seq, name, seq),
    )


def failed(tx: Tx, name: str, attempts: int, next_attempt_at: float, error: str) -> None:
    tx.x(
        "UPDATE fed_peers SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE name = ?",
        (attempts, next_attempt_at, error, name),
    )


def received(tx: Tx, name: str, seq: int) -> None:
    """We applied the peer's messages up to ``seq``."""
    tx.x("UPDATE fed_peers SET received_seq = ? WHERE name = ?", (seq, name))


def heard(tx: Tx, name: str, now: float) -> None:
    tx.x("UPDATE fed_peers SET last_ok_at = ? WHERE name = ?", (now, name))


def set_synced(tx: Tx, name: str | None, synced: bool) -> None:
    """Mark one peer (or, ``name`` None, every peer) synced or to be synced in full."""
    if name is None:
        tx.x("UPDATE fed_peers SET synced = ?", (int(synced),))
    else:
        tx.x("UPDATE fed_peers SET synced = ? WHERE name = ?", (int(synced), name))


def checkpoints_sent(tx: Tx, name: str, seq: int) -> None:
    tx.x("UPDATE fed_peers SET checkpoint_seq = ? WHERE name = ?", (seq, name))


def pin_audit_key(tx: Tx, name: str, pem: str) -> None:
    tx.x("UPDATE fed_peers SET audit_key_pem = ? WHERE name = ?", (pem, name))
