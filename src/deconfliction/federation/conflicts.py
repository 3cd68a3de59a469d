"""Conflicts across nodes: each node checks its own exact records against what the other
nodes' parties released to them, and tells the other side what it found, as the release rule
lets it see it.

- **Ours.** When one of this node's records changes, or a view released to its owner arrives or
  is withdrawn, the exact check (``engine.check_pair``, the node's separation policy) runs
  between the record and the views near it (``views.near``). What the record's owner is shown of
  a finding is derived from its own record and the released view only.
- **Theirs.** The other node does the same with its exact records and this node's releases,
  and sends a ``conflict.notice``: the conflict as the release rule of *that* node lets this
  node's party see it (``release.view_conflict``; at ``conflict`` level no id of theirs, a window
  on the grid; at ``none`` nothing is sent at all).
- **One conflict, two findings.** Both nodes name the conflict by the same id, derived from the
  two records' references (``shared_id``: each reference is an HMAC of a record key under its
  node's secret, so the id confirms no guess of an id that was not released). A conflict is
  shown as ``agreed`` while both sides find it, as ``ours`` or ``theirs`` while only one does,
  and ``resolved`` when neither does. Its hotline thread, ``conflict-<id>``, is the same on both
  nodes, and its messages cross (``relay``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from ..audit import digest
from ..engine import Finding, Record, check_pair
from ..errors import FieldError, Forbidden, InvalidInput
from ..exchange import hotline, release
from ..model import Conflict, RecordExtent, RecordKind
from ..store.base import ConflictRow, StoredRecord, Tx, iso, split_key
from . import outbox, peers, views


def shared_id(ref_a: str, ref_b: str) -> str:
    """The id both nodes give the conflict between two records, from their references."""
    lo, hi = sorted((ref_a, ref_b))
    return hashlib.sha256(f"federation-conflict\x00{lo}\x00{hi}".encode()).hexdigest()[:32]


_COLS = (
    "id, peer, local_key, local_party, remote_party, remote_key, ours, ours_state, told, "
    "theirs, theirs_state, detected_at, updated_at"
)


def _row(tx: Tx, cid: str) -> dict[str, Any] | None:
    r = tx.x(f"SELECT {_COLS} FROM fed_conflicts WHERE id = ?", (cid,)).fetchone()
    if r is None:
        return None
    return dict(zip([c.strip() for c in _COLS.split(",")], r, strict=True))


def _finding(ours_state: str | None, theirs_state: str | None) -> str:
    a, b = ours_state == "open", theirs_state == "open"
    return "agreed" if a and b else "ours" if a else "theirs" if b else "resolved"


def _shown(row: dict[str, Any]) -> Conflict | None:
    """The conflict as this node's party is shown it: its own node's finding while it stands,
    else the other node's notice."""
    for state, doc in (("ours_state", "ours"), ("theirs_state", "theirs")):
        if row[state] == "open" and row[doc]:
            return Conflict.model_validate_json(row[doc])
    for doc in ("ours", "theirs"):
        if row[doc]:
            return Conflict.model_validate_json(row[doc])
    return None


def _note(row: dict[str, Any]) -> dict[str, Any]:
    c = _shown(row)
    finding = _finding(row["ours_state"], row["theirs_state"])
    records = [split_key(row["local_key"])[1]]
    if row["remote_key"]:
        records.append(split_key(row["remote_key"])[1])
    return {
        "id": row["id"],
        "state": "resolved" if finding == "resolved" else "open",
        "finding": finding,
        "records": records,
        "parties": sorted({row["local_party"], row["remote_party"]}),
        "node": row["peer"],
        "time_start": None if c is None else iso(c.time_start),
        "time_end": None if c is None else iso(c.time_end),
        "gaps": None if c is None or c.gaps is None else c.gaps.model_dump(mode="json"),
    }


def _changed(tx: Tx, before: dict[str, Any] | None, cid: str, at: datetime) -> None:
    """Tell this node's party what changed of the conflict (an event), and open its thread."""
    after = _row(tx, cid)
    assert after is not None
    was = "resolved" if before is None else _finding(before["ours_state"], before["theirs_state"])
    now = _finding(after["ours_state"], after["theirs_state"])
    party = after["local_party"]
    if now == "resolved":
        if was != "resolved":
            tx.event(party, "conflict.resolved", _note(after), at)
        return
    if was == "resolved":
        tx.event(party, "conflict.opened", _note(after), at)
        pair = (after["local_party"], after["remote_party"])
        hotline.open_thread(tx, f"conflict-{cid}", "conflict", cid, pair, party, at)
    elif before is None or _note(before) != _note(after):
        tx.event(party, "conflict.updated", _note(after), at)


