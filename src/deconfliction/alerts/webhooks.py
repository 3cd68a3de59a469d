"""Webhooks: each party's outbox events POSTed to its URL, signed, at least once, in order.

- **Order.** A party's events go one at a time in ``seq`` order; the next is sent only when the
  one before was answered 2xx (or given up on). The delivery cursor (``delivered_seq``) is
  committed after each success, so a restart resumes where delivery stood. An event may arrive
  twice (sent, then the process died before the cursor moved): receivers de-duplicate on the
  ``Idempotency-Key`` header (``PARTY:SEQ``), or on the body's ``id``.
- **Signature.** ``Deconfliction-Signature: t=UNIX_TIME,v1=HEX``: HMAC-SHA256 with the party's
  secret over ``"{t}." + body`` (``verify_signature`` checks one, in constant time, and refuses
  old timestamps so a captured request cannot be replayed later).
- **Retries.** A failure (no answer within the timeout, a refused connection, a non-2xx) waits
  ``base_delay_s * 2**(attempts-1)`` (at most ``max_delay_s``) before the same event is tried
  again. After ``max_attempts``:

  - an event the receiver *refused* (it answered, with a 4xx or a 5xx other than 502, 503 and
    504; 408 and 429 excepted) goes to the dead letters, visible to its party, and delivery
    moves on; but after ``pause_after_refused`` dead letters in a row, delivery pauses instead,
    so dead letters stay bounded;
  - an endpoint that is *unavailable* (no answer, or 408, 429, 502, 503, 504) pauses delivery;
    nothing is dead-lettered for being unreachable, and never the party's own ``link.*`` events.

- **Paused.** While paused, and while the party's link is degraded (``hold``), one request a
  ``probe_s`` tries the next event; the first that gets through resumes delivery where it stood,
  in order (nothing is lost: the backlog is the outbox itself). A good ping from the link check
  brings the next try forward (``probe_soon``).
- **Coalesced.** A live alert's ``*.updated`` event already superseded, when its turn comes, by
  a later update or the clearing of the same alert is not sent (the later one carries the
  current numbers); the event stream keeps it. Only a backlog has such events.
- **One deliverer.** Several API processes may share a database; only the holder of the
  ``webhooks`` lease delivers, so order holds across processes (``alerts.leases``). The lease
  covers every delivery made under it: before each POST the dispatcher renews it if less than
  a POST's timeout (plus ``LEASE_MARGIN_S``) of it is left, and each move of a cursor renews
  it in the same transaction, fenced by its token; a dispatcher that lost the lease (stalled
  past it) stops before its next POST and cannot move a cursor. A clean stop releases it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from ..audit import digest
from ..errors import ServiceUnavailable
from ..store.base import Store, Tx, iso
from . import leases
from .outbox import Event, events_after, last_seq

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Deconfliction-Signature"
#: A signature older (or newer) than this is refused by ``verify_signature``.
SIGNATURE_TOLERANCE_S = 300.0
LEASE = "webhooks"
#: Lease left over a POST's timeout before the POST starts (else it is renewed first).
LEASE_MARGIN_S = 1.0

#: ``send(url, body, headers, timeout_s)`` -> HTTP status; raises OSError when nothing answers.
Send = Callable[[str, bytes, dict[str, str], float], int]


def sign(secret: str, body: bytes, t: int) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` with ``secret``, made recently."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class Webhook:
    party: str
    url: str
    delivered_seq: int
    attempts: int
    next_attempt_at: float
    last_error: str | None
    #: delivery paused (an unavailable endpoint, or the party's link degraded) since then
    paused_since: str | None = None
    #: events dead-lettered in a row (reset by a delivery)
    refused_in_row: int = 0


_COLUMNS = (
    "party, url, delivered_seq, attempts, next_attempt_at, last_error, paused_since, refused_in_row"
)


def _row(r: Any) -> Webhook:
    return Webhook(r[0], r[1], int(r[2]), int(r[3]), float(r[4]), r[5], r[6], int(r[7]))


#: The kinds of live alert whose updates a later event of the same alert supersedes.
ALERT_KINDS = ("tactical", "area", "conformance")
#: HTTP answers that say the endpoint is unavailable rather than refusing the event.
UNAVAILABLE = frozenset({408, 429, 502, 503, 504})
#: Events read ahead of the cursor, to find superseded alert updates.
LOOKAHEAD = 500


def superseded(events: list[Event]) -> set[int]:
    """The seqs of live-alert ``*.updated`` events followed, within ``events`` (in order), by
    another update or the clearing of the same alert."""
    last: dict[tuple[str, str], int] = {}
    out: set[int] = set()
    for ev in reversed(events):
        kind, _, change = ev.type.partition(".")
        if kind not in ALERT_KINDS or ev.payload.get("kind") != kind:
            continue
        key = (kind, json.dumps(ev.payload.get("key")))
        if change == "updated" and key in last:
            out.add(ev.seq)
        if change in ("updated", "cleared"):
            last.setdefault(key, ev.seq)
        elif change == "raised":
            last.pop(key, None)  # an update before a new raise is not superseded by it
    return out


def hold(tx: Tx, party: str, at: datetime) -> None:
    """Pause the party's webhook (its link is degraded): from now on a failure waits for the
    next probe instead of being retried and dead-lettered."""
    tx.x(
        "UPDATE webhooks SET paused_since = ? WHERE party = ? AND paused_since IS NULL",
        (iso(at), party),
    )


def probe_soon(tx: Tx, party: str) -> None:
    """The party's endpoint answered a ping: try its paused webhook at once."""
    tx.x(
        "UPDATE webhooks SET next_attempt_at = 0 WHERE party = ? AND paused_since IS NOT NULL",
        (party,),
    )


