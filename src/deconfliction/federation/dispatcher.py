"""Delivery to peers: a background loop, one deliverer per node under a lease.

Each cycle, while this process holds the ``federation`` lease (``alerts.leases``, fenced as
the webhook dispatcher's is: taken with a fencing token, renewed when half of it has run and
before any POST it might not outlast, and renewed under that token in the same transaction as
every write made under it, so a process that stalled past its lease and lost it queues nothing
and moves no cursor; a clean stop releases it), for each peer:

- **sync**: a peer not synced yet (just added) gets every record of every pair compared with
  what it was sent (``views.sync_pair``), so that records written before the peer existed, or
  by offline tools, cross too;
- **checkpoints**: this node's audit checkpoints it has not been sent yet are queued to it;
- **tracks**: every ``tracks_s``, the live tracks as released to each of its parties
  (``release.view_tracks``), when they changed;
- **ping**: when nothing was sent to it for ``ping_s``, a ``link.ping`` is queued (one at most
  waits at a time);
- **delivery**: when due, its next batch (in sequence order, at most ``batch`` messages and
  ``max_bytes``) is signed and POSTed to ``URL/federation/v1/inbox``; a signed answer naming the
  request's nonce moves the cursor to how far the peer applied; anything else (no answer, an
  error, an unsigned answer) is retried after a backoff (``base_delay_s`` doubling up to
  ``max_delay_s``, or the ``Retry-After`` of a 503 or 429 if longer: the peer's database is
  away, or it limits this node). Nothing is ever given up on: a partition only delays.
- **link health**: every ``ping_s``, each party of each peer is recorded up (a heartbeat) if
  the peer was heard from within the last ``2 * ping_s``, or failed otherwise
  (``links.record``: degraded after 3 failed rounds, with the same consequences as for any
  party's link).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

from ..alerts import leases
from ..alerts.webhooks import LEASE_MARGIN_S, LeaseLost
from ..audit import digest
from ..audit.signing import public_pem
from ..errors import ServiceUnavailable
from ..exchange import links, release
from ..model.track import Track
from ..store.base import Store, Tx
from . import outbox, peers, signatures, views
from .inbox import INBOX_PATH, heard_from, link_up
from .keys import NodeKey, load_public

log = logging.getLogger(__name__)
LEASE = "federation"
T = TypeVar("T")

#: ``post(url, path, body, headers, timeout_s)`` -> (status, response headers, response body);
#: raises OSError when nothing answers.
Post = Callable[[str, str, bytes, dict[str, str], float], tuple[int, dict[str, str], bytes]]


class _Connections:
    """One kept-alive HTTP connection per peer URL."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._conns: dict[str, http.client.HTTPConnection] = {}
        self._lock = threading.Lock()
        self.tls = tls

    def post(
        self, url: str, path: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            conn = self._conns.pop(url, None)
        if conn is None:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=timeout_s, context=self.tls or ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read(16 << 20)
            out = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise OSError(f"{type(exc).__name__}: {exc}") from None
        with self._lock:
            self._conns[url] = conn
        return out

    def close(self) -> None:
        with self._lock:
            for c in self._conns.values():
                c.close()
            self._conns.clear()


class Dispatcher:
    def __init__(
        self,
        store: Store,
        key: NodeKey,
        *,
        wake: threading.Event | None = None,
        tracks: Callable[[], list[Track]] | None = None,
        post: Post | None = None,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 5.0,
        base_delay_s: float = 0.2,
        max_delay_s: float = 5.0,
        lease_s: float = 10.0,
        interval_s: float = 0.5,
        ping_s: float = 10.0,
        tracks_s: float = 2.0,
        batch: int = 100,
        max_bytes: int = 512 << 10,
        keep: int = 10_000,
    ) -> None:
        self.store, self.key, self.clock = store, key, clock
        self.wake = wake or threading.Event()
        self.tracks = tracks
        self._conns = _Connections()
        self.post: Post = post or self._conns.post
        self.timeout_s, self.base_delay_s, self.max_delay_s = timeout_s, base_delay_s, max_delay_s
        self.lease_s, self.interval_s, self.ping_s, self.tracks_s = (
            lease_s,
            interval_s,
            ping_s,
            tracks_s,
        )
        self.batch, self.max_bytes, self.keep = batch, max_bytes, keep
        if lease_s < timeout_s + 2 * LEASE_MARGIN_S:
            raise ValueError("lease_s must exceed timeout_s by 2 s at least: a POST is covered")
        self.holder = f"federation-{uuid.uuid4()}"
        #: the lease held: (fencing token, when it was last taken or renewed), or None
        self._held: tuple[int, float] | None = None
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="federation")
        self._last_round = 0.0
        self._last_tracks = 0.0
        self._tracks_sent: dict[tuple[str, str], str] = {}

    # --- one cycle -----------------------------------------------------------------------
    def run_once(self) -> int:
        """One cycle; returns how many messages peers acknowledged."""
        known = self.store.read_tx(peers.all_peers)
        if not known:
            return 0
        now = self.clock()
        try:
            if not self._hold(now):
                return 0
            for p in known:
                if not p.synced:
                    self._sync(p.name)
            newest = self.store.read_tx(lambda tx: tx.newest_checkpoint_seq())
            if any(p.checkpoint_seq < newest for p in known):
                self._write(self._queue_checkpoints)
            if any(p.last_ok_at is None or now - p.last_ok_at >= self.ping_s for p in known):
                self._write(self._queue_pings)
            if self.tracks is not None and now - self._last_tracks >= self.tracks_s:
                self._last_tracks = now
                self._queue_tracks()
            if now - self._last_round >= self.ping_s:
                self._last_round = now
                self._write(self._health)
        except LeaseLost:
            self._lost()
            return 0
        fresh = self.store.read_tx(peers.all_peers)
        due = [p for p in fresh if p.next_seq > p.delivered_seq and p.next_attempt_at <= now]
        return sum(self._pool.map(self._deliver_fenced, due))

    # --- the lease that covers every write and every POST --------------------------------
    def _hold(self, now: float) -> bool:
        """Hold the lease for this cycle: taken (or renewed) when half of it has run."""
        with self._held_lock:
            held = self._held
        if held is not None and now - held[1] < self.lease_s / 2:
            return True
        token = self.store.write_tx(
            lambda tx: leases.take(tx, LEASE, self.holder, now, self.lease_s),
            lock=leases.lock(LEASE),
        )
        with self._held_lock:
            self._held = None if token is None else (token, now)
        return token is not None

    def _fence(self, tx: Tx) -> None:
        """In a transaction that writes under the lease: renew it under its token, or raise
        ``LeaseLost`` (rolling the transaction back) if another process has taken it."""
        with self._held_lock:
            held = self._held
        now = self.clock()
        if held is None or not leases.renew(tx, LEASE, self.holder, held[0], now, self.lease_s):
            raise LeaseLost
        with self._held_lock:
            if self._held is not None and self._held[0] == held[0]:
                self._held = (held[0], max(self._held[1], now))

    def _write(self, fn: Callable[[Tx], T]) -> T:
        """``fn`` in a write transaction fenced by the lease."""

        def run(tx: Tx) -> T:
            self._fence(tx)
            return fn(tx)

        result: T = self.store.write_tx(run)
        return result

    def _cover_post(self) -> None:
        """Before a POST: make sure the lease outlasts it (renewing it if needed)."""
        with self._held_lock:
            held = self._held
        if held is None:
            raise LeaseLost
        if self.clock() - held[1] > self.lease_s - self.timeout_s - LEASE_MARGIN_S:
            self.store.write_tx(self._fence, lock=leases.lock(LEASE))

    def _lost(self) -> None:
        log.warning("federation lease lost to another process; delivery stops here")
        with self._held_lock:
            self._held = None

    def _release(self) -> None:
        try:
            self.store.write_tx(
                lambda tx: leases.release(tx, LEASE, self.holder), lock=leases.lock(LEASE)
            )
        except Exception:  # the store may be closing or out of reach: the lease runs out
            log.info("federation lease not released; it runs out by itself")

    def _sync(self, name: str) -> None:
        """Compare every record of every pair with what the peer was sent, a page at a time."""
        peer = self.store.read_tx(lambda tx: peers.get(tx, name))
        if peer is None:
            return
        locals_ = self.store.read_tx(peers.local_parties)
        for local in locals_:
            for remote in peer.parties:
                after: str | None = ""
                while after is not None:
                    at = datetime.fromtimestamp(self.clock(), UTC)
                    after = self._write(_page(local, remote, at, after))
        self._write(lambda tx: peers.set_synced(tx, name, True))

    def _queue_checkpoints(self, tx: Tx) -> None:
        signer = self.store.signer
        if signer is None:
            return
        pem = public_pem(signer.public)
        at = datetime.fromtimestamp(self.clock(), UTC)
        for p in peers.all_peers(tx):
            rows = tx.checkpoints_after(p.checkpoint_seq, 50)
            for cp in rows:
                body = {
                    "seq": cp.seq,
                    "hash": cp.hash,
                    "at": cp.at,
                    "key_id": cp.key_id,
                    "signature": cp.signature,
                    "public_key_pem": pem,
                }
                outbox.enqueue(tx, p.name, "checkpoint", body, at)
            if rows:
                peers.checkpoints_sent(tx, p.name, rows[-1].seq)

    def _queue_pings(self, tx: Tx) -> None:
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        for p in peers.all_peers(tx):
            idle = p.last_ok_at is None or now - p.last_ok_at >= self.ping_s
            if idle and not outbox.has_pending(tx, p.name, "link.ping", p.delivered_seq):
                outbox.enqueue(tx, p.name, "link.ping", {"at": now}, at)

    def _queue_tracks(self) -> None:
        assert self.tracks is not None
        live = self.tracks()

        def run(tx: Tx) -> None:
            at = datetime.fromtimestamp(self.clock(), UTC)
            hosted = peers.hosted(tx)
            shown = release.Shown("federation", at)
            for party, peer in sorted(hosted.items()):
                mine = [t for t in live if t.party not in hosted]
                for sender in sorted({t.party for t in mine}):
                    out = release.view_tracks(
                        tx, [t for t in mine if t.party == sender], party, shown
                    )
                    d = digest(out)
                    if self._tracks_sent.get((sender, party)) == d:
                        continue
                    self._tracks_sent[(sender, party)] = d
                    body = {"from": sender, "to": party, "tracks": out}
                    level, _ = release.agreed_level(tx, sender, party, "track")
                    if out or level.value in ("full", "extent"):
                        outbox.enqueue(tx, peer, "tracks", body, at)
            release.record(tx, shown.items.values(), "federation", at)

        self._write(run)

    def _health(self, tx: Tx) -> None:
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        for p in peers.all_peers(tx):
            ok = p.last_ok_at is not None and now - p.last_ok_at <= 3 * self.ping_s
            for party in p.parties:
                if ok:
                    link_up(tx, party, at)
                else:
                    error = f"node {p.name} not heard from" + (
                        f": {p.last_error}" if p.last_error else ""
                    )
                    links.record(tx, party, False, None, error[:300], 3, at)

    # --- delivery ------------------------------------------------------------------------
    def _deliver_fenced(self, peer: peers.Peer) -> int:
        try:
            return self._deliver(peer)
        except LeaseLost:
            self._lost()
            return 0

    def _deliver(self, peer: peers.Peer) -> int:
        batch = self.store.read_tx(
            lambda tx: outbox.pending(tx, peer.name, peer.delivered_seq, self.batch, self.max_bytes)
        )
        if not batch:
            return 0
        batch = outbox.coalesce(batch)
        doc = {
            "from": self.key.key_id,
            "to": peer.key_id,
            "messages": [m.as_json() for m in batch],
        }
        body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        now = self.clock()
        headers = signatures.sign_request(
            self.key.private,
            self.key.key_id,
            method="POST",
            path=INBOX_PATH,
            body=body,
            to_key_id=peer.key_id,
            now=now,
        )
        headers["user-agent"] = "deconfliction-federation"
        self._cover_post()
        error: str | None = None
        wait_s = 0.0
        applied = -1
        try:
            status, rheaders, rbody = self.post(peer.url, INBOX_PATH, body, headers, self.timeout_s)
            if status != 200:
                error = f"HTTP {status}: {rbody[:200].decode('utf-8', 'replace')}"
                wait_s = _retry_after(status, rheaders)
            else:
                signatures.verify_response(
                    load_public(peer.public_key_pem),
                    status=status,
                    headers=rheaders,
                    body=rbody,
                    key_id=peer.key_id,
                    to_key_id=self.key.key_id,
                    now=self.clock(),
                )
                answer = json.loads(rbody)
                if answer.get("request_nonce") != _nonce(headers):
                    raise signatures.SignatureError("the answer is not to this request")
                applied = int(answer["applied_through"])
        except (OSError, ValueError, KeyError, signatures.SignatureError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        if error is not None:
            self._write(lambda tx: self._retry_later(tx, peer.name, error, wait_s))
            return 0
        moved: int = self._write(lambda tx: self._advance(tx, peer.name, applied))
        if moved and applied < batch[-1].seq:
            self.wake.set()  # a gap or a short answer: go on at once
        return moved

    def _advance(self, tx: Tx, name: str, applied: int) -> int:
        """Move the cursor (in a transaction fenced by the lease: ``_write``)."""
        peer = peers.get(tx, name)
        if peer is None:
            return 0
        now = self.clock()
        moved = max(0, min(applied, peer.next_seq) - peer.delivered_seq)
        peers.delivered(tx, name, max(peer.delivered_seq, min(applied, peer.next_seq)))
        heard_from(tx, peer, now, datetime.fromtimestamp(now, UTC))
        outbox.prune(tx, name, peer.delivered_seq + moved, self.keep)
        return moved

    def _retry_later(self, tx: Tx, name: str, error: str, wait_s: float = 0.0) -> None:
        """Try again after a backoff, or after the ``Retry-After`` the peer asked for (a 503
        while its database is away, a 429), if longer."""
        peer = peers.get(tx, name)
        if peer is None:
            return
        attempts = peer.attempts + 1
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempts - 1))
        delay = max(delay, wait_s)
        peers.failed(tx, name, attempts, self.clock() + delay, error)

    # --- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="federation", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except ServiceUnavailable as exc:  # the database is away: try again next cycle
                log.warning("federation delivery: %s", exc.user_message)
                busy = 0
            except Exception:  # the store is closing, or a bug: log it, keep the thread alive
                log.exception("federation cycle failed")
                busy = 0
            if not busy:
                self.wake.wait(min(self.interval_s, self.ping_s / 2))
                self.wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._conns.close()
        self._release()


def _page(local: str, remote: str, at: datetime, after: str) -> Callable[[Tx], str | None]:
    """One page of ``views.sync_pair``: where the next starts, or None at the end."""
    return lambda tx: views.sync_pair(tx, local, remote, at, after=after, limit=500)


#: Longest ``Retry-After`` a peer's answer is taken at (a longer one waits this long).
MAX_RETRY_AFTER_S = 60.0


def _retry_after(status: int, headers: dict[str, str]) -> float:
    """Seconds a 503 or a 429 asks the sender to wait (0 for anything else)."""
    value = headers.get("retry-after", "")
    if status not in (429, 503) or not value.isdigit():
        return 0.0
    return min(float(value), MAX_RETRY_AFTER_S)


def _nonce(headers: dict[str, str]) -> str:
    signed, _, _ = signatures.parse(headers, signatures.REQUEST_COMPONENTS)
    return signed.nonce
