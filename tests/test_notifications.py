"""Notifications: webhooks and the event stream deliver every event, in order, through failures.

Receivers de-duplicate on the event id (at least once is the promise); after that, what arrived
must be exactly the party's events in commit order: through a receiver that fails, times out and
restarts, a stream client that disconnects and resumes, and a server killed mid-burst.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from deconfliction.alerts.outbox import events_after
from deconfliction.alerts.webhooks import (
    Dispatcher,
    get_webhook,
    probe_soon,
    put_webhook,
    verify_signature,
)
from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
from deconfliction.exchange.links import record
from deconfliction.model import IntentDraft, RecordKind
from deconfliction.store import SqliteStore, Store
from helpers import box, free_port, volume
from test_crash import _intent, _start

SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """A webhook receiver on loopback: ``plan(n)`` says what to do with the n-th request
    ("ok", "fail": answer 500, "slow": take longer than the sender waits, then keep it)."""

    def __init__(self, plan: Callable[[int], str] = lambda n: "ok") -> None:
        self.plan = plan
        self.port = free_port()
        self.received: list[int] = []
        self.keys: list[str] = []
        self.bad_signatures = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.requests += 1
                    mode = outer.plan(outer.requests)
                if mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                if mode == "slow":
                    time.sleep(0.5)
                sig = self.headers.get("Deconfliction-Signature", "")
                event = json.loads(body)
                with outer.lock:
                    if not verify_signature(SECRET, sig, body):
                        outer.bad_signatures += 1
                    outer.received.append(int(event["id"]))
                    outer.keys.append(self.headers.get("Idempotency-Key", ""))
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def restart(self, down_s: float) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def unique(self) -> list[int]:
        """What arrived, duplicates dropped (first arrival kept)."""
        seen: set[int] = set()
        out = []
        with self.lock:
            for i in self.received:
                if i not in seen:
                    seen.add(i)
                    out.append(i)
        return out


def _wait(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _all_seqs(store: Store, party: str) -> list[int]:
    return [e["seq"] for e in store.outbox_events(party)]


@pytest.fixture
def flaky() -> Iterator[Receiver]:
    r = Receiver(lambda n: "fail" if n % 7 == 3 else "slow" if n % 11 == 5 else "ok")
    yield r
    r.stop()


def test_webhooks_arrive_once_each_in_order_through_failures(store: Store, flaky: Receiver) -> None:
    store.write_tx(lambda tx: put_webhook(tx, "FR", flaky.url, SECRET, "FR", datetime.now(UTC)))
    dispatcher = Dispatcher(
        store,
        timeout_s=0.2,
        base_delay_s=0.01,
        max_delay_s=0.05,
        interval_s=0.01,
        max_attempts=1000,  # never give up here: the receiver comes back
    )
    dispatcher.start()
    try:
        for i in range(120):
            fp = box(i * 0.1, 10, i * 0.1 + 0.05, 10.05)
            store.create(
                RecordKind.INTENT, None, "FR", IntentDraft(volumes=[volume(fp)]), actor="FR"
            )
            if i == 40:
                flaky.restart(down_s=0.3)  # the receiver goes away for a while mid-burst
        expected = _all_seqs(store, "FR")
        assert len(expected) == 120
        _wait(lambda: flaky.unique() == expected, 60, "every event at the receiver")
    finally:
        dispatcher.stop()
    assert flaky.bad_signatures == 0
    assert len(flaky.received) > len(expected)  # the slow answers made duplicates
    assert all(k == f"FR:{i}" for k, i in zip(flaky.keys, flaky.received, strict=True))
    dead = store.read_tx(lambda tx: tx.x("SELECT COUNT(*) FROM webhook_dead_letters").fetchone())
    assert dead[0] == 0


def test_events_given_up_on_go_to_the_dead_letters(api: Any) -> None:
    store = api.client.app.state.store
    down = Receiver(lambda n: "fail")
    try:
        r = api.put("/v1/webhook", "FR", json={"url": down.url, "secret": SECRET})
        assert r.status_code == 200 and r.json()["pending"] == 0
        bad = api.put("/v1/webhook", "FR", json={"url": "ftp://x", "secret": "short"})
        assert bad.status_code == 422
        assert {e["pointer"] for e in bad.json()["errors"]} == {"/url", "/secret"}
        for i in (1, 2):
            draft = IntentDraft(volumes=[volume(box(i, 1, i + 0.1, 1.1))])
            store.create(RecordKind.INTENT, f"I{i}", "FR", draft, actor="FR")
        now = [1000.0]
        d = Dispatcher(store, clock=lambda: now[0], max_attempts=3, base_delay_s=1.0)
        try:
            for _ in range(20):
                d.run_once()
                now[0] += 10.0  # past every backoff
        finally:
            d.stop()
        dead = api.get("/v1/webhook/dead-letters", "FR").json()["dead_letters"]
        assert [x["event"]["payload"]["id"] for x in dead] == ["I1", "I2"]
        assert all(x["attempts"] == 3 and x["last_error"] == "HTTP 500" for x in dead)
        assert down.requests == 6
        status = api.get("/v1/webhook", "FR").json()
        assert status["pending"] == 0 and status["delivered_seq"] == dead[-1]["event"]["id"]
        assert api.get("/v1/webhook", "RU").status_code == 404
    finally:
        down.stop()


class StreamClient:
    """Reads ``/v1/events`` in a thread, hanging up after every ``per_connection`` events and
    resuming with ``Last-Event-ID``; rides out a server that goes away and comes back."""

    def __init__(self, base: str, token: str, per_connection: int = 25) -> None:
        self.base, self.token, self.per = base, token, per_connection
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def last(self) -> int:
        return self.events[-1][0] if self.events else 0

    def _run(self) -> None:
        while not self.stop.is_set():
            headers = {"Authorization": f"Bearer {self.token}", "Last-Event-ID": str(self.last)}
            try:
                with httpx.stream(
                    "GET", f"{self.base}/v1/events", headers=headers, timeout=httpx.Timeout(2.0)
                ) as r:
                    assert r.status_code == 200
                    self.connections += 1
                    got, eid = 0, None
                    for line in r.iter_lines():
                        if line.startswith("id: "):
                            eid = int(line[4:])
                        elif line.startswith("data: ") and eid is not None:
                            self.events.append((eid, json.loads(line[6:])))
                            got += 1
                        if got >= self.per or self.stop.is_set():
                            break
            except httpx.TransportError:
                time.sleep(0.1)

    def ids(self) -> list[int]:
        return [i for i, _ in self.events]


def test_stream_and_webhooks_deliver_everything_across_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = dev_private_key(data)
    admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
    fr_token = mint_token(key, "FR")
    fr = {"Authorization": f"Bearer {fr_token}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receiver = Receiver(lambda n: "fail" if n % 9 == 4 else "ok")
    proc = _start(data, port)
    acked: list[str] = []
    client: StreamClient | None = None
    try:
        r = httpx.post(f"{base}/v1/parties", json={"id": "FR", "name": "France"}, headers=admin)
        assert r.status_code == 201
        hook = httpx.put(
            f"{base}/v1/webhook", json={"url": receiver.url, "secret": SECRET}, headers=fr
        )
        assert hook.status_code == 200
        client = StreamClient(base, fr_token)

        def live() -> bool:  # an open event stream is the party's heartbeat
            got = httpx.get(f"{base}/v1/links", headers=fr, timeout=5).json()["links"]
            return bool(got[0]["party"] == "FR" and got[0]["state"] == "up")

        _wait(live, 30, "the event stream's heartbeat")

        def writer(k: int) -> None:
            with httpx.Client(timeout=5) as c:
                for i in range(k, 100_000, 3):
                    try:
                        w = c.post(f"{base}/v1/intents", json=_intent(i), headers=fr)
                    except httpx.TransportError:
                        return
                    if w.status_code == 201:
                        acked.append(f"W{i}")

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        _wait(lambda: len(acked) >= 80, 60, "a burst of writes")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for t in threads:
            t.join(timeout=30)
        proc = _start(data, port)  # same data: the outbox and delivery cursors survive

        def drained() -> bool:
            status = httpx.get(f"{base}/v1/webhook", headers=fr, timeout=5).json()
            return bool(status["pending"] == 0)

        _wait(drained, 60, "webhook delivery to catch up")
        last = httpx.get(f"{base}/v1/webhook", headers=fr, timeout=5).json()["delivered_seq"]
        _wait(lambda: client is not None and client.last >= last, 60, "the stream to catch up")
    finally:
        if client is not None:
            client.stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        receiver.stop()
    store = SqliteStore(data / "deconfliction.db")
    try:
        expected = _all_seqs(store, "FR")
        created = {
            e["payload"]["id"] for e in store.outbox_events("FR") if e["type"] == "intent.created"
        }
    finally:
        store.close()
    assert set(acked) <= created  # every acknowledged write has its event
    assert client.ids() == expected  # the stream: every event once, in order, across resumes
    assert client.connections > 3
    assert receiver.unique() == expected  # the webhook: the same, after de-duplication
    assert receiver.bad_signatures == 0


def test_the_stream_refuses_a_bad_last_event_id(api: Any) -> None:
    r = api.get("/v1/events", "FR", headers={"Last-Event-ID": "abc"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/headers/Last-Event-ID"
    assert api.client.get("/v1/events").status_code == 401


def test_events_after_pages_in_order(store: Store) -> None:
    for i in range(5):
        draft = IntentDraft(volumes=[volume(box(5 + i, 5, 5.1 + i, 5.1))])
        store.create(RecordKind.INTENT, f"P{i}", "RU", draft, actor="RU")
    first = store.read_tx(lambda tx: events_after(tx, "RU", 0, limit=3))
    rest = store.read_tx(lambda tx: events_after(tx, "RU", first[-1].seq))
    assert [e.payload["id"] for e in first + rest] == [f"P{i}" for i in range(5)]


class Endpoint:
    """A webhook endpoint for an injected ``send``: answers what ``state`` says ("down": no
    answer at all, or an HTTP status), and keeps what it was sent."""

    def __init__(self) -> None:
        self.state: str | int = 200
        self.tries = 0
        self.got: list[dict[str, Any]] = []

    def send(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        self.tries += 1
        if self.state == "down":
            raise ConnectionRefusedError("connection refused")
        if self.state == 200:
            self.got.append(json.loads(body))
        return int(self.state)


def _hooked(store: Store, at: float) -> None:
    t = datetime.fromtimestamp(at, UTC)
    store.write_tx(lambda tx: put_webhook(tx, "FR", "http://127.0.0.1:9/hook", SECRET, "FR", t))


def _events(store: Store, n: int, prefix: str = "E") -> list[int]:
    def run(tx: Any) -> None:
        for i in range(n):
            tx.event("FR", "test.event", {"n": f"{prefix}{i}"}, datetime.now(UTC))

    store.write_tx(run)
    return _all_seqs(store, "FR")


def _run(d: Dispatcher, now: list[float], seconds: float, step: float = 5.0) -> None:
    end = now[0] + seconds
    while now[0] < end:
        d.run_once()
        now[0] += step


def _dead(store: Store) -> int:
    return int(
        store.read_tx(lambda tx: tx.x("SELECT COUNT(*) FROM webhook_dead_letters").fetchone()[0])
    )


def test_a_dead_endpoint_pauses_and_resumes_in_order(store: Store) -> None:
    """No answer at all: after the retries of the first event, delivery pauses (one try a
    minute, not eight tries per event); nothing is dead-lettered; when the endpoint is back,
    everything arrives in order."""
    now = [1_000_000.0]
    end = Endpoint()
    _hooked(store, now[0])
    d = Dispatcher(store, send=end.send, clock=lambda: now[0], max_attempts=8, probe_s=60.0)
    try:
        end.state = "down"
        expected = _events(store, 50)
        _run(d, now, 3600)  # an hour down
        assert _dead(store) == 0
        # eight tries of the first event (0.5 s to 32 s apart), then one probe a minute
        assert end.tries <= 8 + 3600 / 60 + 1
        hook = store.read_tx(lambda tx: get_webhook(tx, "FR"))
        assert hook is not None and hook.paused_since is not None
        assert hook.delivered_seq < expected[0]  # the cursor did not move
        end.state = 200
        _run(d, now, 120)
        assert [e["id"] for e in end.got] == expected  # all of it, once each, in order
        hook = store.read_tx(lambda tx: get_webhook(tx, "FR"))
        assert hook is not None and hook.paused_since is None and hook.attempts == 0
    finally:
        d.stop()


def test_a_degraded_link_pauses_at_once_and_its_own_notice_is_kept(store: Store) -> None:
    """The party's link is degraded (its pings fail): the first failed try pauses delivery;
    its own link.degraded waits in the backlog with the rest, and arrives when it is back."""
    now = [1_000_000.0]
    end = Endpoint()
    _hooked(store, now[0])
    d = Dispatcher(store, send=end.send, clock=lambda: now[0], max_attempts=8, probe_s=60.0)
    try:
        end.state = 503
        at = datetime.fromtimestamp(now[0], UTC)
        assert store.write_tx(lambda tx: record(tx, "FR", False, None, "refused", 1, at)) == (
            "degraded"
        )
        expected = _events(store, 5)
        d.run_once()
        assert end.tries == 1  # paused after one try, not eight
        _run(d, now, 600)
        assert end.tries <= 1 + 600 / 60 + 1 and _dead(store) == 0
        end.state = 200
        store.write_tx(lambda tx: probe_soon(tx, "FR"))  # a good ping: try again now
        d.run_once()
        got = [e["type"] for e in end.got]
        assert got[0] == "link.degraded" and [e["id"] for e in end.got] == expected
    finally:
        d.stop()


def test_refusals_are_dead_lettered_but_bounded(store: Store) -> None:
    """An endpoint that answers but refuses each event (400): the first few are
    dead-lettered and delivery moves on; then it pauses rather than dead-letter a backlog."""
    now = [1_000_000.0]
    end = Endpoint()
    _hooked(store, now[0])
    d = Dispatcher(
        store, send=end.send, clock=lambda: now[0], max_attempts=2, pause_after_refused=3
    )
    try:
        end.state = 400
        expected = _events(store, 20)
        _run(d, now, 3600, step=10)
        assert _dead(store) == 3
        end.state = 200
        _run(d, now, 120, step=10)
        assert [e["id"] for e in end.got] == expected[3:]
    finally:
        d.stop()


def test_superseded_alert_updates_are_coalesced_in_a_backlog(store: Store) -> None:
    now = [1_000_000.0]
    end = Endpoint()
    _hooked(store, now[0])
    d = Dispatcher(store, send=end.send, clock=lambda: now[0], probe_s=60.0)

    def alert(kind: str, change: str, key: str, n: int) -> None:
        payload = {"kind": kind, "key": [key, "RU/B"], "n": n}
        store.write_tx(lambda tx: tx.event("FR", f"{kind}.{change}", payload, datetime.now(UTC)))

    try:
        end.state = "down"
        alert("tactical", "raised", "FR/A", 0)
        for n in range(1, 30):
            alert("tactical", "updated", "FR/A", n)
        alert("area", "updated", "FR/X", 1)  # another alert: its own last update stands
        alert("tactical", "updated", "FR/A", 30)
        alert("tactical", "cleared", "FR/A", 31)
        store.write_tx(lambda tx: tx.event("FR", "area.updated", {"id": "R1"}, datetime.now(UTC)))
        _run(d, now, 600)
        end.state = 200
        _run(d, now, 120)
        sent = [(e["type"], e["payload"].get("n")) for e in end.got]
        assert sent == [
            ("tactical.raised", 0),
            ("area.updated", 1),
            ("tactical.cleared", 31),
            ("area.updated", None),  # a record's own event is never coalesced
        ]
        # the stream keeps everything
        assert len(store.outbox_events("FR")) == 34
    finally:
        d.stop()
