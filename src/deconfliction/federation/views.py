"""Released views: what this node's parties release to other nodes' parties, and what those
release to this node's parties.

**Out.** Whenever one of this node's records changes (the store's ``record_changed`` hook, in
the write's own transaction), each party another node speaks for is sent what the release rule
gives it of the record (``release.view_record``: the record in full, or its coarsened extent,
or nothing) when that differs from what it was last sent (``fed_sent``): a ``view.put``, or a
``view.withdrawn`` when it may no longer see it. The disclosure is recorded as for any release.
When an agreement comes into force or a peer is added, every record of the pair is compared in
the same way (``sync_pair``).

**In.** A view another node released to one of this node's parties is kept in ``fed_views``
(never in ``records``: the node holds nothing of another node's records but what was
released), indexed by its cells in ``fed_view_cells`` for the conflict search, and read back
only for the party it was released to.

Each view carries its record's **reference**: an HMAC of the record's key under the sending
node's secret. It tells nothing of the key, stays the same across versions, and both nodes
derive a conflict's shared id from the two references (``conflicts.shared_id``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit import digest
from ..engine import Record, check_pair
from ..errors import FieldError, Forbidden, InvalidInput, NotFound
from ..exchange import release
from ..exchange.agreements import active
from ..geo import DISTANCE_RESOLUTION_M, cap_gap_lower_bound_m, cell_query, covering, to_sql
from ..model import Area, OperationalIntent, RecordExtent, RecordKind, SeparationPolicy, Volume4D
from ..store.base import StoredRecord, Tx, iso, near_filter, record_key, split_key
from . import outbox, peers


def ref(tx: Tx, key: str) -> str:
    """The reference of one of this node's records (see the module's docstring)."""
    return hmac.new(tx.secret, b"federation-ref\x00" + key.encode(), hashlib.sha256).hexdigest()[
        :32
    ]


@dataclass(frozen=True)
class View:
    """A record of another node's party, as released to one of this node's parties."""

    key: str
    to_party: str
    owner: str
    peer: str
    kind: RecordKind
    level: str
    ref: str
    version: int
    body: dict[str, Any]
    received_at: str

    @property
    def record_id(self) -> str:
        return split_key(self.key)[1]

    @property
    def volumes(self) -> list[Volume4D]:
        return parse(self.level, self.kind, self.body, trusted=True)[1]

    def engine(self) -> Record:
        return Record(self.kind, self.key, self.owner, self.volumes)

    def shown(self) -> StoredRecord | RecordExtent:
        """As a picture shows it: the record at ``full``, its extent at ``extent``."""
        return parse(self.level, self.kind, self.body, trusted=True)[0]


def parse(
    level: str, kind: RecordKind, body: dict[str, Any], *, trusted: bool = False
) -> tuple[StoredRecord | RecordExtent, list[Volume4D]]:
    """A released view's model and volumes (validated unless ``trusted``: read back from here)."""
    ctx = {"trusted": True} if trusted else None
    shown: StoredRecord | RecordExtent
    if level == "full":
        model: type[StoredRecord] = OperationalIntent if kind is RecordKind.INTENT else Area
        shown = model.model_validate(body, context=ctx)
    elif level == "extent":
        shown = RecordExtent.model_validate(body, context=ctx)
        if shown.kind is not kind or not shown.volumes:
            raise ValueError("an extent of the record's kind, with volumes")
    else:
        raise ValueError(f"a view is released at full or extent, not {level!r}")
    return shown, list(shown.volumes)


_VIEW_COLS = "record_key, to_party, owner, peer, kind, level, ref, version, body, received_at"


def _view(r: Any) -> View:
    return View(
        key=r[0],
        to_party=r[1],
        owner=r[2],
        peer=r[3],
        kind=RecordKind(r[4]),
        level=r[5],
        ref=r[6],
        version=int(r[7]),
        body=json.loads(r[8]),
        received_at=r[9],
    )


def get_view(tx: Tx, key: str, to_party: str) -> View | None:
    r = tx.x(
        f"SELECT {_VIEW_COLS} FROM fed_views WHERE record_key = ? AND to_party = ?",
        (key, to_party),
    ).fetchone()
    return None if r is None else _view(r)


