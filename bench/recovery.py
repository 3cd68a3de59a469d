"""What a client sees during each fault of one database server and of the service's processes,
and how long recovery takes; prints a table.

    python bench/recovery.py              # every fault once
    python bench/recovery.py --outage-s 40

Starts a throwaway PostgreSQL server and ``deconfliction serve --workers 2`` on it (and, for
the SQLite row, ``serve`` on its embedded store), with 4 writers creating native intents
without pause (a 503 retried after ``Retry-After``, capped at 0.2 s; a broken connection at
once). Faults, each after a few seconds of steady writing:

- ``pg stopped``: PostgreSQL stopped at once (``pg_ctl -m immediate``) for ``--outage-s``,
  then started;
- ``pg killed``: SIGKILL of every PostgreSQL process, then started (crash recovery);
- ``one worker killed``: SIGKILL of one of the two API processes (the supervisor starts
  another);
- ``sqlite locked``: another process holds the SQLite file's write lock for ``--outage-s``;
- ``webhook receiver down``: the receiver refuses connections for ``--outage-s``.

Columns: how the writes sent during the fault were answered (503 / connection cut), the
slowest answer among them (a 503 is answered at once, not after a timeout), and the time from
the fault's end (the database accepting connections again, the lock released) to the first
write acknowledged among those sent after it. For the webhook row: the time from the
receiver's return to the first event delivered, and the delivery retry backoff that explains it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from failover import Load, _intent, _up, _wait

from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
from helpers import free_port
from pgcluster import PgServer


def _serve(data: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    key = dev_private_key(data)
    admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
    fr = {"Authorization": f"Bearer {mint_token(key, 'FR')}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deconfliction", "serve", "--port", str(port),
         "--data-dir", str(data), "--rate-limit", "100000", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    _wait(lambda: _up(base), 60)
    httpx.post(f"{base}/v1/parties", json={"id": "FR", "name": "France"}, headers=admin)
    return proc, base, fr


def _measure(load: Load, t_fault: float, t_back: float) -> dict[str, Any]:
    _wait(lambda: any(e[2] == 201 and e[0] >= t_back for e in load.since(t_back)), 120)
    after = load.since(t_fault)
    first = min(e[1] for e in after if e[2] == 201 and e[0] >= t_back)
    window = [e for e in after if e[0] < first]
    return {
        "refused": sum(e[2] == 503 for e in window),
        "cut": sum(e[2] == 0 for e in window),
        "slowest_s": max((e[1] - e[0] for e in window), default=0.0),
        "recovery_s": first - t_back,
    }


def _row(name: str, m: dict[str, Any]) -> None:
    print(
        f"{name:24s} refused {m['refused']:5d}  cut {m['cut']:3d}  slowest answer "
        f"{m['slowest_s']:5.2f} s  back to first ack {m['recovery_s']:5.2f} s",
        flush=True,
    )


def _workers(pid: int) -> list[int]:
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            out.append(int(child))
    return out


def postgres_faults(outage_s: float) -> None:
    server = PgServer()
    data = Path(tempfile.mkdtemp(prefix="deconfliction-recovery-"))
    proc, base, fr = _serve(data, ["--db", server.create_db("recovery"), "--workers", "2"])
    load = Load(base, fr)
    try:
        time.sleep(3)
        t = time.monotonic()
        server.stop()
        time.sleep(outage_s)
        server.start()
        _row(f"pg stopped {outage_s:g} s", _measure(load, t, time.monotonic()))
        time.sleep(3)
        t = time.monotonic()
        server.kill()
        server.start()
        _row("pg killed, restarted", _measure(load, t, time.monotonic()))
        time.sleep(3)
        t = time.monotonic()
        os.kill(_workers(proc.pid)[0], signal.SIGKILL)
        _row("one worker killed", _measure(load, t, t))
    finally:
        load.finish()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        server.close()


def sqlite_fault(outage_s: float) -> None:
    data = Path(tempfile.mkdtemp(prefix="deconfliction-recovery-"))
    proc, base, fr = _serve(data, [])
    load = Load(base, fr)
    try:
        time.sleep(3)
        other = sqlite3.connect(data / "deconfliction.db", isolation_level=None)
        t = time.monotonic()
        other.execute("BEGIN EXCLUSIVE")
        time.sleep(outage_s)
        other.execute("ROLLBACK")
        other.close()
        _row(f"sqlite locked {outage_s:g} s", _measure(load, t, time.monotonic()))
    finally:
        load.finish()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def webhook_fault(outage_s: float) -> None:
    got: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append(time.monotonic())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()

    def up() -> ThreadingHTTPServer:
        ThreadingHTTPServer.allow_reuse_address = True
        s = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        return s

    data = Path(tempfile.mkdtemp(prefix="deconfliction-recovery-"))
    proc, base, fr = _serve(data, [])
    receiver = up()
    try:
        hook = {"url": f"http://127.0.0.1:{port}/hook", "secret": "0123456789abcdef"}
        httpx.put(f"{base}/v1/webhook", json=hook, headers=fr)
        receiver.shutdown()
        receiver.server_close()
        t_down = time.monotonic()
        with httpx.Client(timeout=10) as c:
            i = 0
            while time.monotonic() - t_down < outage_s:
                c.post(f"{base}/v1/intents", json=_intent(10**6 + i), headers=fr)
                i += 1
                time.sleep(0.2)
        attempts = httpx.get(f"{base}/v1/webhook", headers=fr).json()["attempts"]
        receiver = up()
        t_back = time.monotonic()
        _wait(lambda: bool(got), 600)
        _wait(lambda: httpx.get(f"{base}/v1/webhook", headers=fr).json()["pending"] == 0, 600)
        print(
            f"{'webhook receiver down':24s} {attempts} failed tries meanwhile; first delivery "
            f"{got[0] - t_back:5.2f} s after its return, all {time.monotonic() - t_back:5.2f} s",
            flush=True,
        )
    finally:
        receiver.shutdown()
        receiver.server_close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--outage-s", type=float, default=5.0)
    args = ap.parse_args()
    postgres_faults(args.outage_s)
    sqlite_fault(args.outage_s)
    webhook_fault(args.outage_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