# --- ours -----------------------------------------------------------------------------------
def detect_record(
    tx: Tx, key: str, kind: RecordKind, rec: StoredRecord | None, at: datetime
) -> None:
    """Check one of this node's records (``rec`` None: deleted) against the views released to
    its owner; open, update or resolve this node's findings."""
    if not peers.hosted(tx):
        return
    found: dict[str, tuple[views.View, Finding]] = {}
    eng = None
    if rec is not None:
        eng = Record(kind, key, rec.owner, rec.volumes)
        # an intent meets intents and areas; an area meets intents (``engine.may_conflict``)
        kinds = [RecordKind.INTENT, RecordKind.AREA]
        if kind is RecordKind.AREA:
            kinds = [RecordKind.INTENT]
        for view in views.near(tx, rec.volumes, tx.policy, rec.owner, kinds):
            f = check_pair(eng, view.engine(), tx.policy)
            if f is not None:
                found[view.key] = (view, f)
    rows = tx.x(
        "SELECT id, remote_key FROM fed_conflicts WHERE local_key = ? AND ours_state = 'open'",
        (key,),
    ).fetchall()
    for cid, remote in rows:
        if remote not in found:
            _resolve_ours(tx, cid, at)
    if rec is not None and eng is not None:
        for view, f in found.values():
            _upsert_ours(tx, rec, eng, view, f, at)


def detect_view(tx: Tx, view: views.View, at: datetime) -> None:
    """Check a view just released to one of this node's parties against that party's records."""
    scope = (
        ("owner = ?", (view.to_party,))
        if view.kind is RecordKind.INTENT
        else ("kind = 'intent' AND owner = ?", (view.to_party,))
    )
    other = view.engine()
    found: dict[str, tuple[StoredRecord, Record, Finding]] = {}
    for rec, eng in tx.candidates(view.volumes, tx.policy, scope):
        f = check_pair(eng, other, tx.policy)
        if f is not None:
            found[eng.id] = (rec, eng, f)
    rows = tx.x(
        "SELECT id, local_key FROM fed_conflicts WHERE remote_key = ? AND local_party = ? "
        "AND ours_state = 'open'",
        (view.key, view.to_party),
    ).fetchall()
    for cid, local in rows:
        if local not in found:
            _resolve_ours(tx, cid, at)
    for rec, eng, f in found.values():
        _upsert_ours(tx, rec, eng, view, f, at)


def view_gone(tx: Tx, view: views.View, at: datetime) -> None:
    rows = tx.x(
        "SELECT id FROM fed_conflicts WHERE remote_key = ? AND local_party = ? "
        "AND ours_state = 'open'",
        (view.key, view.to_party),
    ).fetchall()
    for (cid,) in rows:
        _resolve_ours(tx, cid, at)


def _upsert_ours(
    tx: Tx, rec: StoredRecord, eng: Record, view: views.View, f: Finding, at: datetime
) -> None:
    local, remote = rec.owner, view.owner
    cid = shared_id(views.ref(tx, eng.id), view.ref)
    before = _row(tx, cid)
    detected = at if before is None else datetime.fromisoformat(before["detected_at"])
    mine = RecordExtent(kind=eng.kind, id=rec.id, owner=local, volumes=list(rec.volumes))
    theirs = RecordExtent(kind=view.kind, id=view.record_id, owner=remote, volumes=view.volumes)
    first = eng.id < view.key
    a, b = (mine, theirs) if first else (theirs, mine)
    ours = Conflict(
        id=cid,
        a=a,
        b=b,
        time_start=f.time_start,
        time_end=f.time_end,
        gaps=f.gaps,
        policy=tx.policy,
        detected_at=detected,
    )
    # what the other node's party may see of this finding: the release rule decides
    a_key, b_key = (eng.id, view.key) if first else (view.key, eng.id)
    a_kind, b_kind = (eng.kind, view.kind) if first else (view.kind, eng.kind)
    row = ConflictRow(
        id=cid,
        a_key=a_key,
        b_key=b_key,
        a_kind=a_kind,
        b_kind=b_kind,
        a_owner=split_key(a_key)[0],
        b_owner=split_key(b_key)[0],
        state="open",
        time_start=f.time_start,
        time_end=f.time_end,
        gaps=f.gaps,
        policy=tx.policy,
        detected_at=detected,
    )
    shown = release.Shown("federation", at)
    seen = release.view_conflict(tx, row, remote, shown, draft=(view.key, view.engine()))
    release.record(tx, shown.items.values(), "federation", at)
    notice = None
    if seen is not None:
        notice = {
            "id": cid,
            "to": remote,
            "record": view.key,
            "with": local,
            "state": "open",
            "level": seen.level,
            "conflict": seen.conflict.model_dump(mode="json"),
        }
    told = None if notice is None else digest(notice)
    doc = ours.model_dump_json()
    if before is None:
        tx.x(
            f"INSERT INTO fed_conflicts ({_COLS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, 'open', ?, NULL, NULL, ?, ?)",
            (cid, view.peer, eng.id, local, remote, view.key, doc, told, iso(at), iso(at)),
        )
    else:
        tx.x(
            "UPDATE fed_conflicts SET ours = ?, ours_state = 'open', told = ?, remote_key = ?, "
            "updated_at = ? WHERE id = ?",
            (doc, told, view.key, iso(at), cid),
        )
    elsewhere: dict[str, list[Conflict]] = tx.memo.setdefault("conflicts.elsewhere", {})
    elsewhere.setdefault(eng.id, []).append(ours)
    if notice is not None and (before is None or before["told"] != told):
        outbox.enqueue(tx, view.peer, "conflict.notice", notice, at)
    _changed(tx, before, cid, at)


