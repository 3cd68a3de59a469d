"""Many USSs writing operational intents into one congested S2 level-13 cell, over HTTP.

Starts ``deconfliction serve`` on the embedded store (a fresh data folder), then runs
``--clients`` threads for ``--seconds``. Each client keeps one live operational intent in the
same cell: it queries the cell, creates a new intent with the key it saw (every OVN there), on
409 adds the intents the answer says are missing to its key and retries, then deletes its
previous intent. Prints successful creates per
second, and p50/p99 of the create request and of a whole attempt (query + create, retries
included).

    python bench/dss_congested.py --clients 16 --seconds 20
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from deconfliction.auth import dev_private_key, mint_token

SC = "utm.strategic_coordination"
LAT, LNG = 48.8566, 2.3522  # every volume: a 30 m circle here, in one level-13 cell


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _time(minutes: float) -> dict[str, str]:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"value": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"}


def _volume() -> dict[str, Any]:
    return {
        "volume": {
            "outline_circle": {
                "center": {"lat": LAT, "lng": LNG},
                "radius": {"value": 30, "units": "M"},
            },
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"},
        },
        "time_start": _time(1),
        "time_end": _time(60),
    }


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-dss-"))
    key = dev_private_key(data)
    port = _port()
    base = f"http://127.0.0.1:{port}/dss/v1"
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
            "--auth-audience",
            "localhost",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        put_ms: list[float] = []
        attempt_ms: list[float] = []
        conflicts = [0]
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def client(k: int) -> None:
            token = mint_token(key, f"uss{k}", audience="localhost", scopes=[SC])
            headers = {"Authorization": f"Bearer {token}"}
            previous: tuple[str, str] | None = None
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                while time.monotonic() < stop:
                    t0 = time.perf_counter()
                    oid = str(uuid.uuid4())
                    q = c.post(
                        "/operational_intent_references/query",
                        json={"area_of_interest": _volume()},
                    )
                    refs = q.json()["operational_intent_references"]
                    while True:
                        # others' OVNs come from their USSs in real life (here, from a table
                        # the clients share); one's own are in the answer
                        with lock:
                            keys = [
                                r["ovn"] if r["manager"] == f"uss{k}" else ovns.get(r["id"])
                                for r in refs
                            ]
                        body = {
                            "extents": [_volume()],
                            "key": [x for x in keys if x],
                            "state": "Accepted",
                            "uss_base_url": "https://uss.example",
                        }
                        t1 = time.perf_counter()
                        r = c.put(f"/operational_intent_references/{oid}", json=body)
                        t2 = time.perf_counter()
                        if r.status_code == 201:
                            break
                        if r.status_code != 409 or time.monotonic() > stop + 30:
                            raise SystemExit(f"unexpected {r.status_code}: {r.text[:200]}")
                        # as a USS does: learn from the 409 what was missing, then retry
                        refs += r.json()["missing_operational_intents"]
                        with lock:
                            conflicts[0] += 1
                    ovn = r.json()["operational_intent_reference"]["ovn"]
                    with lock:
                        ovns[oid] = ovn
                        put_ms.append((t2 - t1) * 1000)
                        attempt_ms.append((t2 - t0) * 1000)
                    if previous is not None:
                        c.delete(f"/operational_intent_references/{previous[0]}/{previous[1]}")
                        with lock:
                            ovns.pop(previous[0], None)
                    previous = (oid, ovn)

        ovns: dict[str, str] = {}
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        t_start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t_start
    finally:
        server.terminate()
        server.wait(timeout=30)
    n = len(put_ms)
    print(f"dss congested cell: {args.clients} clients, {elapsed:.1f} s, one level-13 cell")
    print(f"  successful creates/s  {n / elapsed:8.1f}   (plus as many deletes)")
    print(f"  409 retries           {conflicts[0]:8d}")
    print(f"  create p50 / p99 ms   {statistics.median(put_ms):8.2f} / {pct(put_ms, 0.99):.2f}")
    print(
        f"  attempt p50 / p99 ms  {statistics.median(attempt_ms):8.2f} / "
        f"{pct(attempt_ms, 0.99):.2f}   (query + create, retries included)"
    )


if __name__ == "__main__":
    main()
