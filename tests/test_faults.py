"""Faults, injected: the database stopped, killed and restarted, API workers killed one at a
time, webhook receivers slow then dead, leases outlasted; on both stores, with two processes
where the store allows it. Loopback only, each bounded in time.

What must hold through every fault: nothing acknowledged is lost or half there (every
acknowledged write has its record, its outbox event and its audit entry, and the audit chain
verifies); a request that cannot be served now is answered at once with 503 and
``Retry-After`` in its API's shape, never a 500, a 403 or a hang; service resumes once the
fault is gone; background work is done by one process at a time, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from deconfliction.alerts import leases
from deconfliction.alerts.ticker import Ticker
from deconfliction.alerts.webhooks import LEASE, Dispatcher, LeaseLost, Webhook, put_webhook
from deconfliction.api import create_app
from deconfliction.api.dss import Scd
from deconfliction.audit import first_bad_entry
from deconfliction.auth import ADMIN_SCOPE, AuthConfig, dev_private_key, mint_token
from deconfliction.errors import ServiceUnavailable
from deconfliction.model import IntentDraft, Party, RecordKind
from deconfliction.store import SqliteStore, Store, open_store
from helpers import box, free_port, serve, volume
from pgcluster import PgServer, pg_bindir
from routes import F3548, Scene, baseline, make_scene, operations, send
from test_crash import _intent
from test_notifications import SECRET, Receiver

needs_pg = pytest.mark.skipif(
    pg_bindir() is None and os.environ.get("CI") != "true", reason="PostgreSQL is not installed"
)


# --- the database away, in process: every route ----------------------------------------------
@pytest.fixture
def scene(store: Store, auth: AuthConfig, tokens: dict[str, str], signing_key: Any) -> Scene:
    return make_scene(store, auth, tokens, signing_key)


def test_every_route_answers_503_while_the_database_is_away(scene: Scene, store: Store) -> None:
    """Every operation of the OpenAPI document, with the store unreachable: 503 with
    Retry-After in its API's shape (or an answer that needs no database), never 500 or 403."""

    def away(fn: Any, **_: Any) -> Any:
        raise ServiceUnavailable("the database cannot be reached now; try again", 2)

    real = store.read_tx, store.write_tx
    store.read_tx = away  # type: ignore[method-assign]
    store.write_tx = away  # type: ignore[method-assign]
    refused = []
    try:
        for op, params in operations(scene.api):
            req = baseline(op, params, scene)
            r = send(scene, req, None, "", False)
            # 2xx: needs no database; 4xx but 401/403: refused before reaching it (a route
            # without a baseline here); never a 5xx but 503, never "forbidden" for an outage
            assert r.status_code == 503 or r.status_code < 500, (op, r.status_code, r.text)
            assert r.status_code not in (401, 403), (op, r.status_code, r.text[:200])
            if r.status_code != 503:
                continue
            refused.append(op)
            assert r.headers["retry-after"] == "2"
            if req.template.startswith(F3548):
                assert r.json() == {"message": "the database cannot be reached now; try again"}
            else:
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["status"] == 503
    finally:
        store.read_tx, store.write_tx = real  # type: ignore[method-assign]
    assert ("GET", "/v1/me") in refused  # was 403 "not a registered party"
    assert len(refused) >= 55
    doc = scene.api.client.app.openapi()
    for op in refused:
        documented = doc["paths"][op[1]][op[0].lower()]["responses"]
        assert "503" in documented and "Retry-After" in documented["503"]["headers"], op


class StuckWriter:
    """An embedded store whose writes wait at most 0.3 s to start, and a write (``hold``)
    that keeps its single writer busy until ``stuck`` is set."""

    def __init__(self, path: Path) -> None:
        self.store = SqliteStore(path)
        self.started, self.stuck = threading.Event(), threading.Event()
        self.ran: list[str] = []

    def hold(self, tx: Any) -> None:
        self.started.set()
        self.stuck.wait(10)


@pytest.fixture
def stuck_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckWriter]:
    from deconfliction.store import sqlite

    monkeypatch.setattr(sqlite, "WAIT_S", 0.3)
    w = StuckWriter(tmp_path / "db.sqlite")
    try:
        yield w
        assert w.store.write_tx(lambda tx: "after") == "after" and w.ran == []
    finally:
        w.stuck.set()
        w.store.close()


