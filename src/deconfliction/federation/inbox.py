"""Receiving from a peer: one signed request, a batch of messages, applied in order, once.

A request is refused whole (401, 400 or 403, with an audit entry ``federation.refused``) when:
its key is no peer's; its signature does not verify (tampered, expired, for another node, a
body that does not match its digest); its nonce was seen (a replay); it is not a batch from the
signer to this node. Otherwise, in one transaction:

- the nonce is remembered (until the signature could no longer be fresh);
- each message is applied in sequence order: one already applied (a retry) is skipped, a gap
  stops the batch there (the sender sends again from where this node stands); each is applied in
  a savepoint: one that the peer may not send (a party it does not speak for, a release no
  agreement allows, a bad body) is **refused**, with an audit entry, and the sequence moves on;
- the peer is recorded as heard from now (its parties' link health, ``links``).

The answer, signed, says how far this node has applied the peer's messages and names the
request's nonce.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..audit import digest
from ..errors import DeconflictionError
from ..exchange import links
from ..store.base import Store, Tx, iso
from . import conflicts, peers, relay, signatures, views
from .keys import NodeKey, load_public
from .signatures import SignatureError

INBOX_PATH = "/federation/v1/inbox"
#: Most messages in one batch.
MAX_BATCH = 1000


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _problem(status: int, code: str, detail: str) -> bytes:
    titles = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 409: "Conflict"}
    return json.dumps(
        {
            "type": f"urn:deconfliction:problem:{code}",
            "title": titles.get(status, "Refused"),
            "status": status,
            "detail": detail,
            "errors": [],
        }
    ).encode()


Apply = Callable[[Tx, peers.Peer, dict[str, Any], datetime], None]


def _appliers(key: NodeKey) -> dict[str, Apply]:
    def view_put(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
        before = views.get_view(tx, str(body.get("key")), str(body.get("to")))
        view = views.apply_put(tx, peer, body, at)
        tx.memo.pop("levels", None)
        conflicts.detect_view(tx, view, at)
        vols = view.volumes + (before.volumes if before is not None else [])
        views.resync_near(tx, view.to_party, view.owner, vols, at)

    def view_withdrawn(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
        old = views.apply_withdrawn(tx, peer, body, at)
        if old is not None:
            tx.memo.pop("levels", None)
            conflicts.view_gone(tx, old, at)
            views.resync_near(tx, old.to_party, old.owner, old.volumes, at)

    def nothing(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
        return None

    def checkpoint(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
        relay.apply_checkpoint(tx, peer, body, key, at)

    return {
        "view.put": view_put,
        "view.withdrawn": view_withdrawn,
        "conflict.notice": conflicts.apply_notice,
        "hotline.message": relay.apply_message,
        "hotline.ack": relay.apply_ack,
        "hotline.escalated": relay.apply_escalated,
        "agreement.proposed": relay.apply_proposed,
        "agreement.accepted": relay.apply_accepted,
        "link.ping": nothing,
        "noop": nothing,
        "checkpoint": checkpoint,
        "checkpoint.countersigned": relay.apply_countersigned,
        "tracks": relay.apply_tracks,
    }


#: A refused request is audited at most once this often per (caller, reason): a peer that
#: removed this node, or a flood of forgeries, does not fill the log.
REFUSAL_AUDIT_EVERY_S = 60.0
_last_refusal: dict[tuple[str, str], float] = {}
_refusal_lock = threading.Lock()


def refuse_audit(
    store: Store, actor: str, code: str, detail: str, at: datetime, extra: dict[str, Any]
) -> None:
    """Record a refused request (an audit entry every export shows as a hash), at most once a
    ``REFUSAL_AUDIT_EVERY_S`` per caller and reason; a replay is always recorded."""
    now = time.monotonic()
    with _refusal_lock:
        last = _last_refusal.get((actor, code))
        if code != "replayed" and last is not None and now - last < REFUSAL_AUDIT_EVERY_S:
            return
        if len(_last_refusal) > 10_000:
            _last_refusal.clear()
        _last_refusal[(actor, code)] = now
    store.write_tx(
        lambda tx: tx.audit(
            at, actor, "federation.refused", code, digest({"detail": detail, **extra})
        )
    )


def heard_from(tx: Tx, peer: peers.Peer, now: float, at: datetime) -> None:
    """A good exchange with ``peer``: its parties' links are up."""
    peers.heard(tx, peer.name, now)
    for party in peer.parties:
        link_up(tx, party, at)


def link_up(tx: Tx, party: str, at: datetime) -> None:
    """Record a good check of a party another node hosts, when that changes something (its
    state, or failures counted by a round that found no heartbeat: such a party proves it is
    there through its node, not through heartbeats)."""
    now = links.status(tx, party)
    if now["state"] != "up" or now["failures"]:
        links.record(tx, party, True, None, None, 3, at)