def put_webhook(tx: Tx, party: str, url: str, secret: str, actor: str, at: datetime) -> Webhook:
    """Set a party's webhook. A new one starts after the party's last event (the event stream
    gives what came before); a changed one keeps its place, and is tried at once."""
    old = get_webhook(tx, party)
    if old is None:
        tx.x(
            "INSERT INTO webhooks (party, url, secret, delivered_seq, attempts, next_attempt_at, "
            "last_error, updated_at) VALUES (?, ?, ?, ?, 0, 0, NULL, ?)",
            (party, url, secret, last_seq(tx, party), iso(at)),
        )
    else:
        tx.x(
            "UPDATE webhooks SET url = ?, secret = ?, attempts = 0, next_attempt_at = 0, "
            "last_error = NULL, paused_since = NULL, refused_in_row = 0, updated_at = ? "
            "WHERE party = ?",
            (url, secret, iso(at), party),
        )
    tx.audit(at, actor, "webhook.put", party, digest({"url": url}))
    hook = get_webhook(tx, party)
    assert hook is not None
    return hook


def get_webhook(tx: Tx, party: str) -> Webhook | None:
    r = tx.x(f"SELECT {_COLUMNS} FROM webhooks WHERE party = ?", (party,)).fetchone()
    return None if r is None else _row(r)


def endpoints(tx: Tx) -> dict[str, tuple[str, str]]:
    """Every party's webhook: its url and secret, by party."""
    return {r[0]: (r[1], r[2]) for r in tx.x("SELECT party, url, secret FROM webhooks").fetchall()}


def delete_webhook(tx: Tx, party: str, actor: str, at: datetime) -> bool:
    if get_webhook(tx, party) is None:
        return False
    tx.x("DELETE FROM webhooks WHERE party = ?", (party,))
    tx.audit(at, actor, "webhook.deleted", party, digest({"party": party}))
    return True


def pending(tx: Tx, party: str, after_seq: int) -> int:
    return tx.events_pending(party, after_seq)


def dead_letters(tx: Tx, party: str) -> list[dict[str, Any]]:
    rows = tx.x(
        "SELECT seq, attempts, last_error, at FROM webhook_dead_letters "
        "WHERE party = ? ORDER BY seq",
        (party,),
    ).fetchall()
    events = tx.events_by_seq([int(r[0]) for r in rows])
    out = []
    for r in rows:
        if int(r[0]) not in events:  # only the letters whose event the outbox still holds
            continue
        type_, payload, created_at = events[int(r[0])]
        event = Event(int(r[0]), party, type_, {}, created_at)
        out.append(
            {
                "event": {**event.as_json(), "payload": json.loads(payload)},
                "attempts": int(r[1]),
                "last_error": r[2],
                "given_up_at": r[3],
            }
        )
    return out


def take_lease(tx: Tx, name: str, holder: str, now: float, ttl_s: float) -> bool:
    """Take or renew a lease: True if ``holder`` holds it until ``now + ttl_s``."""
    return leases.take(tx, name, holder, now, ttl_s) is not None


