"""``/v1/health`` while hostile requests run: does any request stall the service for others?

    python bench/hostile.py [--seconds 15] [--workers 1]

Starts ``deconfliction serve`` on a loopback port (a throwaway data folder), then, for each
phase, one client (a process of its own) asks ``/v1/health`` every 20 ms and records its
latency while hostile clients run in threads of this process:

- ``quiet``: nothing else;
- ``polygons``: 4 clients send previews of 2,000-vertex polygons (the most a polygon may have)
  and DSS intent references with 2,000-vertex outlines;
- ``bodies``: 4 clients stream 16 MB bodies without a token (cut at 64 KB) and 2 with one
  (track batches at the 16 MB limit: read, depth-counted in a worker thread, validated there);
- ``tokens``: 8 clients each send a new junk token with every request;
- ``all``: everything at once.

Prints p50, p99 and max of ``/v1/health`` per phase, and how many hostile requests were
answered and with which codes. Loopback only, bounded in time; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from deconfliction.auth import dev_private_key, mint_token

SC = "utm.strategic_coordination"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ring(n: int, lon: float, lat: float, r: float = 0.05) -> list[list[float]]:
    pts = [
        [lon + r * math.cos(2 * math.pi * i / n), lat + r * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    return [*pts, pts[0]]


def _preview(k: int) -> dict[str, Any]:
    t0 = datetime.now(UTC) + timedelta(hours=1)
    return {
        "volumes": [
            {
                "footprint": {"type": "Polygon", "coordinates": [_ring(2000, 30 + k % 7, 34)]},
                "alt_lower_m": 0,
                "alt_upper_m": 1000,
                "time_start": t0.isoformat(),
                "time_end": (t0 + timedelta(hours=1)).isoformat(),
            }
        ]
    }


def _oir(k: int) -> dict[str, Any]:
    t0 = datetime.now(UTC) + timedelta(minutes=10)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    ring = _ring(2000, 10 + 0.2 * (k % 50), 45, r=0.02)[:-1]
    return {
        "extents": [
            {
                "volume": {
                    "outline_polygon": {"vertices": [{"lng": p[0], "lat": p[1]} for p in ring]},
                    "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
                    "altitude_upper": {"value": 100, "reference": "W84", "units": "M"},
                },
                "time_start": {"value": t0.strftime(fmt), "format": "RFC3339"},
                "time_end": {
                    "value": (t0 + timedelta(minutes=20)).strftime(fmt),
                    "format": "RFC3339",
                },
            }
        ],
        "state": "Accepted",
        "uss_base_url": "https://uss.example",
        "new_subscription": {"uss_base_url": "https://uss.example"},
    }


def _stream(size: int) -> Iterator[bytes]:
    chunk = b"[" + b"0," * 32_767 + b"0]"
    sent = 0
    while sent < size:
        yield chunk
        sent += len(chunk)


class Phase:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens
        self.codes: Counter[str] = Counter()
        self.lock = threading.Lock()

    def count(self, what: str, code: int | str) -> None:
        with self.lock:
            self.codes[f"{what} {code}"] += 1

    def polygons(self, stop: threading.Event, k: int) -> None:
        h = {"Authorization": f"Bearer {self.tokens['FR']}"}
        d = {"Authorization": f"Bearer {self.tokens['uss']}"}
        # bodies made before the clock starts: the clients' own work would take cores from
        # the server on a small machine and count as its slowness
        previews = [json.dumps(_preview(k + n)).encode() for n in range(7)]
        oirs = [json.dumps(_oir(k * 1000 + n)).encode() for n in range(50)]
        h["content-type"] = d["content-type"] = "application/json"
        with httpx.Client(base_url=self.url, timeout=60) as c:
            n = 0
            while not stop.is_set():
                r = c.post("/v1/intents/preview", content=previews[n % 7], headers=h)
                self.count("preview", r.status_code)
                r = c.put(
                    f"/dss/v1/operational_intent_references/{uuid.uuid4()}",
                    content=oirs[n % 50],
                    headers=d,
                )
                self.count("dss polygon", r.status_code)
                n += 1

    def bodies(self, stop: threading.Event, k: int, token: bool) -> None:
        h = {"content-type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {self.tokens['FR']}"
        with httpx.Client(base_url=self.url, timeout=60) as c:
            while not stop.is_set():
                try:
                    r = c.post(
                        "/v1/tracks",
                        content=_stream(16 << 20 if not token else 15 << 20),
                        headers=h,
                    )
                    self.count("16 MB body" + (" with token" if token else ""), r.status_code)
                except httpx.HTTPError as exc:
                    self.count("16 MB body" + (" with token" if token else ""), type(exc).__name__)

    def junk(self, stop: threading.Event, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as c:
            n = 0
            while not stop.is_set():
                h = {"Authorization": f"Bearer junk.{k}.{n}.{uuid.uuid4().hex}"}
                r = c.get("/v1/me", headers=h)
                self.count("junk token", r.status_code)
                n += 1


def _health(url: str, seconds: float, out: Any) -> None:
    """The honest client, in a process of its own (the hostile threads of this one would
    otherwise delay it through the interpreter lock and count as the server's time)."""
    lat = []
    end = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=60) as c:
        while time.monotonic() < end:
            t = time.perf_counter()
            c.get("/v1/health")
            lat.append((time.perf_counter() - t) * 1000.0)
            time.sleep(0.02)
    out.put(lat)


def run_phase(
    name: str, url: str, tokens: dict[str, str], seconds: float
) -> tuple[list[float], Counter[str]]:
    phase = Phase(url, tokens)
    stop = threading.Event()
    jobs: list[Callable[[], None]] = []
    if name in ("polygons", "all"):
        jobs += [lambda k=k: phase.polygons(stop, k) for k in range(4)]
    if name in ("bodies", "all"):
        jobs += [lambda k=k: phase.bodies(stop, k, token=False) for k in range(4)]
        jobs += [lambda k=k: phase.bodies(stop, k, token=True) for k in range(2)]
    if name in ("tokens", "all"):
        jobs += [lambda k=k: phase.junk(stop, k) for k in range(8)]
    threads = [threading.Thread(target=j, daemon=True) for j in jobs]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let the load build up
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    probe = ctx.Process(target=_health, args=(url, seconds, out))
    probe.start()
    lat: list[float] = out.get()
    probe.join()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return lat, phase.codes


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100.0 * (len(xs) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--phases", default="quiet,polygons,bodies,tokens,all", help="comma-separated, in order"
    )
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="hostile-"))
    port = _free_port()
    key = dev_private_key(data)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconfliction",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--rate-limit",
            "100000",
            "--workers",
            str(args.workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        tokens = {"FR": mint_token(key, "FR"), "uss": mint_token(key, "uss1", scopes=[SC])}
        print(f"server: 127.0.0.1:{port}, {args.workers} process(es); {args.seconds:g} s a phase")
        print(f"{'phase':10} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  hostile answers")
        for name in args.phases.split(","):
            lat, codes = run_phase(name, url, tokens, args.seconds)
            said = ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))
            print(
                f"{name:10} {len(lat):5d} {statistics.median(lat):8.1f} {_pct(lat, 99):8.1f} "
                f"{max(lat):8.1f}  {said}",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