def _apply_batch(
    tx: Tx,
    key: NodeKey,
    peer_name: str,
    signed: signatures.Signed,
    messages: list[dict[str, Any]],
    now: float,
) -> tuple[int, list[int]]:
    at = datetime.fromtimestamp(now, UTC)
    seen = tx.x(
        "SELECT 1 FROM fed_nonces WHERE key_id = ? AND nonce = ?", (signed.key_id, signed.nonce)
    ).fetchone()
    if seen is not None:
        raise Refused(409, "replayed", "this request was received before (its nonce is known)")
    tx.x(
        "INSERT INTO fed_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)",
        (signed.key_id, signed.nonce, signed.created + signatures.SKEW_S + 60.0),
    )
    tx.x("DELETE FROM fed_nonces WHERE expires_at < ?", (now,))
    peer = peers.get(tx, peer_name)
    if peer is None:
        raise Refused(401, "unknown-peer", "no such peer")
    appliers = _appliers(key)
    received = peer.received_seq
    refused: list[int] = []
    tx.memo["fed.inbound"] = peer.name
    try:
        for m in messages:
            seq = int(m["seq"])
            if seq <= received:
                continue  # applied already: a retry
            if seq != received + 1:
                break  # a gap: the sender resends from where this node stands
            mid, type_ = str(m.get("id", ""))[:64], str(m.get("type", ""))[:64]
            known = tx.x(
                "SELECT 1 FROM fed_inbox WHERE peer = ? AND msg_id = ?", (peer.name, mid)
            ).fetchone()
            outcome, detail = "applied", None
            if known is not None:
                outcome = "duplicate"
            else:
                tx.x("SAVEPOINT fedmsg")
                try:
                    fn = appliers.get(type_)
                    if fn is None:
                        raise ValueError(f"unknown message type {type_!r}")
                    body = m.get("body")
                    if not isinstance(body, dict):
                        raise ValueError("a message's body is an object")
                    fn(tx, peer, body, at)
                    tx.x("RELEASE fedmsg")
                except (DeconflictionError, ValueError, KeyError, TypeError, LookupError) as exc:
                    tx.x("ROLLBACK TO fedmsg")
                    tx.x("RELEASE fedmsg")
                    detail = (
                        exc.user_message if isinstance(exc, DeconflictionError) else str(exc)
                    )[:500]
                    outcome = "refused"
                    refused.append(seq)
                    tx.audit(
                        at,
                        f"peer:{peer.name}",
                        "federation.refused",
                        f"{type_}|{mid}",
                        digest({"detail": detail, "seq": seq}),
                    )
                tx.memo.pop("levels", None)
                tx.memo.pop("agreements", None)
                tx.x(
                    "INSERT INTO fed_inbox (peer, seq, msg_id, type, outcome, detail, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (peer.name, seq, mid, type_, outcome, detail, iso(at)),
                )
            received = seq
    finally:
        tx.memo.pop("fed.inbound", None)
    peers.received(tx, peer.name, received)
    heard_from(tx, peer, now, at)
    return received, refused


def receive(
    store: Store,
    key: NodeKey,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> Answer:
    """Verify and apply one request from a peer (``headers`` with lower-case names)."""
    now = time.time() if now is None else now
    at = datetime.fromtimestamp(now, UTC)
    kid = signatures.key_id_of(headers)
    actor = f"key:{kid[:16]}" if kid else "unsigned"
    peer: peers.Peer | None = None
    try:
        peer = None if kid is None else store.read_tx(lambda tx: peers.by_key(tx, kid))
        if peer is None:
            raise Refused(401, "unknown-peer", "the request is not signed by a peer's key")
        actor = f"peer:{peer.name}"
        try:
            signed = signatures.verify_request(
                load_public(peer.public_key_pem),
                method=method,
                path=path,
                headers=headers,
                body=body,
                key_id=peer.key_id,
                to_key_id=key.key_id,
                now=now,
            )
        except SignatureError as exc:
            raise Refused(401, "bad-signature", str(exc)) from None
        try:
            doc = json.loads(body)
            messages = doc["messages"]
            if doc.get("from") != peer.key_id or doc.get("to") != key.key_id:
                raise Refused(403, "misaddressed", "the batch is not from the signer to this node")
            if not isinstance(messages, list) or len(messages) > MAX_BATCH:
                raise ValueError("messages: a list")
            for m in messages:
                if not isinstance(m, dict) or not isinstance(m.get("seq"), int):
                    raise ValueError("each message has a sequence number")
        except (ValueError, KeyError, TypeError) as exc:
            raise Refused(400, "bad-batch", f"not a batch of messages: {exc}") from None
        applied, refused = store.write_tx(
            lambda tx: _apply_batch(tx, key, peer.name, signed, messages, now)
        )
    except Refused as r:
        refuse_audit(store, actor, r.code, r.detail, at, {"key_id": kid, "path": path})
        data = _problem(r.status, r.code, r.detail)
        return Answer(r.status, data, {"content-type": "application/problem+json"})
    out = json.dumps(
        {"applied_through": applied, "refused": refused, "request_nonce": signed.nonce},
        sort_keys=True,
    ).encode()
    hdrs = signatures.sign_response(
        key.private, key.key_id, status=200, body=out, to_key_id=peer.key_id, now=now
    )
    return Answer(200, out, hdrs)


def check_headers(
    store_peers: Callable[[str], peers.Peer | None],
    key: NodeKey,
    method: str,
    path: str,
    headers: Mapping[str, str],
) -> str | None:
    """Whether a request's headers carry a peer's signature (its name), without the body or
    the nonce: what the guard in front of every route needs to know who calls."""
    kid = signatures.key_id_of(headers)
    if kid is None:
        return None
    peer = store_peers(kid)
    if peer is None:
        return None
    try:
        signed, params, sig = signatures.parse(headers, signatures.REQUEST_COMPONENTS)
        if signed.key_id != kid or headers.get(signatures.TO_HEADER) != key.key_id:
            return None
        values = {"@method": method.upper(), "@path": path}
        full = {
            **values,
            **{c: headers.get(c, "") for c in signatures.REQUEST_COMPONENTS if c[0] != "@"},
        }
        load_public(peer.public_key_pem).verify(
            sig, signatures.signature_base(signatures.REQUEST_COMPONENTS, full, params)
        )
    except Exception:
        return None
    return peer.name
