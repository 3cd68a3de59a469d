"""What each failure of the database cluster costs the service's writers; prints a table.

    python bench/failover.py                 # 2 trials of each fault
    python bench/failover.py --trials 3

Starts a 3-node PostgreSQL cluster under Patroni with synchronous replication and 3 etcd
members on loopback (``scripts/hacluster.py``), ``deconfliction serve --workers 2`` on its
multi-host URL, and 4 writers creating native intents without pause (a 503 is retried after
``Retry-After``, capped at 0.2 s; a broken connection at once). Then, in turn, after a few
seconds of steady writing:

- ``primary machine``: SIGKILL of the primary's Patroni and PostgreSQL (the server lost);
- ``primary postgres``: SIGKILL of the primary's PostgreSQL alone (Patroni fails over at once);
- ``sync replica``: the synchronous replica's machine lost;
- ``etcd member``: one of the three etcd members lost.

For each: the time from the fault to the first write acknowledged among those sent after it
(``gap_s``), the writes refused meanwhile (503) and those cut (broken connection), the slowest
answer to a write sent during the gap (a 503 comes at once, not after a timeout), and, to
check, that every write acknowledged before the fault is still there. The lost node is started
again and rejoins as a replica before the next trial.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
from deconfliction.model import RecordKind
from deconfliction.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from hacluster import NODES, HaCluster, free_port


def _intent(i: int) -> dict[str, Any]:
    lon, lat = 2 + (i % 200) * 0.02, 45 + (i // 200 % 200) * 0.02
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]
    return {
        "id": f"B{i}",
        "volumes": [
            {
                "footprint": {"type": "Polygon", "coordinates": [ring]},
                "alt_lower_m": 0,
                "alt_upper_m": 500,
                "time_start": "2030-07-01T10:00:00Z",
                "time_end": "2030-07-01T11:00:00Z",
            }
        ],
    }


class Load:
    """Writers that never stop; every answer logged as (sent, answered, status, id)."""

    def __init__(self, base: str, headers: dict[str, str], n: int = 4) -> None:
        self.base, self.headers = base, headers
        self.log: list[tuple[float, float, int, str]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k, n)) for k in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, k: int, n: int) -> None:
        with httpx.Client(timeout=30) as c:
            i = k
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    r = c.post(f"{self.base}/v1/intents", json=_intent(i), headers=self.headers)
                    status, wait = r.status_code, float(r.headers.get("retry-after", 0))
                except httpx.TransportError:
                    status, wait = 0, 0.0
                with self.lock:
                    self.log.append((sent, time.monotonic(), status, f"B{i}"))
                if status in (201, 409):
                    i += n
                elif status == 503:
                    time.sleep(min(0.2, wait))

    def since(self, t0: float) -> list[tuple[float, float, int, str]]:
        with self.lock:
            return [e for e in self.log if e[1] >= t0]

    def acked_before(self, t0: float) -> set[str]:
        with self.lock:
            return {e[3] for e in self.log if e[2] == 201 and e[1] < t0}

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _wait(cond: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.1)


def _trial(cluster: HaCluster, load: Load, kind: str) -> dict[str, Any]:
    time.sleep(3.0)  # steady writing first
    primary = cluster.wait_primary()
    if kind in ("primary machine", "primary postgres"):
        victim = primary
    elif kind == "sync replica":
        victim = cluster.sync_standby() or next(n for n in NODES if n != primary)
    else:
        victim = "e2"
    t0 = time.monotonic()
    if kind == "primary postgres":
        cluster.kill_postgres(victim)
    elif kind == "etcd member":
        os.killpg(cluster.procs[f"etcd-{victim}"].pid, signal.SIGKILL)
    else:
        cluster.kill_node(victim)
    acked_before = load.acked_before(t0)

    def recovered() -> bool:
        return any(e[2] == 201 and e[0] >= t0 for e in load.since(t0))

    _wait(recovered, 120)
    after = load.since(t0)
    first = min(e[1] for e in after if e[2] == 201 and e[0] >= t0)
    window = [e for e in after if e[0] < first]
    refused = sum(e[2] == 503 for e in window)
    cut = sum(e[2] == 0 for e in window)
    slowest = max((e[1] - e[0] for e in window), default=0.0)
    time.sleep(2.0)
    if kind == "etcd member":
        p = cluster.procs.pop(f"etcd-{victim}")
        p.wait()
        _restart_etcd(cluster, victim)
    elif kind == "primary postgres":
        pass  # Patroni brings it back as a replica by itself
    else:
        cluster.restart_node(victim)
    _wait(cluster._healthy, 180)
    store = open_store(cluster.url())
    try:
        stored = {r.id for r in store.list_owned(RecordKind.INTENT, "FR")}
    finally:
        store.close()
    return {
        "kind": kind,
        "gap_s": first - t0,
        "refused": refused,
        "cut": cut,
        "slowest_s": slowest,
        "lost": len(acked_before - stored),
    }


def _restart_etcd(cluster: HaCluster, name: str) -> None:
    """An etcd member lost with its data: started again, it rejoins from the others."""
    initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in cluster.etcd_peer.items())
    cluster._spawn(
        f"etcd-{name}",
        [
            "etcd", "--name", name, "--data-dir", str(cluster.root / f"etcd-{name}"),
            "--listen-client-urls", f"http://127.0.0.1:{cluster.etcd_client[name]}",
            "--advertise-client-urls", f"http://127.0.0.1:{cluster.etcd_client[name]}",
            "--listen-peer-urls", f"http://127.0.0.1:{cluster.etcd_peer[name]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{cluster.etcd_peer[name]}",
            "--initial-cluster", initial, "--initial-cluster-state", "existing",
            "--log-level", "warn",
        ],
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trials", type=int, default=2)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="deconfliction-failover-"))
    key = dev_private_key(data)
    admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
    fr = {"Authorization": f"Bearer {mint_token(key, 'FR')}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    with HaCluster() as cluster:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "deconfliction", "serve", "--db", cluster.url(),
                "--workers", "2", "--port", str(port), "--data-dir", str(data),
                "--rate-limit", "100000",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            _wait(lambda: _up(base), 60)
            httpx.post(f"{base}/v1/parties", json={"id": "FR", "name": "France"}, headers=admin)
            load = Load(base, fr)
            try:
                for kind in ("primary machine", "primary postgres", "sync replica", "etcd member"):
                    for _ in range(args.trials):
                        row = _trial(cluster, load, kind)
                        rows.append(row)
                        print(
                            f"  {kind:17s} gap {row['gap_s']:6.2f} s  refused {row['refused']:4d}"
                            f"  cut {row['cut']:3d}  slowest answer {row['slowest_s']:5.2f} s"
                            f"  lost {row['lost']}",
                            flush=True,
                        )
            finally:
                load.finish()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    print("\nfault              gap to first ack (s)   refused (503)   cut   slowest (s)   lost")
    for kind in ("primary machine", "primary postgres", "sync replica", "etcd member"):
        got = [r for r in rows if r["kind"] == kind]
        gaps = [r["gap_s"] for r in got]
        print(
            f"{kind:17s}  median {statistics.median(gaps):5.2f}, max {max(gaps):5.2f}"
            f"   {sum(r['refused'] for r in got) // len(got):7d}"
            f"   {sum(r['cut'] for r in got) // len(got):5d}"
            f"   {max(r['slowest_s'] for r in got):8.2f}"
            f"   {sum(r['lost'] for r in got):4d}"
        )
    return 0


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    sys.exit(main())
