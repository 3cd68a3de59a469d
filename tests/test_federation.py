"""Federation: three nodes (FR, RU, GB) as real ``deconfliction serve`` processes on loopback,
each with its own data folder, peered with signed requests.

The scene: France's sortie S1 meets Russia's naval area A1 (released to France as an extent),
Russia's exercise E1 (France gets conflict notices only) and Britain's flight G1 (Britain
releases France nothing, not even notices; France releases Britain extents). Russia and
Britain have no agreement. The tests check what each node's database holds and every message
that crossed, then partition the nodes (a node stopped, a link dropped) and kill one with
SIGKILL while it writes, and check that everything arrives exactly once; and that forged,
replayed or unauthorized requests are refused and audited.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deconfliction.auth import ADMIN_SCOPE, PARTY_ADMIN_SCOPE, dev_private_key, mint_token
from deconfliction.cli import main
from deconfliction.federation import NodeKey
from deconfliction.federation.signatures import sign_request
from helpers import free_port, serve

pytestmark = pytest.mark.serial

PING_S = "0.5"
DAY = "2030-01-01"


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _intent(
    rid: str,
    fp: dict[str, Any],
    *,
    category: str = "other",
    alt: tuple[float, float] = (0.0, 3000.0),
    t: tuple[str, str] = ("10:00:00", "12:00:00"),
) -> dict[str, Any]:
    return {
        "id": rid,
        "category": category,
        "volumes": [
            {
                "footprint": fp,
                "alt_lower_m": alt[0],
                "alt_upper_m": alt[1],
                "time_start": f"{DAY}T{t[0]}Z",
                "time_end": f"{DAY}T{t[1]}Z",
            }
        ],
    }


# Exact values no extent on the agreed grid (0.1 degree, 300 m, 15 minutes) can reproduce:
# finding one of them in a node that was only given extents is a leak.
S1 = _intent(
    "S1",
    _box(33.417391, 34.561283, 33.912847, 34.937164),
    category="air-sortie",
    alt=(1234.5, 8765.25),
    t=("10:07:13", "11:52:41"),
)
N1 = _intent(
    "N1",
    _box(32.183729, 33.128374, 32.291837, 33.219384),
    category="naval-operating-area",
    alt=(0.0, 1618.75),
    t=("09:13:27", "13:41:09"),
)
A1 = _intent(
    "A1",
    _box(33.613294, 34.713852, 34.182736, 35.129384),
    category="naval-operating-area",
    alt=(0.0, 2718.5),
    t=("10:31:17", "14:19:53"),
)
E1 = _intent(
    "E1-SECRET",
    _box(33.519283, 34.819273, 33.719384, 34.991827),
    category="exercise",
    alt=(4142.75, 6283.25),
    t=("11:03:29", "11:47:51"),
)
G1 = _intent(
    "G1-SECRET",
    _box(33.471829, 34.617283, 33.628374, 34.738192),
    category="drone-flight",
    alt=(2236.5, 3141.5),
    t=("10:21:37", "11:17:19"),
)


def _fingerprints(doc: dict[str, Any]) -> list[str]:
    """Strings only the exact record holds: its vertices, altitudes, times."""
    v = doc["volumes"][0]
    out = [repr(c) for pt in v["footprint"]["coordinates"][0] for c in pt]
    out += [repr(a) for a in (v["alt_lower_m"], v["alt_upper_m"]) if a]
    out += [v["time_start"][11:19], v["time_end"][11:19]]
    return out


class Proxy:
    """A TCP relay on loopback that can drop every connection and refuse new ones (a link cut),
    and come back on the same port."""

    def __init__(self, target: int) -> None:
        self.port, self.target = free_port(), target
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self._server = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()


@dataclass
class Node:
    name: str
    party: str
    data: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> NodeKey:
        return NodeKey.in_folder(self.data)

    def start(self) -> None:
        self.proc = serve(self.data, self.port, ["--peer-ping-s", PING_S])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def headers(self, *, admin: bool = False, service: bool = False) -> dict[str, str]:
        key = dev_private_key(self.data)
        if service:
            tok = mint_token(key, "admin", scopes=[ADMIN_SCOPE])
        else:
            tok = mint_token(key, self.party, scopes=[PARTY_ADMIN_SCOPE] if admin else [])
        return {"Authorization": f"Bearer {tok}"}

    def get(self, path: str) -> Any:
        r = httpx.get(self.url + path, headers=self.headers(admin=True), timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("headers", self.headers(admin=True))
        return httpx.request(method, self.url + path, timeout=10, **kw)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.data / 'deconfliction.db'}?mode=ro", uri=True)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def everything(self) -> str:
        """Every value of every table of the node's database, as text."""
        tables = [r[0] for r in self.sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables for row in self.sql(f'SELECT * FROM "{t}"'))


