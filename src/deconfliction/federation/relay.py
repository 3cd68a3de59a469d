"""What crosses besides views and conflict notices: agreements, the hotline, checkpoints, tracks.

Outgoing, most of it rides on the outbox events the domain already writes for every party
concerned: an event addressed to a party another node speaks for (``Tx.event``, seen through
the store's ``event_written`` hook, in the same transaction) becomes a message to that node,
with what it needs to apply the change there:

- ``agreement.proposed`` / ``agreement.active``: the agreement's text, signed by this node
  (``agreement.proposed`` / ``agreement.accepted``); both nodes keep the text with both
  signatures (``fed_agreements``). Coming into force also compares every record of the pair
  with what the other side was sent (``views.sync_pair``).
- ``hotline.message``, ``hotline.ack``, ``hotline.escalated``: the message itself (its id, code
  and parameters or free text, its acknowledgement window), the acknowledgement, the new level.
  A message escalates only on its sender's node; the other records each step.

An event written while a message from a peer is being applied is that message's own effect
here and is not sent back to it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..audit import digest
from ..audit.chain import canonical
from ..audit.signing import message, verify
from ..errors import FieldError, Forbidden, InvalidInput, NotFound, VersionConflict
from ..exchange import agreements as ag
from ..exchange import hotline, release
from ..exchange.agreements import Release, Terms
from ..store.base import Tx, iso
from . import outbox, peers, views
from .keys import NodeKey, load_public

#: Told to a party when an agreement with reciprocity comes into force with another node's party.
_RECIPROCITY = {
    "warning": "reciprocity across nodes: details are released only where the other side has "
    "released its own plans to this node; with reciprocity on, neither side releases first, so "
    "only conflict notices can cross and neither node holds what it needs to find a conflict. "
    "Turn reciprocity off for this pair, or screen blind (docs/screening.md)."
}


def _inbound(tx: Tx) -> str | None:
    """The peer whose message is being applied in this transaction, if any."""
    value = tx.memo.get("fed.inbound")
    return None if value is None else str(value)


# --- agreements -----------------------------------------------------------------------------
def agreement_text(pa: str, pb: str, version: int, terms: Terms, proposed_by: str) -> bytes:
    """The text both nodes sign and keep: canonical JSON of the pair, version, proposer, terms."""
    return canonical(
        {
            "parties": [pa, pb],
            "version": version,
            "proposed_by": proposed_by,
            "terms": terms.model_dump(mode="json"),
        }
    )


def _statement(text_digest: str, step: str, party: str) -> bytes:
    return canonical({"agreement": text_digest, "step": step, "party": party})


def _signed_text(tx: Tx, pa: str, pb: str, version: int) -> tuple[str, str, str | None] | None:
    r = tx.x(
        "SELECT text, digest, accepter_signature FROM fed_agreements "
        "WHERE party_a = ? AND party_b = ? AND version = ?",
        (pa, pb, version),
    ).fetchone()
    return None if r is None else (r[0], r[1], r[2])


def _find(tx: Tx, pa: str, pb: str, version: int) -> ag.Agreement:
    for a in ag.history(tx, pa):
        if a.parties == (pa, pb) and a.version == version:
            return a
    raise NotFound(f"no agreement version {version} between {pa} and {pb}")


def _send_proposal(
    tx: Tx, key: NodeKey, peer: str, pa: str, pb: str, version: int, at: datetime
) -> None:
    found = _find(tx, pa, pb, version)
    text = agreement_text(pa, pb, version, found.terms, found.proposed_by)
    d = digest(json.loads(text))
    sig = key.sign(_statement(d, "proposed", found.proposed_by))
    tx.x(
        "INSERT INTO fed_agreements (party_a, party_b, version, text, digest, proposer_key_id, "
        "proposer_signature) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (party_a, party_b, version) "
        "DO NOTHING",
        (pa, pb, version, text.decode(), d, key.key_id, sig),
    )
    body = {
        "parties": [pa, pb],
        "version": version,
        "proposed_by": found.proposed_by,
        "proposed_at": found.proposed_at,
        "terms": found.terms.model_dump(mode="json"),
        "digest": d,
        "signature": sig,
    }
    outbox.enqueue(tx, peer, "agreement.proposed", body, at)


def _send_acceptance(
    tx: Tx, key: NodeKey, peer: str, pa: str, pb: str, version: int, at: datetime
) -> None:
    found = _find(tx, pa, pb, version)
    kept = _signed_text(tx, pa, pb, version)
    if kept is None:  # made before the peer was added: nothing to countersign across nodes
        return
    by = found.accepted_by or ""
    sig = key.sign(_statement(kept[1], "accepted", by))
    tx.x(
        "UPDATE fed_agreements SET accepter_key_id = ?, accepter_signature = ? "
        "WHERE party_a = ? AND party_b = ? AND version = ?",
        (key.key_id, sig, pa, pb, version),
    )
    body = {
        "parties": [pa, pb],
        "version": version,
        "accepted_by": by,
        "accepted_at": found.accepted_at,
        "digest": kept[1],
        "signature": sig,
    }
    outbox.enqueue(tx, peer, "agreement.accepted", body, at)


def apply_proposed(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    pa, pb = (str(p) for p in body["parties"])
    by, version = str(body["proposed_by"]), int(body["version"])
    other = pb if by == pa else pa
    views.check_pair_allowed(tx, peer, by, other)
    terms = Terms.model_validate(body["terms"])
    text = agreement_text(pa, pb, version, terms, by)
    d = digest(json.loads(text))
    if d != body.get("digest"):
        raise InvalidInput([FieldError("/digest", "does not match the agreement's text")])
    if not verify(
        load_public(peer.public_key_pem),
        _statement(d, "proposed", by),
        str(body.get("signature", "")),
    ):
        raise Forbidden("the proposal is not signed by the peer's key")
    done = ag.propose(tx, by, other, terms, f"peer:{peer.name}", at)
    if done.version != version:
        raise VersionConflict(
            f"version {version} crossed a proposal made here (this node is at version "
            f"{done.version - 1}): propose again"
        )
    tx.x(
        "INSERT INTO fed_agreements (party_a, party_b, version, text, digest, proposer_key_id, "
        "proposer_signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (pa, pb, version, text.decode(), d, peer.key_id, str(body["signature"])),
    )


def apply_accepted(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    pa, pb = (str(p) for p in body["parties"])
    by, version = str(body["accepted_by"]), int(body["version"])
    other = pb if by == pa else pa
    views.check_pair_allowed(tx, peer, by, other)
    kept = _signed_text(tx, pa, pb, version)
    if kept is None or kept[1] != body.get("digest"):
        raise Forbidden("not the text this node proposed")
    if not verify(
        load_public(peer.public_key_pem),
        _statement(kept[1], "accepted", by),
        str(body.get("signature", "")),
    ):
        raise Forbidden("the acceptance is not signed by the peer's key")
    ag.accept(tx, by, other, version, f"peer:{peer.name}", at)
    tx.x(
        "UPDATE fed_agreements SET accepter_key_id = ?, accepter_signature = ? "
        "WHERE party_a = ? AND party_b = ? AND version = ?",
        (peer.key_id, str(body["signature"]), pa, pb, version),
    )


def signed_agreements(tx: Tx, party: str, key: NodeKey) -> list[dict[str, Any]]:
    """The agreements of ``party`` made across nodes: the text both keep, both signatures, and
    whether each verifies (this node's with its key, the peer's with the pinned one)."""
    rows = tx.x(
        "SELECT party_a, party_b, version, text, digest, proposer_key_id, proposer_signature, "
        "accepter_key_id, accepter_signature FROM fed_agreements WHERE party_a = ? OR party_b = ? "
        "ORDER BY party_a, party_b, version",
        (party, party),
    ).fetchall()
    keys = {p.key_id: p.public_key_pem for p in peers.all_peers(tx)}
    keys[key.key_id] = key.public_pem
    out = []
    for pa, pb, version, text, d, pk, psig, ak, asig in rows:
        doc = json.loads(text)

        def ok(kid: str | None, sig: str | None, step: str, who: str, d: str = d) -> bool | None:
            if kid is None or sig is None or kid not in keys:
                return None
            return verify(load_public(keys[kid]), _statement(d, step, who), sig)

        accepted = None
        for a in ag.history(tx, party):
            if a.parties == (pa, pb) and a.version == int(version):
                accepted = a.accepted_by
        out.append(
            {
                "parties": [pa, pb],
                "version": int(version),
                "text": doc,
                "digest": d,
                "proposed": {"key_id": pk, "signature": psig,
                             "verified": ok(pk, psig, "proposed", doc["proposed_by"])},
                "accepted": None if asig is None else {
                    "key_id": ak, "signature": asig,
                    "verified": ok(ak, asig, "accepted", accepted or ""),
                },
            }
        )  # fmt: skip
    return out


# --- the hotline ----------------------------------------------------------------------------
def _thread_json(t: hotline.Thread) -> dict[str, Any]:
    return {
        "id": t.id,
        "subject_kind": t.subject_kind,
        "subject_id": t.subject_id,
        "parties": list(t.parties),
        "opened_by": t.opened_by,
        "created_at": t.created_at,
    }


def _send_message(tx: Tx, peer: str, note: dict[str, Any], at: datetime) -> None:
    t = hotline.thread_for(tx, str(note["thread"]), str(note["from"]))
    shown = hotline.view(tx, t, "en")
    m = next(x for x in shown["messages"] if x["id"] == note["message"])
    body = {
        "thread": _thread_json(t),
        "message": {
            "id": m["id"],
            "from": m["from"],
            "author": m["author"],
            "code": m["code"],
            "params": m["params"] if m["code"] is not None else None,
            "text": m["text"] if m["code"] is None else None,
            "lang": m["lang"] if m["code"] is None else None,
            "ack_within_s": m["ack_within_s"],
            "at": m["at"],
        },
    }
    outbox.enqueue(tx, peer, "hotline.message", body, at)


def _thread_here(tx: Tx, peer: peers.Peer, doc: dict[str, Any], at: datetime) -> hotline.Thread:
    """The shared thread, opened here on first use: between a party of the peer and one of
    this node's."""
    parties = tuple(sorted(str(p) for p in doc["parties"]))
    if len(parties) != 2 or len(set(parties)) != 2:
        raise InvalidInput([FieldError("/thread/parties", "a thread is between two parties")])
    theirs = [p for p in parties if p in peer.parties]
    ours = [p for p in parties if p not in peer.parties]
    if len(theirs) != 1 or len(ours) != 1:
        raise Forbidden("a shared thread is between a party of the peer and one of this node")
    views.check_pair_allowed(tx, peer, theirs[0], ours[0])
    tid = str(doc["id"])
    kind = str(doc["subject_kind"])
    if kind not in ("conflict", "record", "screening"):
        raise InvalidInput([FieldError("/thread/subject_kind", "conflict, record or screening")])
    t = hotline.open_thread(
        tx, tid, kind, str(doc["subject_id"]), (parties[0], parties[1]), str(doc["opened_by"]), at
    )
    if tuple(sorted(t.parties)) != parties:
        raise Forbidden("a thread of that id exists between other parties")
    return t