def test_a_write_that_waits_too_long_for_the_writer_is_given_up_with_503(
    stuck_writer: StuckWriter,
) -> None:
    """A write queued behind a stuck writer past ``WAIT_S`` is answered 503 and never runs."""
    w = stuck_writer
    first = threading.Thread(target=w.store.write_tx, args=(w.hold,))
    first.start()
    assert w.started.wait(10)
    with pytest.raises(ServiceUnavailable, match="too busy"):
        w.store.write_tx(lambda tx: w.ran.append("late"))
    w.stuck.set()
    first.join(10)


def test_a_write_awaited_in_the_event_loop_is_given_up_as_one_waited_for_in_a_thread(
    stuck_writer: StuckWriter,
) -> None:
    """The event loop waits for a small DSS write without a thread (``await_write``): queued
    behind a stuck writer past ``WAIT_S``, it is answered 503 and never runs; one that started
    in time is awaited to its outcome, result or error, however long it takes."""
    from deconfliction.store.sqlite import await_write

    w = stuck_writer

    def slow(tx: Any) -> str:
        time.sleep(0.6)
        return "done"

    async def waits() -> None:
        first = w.store.queue_write(w.hold)
        assert await asyncio.to_thread(w.started.wait, 10)
        with pytest.raises(ServiceUnavailable, match="too busy"):
            await await_write(w.store.queue_write(lambda tx: w.ran.append("late")))
        w.stuck.set()
        await await_write(first)
        assert await await_write(w.store.queue_write(slow)) == "done"
        with pytest.raises(ZeroDivisionError):
            await await_write(w.store.queue_write(lambda tx: 1 / 0))

    asyncio.run(waits())


def test_a_dss_answer_that_cannot_be_made_rolls_its_write_back(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is made inside the transaction: when it fails, nothing was committed (no
    committed write is ever answered with an error)."""
    real = Scd.put_oir

    def unanswerable(self: Scd, *a: Any, **k: Any) -> Any:
        out = real(self, *a, **k)
        return {**out, "x": float("nan")}  # not JSON

    monkeypatch.setattr(Scd, "put_oir", unanswerable)
    req = baseline(("PUT", "/dss/v1/operational_intent_references/{entityid}"), [], scene)
    r = send(scene, req, None, "", False)
    assert r.status_code == 500 and set(r.json()) == {"message"}
    monkeypatch.setattr(Scd, "put_oir", real)
    oid = req.path_params["entityid"]
    assert scene.call("GET", f"/dss/v1/operational_intent_references/{oid}").status_code == 404
    assert send(scene, req, None, "", False).status_code == 201  # not "already exists"


def test_a_native_answer_that_cannot_be_made_rolls_its_write_back(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On /v1 too, the answer (the conflicts as released to the caller) is made in the write's
    transaction: if it fails, nothing was committed, and the client's retry is not told that
    its own write "already exists"; after the commit nothing fails the answer."""
    from deconfliction.exchange import records

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("the answer cannot be made")

    body = {**_intent(3), "id": "ANSWER-1"}
    monkeypatch.setattr(records, "_own_conflicts", broken)
    r = scene.api.post("/v1/intents", "FR", json=body)
    assert r.status_code == 500, r.text
    monkeypatch.undo()
    assert scene.api.get("/v1/intents/ANSWER-1", "FR").status_code == 404
    r = scene.api.post("/v1/intents", "FR", json=body)
    assert r.status_code == 201, r.text  # not 409: the first attempt left nothing
    assert r.json()["intent"]["version"] == 1


def test_sqlite_locked_by_another_process_answers_503_then_resumes(
    tmp_path: Path, auth: AuthConfig, tokens: dict[str, str]
) -> None:
    from conftest import Api, _Client

    store = SqliteStore(tmp_path / "x.db")
    try:
        store.put_party(Party(id="FR", name="France"), actor="t")
        api = Api(_Client(create_app(store, auth)), tokens)
        other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # a tool holding the file (a backup, a shell)
        try:
            r = api.post("/v1/intents", "FR", json=_intent(1))
            assert r.status_code == 503, r.text
            assert int(r.headers["retry-after"]) >= 1
            assert r.headers["content-type"] == "application/problem+json"
            assert api.get("/v1/intents", "FR").status_code == 200  # reads go on (WAL)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert api.post("/v1/intents", "FR", json=_intent(1)).status_code == 201
        assert [r.id for r in store.list_owned(RecordKind.INTENT, "FR")] == ["W1"]
    finally:
        store.close()


# --- real processes: writers that keep writing through the faults -----------------------------
class Writers:
    """Threads that create intents over HTTP without end, as a client we ship does: on 503
    they wait as ``Retry-After`` says (capped, to keep the test short), on a broken connection
    they try again; ``acked`` holds every id answered 201."""

    def __init__(self, base: str, headers: dict[str, str], n: int = 4) -> None:
        self.base, self.headers = base, headers
        self.acked: list[str] = []
        self.refused_503 = 0
        self.statuses: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k, n)) for k in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, k: int, n: int) -> None:
        with httpx.Client(timeout=20) as c:
            for i in range(k, 10**7, n):
                while not self.stop.is_set():
                    try:
                        r = c.post(f"{self.base}/v1/intents", json=_intent(i), headers=self.headers)
                    except httpx.TransportError:
                        time.sleep(0.1)
                        continue
                    with self.lock:
                        self.statuses.add(r.status_code)
                    if r.status_code == 503:
                        with self.lock:
                            self.refused_503 += 1
                        time.sleep(min(0.5, float(r.headers["retry-after"])))
                        continue
                    if r.status_code == 201:
                        with self.lock:
                            self.acked.append(f"W{i}")
                    break  # 201, or 409: it was made before a connection broke
                if self.stop.is_set():
                    return

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def wait_for(self, n: int, timeout_s: float = 60) -> None:
        _wait(lambda: self.count() >= n, timeout_s, f"{n} acknowledged writes")

    def finish(self) -> list[str]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        return list(self.acked)


