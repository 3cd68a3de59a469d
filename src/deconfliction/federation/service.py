"""A node: its key, the hooks it plugs into its store, its deliverer, what its picture adds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import Forbidden, NotFound, ServiceUnavailable
from ..model import Conflict, RecordKind
from ..model.track import Track
from ..store import Store
from ..store.base import StoredRecord, StoreHooks, Tx, record_key
from . import conflicts, inbox, outbox, peers, relay, views
from .dispatcher import Dispatcher
from .keys import NodeKey


def remove_peer(tx: Tx, name: str, actor: str, at: datetime) -> None:
    """Remove a peer, and everything its parties released here (views, their index, tracks),
    the messages queued for it and what was sent to it; the conflicts found with them are
    resolved."""
    peer = peers.get(tx, name)
    if peer is None:
        raise NotFound(f"no peer {name!r}")
    for party in peer.parties:
        views.drop_party(tx, party, at)
        conflicts.drop_party(tx, party, at)
        relay.drop_tracks(tx, party)
    outbox.drop_peer(tx, name)
    views.forget_sent(tx, name)
    peers.forget(tx, name, actor, at)


class Federation:
    """This node's part in the federation (``install`` its hooks, ``start`` its deliverer)."""

    def __init__(self, store: Store, key: NodeKey, *, ping_s: float = 10.0) -> None:
        self.store = store
        self.key = key
        self.ping_s = ping_s
        self.wake = threading.Event()
        self.tracks: Callable[[], list[Track]] | None = None
        self.dispatcher: Dispatcher | None = None
        self._peer_cache: tuple[float, dict[str, peers.Peer]] = (-1e9, {})
        self._hosted_cache: tuple[float, dict[str, str]] = (-1e9, {})

    @staticmethod
    def in_folder(store: Store, data_dir: Path, *, ping_s: float = 10.0) -> Federation:
        return Federation(store, NodeKey.in_folder(data_dir), ping_s=ping_s)

    # --- hooks ---------------------------------------------------------------------------
    def install(self, hooks: StoreHooks) -> None:
        """Plug the node into its store's transactions: record changes become views and
        conflict checks, events for other nodes' parties become messages, reciprocity looks at
        what other nodes released."""
        hooks.record_changed.append(self._record_changed)
        hooks.event_written.append(self._event_written)
        hooks.viewer_plans_near.append(views.viewer_plans_near)

    def _record_changed(
        self,
        tx: Tx,
        kind: RecordKind,
        old: StoredRecord | None,
        new: StoredRecord | None,
        at: datetime,
    ) -> None:
        hosted = peers.hosted(tx)
        if not hosted:
            return
        rec = new or old
        assert rec is not None
        if rec.owner in hosted:
            raise Forbidden(
                f"{rec.owner} is hosted by node {hosted[rec.owner]!r}: its records are written "
                "there"
            )
        key = record_key(rec.owner, rec.id)
        views.send_record(tx, key, kind, new, at)
        conflicts.detect_record(tx, key, kind, new, at)
        self._wake_after(tx)

    def _event_written(
        self, tx: Tx, party: str, type_: str, payload: dict[str, Any], at: datetime
    ) -> None:
        if not type_.startswith(("agreement.", "hotline.")):
            return
        relay.on_event(tx, self.key, party, type_, payload, at)
        self._wake_after(tx)

    def _wake_after(self, tx: Tx) -> None:
        if tx.memo.get("fed.enqueued") and not tx.memo.get("fed.wake"):
            tx.memo["fed.wake"] = True
            tx.after_commit.append(self.wake.set)

    # --- who may act here ----------------------------------------------------------------
    def hosted_elsewhere(self, party: str) -> str | None:
        """The peer that hosts ``party``, if another node does (its users act there)."""
        at, cached = self._hosted_cache
        if time.monotonic() - at > 2.0:
            cached = dict(self.store.read_tx(peers.hosted))
            self._hosted_cache = (time.monotonic(), cached)
        return cached.get(party)

    def _peer_by_key(self, kid: str) -> peers.Peer | None:
        at, cached = self._peer_cache
        if time.monotonic() - at > 2.0:
            try:
                cached = {p.key_id: p for p in self.store.read_tx(peers.all_peers)}
            except ServiceUnavailable:
                pass  # the database is away: the keys known before; the route answers 503
            else:
                self._peer_cache = (time.monotonic(), cached)
        return cached.get(kid)

    def caller(self, method: str, path: str, headers: Mapping[str, str]) -> str | None:
        """The peer that signed a request's headers (the guard's question), or None."""
        if not path.startswith("/federation/"):
            return None
        return inbox.check_headers(self._peer_by_key, self.key, method, path, headers)

    def receive(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> inbox.Answer:
        answer = inbox.receive(
            self.store, self.key, method=method, path=path, headers=headers, body=body
        )
        self.wake.set()  # what it applied may have queued answers (countersignatures...)
        return answer

    # --- what a party is shown -----------------------------------------------------------
    def picture(self, tx: Tx, party: str) -> tuple[list[views.View], list[Conflict]]:
        """What other nodes released to ``party``, and its conflicts with their records."""
        return views.views_for(tx, party), conflicts.open_conflicts(tx, party)

    # --- the deliverer -------------------------------------------------------------------
    def start(self, **options: Any) -> Dispatcher:
        """Start delivering (the peers are synced in full first, in the background)."""
        self.store.write_tx(lambda tx: peers.set_synced(tx, None, False))
        self.dispatcher = Dispatcher(
            self.store,
            self.key,
            wake=self.wake,
            tracks=self.tracks,
            ping_s=self.ping_s,
            **options,
        )
        self.dispatcher.start()
        return self.dispatcher

    def stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
