"""Link liveness: every party proves on a schedule that it is there, or is degraded.

A party proves it in either of two ways (either is enough):

- **its webhook answers a signed ping**: a POST to the party's webhook URL of ``{"type": "ping",
  "nonce": ..., "at": ...}`` signed like every webhook (``Deconfliction-Signature``), answered
  2xx with a JSON body echoing the nonce, within the timeout;
- **its clients hold a heartbeat**: an authenticated call (``POST /v1/links/heartbeat``, the
  caller's signed token saying who it is; an open event stream beats too) within the last
  ``heartbeat_window_s``.

Every round checks every registered party and is recorded. After ``threshold`` failed rounds in
a row the party is **degraded**: its F3548 availability becomes ``Down`` (so DSS clients, per
the standard, may plan over its Accepted intents), its webhook's delivery pauses
(``webhooks.hold``: its backlog waits, nothing is dead-lettered), and it and its agreement
partners get a ``link.degraded`` event. The first good answer or heartbeat restores it
(``Normal``, ``link.restored``); a heartbeat does so at once.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

from ..alerts.webhooks import SIGNATURE_HEADER, endpoints, hold, probe_soon, sign
from ..audit import digest
from ..store import availability as uss_availability
from ..store.base import Store, Tx, iso
from .agreements import all_active

#: ``ping(url, body, headers, timeout_s)`` -> (HTTP status, response body); OSError if no answer.
Ping = Callable[[str, bytes, dict[str, str], float], tuple[int, bytes]]


def urllib_ping(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return int(resp.status), resp.read(4096)
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


class LinkStatus(TypedDict):
    """A party's link as last checked (``unknown`` before the first round)."""

    party: str
    #: "unknown", "up" or "degraded"
    state: str
    #: failed rounds in a row
    failures: int
    last_ok: str | None
    last_check: str | None
    last_error: str | None
    latency_ms: float | None


def status(tx: Tx, party: str) -> LinkStatus:
    r = tx.x(
        "SELECT state, failures, last_ok, last_check, last_error, latency_ms FROM link_status "
        "WHERE party = ?",
        (party,),
    ).fetchone()
    if r is None:
        return {
            "party": party,
            "state": "unknown",
            "failures": 0,
            "last_ok": None,
            "last_check": None,
            "last_error": None,
            "latency_ms": None,
        }
    return {
        "party": party,
        "state": r[0],
        "failures": int(r[1]),
        "last_ok": r[2],
        "last_check": r[3],
        "last_error": r[4],
        "latency_ms": r[5],
    }


def partners(tx: Tx, party: str) -> list[str]:
    return sorted({p for ag in all_active(tx) if party in ag.parties for p in ag.parties} - {party})


def record(
    tx: Tx,
    party: str,
    ok: bool,
    latency_ms: float | None,
    error: str | None,
    threshold: int,
    at: datetime,
) -> str:
    """Record one check; returns the party's state after it ("up", "degraded", or "unknown"
    before any proof)."""
    before = status(tx, party)
    failures = 0 if ok else before["failures"] + 1
    state = "up" if ok else ("degraded" if failures >= threshold else before["state"])
    if state == "unknown":
        state = "up" if ok else "unknown"
    tx.x(
        "INSERT INTO link_checks (party, at, ok, latency_ms, error) VALUES (?, ?, ?, ?, ?)",
        (party, iso(at), 1 if ok else 0, latency_ms, error),
    )
    tx.x(
        "INSERT INTO link_status (party, state, failures, last_ok, last_check, last_error, "
        "latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (party) DO UPDATE SET "
        "state = excluded.state, failures = excluded.failures, last_ok = excluded.last_ok, "
        "last_check = excluded.last_check, last_error = excluded.last_error, "
        "latency_ms = excluded.latency_ms",
        (
            party,
            state,
            failures,
            iso(at) if ok else before["last_ok"],
            iso(at),
            None if ok else error,
            latency_ms,
        ),
    )
    if state != before["state"] and "degraded" in (state, before["state"]):
        kind = "link.degraded" if state == "degraded" else "link.restored"
        availability = "Down" if state == "degraded" else "Normal"
        uss_availability.put(tx, party, availability, secrets.token_urlsafe(32))
        note = {"party": party, "state": state, "failures": failures}
        for p in [party, *partners(tx, party)]:
            tx.event(p, kind, note, at)
        tx.audit(at, "service", kind, party, digest(note))
        if state == "degraded":
            hold(tx, party, at)
    return state