def views_for(tx: Tx, party: str) -> list[View]:
    """Every view released to ``party`` (one of this node's)."""
    rows = tx.x(
        f"SELECT {_VIEW_COLS} FROM fed_views WHERE to_party = ? ORDER BY record_key", (party,)
    ).fetchall()
    return [_view(r) for r in rows]


# --- out ------------------------------------------------------------------------------------
def _sent(tx: Tx, to_party: str, key: str) -> tuple[str, str] | None:
    r = tx.x(
        "SELECT level, digest FROM fed_sent WHERE to_party = ? AND record_key = ?",
        (to_party, key),
    ).fetchone()
    return None if r is None else (r[0], r[1])


def forget_sent(tx: Tx, peer: str) -> None:
    """Forget what was sent to ``peer`` (it is being removed)."""
    tx.x("DELETE FROM fed_sent WHERE peer = ?", (peer,))


def send_record(tx: Tx, key: str, kind: RecordKind, rec: StoredRecord | None, at: datetime) -> None:
    """Tell every party another node speaks for what it may now see of one of this node's
    records (``rec`` None: deleted); only what changed is sent."""
    hosted = peers.hosted(tx)
    if not hosted:
        return
    shown = release.Shown("federation", at)
    for party, peer in sorted(hosted.items()):
        _send_one(tx, key, kind, rec, party, peer, shown, at)
    release.record(tx, shown.items.values(), "federation", at)


def _send_one(
    tx: Tx,
    key: str,
    kind: RecordKind,
    rec: StoredRecord | None,
    party: str,
    peer: str,
    shown: release.Shown,
    at: datetime,
) -> None:
    view = None if rec is None else release.view_record(tx, rec, party, shown)
    before = _sent(tx, party, key)
    if view is None:
        if before is not None:
            owner, _ = split_key(key)
            gone = {"to": party, "owner": owner, "key": key}
            outbox.enqueue(tx, peer, "view.withdrawn", gone, at)
            tx.x("DELETE FROM fed_sent WHERE to_party = ? AND record_key = ?", (party, key))
        return
    assert rec is not None
    level = "extent" if isinstance(view, RecordExtent) else "full"
    doc = view.model_dump(mode="json")
    d = digest({"level": level, "view": doc})
    if before is not None and before[1] == d:
        return
    body: dict[str, Any] = {
        "to": party,
        "owner": rec.owner,
        "key": key,
        "kind": kind.value,
        "level": level,
        "ref": ref(tx, key),
        "version": rec.version,
        "view": doc,
    }
    outbox.enqueue(tx, peer, "view.put", body, at)
    tx.x(
        "INSERT INTO fed_sent (to_party, record_key, peer, level, digest) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (to_party, record_key) DO UPDATE SET peer = excluded.peer, "
        "level = excluded.level, digest = excluded.digest",
        (party, key, peer, level, d),
    )


def _owned(
    tx: Tx, owner: str, after: str, limit: int | None
) -> list[tuple[RecordKind, StoredRecord]]:
    return [(eng.kind, rec) for rec, eng in tx.owned(owner, after=after, limit=limit)]


def sync_pair(
    tx: Tx, local: str, remote: str, at: datetime, *, after: str = "", limit: int | None = None
) -> str | None:
    """Compare the records of ``local`` (this node's) with what ``remote`` was last sent, and
    send what changed (views put or withdrawn): all of them, or ``limit`` records with keys
    after ``after``; returns the last key looked at when there may be more, else None."""
    peer = peers.hosted(tx).get(remote)
    if peer is None:
        return None
    shown = release.Shown("federation", at)
    recs = _owned(tx, local, after, limit)
    for kind, rec in recs:
        _send_one(tx, record_key(rec.owner, rec.id), kind, rec, remote, peer, shown, at)
    if limit is not None and len(recs) == limit:
        release.record(tx, shown.items.values(), "federation", at)
        return record_key(recs[-1][1].owner, recs[-1][1].id)
    # records gone while nothing was sent (a peer added after a delete): withdraw them
    rows = tx.x(
        "SELECT record_key FROM fed_sent WHERE to_party = ? AND record_key LIKE ?",
        (remote, f"{local}/%"),
    ).fetchall()
    for (key,) in rows:
        if tx.load(key) is None:
            _send_one(tx, key, RecordKind.INTENT, None, remote, peer, shown, at)
    release.record(tx, shown.items.values(), "federation", at)
    return None