def _wait(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def check_intact(db: str, acked: list[str]) -> None:
    """Every acknowledged write is there, whole: record, outbox event, audit entry; nothing
    half there; the audit chain verifies."""
    store = open_store(db)
    try:
        stored = {r.id for r in store.list_owned(RecordKind.INTENT, "FR")}
        assert set(acked) <= stored
        entries = store.audit_entries()
        assert first_bad_entry(entries) is None
        # nothing half there: every record has its audit entry (its subject: the record's key)
        created = {e.subject for e in entries if e.action == "intent.created"}
        assert created == {f"FR/{rid}" for rid in stored}
        events = store.outbox_events("FR")
        assert {e["payload"]["id"] for e in events if e["type"] == "intent.created"} == stored
    finally:
        store.close()


@pytest.fixture
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


def _service(
    tmp_path: Path, extra: list[str]
) -> tuple[Any, str, dict[str, str], dict[str, str], Path]:
    data = tmp_path / "data"
    key = dev_private_key(data)
    admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
    fr = {"Authorization": f"Bearer {mint_token(key, 'FR')}"}
    port = free_port()
    proc = serve(data, port, ["--rate-limit", "100000", *extra])
    base = f"http://127.0.0.1:{port}"
    r = httpx.post(f"{base}/v1/parties", json={"id": "FR", "name": "France"}, headers=admin)
    assert r.status_code == 201, r.text
    return proc, base, admin, fr, data


def _stop(proc: Any) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _probe_away(base: str, fr: dict[str, str], key: Any) -> None:
    """While the database is away: each API answers at once, 503 with Retry-After."""
    probe = {**_intent(7), "id": "PROBE"}
    r = httpx.post(f"{base}/v1/intents", json=probe, headers=fr, timeout=20)
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"] == "application/problem+json"
    r = httpx.get(f"{base}/v1/me", headers=fr, timeout=20)
    assert r.status_code == 503, r.text  # not 403 "not a registered party"
    token = mint_token(key, "uss1", scopes=["utm.strategic_coordination"])
    dss = {"Authorization": f"Bearer {token}"}
    url = f"{base}/dss/v1/operational_intent_references/{uuid.uuid4()}"
    r = httpx.get(url, headers=dss, timeout=20)
    assert r.status_code == 503 and set(r.json()) == {"message"}, r.text
    assert int(r.headers["retry-after"]) >= 1


@needs_pg
def test_the_database_stopped_killed_and_restarted_under_two_workers(
    tmp_path: Path, pg_server: PgServer
) -> None:
    db = pg_server.create_db("faults")
    proc, base, _, fr, data = _service(tmp_path, ["--db", db, "--workers", "2"])
    key = dev_private_key(data)
    writers = Writers(base, fr)
    ws_url = f"ws://{base.removeprefix('http://')}/v1/tracks/live"
    stack = contextlib.ExitStack()
    feed = stack.enter_context(ws_connect(ws_url, additional_headers=fr, open_timeout=20))
    try:
        writers.wait_for(60)
        pg_server.stop()  # as a crash: -m immediate
        _probe_away(base, fr, key)
        feed.send(json.dumps({"states": [_state("T1", 1)]}))  # a live feed: told, not cut
        told = json.loads(feed.recv(timeout=20))
        assert told["retry_after_s"] >= 1 and "accepted" not in told, told
        with ws_connect(ws_url, additional_headers=fr, open_timeout=20) as late:
            with pytest.raises(ConnectionClosed) as closed:
                late.recv(timeout=20)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        pg_server.start()
        before = writers.count()
        writers.wait_for(before + 60)  # writing resumes
        feed.send(json.dumps({"states": [_state("T1", 2)]}))
        assert json.loads(feed.recv(timeout=20)) == {"accepted": 1, "changed": 1}
        pg_server.kill()  # SIGKILL of the postmaster
        _probe_away(base, fr, key)
        pg_server.start()
        before = writers.count()
        writers.wait_for(before + 60)
    finally:
        stack.close()
        acked = writers.finish()
        _stop(proc)
    assert writers.refused_503 > 0
    assert writers.statuses <= {201, 409, 503}, writers.statuses
    check_intact(db, acked)


def _state(track: str, t_s: float) -> dict[str, Any]:
    at = datetime(2030, 1, 1, tzinfo=UTC).timestamp() + t_s
    return {
        "id": track,
        "class": "fixed-wing",
        "time": datetime.fromtimestamp(at, UTC).isoformat(),
        "lon": 30.0,
        "lat": 40.0,
        "alt_m": 3000,
    }


def _workers(pid: int) -> list[int]:
    """The worker processes of a ``serve --workers N`` parent."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:  # a short-lived child that ended since it was listed
            continue
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            out.append(int(child))
    return out


@needs_pg
def test_one_worker_killed_at_a_time_under_load(tmp_path: Path, pg_server: PgServer) -> None:
    db = pg_server.create_db("faults")
    proc, base, _, fr, _ = _service(tmp_path, ["--db", db, "--workers", "2"])
    writers = Writers(base, fr)
    killed = 0
    try:
        writers.wait_for(40)
        for _ in range(2):
            _wait(lambda: len(_workers(proc.pid)) == 2, 60, "two workers")
            os.kill(_workers(proc.pid)[0], signal.SIGKILL)
            killed += 1
            before = writers.count()
            writers.wait_for(before + 40)  # the other worker, then the restarted one, serve
        _wait(lambda: len(_workers(proc.pid)) == 2, 60, "the killed worker replaced")
    finally:
        acked = writers.finish()
        _stop(proc)
    assert killed == 2
    check_intact(db, acked)


# --- webhooks: two dispatchers, a slow then dead receiver -------------------------------------
def _second_store(store: Store, tmp_path: Path) -> Store:
    """Another handle on the same database: what a second process would have."""
    from deconfliction.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        return PostgresStore(store.url, pool_size=4)
    return SqliteStore(tmp_path / "store.db")


def _events(store: Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        fp = box(i * 0.1, 20, i * 0.1 + 0.05, 20.05)
        store.create(RecordKind.INTENT, None, "FR", IntentDraft(volumes=[volume(fp)]), actor="FR")


def test_webhooks_once_each_in_order_with_two_dispatchers_through_slow_and_dead_receivers(
    store: Store, tmp_path: Path
) -> None:
    """Each POST takes half a second, so a batch lasts many times the lease: the lease must
    cover it (with one renewal per cycle, the second dispatcher took over mid-batch and the
    same events arrived twice, out of order). Then the receiver dies and comes back."""
    slow = Receiver(lambda n: "slow")
    store.write_tx(lambda tx: put_webhook(tx, "FR", slow.url, SECRET, "FR", datetime.now(UTC)))
    other = _second_store(store, tmp_path)
    opts = {"timeout_s": 1.0, "lease_s": 3.0, "interval_s": 0.05, "base_delay_s": 0.05}
    a, b = Dispatcher(store, **opts), Dispatcher(other, **opts)  # type: ignore[arg-type]
    a.start()
    b.start()
    try:
        _events(store, 16)
        expected = [e["seq"] for e in store.outbox_events("FR")]
        _wait(lambda: slow.unique() == expected, 60, "every event at the slow receiver")
        slow.stop()  # dead: connections refused
        _events(store, 10, start=100)
        time.sleep(1.0)  # a few failed tries
        slow.start()
        expected = [e["seq"] for e in store.outbox_events("FR")]
        _wait(lambda: slow.unique() == expected, 60, "every event after the receiver's return")
    finally:
        a.stop()
        b.stop()
        other.close()
        slow.stop()
    assert slow.received == expected  # once each, in order: no duplicate at all
    assert slow.bad_signatures == 0


def test_a_dispatcher_that_lost_its_lease_posts_nothing_and_moves_no_cursor(store: Store) -> None:
    now = [1000.0]
    sent: list[bytes] = []

    def send(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        sent.append(body)
        return 200

    store.write_tx(lambda tx: put_webhook(tx, "FR", "http://x/", SECRET, "FR", datetime.now(UTC)))
    _events(store, 3)
    a = Dispatcher(store, send=send, clock=lambda: now[0], lease_s=10, timeout_s=5)
    assert a.run_once() == 3
    _events(store, 3, start=10)
    now[0] += 11  # a stalls past its lease; another process takes it
    assert store.write_tx(lambda tx: leases.take(tx, LEASE, "other", now[0], 10)) is not None
    hook = store.read_tx(lambda tx: Webhook("FR", "http://x/", a_cursor(tx), 0, 0, None))
    with pytest.raises(LeaseLost):
        store.write_tx(lambda tx: a._advance(tx, hook, 10**6, None, 0))
    assert store.read_tx(a_cursor) == hook.delivered_seq  # the fence held
    sent.clear()
    assert a._deliver_party_fenced(hook) == 0 and sent == []  # and it stops before posting
    assert a.run_once() == 0  # until the other's lease runs out
    a.stop()


def a_cursor(tx: Any) -> int:
    return int(tx.x("SELECT delivered_seq FROM webhooks WHERE party = 'FR'").fetchone()[0])


def test_tickers_never_overlap_when_a_call_outlasts_the_lease(store: Store, tmp_path: Path) -> None:
    """Two processes' tickers on one lease; each call lasts longer than the lease: the
    heartbeat keeps the lease, so calls never overlap."""
    calls: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def work(who: str) -> Callable[[], None]:
        def run() -> None:
            start = time.monotonic()
            time.sleep(0.9)
            with lock:
                calls.append((who, start, time.monotonic()))

        return run

    other = _second_store(store, tmp_path)
    a = Ticker(store, "job", work("a"), interval_s=0.01, lease_s=0.5)
    b = Ticker(other, "job", work("b"), interval_s=0.01, lease_s=0.5)
    a.start()
    b.start()
    try:
        _wait(lambda: len(calls) >= 4, 60, "four calls")
    finally:
        a.stop()
        b.stop()
        other.close()
    spans = sorted((s, e) for _, s, e in calls)
    assert all(e0 <= s1 for (_, e0), (s1, _) in itertools.pairwise(spans)), calls
    # a stopped ticker released its lease: the other takes it at once
    assert store.write_tx(lambda tx: leases.take(tx, "job", "new", time.time(), 1)) is not None


# --- the clients we ship retry ---------------------------------------------------------------
class FlakyService:
    """Answers ``POST /v1/tracks`` with the statuses of ``plan`` in turn (then 202)."""

    def __init__(self, plan: list[int], port: int | None = None) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.plan, self.bodies = list(plan), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                status = outer.plan.pop(0) if outer.plan else 202
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.port = port or free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SBS = Path(__file__).parent / "data" / "adsb-cdg-extract.sbs"


def _feed(port: int, *extra: str) -> int:
    from deconfliction.cli import main

    args = ["tracks", "feed", "sbs", str(SBS), "--to", f"http://127.0.0.1:{port}"]
    return main([*args, "--token", "t", "--batch-s", "1000", *extra])


def test_the_cli_feed_retries_through_a_failover_and_a_restart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = FlakyService([503, 503])
    try:
        assert _feed(service.port) == 0
    finally:
        service.stop()
    assert len(service.bodies) == 3 and len(set(service.bodies)) == 1  # the same batch, again
    assert "HTTP 503; again in 1.0 s" in capsys.readouterr().err
    # the service down (restarting), then back
    port = free_port()
    later: list[FlakyService] = []
    timer = threading.Timer(1.0, lambda: later.append(FlakyService([], port)))
    timer.start()
    try:
        assert _feed(port) == 0
    finally:
        timer.join()
        for s in later:
            s.stop()
    assert len(later[0].bodies) == 1
    # past --retry-s, the feed stops: exit code 2, one line
    service = FlakyService([503] * 100)
    try:
        assert _feed(service.port, "--retry-s", "0") == 2
    finally:
        service.stop()
    assert "HTTP 503" in capsys.readouterr().err