def wait_for(what: str, fn: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (httpx.TransportError, AssertionError, sqlite3.OperationalError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@dataclass
class Federation:
    fr: Node
    ru: Node
    gb: Node
    #: the FR-RU link runs through these (FR's way to RU, and RU's way to FR)
    fr_to_ru: Proxy
    ru_to_fr: Proxy
    #: the scene's agreements and records are made (``scene``)
    scene_made: bool = False

    @property
    def nodes(self) -> list[Node]:
        return [self.fr, self.ru, self.gb]


def _peer_add(node: Node, name: str, url: str, key_pem: str, party: str, tmp: Path) -> None:
    pem = tmp / f"{node.name}-{name}.pem"
    pem.write_text(key_pem)
    args = ["peer", "add", name, "--url", url, "--key", str(pem), "--party", party]
    assert main([*args, "--data-dir", str(node.data)]) == 0


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    tmp = tmp_path_factory.mktemp("federation")
    fr, ru, gb = (Node(n, n.upper(), tmp / n) for n in ("fr", "ru", "gb"))
    f = Federation(fr, ru, gb, Proxy(ru.port), Proxy(fr.port))
    keys = {n.name: n.key.public_pem for n in f.nodes}
    url = {
        ("fr", "ru"): f"http://127.0.0.1:{f.fr_to_ru.port}",
        ("ru", "fr"): f"http://127.0.0.1:{f.ru_to_fr.port}",
    }
    for a in f.nodes:
        for b in f.nodes:
            if a is not b:
                _peer_add(a, b.name, url.get((a.name, b.name), b.url), keys[b.name], b.party, tmp)
    try:
        for n in f.nodes:
            n.start()
            r = n.call("POST", "/v1/parties", json={"id": n.party, "name": n.party},
                       headers=n.headers(service=True))  # fmt: skip
            assert r.status_code == 201, r.text
        yield f
    finally:
        for n in f.nodes:
            n.stop(signal.SIGKILL)
        f.fr_to_ru.down()
        f.ru_to_fr.down()


def _agree(proposer: Node, accepter: Node, terms: dict[str, Any]) -> None:
    r = proposer.call("PUT", f"/v1/agreements/{accepter.party}", json=terms)
    assert r.status_code == 201, r.text
    version = r.json()["version"]

    def proposed() -> bool:
        rows = accepter.get("/v1/agreements")["agreements"]
        return any(a["version"] == version and a["status"] == "proposed" for a in rows)

    wait_for(f"{accepter.party} to receive the proposal", proposed)
    r = accepter.call("POST", f"/v1/agreements/{proposer.party}/versions/{version}/accept")
    assert r.status_code == 200, r.text

    def active() -> bool:
        rows = proposer.get("/v1/agreements")["agreements"]
        return any(a["version"] == version and a["status"] == "active" for a in rows)

    wait_for(f"{proposer.party} to hear of the acceptance", active)


def _conflicts(node: Node) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = node.get("/v1/federation/conflicts")["conflicts"]
    return rows


def _views(node: Node) -> dict[str, str]:
    return {
        f"{v['owner']}/{v['record']['id']}": v["level"]
        for v in node.get("/v1/federation/views")["views"]
    }


def _write(node: Node, doc: dict[str, Any]) -> None:
    r = node.call("POST", "/v1/intents", json=doc)
    assert r.status_code == 201, r.text


def _converged(f: Federation) -> bool:
    """Every peer has applied everything every other node queued for it."""
    for a in f.nodes:
        for b in f.nodes:
            if a is b:
                continue
            queued = a.sql(
                "SELECT next_seq, delivered_seq FROM fed_peers WHERE name = ?", (b.name,)
            )
            got = b.sql("SELECT received_seq FROM fed_peers WHERE name = ?", (a.name,))
            if not queued or not got or queued[0][0] != got[0][0] or queued[0][1] != queued[0][0]:
                return False
    return True


def _exactly_once(f: Federation) -> None:
    """Each message a node counts as delivered to a peer was applied there once, in order, none
    missing (messages queued since, a link ping say, may still be on their way)."""
    for a in f.nodes:
        for b in f.nodes:
            if a is b:
                continue
            ((delivered,),) = a.sql("SELECT delivered_seq FROM fed_peers WHERE name = ?", (b.name,))
            sent = a.sql(
                "SELECT seq, msg_id FROM fed_outbox WHERE peer = ? AND seq <= ? ORDER BY seq",
                (b.name, delivered),
            )
            got = b.sql("SELECT seq, msg_id FROM fed_inbox WHERE peer = ? ORDER BY seq", (a.name,))
            assert [s for s, _ in got] == list(range(1, len(got) + 1)), (a.name, b.name)
            received = dict(got)
            for seq, mid in sent:
                assert received.get(seq) == mid, (a.name, b.name, seq)
            assert len({m for _, m in got}) == len(got)


@pytest.fixture
def scene(fed: Federation) -> Federation:
    """The nodes with the scene's agreements (FR-RU, GB-FR) and records (S1, N1, A1, E1, G1),
    delivered: made by whichever test asks first, so that each test can run alone."""
    if fed.scene_made:
        return fed
    fr, ru, gb = fed.fr, fed.ru, fed.gb
    _agree(
        fr,
        ru,
        {
            "releases": {
                "FR": {"air-sortie": "full", "default": "extent"},
                "RU": {"default": "extent", "exercise": "conflict"},
            },
            "reciprocity": False,
        },
    )
    _agree(
        gb,
        fr,
        {
            "releases": {"GB": {"default": "none"}, "FR": {"default": "extent"}},
            "reciprocity": False,
        },
    )
    for node, doc in ((fr, S1), (fr, N1), (ru, A1), (ru, E1), (gb, G1)):
        _write(node, doc)
    wait_for("the nodes to converge", lambda: _converged(fed))
    wait_for(
        "FR's conflict with A1",
        lambda: any(c["finding"] == "agreed" for c in _conflicts(fr)),
    )
    fed.scene_made = True
    return fed


def test_the_demo_across_three_nodes_releases_no_more_than_agreed(scene: Federation) -> None:
    fed = scene
    fr, ru, gb = fed.fr, fed.ru, fed.gb

    # what each node was given of the others' records
    assert _views(fr) == {"RU/A1": "extent"}
    assert _views(ru) == {"FR/S1": "full", "FR/N1": "extent"}
    assert _views(gb) == {"FR/S1": "extent", "FR/N1": "extent"}

    def findings(node: Node) -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for c in _conflicts(node):
            other = next(
                s for s in (c["conflict"]["a"], c["conflict"]["b"]) if s["owner"] != node.party
            )
            out[(c["record"], other["id"] or "?")] = c
        return out

    at_fr = wait_for("FR's conflicts", lambda: len(_conflicts(fr)) == 2 and findings(fr))
    assert {k: c["finding"] for k, c in at_fr.items()} == {
        ("S1", "A1"): "agreed",
        ("S1", "?"): "theirs",  # Russia's exercise: a notice, no id of it
    }
    notice = at_fr[("S1", "?")]["conflict"]
    hidden = next(s for s in (notice["a"], notice["b"]) if s["owner"] == "RU")
    assert hidden == {"kind": "intent", "id": None, "owner": "RU", "volumes": []}
    assert notice["gaps"] is None
    at_ru = findings(ru)
    assert {k: c["finding"] for k, c in at_ru.items()} == {
        ("A1", "S1"): "agreed",
        ("E1-SECRET", "S1"): "ours",
    }
    # the two views of one conflict share its id
    assert at_fr[("S1", "A1")]["id"] == at_ru[("A1", "S1")]["id"]
    assert at_fr[("S1", "?")]["id"] == at_ru[("E1-SECRET", "S1")]["id"]
    # Britain found its own conflict with France's extent and told France nothing
    assert [(c["record"], c["finding"]) for c in _conflicts(gb)] == [("G1-SECRET", "ours")]

    # each database holds nothing of another node's records beyond what was released
    fr_db, ru_db, gb_db = fr.everything(), ru.everything(), gb.everything()
    for node in fed.nodes:
        owners = {r[0] for r in node.sql("SELECT DISTINCT owner FROM records")}
        assert owners == {node.party}
    for secret in [*_fingerprints(A1), *_fingerprints(E1), "E1-SECRET", *_fingerprints(G1),
                   "G1-SECRET"]:  # fmt: skip
        assert secret not in fr_db, secret
    for secret in [*_fingerprints(N1), *_fingerprints(G1), "G1-SECRET"]:
        assert secret not in ru_db, secret
    assert _fingerprints(S1)[0] in ru_db  # released in full: it is there
    for secret in [*_fingerprints(S1), *_fingerprints(N1), *_fingerprints(A1), "RU/A1",
                   "E1-SECRET"]:  # fmt: skip
        assert secret not in gb_db, secret
    # ... and so does every message that crossed
    for a, b, secrets in (
        (ru, fr, [*_fingerprints(A1), *_fingerprints(E1), "E1-SECRET"]),
        (gb, fr, [*_fingerprints(G1), "G1-SECRET"]),
        (fr, gb, [*_fingerprints(S1), *_fingerprints(N1)]),
        (fr, ru, _fingerprints(N1)),
        (gb, ru, [*_fingerprints(G1), "G1-SECRET"]),
        (ru, gb, [*_fingerprints(A1), *_fingerprints(E1), "E1-SECRET"]),
    ):
        crossed = "\n".join(r[0] for r in a.sql(
            "SELECT body FROM fed_outbox WHERE peer = ?", (b.name,)))  # fmt: skip
        assert crossed, (a.name, b.name)
        for secret in secrets:
            assert secret not in crossed, (a.name, b.name, secret)

    # the agreement's text, signed by both nodes, is the same on both
    signed = [n.get("/v1/federation/agreements")["agreements"] for n in (fr, ru)]
    pair = [next(a for a in s if a["parties"] == ["FR", "RU"]) for s in signed]
    assert pair[0]["digest"] == pair[1]["digest"]
    for a in pair:
        assert a["proposed"]["verified"] is True and a["accepted"]["verified"] is True

    # the hotline thread of a conflict is shared: a message, its acknowledgement
    cid = at_fr[("S1", "A1")]["id"]
    r = fr.call("GET", f"/v1/conflicts/{cid}/thread")
    assert r.status_code == 200, r.text
    r = fr.call(
        "POST",
        f"/v1/threads/conflict-{cid}/messages",
        json={"text": "S1 climbs to FL300 at 10:30", "lang": "en", "ack_within_s": 600},
    )
    assert r.status_code == 201, r.text
    mid = r.json()["id"]

    def delivered() -> list[dict[str, Any]]:
        th = ru.call("GET", f"/v1/conflicts/{cid}/thread")
        return [m for m in th.json().get("messages", []) if m["id"] == mid]

    [m] = wait_for("the message at RU", delivered)
    assert m["text"] == "S1 climbs to FL300 at 10:30" and m["requires_ack"]
    r = ru.call("POST", f"/v1/threads/conflict-{cid}/messages/{mid}/ack")
    assert r.status_code == 200, r.text

    def acked() -> bool:
        th = fr.call("GET", f"/v1/threads/conflict-{cid}").json()
        return any(m["id"] == mid and "RU" in m["acknowledged_by"] for m in th["messages"])

    wait_for("the acknowledgement at FR", acked)

    # nodes countersign each other's checkpoints, and keep them
    def countersigned(node: Node, by: str) -> bool:
        kept = node.get("/v1/federation/checkpoints")
        return any(c["peer"] == by for c in kept["countersigned_by_peers"]) and any(
            c["peer"] == by for c in kept["countersigned_here"]
        )

    wait_for(
        "checkpoints countersigned", lambda: countersigned(fr, "ru") and countersigned(ru, "fr")
    )
    links = {x["party"]: x["state"] for x in fr.get("/v1/links")["links"]}
    assert links["RU"] == "up" and links["GB"] == "up"
    wait_for("the nodes to converge", lambda: _converged(fed))
    _exactly_once(fed)


def _thread_texts(node: Node, cid: str) -> list[str]:
    th = node.call("GET", f"/v1/threads/conflict-{cid}").json()
    return [m["text"] for m in th["messages"]]


def test_a_partition_then_reconnection_delivers_everything_once(scene: Federation) -> None:
    fed = scene
    fr, ru = fed.fr, fed.ru
    [c] = [c for c in _conflicts(fr) if c["finding"] == "agreed"]
    cid = c["id"]
    before = len(_thread_texts(ru, cid))

    # a node stopped: FR keeps writing and talking
    ru.stop()
    for i in range(5):
        _write(fr, {**S1, "id": f"P{i}"})
    for i in range(3):
        r = fr.call("POST", f"/v1/threads/conflict-{cid}/messages",
                    json={"text": f"while you were away {i}", "lang": "en"})  # fmt: skip
        assert r.status_code == 201, r.text
    wait_for(
        "RU degraded at FR",
        lambda: {x["party"]: x["state"] for x in fr.get("/v1/links")["links"]}["RU"] == "degraded",
    )
    # the same consequence as for any degraded link: activating into its records needs a word
    doc = {**S1, "id": "P-ACT", "state": "Activated"}
    r = fr.call("POST", "/v1/intents", json=doc)
    assert r.status_code == 409 and "accept_degraded" in r.text, r.text
    assert fr.call("POST", "/v1/intents?accept_degraded=true", json=doc).status_code == 201
    ru.start()
    wait_for("the nodes to converge", lambda: _converged(fed))
    assert {f"FR/P{i}" for i in range(5)} | {"FR/P-ACT"} <= set(_views(ru))
    texts = _thread_texts(ru, cid)
    assert texts[before:] == [f"while you were away {i}" for i in range(3)]

    # a link dropped: both sides keep writing
    fed.fr_to_ru.down()
    fed.ru_to_fr.down()
    for i in range(3):
        _write(fr, {**S1, "id": f"L{i}"})
        _write(ru, {**A1, "id": f"R{i}"})
    for who, node in (("fr", fr), ("ru", ru)):
        r = node.call("POST", f"/v1/threads/conflict-{cid}/messages",
                      json={"text": f"cut off, from {who}", "lang": "en"})  # fmt: skip
        assert r.status_code == 201, r.text
    time.sleep(3)  # a few failed tries each way
    assert fr.sql("SELECT last_error FROM fed_peers WHERE name = 'ru'")[0][0] is not None
    fed.fr_to_ru.up()
    fed.ru_to_fr.up()
    wait_for("the nodes to converge", lambda: _converged(fed))
    assert {f"FR/L{i}" for i in range(3)} <= set(_views(ru))
    assert {f"RU/R{i}" for i in range(3)} <= set(_views(fr))
    for node in (fr, ru):
        texts = _thread_texts(node, cid)
        for t in ("cut off, from fr", "cut off, from ru"):
            assert texts.count(t) == 1, (node.name, t)
    _exactly_once(fed)


def test_a_node_killed_mid_burst_loses_nothing(scene: Federation) -> None:
    fed = scene
    fr, ru = fed.fr, fed.ru
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(k: int) -> None:
        with httpx.Client(timeout=5) as client:
            for i in range(k, 100_000, 3):
                if stop.is_set():
                    return
                doc = {**N1, "id": f"B{i}"}
                try:
                    r = client.post(fr.url + "/v1/intents", json=doc, headers=fr.headers())
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    with lock:
                        acked.append(f"FR/B{i}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    wait_for("a burst", lambda: len(acked) >= 40, timeout_s=60)
    fr.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    fr.start()
    wait_for("the nodes to converge", lambda: _converged(fed), timeout_s=90)
    assert set(acked) <= set(_views(ru))
    _exactly_once(fed)


def _signed(
    key: Ed25519PrivateKey, kid: str, to: NodeKey, batch: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(batch).encode()
    headers = sign_request(key, kid, method="POST", path="/federation/v1/inbox", body=body,
                           to_key_id=to.key_id, now=time.time())  # fmt: skip
    return body, headers


def _refusals(node: Node) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in node.sql(
            "SELECT actor, subject FROM audit_log WHERE action = 'federation.refused' ORDER BY seq"
        )
    ]


def test_forged_replayed_and_unauthorized_requests_are_refused_and_audited(
    scene: Federation, tmp_path: Path
) -> None:
    fed = scene
    fr, ru = fed.fr, fed.ru
    inbox = ru.url + "/federation/v1/inbox"
    to = ru.key
    seen = len(_refusals(ru))

    # forged: a key that is no peer's
    stranger = Ed25519PrivateKey.generate()
    skey = NodeKey.of(stranger)
    body, headers = _signed(
        stranger, skey.key_id, to, {"from": skey.key_id, "to": to.key_id, "messages": []}
    )
    r = httpx.post(inbox, content=body, headers=headers)
    assert r.status_code == 401 and "not signed by a peer" in r.text

    # tampered: France's key, a body changed after signing
    fkey = fr.key
    batch = {"from": fkey.key_id, "to": to.key_id, "messages": []}
    body, headers = _signed(fkey.private, fkey.key_id, to, batch)
    r = httpx.post(inbox, content=body.replace(b"[]", b"[ ]"), headers=headers)
    assert r.status_code == 401 and "Content-Digest" in r.text

    # replayed: a good request, sent twice (it carries only messages applied already)
    applied = ru.sql("SELECT received_seq FROM fed_peers WHERE name = 'fr'")[0][0]
    old = [{"seq": 1, "id": "x", "type": "noop", "body": {}}] if applied else []
    body, headers = _signed(fkey.private, fkey.key_id, to, {**batch, "messages": old})
    assert httpx.post(inbox, content=body, headers=headers).status_code == 200
    r = httpx.post(inbox, content=body, headers=headers)
    assert r.status_code == 409 and "received before" in r.text

    # unauthorized: a peer that speaks for XX sends a view of a French record, and one of its
    # own with no agreement in force
    rogue = Ed25519PrivateKey.generate()
    rkey = NodeKey.of(rogue)
    _peer_add(ru, "xx", "http://127.0.0.1:9", rkey.public_pem, "XX", tmp_path)
    view = {"to": "RU", "owner": "FR", "key": "FR/S1", "kind": "intent", "level": "full",
            "ref": "0" * 32, "version": 1, "view": S1}  # fmt: skip
    own = {**view, "owner": "XX", "key": "XX/S1"}
    messages = [
        {"seq": 1, "id": "rogue-1", "type": "view.put", "body": view},
        {"seq": 2, "id": "rogue-2", "type": "view.put", "body": own},
    ]
    body, headers = _signed(
        rogue, rkey.key_id, to, {"from": rkey.key_id, "to": to.key_id, "messages": messages}
    )
    r = httpx.post(inbox, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["refused"] == [1, 2]
    assert not ru.sql("SELECT 1 FROM fed_views WHERE peer = 'xx'")
    assert main(["peer", "remove", "xx", "--data-dir", str(ru.data)]) == 0

    refusals = _refusals(ru)[seen:]
    assert [s for _, s in refusals] == [
        "unknown-peer",
        "bad-signature",
        "replayed",
        "view.put|rogue-1",
        "view.put|rogue-2",
    ]
    assert [a for a, _ in refusals][1:] == ["peer:fr", "peer:fr", "peer:xx", "peer:xx"]
    # the node keeps working with its real peers
    _write(fr, {**S1, "id": "AFTER"})
    wait_for("the next view at RU", lambda: "FR/AFTER" in _views(ru))


def test_the_federated_demo_shows_each_node_the_others_releases(tmp_path: Path) -> None:
    """``scripts/demo --federated``: two nodes, the agreement made across them, each map
    showing the other's releases and the conflicts between them."""
    port = free_port()
    while True:  # the demo takes two ports in a row
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            port = free_port()
    cmd = [sys.executable, "-m", "deconfliction.demo.federated", "--port", str(port),
           "--data-dir", str(tmp_path), "--check"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"RU's node" in done.stdout