def _resolve_ours(tx: Tx, cid: str, at: datetime) -> None:
    before = _row(tx, cid)
    if before is None or before["ours_state"] != "open":
        return
    tx.x(
        "UPDATE fed_conflicts SET ours_state = 'resolved', told = NULL, updated_at = ? "
        "WHERE id = ?",
        (iso(at), cid),
    )
    if before["told"] is not None and before["remote_key"]:
        notice = {
            "id": cid,
            "to": before["remote_party"],
            "record": before["remote_key"],
            "with": before["local_party"],
            "state": "resolved",
        }
        outbox.enqueue(tx, before["peer"], "conflict.notice", notice, at)
    _changed(tx, before, cid, at)


# --- theirs ---------------------------------------------------------------------------------
def apply_notice(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> None:
    """A conflict another node found between its party's record and one of this node's."""
    cid, local_key = str(body.get("id", "")), str(body.get("record", ""))
    remote, state = str(body.get("with", "")), body.get("state")
    local = split_key(local_key)[0]
    views.check_pair_allowed(tx, peer, remote, local)
    if str(body.get("to")) != local:
        raise InvalidInput([FieldError("/record", "the record named is not the addressee's")])
    if len(cid) != 32 or any(c not in "0123456789abcdef" for c in cid):
        raise InvalidInput([FieldError("/id", "32 hex digits")])
    if state not in ("open", "resolved"):
        raise InvalidInput([FieldError("/state", "open or resolved")])
    before = _row(tx, cid)
    if before is not None and (
        before["local_key"] != local_key or before["remote_party"] != remote
    ):
        raise Forbidden("this conflict id names another pair of records")
    doc = None
    remote_key = None if before is None else before["remote_key"]
    if state == "open":
        try:
            c = Conflict.model_validate(body.get("conflict"))
        except ValueError as exc:
            raise InvalidInput([FieldError("/conflict", str(exc).splitlines()[0])]) from None
        if c.id != cid or {c.a.owner, c.b.owner} != {local, remote}:
            raise InvalidInput([FieldError("/conflict", "not this conflict between these two")])
        other = c.a if c.a.owner == remote else c.b
        if other.id is not None:
            remote_key = f"{remote}/{other.id}"
        doc = c.model_dump_json()
    if before is None:
        if state != "open":
            return
        tx.x(
            f"INSERT INTO fed_conflicts ({_COLS}) VALUES "
            "(?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, 'open', ?, ?)",
            (cid, peer.name, local_key, local, remote, remote_key, doc, iso(at), iso(at)),
        )
    elif state == "open":
        tx.x(
            "UPDATE fed_conflicts SET theirs = ?, theirs_state = 'open', remote_key = ?, "
            "updated_at = ? WHERE id = ?",
            (doc, remote_key, iso(at), cid),
        )
    else:
        tx.x(
            "UPDATE fed_conflicts SET theirs_state = 'resolved', updated_at = ? WHERE id = ?",
            (iso(at), cid),
        )
    _changed(tx, before, cid, at)


def drop_party(tx: Tx, party: str, at: datetime) -> None:
    tx.x("DELETE FROM fed_conflicts WHERE remote_party = ?", (party,))


# --- reading ---------------------------------------------------------------------------------
def list_for(tx: Tx, party: str, include_resolved: bool = False) -> list[dict[str, Any]]:
    """This node's party's conflicts with other nodes' parties: each with the finding it rests
    on (``agreed``, ``ours``, ``theirs`` or ``resolved``), both sides' views of it, its thread."""
    rows = tx.x(
        f"SELECT {_COLS} FROM fed_conflicts WHERE local_party = ? ORDER BY detected_at, id",
        (party,),
    ).fetchall()
    out = []
    names = [c.strip() for c in _COLS.split(",")]
    for r in rows:
        row = dict(zip(names, r, strict=True))
        finding = _finding(row["ours_state"], row["theirs_state"])
        if finding == "resolved" and not include_resolved:
            continue
        shown = _shown(row)
        out.append(
            {
                "id": row["id"],
                "finding": finding,
                "with": row["remote_party"],
                "node": row["peer"],
                "record": split_key(row["local_key"])[1],
                "thread": f"conflict-{row['id']}",
                "conflict": None if shown is None else shown.model_dump(mode="json"),
                "ours": None if row["ours"] is None else json.loads(row["ours"]),
                "ours_state": row["ours_state"],
                "theirs": None if row["theirs"] is None else json.loads(row["theirs"]),
                "theirs_state": row["theirs_state"],
                "detected_at": row["detected_at"],
                "updated_at": row["updated_at"],
            }
        )
    return out


def open_conflicts(tx: Tx, party: str) -> list[Conflict]:
    """The open ones, as conflicts (the picture's)."""
    out = []
    for c in list_for(tx, party):
        if c["conflict"] is not None:
            out.append(Conflict.model_validate(c["conflict"]))
    return out