def resync_near(tx: Tx, local: str, remote: str, volumes: Sequence[Volume4D], at: datetime) -> None:
    """Reciprocity: ``remote`` released (or withdrew) a plan near these volumes, so the level of
    ``local``'s records near it may have changed: send them again where it did."""
    ag = active(tx, local, remote)
    if ag is None or not ag.terms.reciprocity or not volumes:
        return
    sep = ag.terms.separation
    reach = SeparationPolicy(
        lateral_m=sep.lateral_m + release.growth_bound_m(ag.terms.coarsening),
        vertical_m=sep.vertical_m + ag.terms.coarsening.alt_step_m,
        time_s=sep.time_s + ag.terms.coarsening.time_step_s,
    )
    peer = peers.hosted(tx)[remote]
    tx.memo.pop("levels", None)  # levels worked out before this view are stale
    shown = release.Shown("federation", at)
    for rec, eng in tx.cap_candidates(volumes, reach, ("owner = ?", (local,))):
        _send_one(tx, eng.id, eng.kind, rec, remote, peer, shown, at)
    release.record(tx, shown.items.values(), "federation", at)


# --- in -------------------------------------------------------------------------------------
def check_pair_allowed(tx: Tx, peer: peers.Peer, owner: str, to_party: str) -> None:
    """A peer speaks only for its parties, to this node's own parties."""
    if owner not in peer.parties:
        raise Forbidden(f"peer {peer.name!r} does not speak for {owner!r}")
    if to_party in peers.hosted(tx):
        raise Forbidden(f"{to_party!r} is not a party of this node")
    try:
        tx.get_party(to_party)
    except NotFound:
        raise Forbidden(f"{to_party!r} is not a party of this node") from None