def apply_message(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    m = body["message"]
    sender = str(m["from"])
    if sender not in peer.parties:
        raise Forbidden(f"peer {peer.name!r} does not speak for {sender!r}")
    t = _thread_here(tx, peer, body["thread"], at)
    if sender not in t.parties:
        raise Forbidden("the sender is not a party of the thread")
    hotline.post(
        tx,
        t,
        sender,
        str(m["author"]),
        code=m.get("code"),
        params=m.get("params"),
        text=m.get("text"),
        lang=m.get("lang"),
        ack_within_s=m.get("ack_within_s"),
        at=at,
        message_id=str(m["id"]),
        escalates=False,
    )


def apply_ack(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    by = str(body["by"])
    if by not in peer.parties:
        raise Forbidden(f"peer {peer.name!r} does not speak for {by!r}")
    t = hotline.thread_for(tx, str(body["thread"]), by)
    hotline.acknowledge(tx, t, str(body["message"]), by, str(body.get("author") or by), at)


def apply_escalated(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    ours = [p for p in peers.local_parties(tx)]
    tid, mid = str(body["thread"]), str(body["message"])
    t = None
    for p in ours:
        try:
            t = hotline.thread_for(tx, tid, p)
            break
        except NotFound:
            continue
    if t is None:
        raise NotFound(f"no thread {tid!r}")
    sender = next(
        (m["from"] for m in hotline.view(tx, t, "en")["messages"] if m["id"] == mid), None
    )
    if sender not in peer.parties:
        raise Forbidden("a message escalates on its sender's node only")
    hotline.escalated_elsewhere(tx, t, mid, int(body["level"]), at)


# --- tracks ---------------------------------------------------------------------------------
def apply_tracks(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    sender, to = str(body["from"]), str(body["to"])
    views.check_pair_allowed(tx, peer, sender, to)
    level, _ = release.agreed_level(tx, sender, to, "track")
    if level not in (Release.FULL, Release.EXTENT):
        raise Forbidden(f"no agreement releases {sender}'s tracks to {to}")
    tracks = body.get("tracks")
    if not isinstance(tracks, list) or len(tracks) > 100_000:
        raise InvalidInput([FieldError("/tracks", "a list of tracks")])
    tx.x("DELETE FROM fed_tracks WHERE from_party = ? AND to_party = ?", (sender, to))
    rows = []
    for t in tracks:
        if not isinstance(t, dict) or t.get("party") != sender or not isinstance(t.get("id"), str):
            raise InvalidInput([FieldError("/tracks", "each a track of the sender, with its id")])
        rows.append((sender, to, t["id"], json.dumps(t, sort_keys=True), at.timestamp()))
    tx.xm(
        "INSERT INTO fed_tracks (from_party, to_party, id, body, received_at) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def drop_tracks(tx: Tx, party: str) -> None:
    """Forget the tracks ``party`` (of a peer being removed) released here."""
    tx.x("DELETE FROM fed_tracks WHERE from_party = ?", (party,))


def tracks_for(tx: Tx, party: str, now: float, max_age_s: float = 60.0) -> list[dict[str, Any]]:
    """Other nodes' tracks as released to ``party``, fresh ones only."""
    rows = tx.x(
        "SELECT body FROM fed_tracks WHERE to_party = ? AND received_at >= ? "
        "ORDER BY from_party, id",
        (party, now - max_age_s),
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


# --- checkpoints ----------------------------------------------------------------------------
def apply_checkpoint(
    tx: Tx, peer: peers.Peer, body: dict[str, Any], key: NodeKey, at: datetime
) -> None:
    """Another node's signed checkpoint: checked, countersigned with this node's key, kept;
    the countersignature goes back to it."""
    seq, h = int(body["seq"]), str(body["hash"])
    pem = str(body["public_key_pem"])
    if peer.audit_key_pem is not None and pem != peer.audit_key_pem:
        raise Forbidden("the peer's audit key changed: checkpoints are refused until re-peered")
    try:
        public = load_public(pem)
    except ValueError as exc:
        raise InvalidInput([FieldError("/public_key_pem", str(exc))]) from None
    if not verify(public, message(seq, h), str(body["signature"])):
        raise Forbidden("the checkpoint's signature does not verify")
    kept = tx.x(
        "SELECT hash FROM fed_checkpoints WHERE peer = ? AND seq = ?", (peer.name, seq)
    ).fetchone()
    if kept is not None:
        if kept[0] != h:  # refused, and audited as such (``inbox``)
            raise Forbidden(f"the peer signed entry {seq} with another hash before: a fork")
        return
    later = tx.x("SELECT MAX(seq) FROM fed_checkpoints WHERE peer = ?", (peer.name,)).fetchone()
    if later is not None and later[0] is not None and int(later[0]) > seq:
        raise VersionConflict("checkpoints come in order")
    counter = key.sign(message(seq, h))
    tx.x(
        "INSERT INTO fed_checkpoints (peer, seq, hash, at, key_id, signature, countersignature) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (peer.name, seq, h, str(body["at"]), str(body["key_id"]), str(body["signature"]), counter),
    )
    if peer.audit_key_pem is None:
        peers.pin_audit_key(tx, peer.name, pem)
    reply = {"seq": seq, "hash": h, "key_id": key.key_id, "signature": counter}
    outbox.enqueue(tx, peer.name, "checkpoint.countersigned", reply, at)


def apply_countersigned(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    seq, h = int(body["seq"]), str(body["hash"])
    if tx.checkpoint_hash(seq) != h:
        raise Forbidden(f"entry {seq} was not signed here with that hash")
    if not verify(load_public(peer.public_key_pem), message(seq, h), str(body["signature"])):
        raise Forbidden("the countersignature is not the peer's")
    tx.x(
        "INSERT INTO fed_countersignatures (peer, seq, hash, key_id, signature, at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (peer, seq) DO NOTHING",
        (peer.name, seq, h, peer.key_id, str(body["signature"]), iso(at)),
    )


def checkpoints(tx: Tx) -> dict[str, Any]:
    """What this node keeps of the checkpoint exchange: its own checkpoints countersigned by
    each peer, and each peer's checkpoints it countersigned."""
    mine = tx.x(
        "SELECT peer, seq, hash, key_id, signature, at FROM fed_countersignatures "
        "ORDER BY seq, peer"
    ).fetchall()
    theirs = tx.x(
        "SELECT peer, seq, hash, at, key_id, signature, countersignature FROM fed_checkpoints "
        "ORDER BY peer, seq"
    ).fetchall()
    return {
        "countersigned_by_peers": [
            {"peer": r[0], "seq": int(r[1]), "hash": r[2], "key_id": r[3], "signature": r[4],
             "at": r[5]}
            for r in mine
        ],
        "countersigned_here": [
            {"peer": r[0], "seq": int(r[1]), "hash": r[2], "at": r[3], "key_id": r[4],
             "signature": r[5], "countersignature": r[6]}
            for r in theirs
        ],
    }  # fmt: skip


# --- outgoing, from the domain's events -----------------------------------------------------
def on_event(
    tx: Tx, key: NodeKey, party: str, type_: str, payload: dict[str, Any], at: datetime
) -> None:
    """The store's ``event_written`` hook (see the module's docstring)."""
    hosted = peers.hosted(tx)
    peer = hosted.get(party)
    if peer is None:
        return
    back = _inbound(tx) == peer  # the effect here of a message from that very peer
    done: set[tuple[str, ...]] = tx.memo.setdefault("fed.relayed", set())
    if type_ in ("agreement.proposed", "agreement.active"):
        pa, pb = (str(p) for p in payload["parties"])
        version = int(payload["version"])
        local = pb if party == pa else pa
        if local in hosted:
            return  # between two parties of other nodes: not ours to relay
        once = (type_, pa, pb, str(version))
        if once in done:
            return
        done.add(once)
        if type_ == "agreement.proposed":
            if not back:
                _send_proposal(tx, key, peer, pa, pb, version, at)
            return
        if not back:
            _send_acceptance(tx, key, peer, pa, pb, version, at)
        tx.memo.pop("agreements", None)
        tx.memo.pop("levels", None)
        views.sync_pair(tx, local, party, at)
        now = ag.active(tx, pa, pb)
        if now is not None and now.terms.reciprocity:
            tx.event(local, "federation.reciprocity", _RECIPROCITY | {"with": party}, at)
        return
    if back:
        return
    if type_ == "hotline.message":
        _send_message(tx, peer, payload, at)
    elif type_ == "hotline.ack":
        body = {"thread": payload["thread"], "message": payload["message"], "by": payload["by"]}
        outbox.enqueue(tx, peer, "hotline.ack", body, at)
    elif type_ == "hotline.escalated":
        body = {k: payload[k] for k in ("thread", "message", "level")}
        outbox.enqueue(tx, peer, "hotline.escalated", body, at)
