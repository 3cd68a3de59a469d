"""Two federated nodes on loopback: how soon a write at one shows as a conflict at the other,
and how many messages a second one link carries.

    python bench/federation.py                    # 100 samples, a backlog of 2,000 messages
    python bench/federation.py --samples 300 --backlog 5000

France's node and Russia's run as ``deconfliction serve`` processes (embedded store,
``synchronous=FULL``), each with its own data folder in a temporary folder, peered with each
other; both release extents to the other. Russia holds one naval area.

- **write to conflict shown**: France creates an intent that meets Russia's area (``POST
  /v1/intents``, timed from just before the request) and Russia's node is polled (``GET
  /v1/federation/conflicts`` every 5 ms) until the conflict shows there; France then deletes the
  intent and the bench waits for the conflict to be resolved at Russia's node before the next
  sample. The time covers France's write transaction, the delivery to Russia's node (signing,
  HTTP, verifying, applying the view in one transaction with Russia's conflict check) and the
  read.
- **a write's cost with a peer**: in process (no HTTP), the median ``Store.create`` of 200
  intents on an embedded store without peers, and with one peer whose party has an agreement in
  force (each write then computes the view released to it, records the disclosure, queues the
  message and searches the views it was given for conflicts).
- **messages per second per link**: Russia's node is stopped, France writes ``--backlog``
  intents away from Russia's records (one ``view.put`` message each), Russia's node starts
  again; the rate is the backlog over the time from the first message acknowledged to the last
  (France's cursor, read from its database).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from deconfliction.auth import ADMIN_SCOPE, PARTY_ADMIN_SCOPE, dev_private_key, mint_token
from deconfliction.cli import main as cli

DAY = "2030-01-01"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _intent(rid: str, lon: float, lat: float, size: float = 0.05) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {
        "id": rid,
        "volumes": [
            {
                "footprint": {"type": "Polygon", "coordinates": [ring]},
                "alt_lower_m": 0,
                "alt_upper_m": 3000,
                "time_start": f"{DAY}T10:00:00Z",
                "time_end": f"{DAY}T12:00:00Z",
            }
        ],
    }


class Node:
    def __init__(self, name: str, party: str, root: Path) -> None:
        self.name, self.party, self.data = name, party, root / name
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        key = dev_private_key(self.data)
        self.h = {"Authorization": f"Bearer {mint_token(key, party, scopes=[PARTY_ADMIN_SCOPE])}"}
        self.admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}

    def start(self) -> None:
        cmd = [sys.executable, "-m", "deconfliction", "serve", "--port", str(self.port),
               "--data-dir", str(self.data), "--peer-ping-s", "2"]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/v1/health", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None

    def sql(self, q: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.data / 'deconfliction.db'}?mode=ro", uri=True)
        try:
            return conn.execute(q).fetchall()
        finally:
            conn.close()


def _setup(root: Path) -> tuple[Node, Node]:
    fr, ru = Node("fr", "FR", root), Node("ru", "RU", root)
    for a, b in ((fr, ru), (ru, fr)):
        pem = root / f"{b.name}.pem"
        from deconfliction.federation import NodeKey

        pem.write_text(NodeKey.in_folder(b.data).public_pem)
        args = ["peer", "add", b.name, "--url", b.url, "--key", str(pem), "--party", b.party]
        assert cli([*args, "--data-dir", str(a.data)]) == 0
    for n in (fr, ru):
        n.start()
        r = httpx.post(n.url + "/v1/parties", json={"id": n.party, "name": n.party},
                       headers=n.admin)  # fmt: skip
        assert r.status_code == 201, r.text
    terms = {"releases": {"FR": {"default": "extent"}, "RU": {"default": "extent"}},
             "reciprocity": False}  # fmt: skip
    r = httpx.put(fr.url + "/v1/agreements/RU", json=terms, headers=fr.h)
    assert r.status_code == 201, r.text
    for _ in range(300):
        got = httpx.get(ru.url + "/v1/agreements", headers=ru.h).json()["agreements"]
        if got:
            break
        time.sleep(0.05)
    r = httpx.post(ru.url + "/v1/agreements/FR/versions/1/accept", headers=ru.h)
    assert r.status_code == 200, r.text
    big = _intent("AREA", 30.0, 30.0, size=0.5)
    assert httpx.post(ru.url + "/v1/intents", json=big, headers=ru.h).status_code == 201
    return fr, ru


def _latency(fr: Node, ru: Node, samples: int) -> list[float]:
    out = []
    with httpx.Client(timeout=10) as c:
        for i in range(samples):
            doc = _intent(f"X{i}", 30.1 + (i % 10) * 0.02, 30.1)
            t0 = time.perf_counter()
            r = c.post(fr.url + "/v1/intents", json=doc, headers=fr.h)
            assert r.status_code == 201, r.text
            while True:
                rows = c.get(ru.url + "/v1/federation/conflicts", headers=ru.h).json()
                if any(x["conflict"] and _names(x, f"X{i}") for x in rows["conflicts"]):
                    break
                time.sleep(0.005)
            out.append(time.perf_counter() - t0)
            assert c.delete(f"{fr.url}/v1/intents/X{i}?version=1", headers=fr.h).status_code == 200
            while c.get(ru.url + "/v1/federation/conflicts", headers=ru.h).json()["conflicts"]:
                time.sleep(0.005)
    return out


def _names(row: dict[str, Any], rid: str) -> bool:
    c = row["conflict"]
    return rid in (c["a"]["id"], c["b"]["id"])


def _throughput(fr: Node, ru: Node, backlog: int) -> tuple[int, float]:
    ru.stop()
    with httpx.Client(timeout=10) as c, ThreadPoolExecutor(4) as pool:

        def write(i: int) -> None:
            doc = _intent(f"B{i}", 10.0 + (i % 100) * 0.1, 10.0 + (i // 100) * 0.1)
            assert c.post(fr.url + "/v1/intents", json=doc, headers=fr.h).status_code == 201

        list(pool.map(write, range(backlog)))
    (start_seq, end_seq) = fr.sql(
        "SELECT delivered_seq, next_seq FROM fed_peers WHERE name = 'ru'"
    )[0]
    ru.start()
    first = None
    while True:
        (seq,) = fr.sql("SELECT delivered_seq FROM fed_peers WHERE name = 'ru'")[0]
        now = time.perf_counter()
        if first is None and seq > start_seq:
            first = (now, seq)
        if seq >= end_seq:
            break
        time.sleep(0.002)
    assert first is not None
    return end_seq - first[1], now - first[0]


def _write_cost(root: Path) -> tuple[float, float]:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from deconfliction import exchange
    from deconfliction.exchange import agreements as ag
    from deconfliction.federation import Federation, NodeKey, peers
    from deconfliction.model import IntentDraft, Party, RecordKind
    from deconfliction.store import SqliteStore

    now = datetime.now(UTC)

    def run(with_peer: bool) -> float:
        store = SqliteStore(root / f"cost-{with_peer}.db")
        exchange.install(store.hooks)
        store.put_party(Party(id="FR", name="FR"), actor="bench")
        if with_peer:
            key, other = (NodeKey.of(Ed25519PrivateKey.generate()) for _ in range(2))
            Federation(store, key).install(store.hooks)
            ru = [("RU", "RU")]
            store.write_tx(
                lambda tx: peers.add(
                    tx, "ru", "http://127.0.0.1:9", other.public_pem, ru, key.key_id, "bench", now
                )
            )
            terms = ag.Terms.model_validate(
                {"releases": {"FR": {"default": "extent"}}, "reciprocity": False}
            )
            store.write_tx(lambda tx: ag.propose(tx, "FR", "RU", terms, "bench", now))
            store.write_tx(lambda tx: ag.accept(tx, "RU", "FR", 1, "bench", now))
        times = []
        try:
            for i in range(200):
                doc = _intent(f"C{i}", 30 + (i % 20) * 0.1, 30 + (i // 20) * 0.1)
                draft = IntentDraft.model_validate({"volumes": doc["volumes"]})
                t0 = time.perf_counter()
                store.create(RecordKind.INTENT, doc["id"], "FR", draft, actor="bench")
                times.append(time.perf_counter() - t0)
        finally:
            store.close()
        return statistics.median(times) * 1000

    return run(False), run(True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--backlog", type=int, default=2000)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-federation-"))
    fr = ru = None
    try:
        fr, ru = _setup(root)
        lat = sorted(_latency(fr, ru, args.samples))
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(f"write at FR to conflict shown at RU ({len(lat)} samples): "
              f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
        alone, peered = _write_cost(root)
        print(f"a write in process (median of 200): {alone:.1f} ms without peers, "
              f"{peered:.1f} ms with one peer and an agreement in force")  # fmt: skip
        n, secs = _throughput(fr, ru, args.backlog)
        print(f"one link, a backlog of {args.backlog} view messages: {n} delivered after the "
              f"first in {secs:.2f} s = {n / secs:,.0f} messages/s")  # fmt: skip
    finally:
        for n in (fr, ru):
            if n is not None:
                n.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