def apply_put(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> View:
    """Keep a view another node released to one of this node's parties."""
    owner, to_party, key = str(body.get("owner")), str(body.get("to")), str(body.get("key"))
    check_pair_allowed(tx, peer, owner, to_party)
    if split_key(key)[0] != owner or not split_key(key)[1]:
        raise InvalidInput([FieldError("/key", "a record key is OWNER/ID of the view's owner")])
    if active(tx, owner, to_party) is None:
        raise Forbidden(f"no agreement in force between {owner} and {to_party} releases details")
    try:
        kind = RecordKind(str(body.get("kind")))
        level = str(body.get("level"))
        shown, volumes = parse(level, kind, body.get("view") or {})
    except ValueError as exc:
        raise InvalidInput([FieldError("/view", str(exc).splitlines()[0][:300])]) from None
    if shown.owner != owner or shown.id != split_key(key)[1]:
        raise InvalidInput([FieldError("/view", "the view is not of the record it names")])
    ref_ = str(body.get("ref", ""))
    if len(ref_) != 32 or any(c not in "0123456789abcdef" for c in ref_):
        raise InvalidInput([FieldError("/ref", "32 hex digits")])
    version = int(body.get("version", 0))
    doc = shown.model_dump(mode="json")
    _drop_cells(tx, key, to_party)
    tx.x(
        f"INSERT INTO fed_views ({_VIEW_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (record_key, to_party) DO UPDATE SET owner = excluded.owner, "
        "peer = excluded.peer, kind = excluded.kind, level = excluded.level, "
        "ref = excluded.ref, version = excluded.version, body = excluded.body, "
        "received_at = excluded.received_at",
        (key, to_party, owner, peer.name, kind.value, level, ref_, version, json.dumps(doc),
         iso(at)),
    )  # fmt: skip
    _add_cells(tx, key, to_party, kind, owner, volumes)
    tx.audit(at, f"peer:{peer.name}", f"federation.view.{level}", f"{key}->{to_party}", digest(doc))
    view = get_view(tx, key, to_party)
    assert view is not None
    return view


def apply_withdrawn(tx: Tx, peer: peers.Peer, body: dict[str, Any], at: datetime) -> View | None:
    owner, to_party, key = str(body.get("owner")), str(body.get("to")), str(body.get("key"))
    check_pair_allowed(tx, peer, owner, to_party)
    old = get_view(tx, key, to_party)
    if old is None:
        return None
    _drop_cells(tx, key, to_party)
    tx.x("DELETE FROM fed_views WHERE record_key = ? AND to_party = ?", (key, to_party))
    tx.audit(at, f"peer:{peer.name}", "federation.view.withdrawn", f"{key}->{to_party}", "")
    return old


def drop_party(tx: Tx, party: str, at: datetime) -> None:
    """Forget the views ``party`` (of a peer being removed) released here."""
    tx.x("DELETE FROM fed_view_cells WHERE owner = ?", (party,))
    tx.x("DELETE FROM fed_views WHERE owner = ?", (party,))


def _drop_cells(tx: Tx, key: str, to_party: str) -> None:
    tx.x("DELETE FROM fed_view_cells WHERE record_key = ? AND to_party = ?", (key, to_party))


def _add_cells(
    tx: Tx, key: str, to_party: str, kind: RecordKind, owner: str, volumes: Sequence[Volume4D]
) -> None:
    rows = []
    for i, v in enumerate(volumes):
        for c in covering(v.footprint):
            rows.append(
                (to_sql(c), key, to_party, i, kind.value, owner, v.t_start_s, v.t_end_s,
                 v.alt_lower_m, v.alt_upper_m, *v.footprint.cap)
            )  # fmt: skip
    tx.xm(
        "INSERT INTO fed_view_cells (cell, record_key, to_party, volume, kind, owner, t_start, "
        "t_end, alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def near(
    tx: Tx,
    volumes: Sequence[Volume4D],
    policy: SeparationPolicy,
    to_party: str,
    kinds: Iterable[RecordKind],
    owner: str | None = None,
) -> list[View]:
    """Views released to ``to_party`` (of these kinds; of ``owner`` if given) with a volume
    near these (cells, time and altitude grown by the buffers): the candidates of the exact
    check, as ``Tx.candidates`` finds them among records."""
    kind_list = [k.value for k in kinds]
    keys: set[str] = set()
    for v in volumes:
        query = cell_query(covering(v.footprint, policy.lateral_m))
        near_sql, params = near_filter(query, v, policy)
        sql = (
            "SELECT DISTINCT record_key, cap_lon, cap_lat, cap_r FROM fed_view_cells "
            f"WHERE {near_sql} AND to_party = ? "
            f"AND kind IN ({', '.join('?' * len(kind_list))})"
        )
        params += [to_party, *kind_list]
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        lon, lat, r = v.footprint.cap
        reach = policy.lateral_m + DISTANCE_RESOLUTION_M
        for key, clon, clat, cr in tx.x(sql, params).fetchall():
            if key not in keys and cap_gap_lower_bound_m(lon, lat, r, clon, clat, cr) <= reach:
                keys.add(key)
    out = []
    for key in sorted(keys):
        view = get_view(tx, key, to_party)
        if view is not None:
            out.append(view)
    return out


def viewer_plans_near(
    tx: Tx, owner: str, viewer: str, extent: Sequence[Volume4D], policy: SeparationPolicy
) -> bool:
    """Reciprocity across nodes: whether ``viewer`` (another node's party) released to
    ``owner`` (this node's) an intent of its own within ``policy`` of ``extent``."""
    if viewer not in peers.hosted(tx):
        return False
    mine = Record(RecordKind.AREA, "\x00extent", owner, list(extent))
    for view in near(tx, extent, policy, owner, [RecordKind.INTENT], owner=viewer):
        if check_pair(mine, view.engine(), policy) is not None:
            return True
    return False