#: Clients that hold a heartbeat call at least this often (seconds); a round counts one as
#: present within ``HEARTBEAT_WINDOW_S``.
HEARTBEAT_EVERY_S = 30.0
HEARTBEAT_WINDOW_S = 90.0


def lock(party: str) -> str:
    """What a write of ``party``'s link state alone names (``Store.write_tx``), so that it runs
    beside other writes on a server database (a round of checks takes the whole store)."""
    return f"link:{party}"


def heartbeat(tx: Tx, party: str, client: str, at: datetime, threshold: int = 3) -> dict[str, Any]:
    """A signed heartbeat from one of ``party``'s clients (``client`` names it: "map", "cli",
    a feed...): recorded; a party that is not up (unknown or degraded) is up from now."""
    tx.x(
        "INSERT INTO link_heartbeats (party, at, at_s, client) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (party) DO UPDATE SET at = excluded.at, at_s = excluded.at_s, "
        "client = excluded.client",
        (party, iso(at), at.timestamp(), client),
    )
    if status(tx, party)["state"] != "up":
        record(tx, party, True, None, None, threshold, at)
    return {**status(tx, party), "heartbeat_at": iso(at), "next_within_s": HEARTBEAT_EVERY_S}


def last_heartbeat(tx: Tx, party: str) -> float | None:
    row = tx.x("SELECT at_s FROM link_heartbeats WHERE party = ?", (party,)).fetchone()
    return None if row is None else float(row[0])


class LinkChecker:
    """Checks every registered party once per ``run_once`` (a round; the clock is injectable):
    its webhook's answer to a ping, or its clients' last heartbeat."""

    def __init__(
        self,
        store: Store,
        *,
        ping: Ping = urllib_ping,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 5.0,
        threshold: int = 3,
        heartbeat_window_s: float = HEARTBEAT_WINDOW_S,
    ) -> None:
        self.store, self.ping, self.clock = store, ping, clock
        self.timeout_s, self.threshold = timeout_s, threshold
        self.heartbeat_window_s = heartbeat_window_s

    def run_once(self) -> dict[str, str]:
        def read(tx: Tx) -> list[tuple[str, str | None, str | None, float | None]]:
            hooks = endpoints(tx)
            parties = tx.party_ids()
            return [(p, *hooks.get(p, (None, None)), last_heartbeat(tx, p)) for p in parties]

        states = {}
        for party, url, secret, beat in self.store.read_tx(read):
            fresh = beat is not None and self.clock() - beat <= self.heartbeat_window_s
            pinged, latency, error = False, None, None
            if url is not None and secret is not None:
                pinged, latency, error = self._check(url, secret)
            ok = pinged or fresh
            if not ok:
                silent = f"no heartbeat within {self.heartbeat_window_s:g} s"
                error = f"{error}; {silent}" if error else f"no webhook; {silent}"
            at = datetime.fromtimestamp(self.clock(), UTC)

            def write(
                tx: Tx,
                p: str = party,
                o: bool = ok,
                lat: float | None = latency,
                e: str | None = error,
                t: datetime = at,
                pg: bool = pinged,
            ) -> str:
                if pg:
                    probe_soon(tx, p)  # its endpoint answers: a paused webhook tries again now
                return record(tx, p, o, lat, e, self.threshold, t)

            states[party] = self.store.write_tx(write)
        return states

    def _check(self, url: str, secret: str) -> tuple[bool, float | None, str | None]:
        nonce = secrets.token_urlsafe(16)
        now = self.clock()
        body = json.dumps({"type": "ping", "nonce": nonce, "at": now}).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body, int(now)),
            "User-Agent": "deconfliction-link-check",
        }
        t0 = time.perf_counter()
        try:
            code, answer = self.ping(url, body, headers, self.timeout_s)
        except (OSError, ValueError) as exc:
            return False, None, f"{type(exc).__name__}: {exc}"[:300]
        latency = (time.perf_counter() - t0) * 1000.0
        if not 200 <= code < 300:
            return False, latency, f"HTTP {code}"
        try:
            echoed = json.loads(answer).get("nonce")
        except (ValueError, AttributeError):
            echoed = None
        if echoed != nonce:
            return False, latency, "the answer does not echo the nonce"
        return True, latency, None