class LeaseLost(Exception):
    """The dispatcher's lease went to another process: stop delivering, move no cursor."""


def urllib_send(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Dispatcher:
    """Delivers every party's webhook events; ``run_once`` is one cycle, ``start`` runs cycles
    in a thread. ``clock`` and ``send`` are injectable for tests."""

    def __init__(
        self,
        store: Store,
        *,
        send: Send = urllib_send,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 5.0,
        max_attempts: int = 8,
        base_delay_s: float = 0.5,
        max_delay_s: float = 300.0,
        lease_s: float = 10.0,
        interval_s: float = 0.2,
        probe_s: float = 60.0,
        pause_after_refused: int = 3,
    ) -> None:
        self.store = store
        self.send = send
        self.clock = clock
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.probe_s = probe_s
        self.pause_after_refused = pause_after_refused
        self.lease_s = lease_s
        self.interval_s = interval_s
        if lease_s < timeout_s + 2 * LEASE_MARGIN_S:
            raise ValueError("lease_s must exceed timeout_s by 2 s at least: a POST is covered")
        self.holder = f"dispatcher-{uuid.uuid4()}"
        #: the lease held this cycle: (fencing token, when it was last renewed), or None
        self._lease: tuple[int, float] | None = None
        self._lease_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook")

    # --- one cycle -----------------------------------------------------------------------
    def run_once(self) -> int:
        """Deliver what is due; returns how many events were delivered or given up on."""
        now = self.clock()
        if not self._take_lease(now):
            return 0
        hooks: list[Webhook] = self.store.read_tx(
            lambda tx: [_row(r) for r in tx.x(f"SELECT {_COLUMNS} FROM webhooks").fetchall()]
        )
        due = [h for h in hooks if h.next_attempt_at <= now]
        return sum(self._pool.map(self._deliver_party_fenced, due))

    # --- the lease that covers every delivery --------------------------------------------
    def _take_lease(self, now: float) -> bool:
        token = self.store.write_tx(
            lambda tx: leases.take(tx, LEASE, self.holder, now, self.lease_s),
            lock=leases.lock(LEASE),
        )
        with self._lease_lock:
            self._lease = None if token is None else (token, now)
        return token is not None

    def _fence(self, tx: Tx) -> None:
        """In a transaction that writes under the lease: renew it, or raise ``LeaseLost``
        (rolling the transaction back) if another process has taken it."""
        with self._lease_lock:
            held = self._lease
        now = self.clock()
        if held is None or not leases.renew(tx, LEASE, self.holder, held[0], now, self.lease_s):
            raise LeaseLost
        with self._lease_lock:
            if self._lease is not None and self._lease[0] == held[0]:
                self._lease = (held[0], max(self._lease[1], now))

    def _cover_post(self) -> None:
        """Before a POST: make sure the lease outlasts it (renewing it if needed)."""
        with self._lease_lock:
            held = self._lease
        if held is None:
            raise LeaseLost
        if self.clock() - held[1] > self.lease_s - self.timeout_s - LEASE_MARGIN_S:
            self.store.write_tx(self._fence, lock=leases.lock(LEASE))

    def _deliver_party_fenced(self, hook: Webhook) -> int:
        try:
            return self._deliver_party(hook)
        except LeaseLost:
            log.warning("webhook lease lost to another process; delivery stops here")
            with self._lease_lock:
                self._lease = None
            return 0

    def _release_lease(self) -> None:
        try:
            self.store.write_tx(
                lambda tx: leases.release(tx, LEASE, self.holder), lock=leases.lock(LEASE)
            )
        except Exception:  # the store may be closing or out of reach: the lease runs out
            log.info("webhook lease not released; it runs out by itself")

    def _deliver_party(self, hook: Webhook) -> int:
        secret_row = self.store.read_tx(
            lambda tx: tx.x("SELECT secret FROM webhooks WHERE party = ?", (hook.party,)).fetchone()
        )
        if secret_row is None:
            return 0
        secret: str = secret_row[0]
        events: list[Event] = self.store.read_tx(
            lambda tx: events_after(tx, hook.party, hook.delivered_seq, LOOKAHEAD)
        )
        skip = superseded(events)
        done = 0
        attempts = hook.attempts
        held = hook.paused_since is not None
        refused = hook.refused_in_row
        for ev in events[:100]:
            if ev.seq in skip:
                self.store.write_tx(
                    partial(
                        self._advance,
                        hook=hook,
                        seq=ev.seq,
                        error=None,
                        attempts=0,
                        refused_in_row=refused,
                        paused=held,
                    )
                )
                done += 1
                continue
            error = self._post(hook, secret, ev)
            if error is None:
                self.store.write_tx(
                    partial(self._advance, hook=hook, seq=ev.seq, error=None, attempts=0)
                )
                attempts, held, refused = 0, False, 0
                done += 1
                continue
            attempts += 1
            verdict = self._verdict(hook, ev, error, attempts, held, refused)
            if verdict == "dead":
                refused += 1
                self.store.write_tx(
                    partial(
                        self._advance,
                        hook=hook,
                        seq=ev.seq,
                        error=error,
                        attempts=attempts,
                        refused_in_row=refused,
                    )
                )
                attempts = 0
                done += 1
                continue
            if verdict == "pause":
                self.store.write_tx(
                    partial(
                        self._retry_later,
                        hook=hook,
                        attempts=attempts,
                        error=error,
                        delay=self.probe_s,
                        pause=True,
                    )
                )
                break
            delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempts - 1))
            self.store.write_tx(
                partial(self._retry_later, hook=hook, attempts=attempts, error=error, delay=delay)
            )
            break
        return done

    def _verdict(
        self, hook: Webhook, ev: Event, error: str, attempts: int, held: bool, refused: int
    ) -> str:
        """What a failed try leads to: "retry" (after the backoff), "dead" (dead-letter it and
        move on) or "pause" (wait for the next probe); see the module's docstring."""
        if held:
            return "pause"
        if attempts < self.max_attempts:
            return "retry"
        status = int(error[5:]) if error.startswith("HTTP ") else None
        own_link = ev.type.startswith("link.") and ev.payload.get("party") == hook.party
        if status is None or status in UNAVAILABLE or own_link:
            return "pause"
        return "pause" if refused >= self.pause_after_refused else "dead"

    def _post(self, hook: Webhook, secret: str, ev: Event) -> str | None:
        self._cover_post()
        body = ev.body()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{hook.party}:{ev.seq}",
            SIGNATURE_HEADER: sign(secret, body, int(self.clock())),
            "User-Agent": "deconfliction-webhooks",
        }
        try:
            status = self.send(hook.url, body, headers, self.timeout_s)
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    def _advance(
        self,
        tx: Tx,
        hook: Webhook,
        seq: int,
        error: str | None,
        attempts: int,
        refused_in_row: int = 0,
        *,
        paused: bool = False,
    ) -> None:
        """Move the cursor past ``seq`` (delivered, skipped, or given up on with ``error``);
        delivery stays paused only if ``paused`` (an event skipped while paused)."""
        self._fence(tx)
        if error is not None:
            tx.x(
                "INSERT INTO webhook_dead_letters (party, seq, attempts, last_error, at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (party, seq) DO NOTHING",
                (hook.party, seq, attempts, error, iso(datetime.now(UTC))),
            )
        tx.x(
            "UPDATE webhooks SET delivered_seq = ?, attempts = 0, next_attempt_at = 0, "
            "last_error = ?, refused_in_row = ? WHERE party = ? AND delivered_seq < ?",
            (seq, error, refused_in_row, hook.party, seq),
        )
        if not paused:
            tx.x("UPDATE webhooks SET paused_since = NULL WHERE party = ?", (hook.party,))

    def _retry_later(
        self,
        tx: Tx,
        hook: Webhook,
        attempts: int,
        error: str,
        delay: float,
        *,
        pause: bool = False,
    ) -> None:
        self._fence(tx)
        now = self.clock()
        tx.x(
            "UPDATE webhooks SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE party = ?",
            (attempts, now + delay, error, hook.party),
        )
        if pause:
            hold(tx, hook.party, datetime.fromtimestamp(now, UTC))

    # --- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except ServiceUnavailable as exc:  # the database is away: try again next cycle
                log.warning("webhook delivery: %s", exc.user_message)
                busy = 0
            except Exception:  # the store is closing, or a bug: log it, keep the thread alive
                log.exception("webhook delivery cycle failed")
                busy = 0
            if not busy:
                self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._release_lease()
