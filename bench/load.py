# ruff: noqa: B023 - every closure here is called at once, in the iteration that made it
"""A mixed workload against the service over HTTP, for a bounded time; prints throughput and
p50/p99 latency per operation.

    python bench/load.py --seconds 20                          # SQLite, one process
    python bench/load.py --seconds 20 --pg URL --workers 2      # PostgreSQL, two processes
    python bench/load.py --seconds 20 --pg URL --workers 2 --mix planners --planners 8

Starts ``deconfliction serve`` on a fresh data folder (and, with ``--pg``, a fresh database on
that server), registers four parties, then runs for ``--seconds``:

- planners (4 threads): native intents in random places of the eastern Mediterranean, created,
  then replaced, then deleted; plus queries and previews;
- DSS clients (4 threads): query an area, then write an operational intent reference with the
  key seen (retry on 409), then delete it;
- track feeders (2 threads): batches of 500 states of 500 aircraft, every 0.5 s;
- listeners (4): server-sent event streams, counting events.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token

PARTIES = ("FR", "RU", "UK", "US")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))] if xs else float("nan")


def _iso(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def _native(rng: random.Random) -> dict[str, Any]:
    lon, lat = rng.uniform(28, 36), rng.uniform(31, 36)
    ring = [[lon, lat], [lon + 0.05, lat], [lon + 0.05, lat + 0.05], [lon, lat + 0.05], [lon, lat]]
    return {
        "footprint": {"type": "Polygon", "coordinates": [ring]},
        "alt_lower_m": 0,
        "alt_upper_m": rng.choice([1000, 3000, 9000]),
        "time_start": _iso(10),
        "time_end": _iso(70),
    }


def _dss_volume(rng: random.Random) -> dict[str, Any]:
    t0 = datetime.now(UTC) + timedelta(minutes=5)
    return {
        "volume": {
            "outline_circle": {
                "center": {"lat": rng.uniform(48.80, 48.90), "lng": rng.uniform(2.30, 2.40)},
                "radius": {"value": 300, "units": "M"},
            },
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"},
        },
        "time_start": {"value": t0.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"},
        "time_end": {
            "value": (t0 + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "format": "RFC3339",
        },
    }


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def time(self, name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        try:
            r = fn()
        except httpx.HTTPError:
            with self.lock:
                self.errors[name] += 1
            return None
        with self.lock:
            self.lat[name].append((time.perf_counter() - t0) * 1000)
            if r.status_code >= 500:
                self.errors[name] += 1
        return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pg", help="a PostgreSQL server URL (postgresql://user@host:port)")
    ap.add_argument(
        "--mix",
        choices=("all", "planners"),
        default="all",
        help="planners: only the planners (native intents written, queried, deleted), so that "
        "what a second process adds to writes shows alone",
    )
    ap.add_argument("--planners", type=int, default=4)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-load-"))
    key = dev_private_key(data)
    port = _port()
    extra = ["--workers", str(args.workers)]
    if args.pg:
        import psycopg

        name = f"load_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        db_url = f"{args.pg}/{name}"
        extra += ["--db", db_url]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconfliction",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--rate-limit",
            "100000",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    stats = Stats()
    events = [0]
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
        for p in PARTIES:
            httpx.post(f"{base}/v1/parties", json={"id": p, "name": p}, headers=admin)
        stop = time.monotonic() + args.seconds

        def planner(n: int) -> None:
            rng = random.Random(n)
            party = PARTIES[n % len(PARTIES)]
            h = {"Authorization": f"Bearer {mint_token(key, party)}"}
            with httpx.Client(base_url=base, headers=h, timeout=30) as c:
                while time.monotonic() < stop:
                    r = stats.time(
                        "intent create",
                        lambda: c.post("/v1/intents", json={"volumes": [_native(rng)]}),
                    )
                    if r is None or r.status_code != 201:
                        continue
                    rid = r.json()["intent"]["id"]
                    stats.time(
                        "intent replace",
                        lambda: c.put(
                            f"/v1/intents/{rid}", json={"version": 1, "volumes": [_native(rng)]}
                        ),
                    )
                    stats.time(
                        "intent query",
                        lambda: c.post("/v1/intents/query", json={"volume": _native(rng)}),
                    )
                    stats.time(
                        "intent preview",
                        lambda: c.post("/v1/intents/preview", json={"volumes": [_native(rng)]}),
                    )
                    stats.time("intent delete", lambda: c.delete(f"/v1/intents/{rid}?version=2"))
                    stats.time("conflicts", lambda: c.get("/v1/conflicts"))

        def dss(n: int) -> None:
            rng = random.Random(100 + n)
            token = mint_token(key, f"uss{n}", scopes=["utm.strategic_coordination"])
            h = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=f"{base}/dss/v1", headers=h, timeout=30) as c:
                while time.monotonic() < stop:
                    vol = _dss_volume(rng)
                    q = stats.time(
                        "dss query",
                        lambda: c.post(
                            "/operational_intent_references/query", json={"area_of_interest": vol}
                        ),
                    )
                    if q is None:
                        continue
                    keyset = [
                        r["ovn"]
                        for r in q.json().get("operational_intent_references", [])
                        if r["manager"] == f"uss{n}"
                    ]
                    oid = str(uuid.uuid4())
                    body = {
                        "extents": [vol],
                        "key": keyset,
                        "state": "Accepted",
                        "uss_base_url": "https://u.example",
                    }
                    r = stats.time(
                        "dss put", lambda: c.put(f"/operational_intent_references/{oid}", json=body)
                    )
                    if r is not None and r.status_code == 201:
                        ovn = r.json()["operational_intent_reference"]["ovn"]
                        stats.time(
                            "dss delete",
                            lambda: c.delete(f"/operational_intent_references/{oid}/{ovn}"),
                        )

        def feeder(n: int) -> None:
            rng = random.Random(200 + n)
            party = PARTIES[n]
            h = {"Authorization": f"Bearer {mint_token(key, party)}"}
            with httpx.Client(base_url=base, headers=h, timeout=30) as c:
                while time.monotonic() < stop:
                    now = datetime.now(UTC).isoformat()
                    states = [
                        {
                            "id": f"{party}-{i}",
                            "class": "fixed-wing",
                            "time": now,
                            "lon": rng.uniform(28, 36),
                            "lat": rng.uniform(31, 36),
                            "alt_m": rng.uniform(1000, 12000),
                            "gs_mps": 220,
                            "track_deg": rng.uniform(0, 360),
                            "vs_mps": 0,
                        }
                        for i in range(500)
                    ]
                    stats.time(
                        "tracks batch (500)", lambda: c.post("/v1/tracks", json={"states": states})
                    )
                    time.sleep(0.5)

        def listener(n: int) -> None:
            party = PARTIES[n % len(PARTIES)]
            h = {"Authorization": f"Bearer {mint_token(key, party)}"}
            try:
                with httpx.stream(
                    "GET", f"{base}/v1/events", headers=h, timeout=httpx.Timeout(5.0)
                ) as r:
                    for line in r.iter_lines():
                        if line.startswith("id: "):
                            with stats.lock:
                                events[0] += 1
                        if time.monotonic() > stop:
                            return
            except httpx.HTTPError:
                return

        waits: list[tuple[int, int]] = []  # (waiting on an advisory lock, running) per sample

        def lock_sampler() -> None:
            import psycopg

            with psycopg.connect(db_url, autocommit=True) as conn:
                while time.monotonic() < stop:
                    row = conn.execute(
                        "SELECT count(*) FILTER (WHERE wait_event = 'advisory'), "
                        "count(*) FILTER (WHERE state = 'active' AND (wait_event IS NULL "
                        "OR wait_event_type IN ('IO', 'LWLock'))) "
                        "FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    ).fetchone()
                    if row is not None:
                        waits.append((int(row[0]), int(row[1])))
                    time.sleep(0.02)

        threads = [
            threading.Thread(target=f, args=(n,))
            for f, k in ((planner, args.planners), (dss, 4), (feeder, 2), (listener, 4))
            if args.mix == "all" or f is planner
            for n in range(k)
        ]
        if args.pg:
            threads.append(threading.Thread(target=lock_sampler))
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 60)
        elapsed = time.perf_counter() - t0
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    store = "PostgreSQL" if args.pg else "SQLite"
    load = os.getloadavg()[0]
    print(
        f"load: {store}, {args.workers} process(es), mix {args.mix}, {args.planners} planners, "
        f"{elapsed:.1f} s, load average {load:.1f}"
    )
    print(f"{'operation':<22}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    total = 0
    for name in sorted(stats.lat):
        xs = stats.lat[name]
        total += len(xs)
        rate, p50, p99 = len(xs) / elapsed, statistics.median(xs), pct(xs, 0.99)
        print(f"{name:<22}{rate:>8.1f}{p50:>9.1f}{p99:>9.1f}{stats.errors[name]:>8}")
    print(f"{'all requests':<22}{total / elapsed:>8.1f}")
    print(f"events received by 4 stream listeners: {events[0]}")
    if waits:
        waiting = statistics.fmean(w for w, _ in waits)
        running = statistics.fmean(r for _, r in waits)
        print(
            f"database sessions, mean of {len(waits)} samples: {waiting:.2f} waiting on a write "
            f"lock (advisory), {running:.2f} running a statement"
        )


if __name__ == "__main__":
    main()
