"""Many USSs writing operational intents into one congested S2 level-13 cell, over HTTP.

    python bench/dss_congested.py --clients 4 --seconds 15
    python bench/dss_congested.py --clients 1 --seconds 10 --generator wrk
    python bench/dss_congested.py --mode rps --seconds 5

``--mode cell`` (the default) starts ``deconfliction serve`` on the embedded store (a fresh
data folder), then runs ``--clients`` client processes (one USS each, a plain keep-alive
HTTP/1.1 connection, no HTTP library: a request costs the client some tens of microseconds, so
the clients are not what is measured). Each keeps one live operational intent in the same
cell: it queries the cell, creates a new intent with the key it saw (every OVN there), on 409
adds the intents the answer says are missing to its key and retries, then deletes its previous
intent. Others' OVNs come from their USSs in real life; here, from a folder the client
processes share. Prints successful creates and writes (creates plus deletes) per second, the
p50/p99 of every write request (creates, refused creates and deletes), of the create and of a
whole attempt (query + create, retries included), and the CPU the server and the clients
spent per request.

``--generator wrk`` runs the same loop in ``wrk`` instead (``dss_congested.lua``: one thread,
one connection and one USS per client, LuaJIT; a few tens of microseconds of client CPU a
request against 0.2 to 0.4 ms for the Python processes): with one client the loop is serial,
so the client's own time per request is in every cycle.

``--mode ab --a SRC --b SRC`` runs two versions side by side (two servers, one client
alternating blocks of cycles between them): the way to see a difference of a few percent on a
machine whose speed drifts more than that between runs.

``--mode rps`` measures requests per second of one ``serve`` process (``/v1/health`` and a DSS
query) next to a bare ASGI app under the same uvicorn settings (httptools, uvloop), in the same
run, and the server's CPU per request (steadier than requests/s on a shared machine). The server
gets one core (the first; affinity set where the machine has two or more) and the load generator
the others: ``wrk`` when it is installed, else client processes.

``--py-spy FILE`` records a profile of the server during the measured window (``py-spy`` next
to this Python or on the PATH; idle samples included, so waits show, unless ``--busy-only``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SC = "utm.strategic_coordination"
LAT, LNG = 48.8566, 2.3522  # every volume: a 30 m circle here, in one level-13 cell
OIR = "/dss/v1/operational_intent_references"


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


class Conn:
    """One keep-alive HTTP/1.1 connection; answers are read by their ``Content-Length``."""

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.buf = b""

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + self.auth
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            head += b"Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n".encode()
        self.sock.sendall(head + data)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        top, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = top.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self._more()
        out, self.buf = self.buf[:length], self.buf[length:]
        return status, out

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk


@dataclass
class Tally:
    creates: int = 0
    deletes: int = 0
    refused: int = 0
    write_ms: list[float] = field(default_factory=list)
    create_ms: list[float] = field(default_factory=list)
    attempt_ms: list[float] = field(default_factory=list)
    query_ms: list[float] = field(default_factory=list)
    delete_ms: list[float] = field(default_factory=list)
    requests: int = 0
    cpu_s: float = 0.0
    last: float = 0.0


class OvnBoard:
    """Others' OVNs, as their USSs would give them: one small file per intent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, oid: str, ovn: str) -> None:
        tmp = self.folder / f".{oid}"
        tmp.write_text(ovn)
        os.replace(tmp, self.folder / oid)

    def get(self, oid: str) -> str | None:
        try:
            return (self.folder / oid).read_text()
        except FileNotFoundError:
            return None

    def drop(self, oid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / oid).unlink()


def run_client(port: int, token: str, me: str, board: OvnBoard, start: float, stop: float) -> Tally:
    """One USS's loop (see the module's docstring) from ``start`` to ``stop`` (monotonic)."""
    return _loop(Conn(port, token), me, board, start, stop)


def _loop(conn: Conn, me: str, board: OvnBoard, start: float, stop: float) -> Tally:
    t = Tally()
    previous: tuple[str, str] | None = None
    while time.monotonic() < start:
        time.sleep(0.001)
    cpu0 = time.process_time()
    while time.monotonic() < stop:
        previous = _cycle(conn, me, board, t, previous, stop + 30)
        t.last = time.monotonic()
    t.cpu_s = time.process_time() - cpu0
    return t


def _cycle(
    conn: Conn,
    me: str,
    board: OvnBoard,
    t: Tally,
    previous: tuple[str, str] | None,
    give_up: float,
) -> tuple[str, str]:
    """One turn of a USS's loop: query, create (retried on 409 until ``give_up``, monotonic),
    delete ``previous``; the new intent's (id, OVN). Times go to ``t`` (the query's to
    ``query_ms``)."""
    t0 = time.perf_counter()
    oid = str(uuid.uuid4())
    status, raw = conn.request("POST", f"{OIR}/query", {"area_of_interest": _volume()})
    t.query_ms.append((time.perf_counter() - t0) * 1000)
    t.requests += 1
    if status != 200:
        raise SystemExit(f"query: unexpected {status}: {raw[:200]!r}")
    refs = json.loads(raw)["operational_intent_references"]
    while True:
        keys = [r["ovn"] if r["manager"] == me else board.get(r["id"]) for r in refs]
        body = {
            "extents": [_volume()],
            "key": [x for x in keys if x],
            "state": "Accepted",
            "uss_base_url": "https://uss.example",
        }
        t1 = time.perf_counter()
        status, raw = conn.request("PUT", f"{OIR}/{oid}", body)
        t2 = time.perf_counter()
        t.requests += 1
        t.write_ms.append((t2 - t1) * 1000)
        if status == 201:
            break
        if status != 409 or time.monotonic() > give_up:
            raise SystemExit(f"create: unexpected {status}: {raw[:200]!r}")
        # as a USS does: learn from the 409 what was missing, then retry
        refs += json.loads(raw)["missing_operational_intents"]
        t.refused += 1
    ovn = json.loads(raw)["operational_intent_reference"]["ovn"]
    board.put(oid, ovn)
    t.creates += 1
    t.create_ms.append((t2 - t1) * 1000)
    t.attempt_ms.append((t2 - t0) * 1000)
    if previous is not None:
        t3 = time.perf_counter()
        status, raw = conn.request("DELETE", f"{OIR}/{previous[0]}/{previous[1]}")
        took = (time.perf_counter() - t3) * 1000
        t.write_ms.append(took)
        t.delete_ms.append(took)
        t.requests += 1
        if status != 200:
            raise SystemExit(f"delete: unexpected {status}: {raw[:200]!r}")
        t.deletes += 1
        board.drop(previous[0])
    return oid, ovn


def _client_process(
    port: int, token: str, me: str, board: OvnBoard, seconds: float, ready: Any, go: Any, out: Any
) -> None:
    """A client process: connected, it waits for every other, then runs ``seconds`` from the
    start the parent gives (so that slow process starts take nothing from the window)."""
    conn = Conn(port, token)
    ready.wait()
    start = go.value
    out.put(_loop(conn, me, board, start, start + seconds))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 1)[0]
    except OSError:
        return "?"


def _wait_up(port: int, path: str = "/v1/health") -> None:
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


@contextlib.contextmanager
def _serve(
    data: Path,
    cpus: set[int] | None = None,
    rate_limit: float | None = None,
    src: str | None = None,
) -> Iterator[tuple[int, int]]:
    """``deconfliction serve`` on a fresh port: (port, pid); ``src``: a source folder to run
    instead of the installed package (put first on ``PYTHONPATH``)."""
    port = _port()
    cmd = [sys.executable, "-m", "deconfliction", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data), "--auth-audience", "localhost"]
    if rate_limit is not None:
        cmd += ["--rate-limit", str(rate_limit)]
    env = None
    if src is not None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
        }
    with _process(cmd, port, cpus, env) as pid:
        yield port, pid


@contextlib.contextmanager
def _process(
    cmd: list[str], port: int, cpus: set[int] | None, env: dict[str, str] | None = None
) -> Iterator[int]:
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        if cpus:
            os.sched_setaffinity(server.pid, cpus)
        _wait_up(port)
        yield server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def _py_spy(pid: int, seconds: float, out: str, idle: bool) -> subprocess.Popen[bytes] | None:
    exe = Path(sys.executable).with_name("py-spy")
    found = str(exe) if exe.exists() else shutil.which("py-spy")
    if found is None:
        print("  (py-spy not found: no profile)")
        return None
    cmd = [found, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", "200"]
    cmd += ["--threads", "-f", "raw", "-o", out, *(["--idle"] if idle else [])]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cell_mode(args: argparse.Namespace) -> None:
    from deconfliction.auth import dev_private_key, mint_token

    data = Path(tempfile.mkdtemp(prefix="bench-dss-"))
    key = dev_private_key(data)
    shm = Path("/dev/shm")
    board_dir = Path(tempfile.mkdtemp(prefix="bench-dss-ovn-", dir=shm if shm.is_dir() else None))
    board = OvnBoard(board_dir)
    ctx = multiprocessing.get_context("spawn")
    with _serve(data) as (port, pid):
        # warm up (routes built, caches filled) with a USS of its own
        warm = mint_token(key, "warmup", audience="localhost", scopes=[SC])
        now = time.monotonic()
        run_client(port, warm, "warmup", board, now, now + args.warmup)
        uss = [f"uss{k}" for k in range(args.clients)]
        tokens = [mint_token(key, u, audience="localhost", scopes=[SC]) for u in uss]
        if args.generator == "wrk":
            tallies, start, cpu0, cpu1, spy = _cell_wrk(args, port, pid, tokens, board_dir)
        else:
            tallies, start, cpu0, cpu1, spy = _cell_py(args, port, pid, tokens, board, ctx)
        if spy is not None:
            spy.wait()
    shutil.rmtree(board_dir, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    elapsed = max(t.last for t in tallies) - start
    if elapsed <= 0 or not any(t.creates for t in tallies):
        raise SystemExit("no create completed in the window")
    creates = sum(t.creates for t in tallies)
    deletes = sum(t.deletes for t in tallies)
    requests = sum(t.requests for t in tallies)
    writes_ms = [x for t in tallies for x in t.write_ms]
    create_ms = [x for t in tallies for x in t.create_ms]
    attempt_ms = [x for t in tallies for x in t.attempt_ms]
    who = "wrk threads" if args.generator == "wrk" else "client processes"
    print(
        f"dss congested cell: {args.clients} {who}, {elapsed:.1f} s, one level-13 "
        f"cell, load average {_loadavg()} at the end"
    )
    print(f"  successful creates/s  {creates / elapsed:8.1f}")
    print(f"  writes/s              {(creates + deletes) / elapsed:8.1f}   (creates + deletes)")
    print(f"  409 retries/s         {sum(t.refused for t in tallies) / elapsed:8.1f}")
    print(f"  requests/s            {requests / elapsed:8.1f}   (queries, writes, refusals)")
    print(
        f"  write p50 / p99 ms    {statistics.median(writes_ms):8.2f} / {pct(writes_ms, 0.99):.2f}"
    )
    print(
        f"  create p50 / p99 ms   {statistics.median(create_ms):8.2f} / {pct(create_ms, 0.99):.2f}"
    )
    print(
        f"  attempt p50 / p99 ms  {statistics.median(attempt_ms):8.2f} / "
        f"{pct(attempt_ms, 0.99):.2f}   (query + create, retries included)"
    )
    print(
        f"  CPU per request ms    {1000 * (cpu1 - cpu0) / requests:8.3f} server, "
        f"{1000 * sum(t.cpu_s for t in tallies) / requests:.3f} clients"
    )


def _cell_py(
    args: argparse.Namespace, port: int, pid: int, tokens: list[str], board: OvnBoard, ctx: Any
) -> tuple[list[Tally], float, float, float, subprocess.Popen[bytes] | None]:
    """The clients as Python processes: (tallies, window start, server CPU s before, after, the
    profiler)."""
    out, ready, go = ctx.Queue(), ctx.Barrier(args.clients + 1), ctx.Value("d", 0.0)
    procs = []
    for k, token in enumerate(tokens):
        a = (port, token, f"uss{k}", board, args.seconds, ready, go, out)
        procs.append(ctx.Process(target=_client_process, args=a))
    for p in procs:
        p.start()
    go.value = start = time.monotonic() + 0.2
    ready.wait(timeout=300)  # every client process started and connected
    while time.monotonic() < start:
        time.sleep(0.001)
    cpu0 = _cpu_s(pid)
    spy = _py_spy(pid, args.seconds, args.py_spy, not args.busy_only) if args.py_spy else None
    tallies = [out.get(timeout=args.seconds + 120) for _ in procs]
    cpu1 = _cpu_s(pid)
    for p in procs:
        p.join()
    return tallies, start, cpu0, cpu1, spy


def _cell_wrk(
    args: argparse.Namespace, port: int, pid: int, tokens: list[str], board_dir: Path
) -> tuple[list[Tally], float, float, float, subprocess.Popen[bytes] | None]:
    """The clients as ``wrk`` threads (``dss_congested.lua``: one thread, one connection and
    one USS each; the same loop as ``_loop``)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--generator wrk: wrk is not installed")
    script = Path(__file__).with_name("dss_congested.lua")
    seconds = max(1, round(args.seconds))
    cmd = [wrk, "-t", str(args.clients), "-c", str(args.clients), "-d", f"{seconds}s"]
    cmd += ["-s", str(script), f"http://127.0.0.1:{port}"]
    env = {**os.environ, "BENCH_TOKENS": ",".join(tokens), "BENCH_BOARD": str(board_dir)}
    env |= {"BENCH_LAT": str(LAT), "BENCH_LNG": str(LNG)}
    before = os.times()
    cpu0 = _cpu_s(pid)
    start = time.monotonic()
    spy = _py_spy(pid, args.seconds, args.py_spy, not args.busy_only) if args.py_spy else None
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    cpu1 = _cpu_s(pid)
    after = os.times()
    client_s = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    tallies: list[Tally] = []
    elapsed_s = 0.0
    for line in res.stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag not in ("ELAPSED_US", "TALLY", "WRITE", "CREATE", "ATTEMPT"):
            continue  # wrk's own summary
        nums = [float(x) for x in rest.split()]
        if tag == "ELAPSED_US":
            elapsed_s = nums[0] / 1e6
        elif tag == "TALLY":
            tallies.append(Tally(*(int(x) for x in nums[:3])))
            tallies[-1].requests = int(nums[3])
            if nums[4]:
                raise SystemExit(f"wrk: {int(nums[4])} unexpected answers\n{res.stdout[-2000:]}")
        elif tag in ("WRITE", "CREATE", "ATTEMPT"):
            getattr(tallies[-1], f"{tag.lower()}_ms").extend(nums)
    if not tallies:
        raise SystemExit(f"wrk printed no tally:\n{res.stdout}\n{res.stderr}")
    for t in tallies:  # wrk's own window; its CPU shared out by requests
        t.last = start + elapsed_s
        t.cpu_s = client_s * t.requests / max(1, sum(x.requests for x in tallies))
    return tallies, start, cpu0, cpu1, spy


# --- two versions side by side -----------------------------------------------------------
def ab_mode(args: argparse.Namespace) -> None:
    """Two ``serve`` processes (``--a`` and ``--b``, source folders), each warmed up as in cell
    mode, and one Python client alternating blocks of ``--block`` cycles between them, so that
    both see the same machine from moment to moment: on a shared machine whose speed drifts by
    tens of percent between runs, a difference of a few percent shows only this way."""
    from deconfliction.auth import dev_private_key, mint_token

    sides = []
    with contextlib.ExitStack() as stack:
        for src in (args.a, args.b):
            data = Path(tempfile.mkdtemp(prefix="bench-dss-ab-"))
            stack.callback(shutil.rmtree, data, True)
            folder = Path(tempfile.mkdtemp(prefix="bench-dss-ovn-"))
            stack.callback(shutil.rmtree, folder, True)
            key = dev_private_key(data)
            port, _ = stack.enter_context(_serve(data, src=src))
            board = OvnBoard(folder)
            warm = mint_token(key, "warmup", audience="localhost", scopes=[SC])
            now = time.monotonic()
            run_client(port, warm, "warmup", board, now, now + args.warmup)
            token = mint_token(key, "uss0", audience="localhost", scopes=[SC])
            sides.append((src, Conn(port, token), board, Tally()))
        previous: list[tuple[str, str] | None] = [None, None]
        for i in range(max(1, args.cycles // args.block)):
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                _, conn, board, t = sides[k]
                for _ in range(args.block):  # one USS per server: a 409 is an error here
                    previous[k] = _cycle(conn, "uss0", board, t, previous[k], time.monotonic())
    print(
        f"dss congested cell, two versions side by side: {args.cycles} cycles each, in blocks "
        f"of {args.block}, one client; load average {_loadavg()} at the end"
    )
    means = []
    for src, _, _, t in sides:
        cycle = statistics.fmean(t.query_ms) + statistics.fmean(t.create_ms)
        cycle += statistics.fmean(t.delete_ms)
        means.append(cycle)
        print(
            f"  {src}\n    query p50 {statistics.median(t.query_ms):6.3f} ms, create p50 "
            f"{statistics.median(t.create_ms):6.3f}, delete p50 "
            f"{statistics.median(t.delete_ms):6.3f}; a cycle (means) {cycle:6.3f} ms"
        )
    print(f"  b / a, a cycle: {means[1] / means[0]:.3f}")


# --- requests per second of one process ---------------------------------------------------
def bare_app() -> None:
    """A bare ASGI app under uvicorn as ``serve`` runs it (``--bare-app PORT``): the same HTTP
    protocol (httptools, and serve's one-write transport where the code measured has it)."""
    import uvicorn

    body = b'{"status":"ok"}'

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"15")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    try:  # the HTTP protocol serve uses, where it has one of its own
        from deconfliction.cli.wire import OneWriteProtocol

        http: Any = OneWriteProtocol
    except ImportError:
        http = "auto"
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", http=http)


_WRK_SCRIPT = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""


def _load_wrk(
    wrk: str,
    port: int,
    method: str,
    path: str,
    body: Any,
    token: str,
    args: argparse.Namespace,
    seconds: int,
) -> tuple[float, str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        text = json.dumps(body) if body is not None else ""
        f.write(_WRK_SCRIPT.format(method=method, token=token, body=text))
    cmd = [wrk, "-t", "1", "-c", str(args.connections), "-d", f"{seconds}s", "--latency"]
    cmd += ["-s", f.name, f"http://127.0.0.1:{port}{path}"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", res.stdout).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", res.stdout, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", res.stdout, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", res.stdout)
    note = f"p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'}"
    if errors:
        note += f", {errors.group(1)} non-2xx"
    done = re.search(r"(\d+) requests in", res.stdout)
    return rps, note, int(done.group(1)) if done else 0


def _load_loop(
    port: int, method: str, path: str, body: Any, token: str, stop: float, out: Any
) -> None:
    conn = Conn(port, token)
    n = bad = 0
    while time.monotonic() < stop:
        status, _ = conn.request(method, path, body)
        n += 1
        bad += status >= 300
    out.put((n, bad))


def _load_py(
    port: int,
    method: str,
    path: str,
    body: Any,
    token: str,
    args: argparse.Namespace,
    seconds: int,
) -> tuple[float, str, int]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    stop = time.monotonic() + 1.0 + seconds
    procs = [
        ctx.Process(target=_load_loop, args=(port, method, path, body, token, stop, out))
        for _ in range(args.connections)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    n, bad = sum(r[0] for r in results), sum(r[1] for r in results)
    return n / (seconds + 1.0), f"{args.connections} client processes, {bad} non-2xx", n


def rps_mode(args: argparse.Namespace) -> None:
    from deconfliction.auth import dev_private_key, mint_token

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = {cpus[0]} if len(cpus) > 1 else None
    if server_cpus is not None:
        os.sched_setaffinity(0, set(cpus[1:]))  # this process and its load generator
    wrk = shutil.which("wrk")

    def load(
        port: int,
        pid: int,
        method: str,
        path: str,
        body: Any,
        token: str,
        seconds: int | None = None,
    ) -> tuple[float, str, float]:
        """(requests/s, a note, the server's CPU ms per request)."""
        s = max(1, round(args.seconds)) if seconds is None else seconds
        cpu0 = _cpu_s(pid)
        if wrk is not None:
            rps, note, n = _load_wrk(wrk, port, method, path, body, token, args, s)
        else:
            rps, note, n = _load_py(port, method, path, body, token, args, s)
        return rps, note, 1000 * (_cpu_s(pid) - cpu0) / max(1, n)

    rows = []
    port = _port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--bare-app", str(port)]
    with _process(cmd, port, server_cpus) as pid:
        load(port, pid, "GET", "/", None, "-", 1)  # warm-up
        rows.append(("bare ASGI app, GET /", *load(port, pid, "GET", "/", None, "-")))
    data = Path(tempfile.mkdtemp(prefix="bench-dss-rps-"))
    key = dev_private_key(data)
    token = mint_token(key, "uss0", audience="localhost", scopes=[SC])
    query = {"area_of_interest": _volume()}
    # one caller sends them all: its rate limit raised (the limiter still runs)
    with _serve(data, server_cpus, rate_limit=1e6) as (port, pid):
        conn = Conn(port, token)  # one intent in the cell, so that a query finds something
        body = {
            "extents": [_volume()],
            "key": [],
            "state": "Accepted",
            "uss_base_url": "https://uss.example",
        }
        status, raw = conn.request("PUT", f"{OIR}/{uuid.uuid4()}", body)
        assert status == 201, raw
        load(port, pid, "GET", "/v1/health", None, token, 1)  # warm-up
        rows.append(("serve, GET /v1/health", *load(port, pid, "GET", "/v1/health", None, token)))
        load(port, pid, "POST", f"{OIR}/query", query, token, 1)
        rows.append(
            ("serve, POST DSS query", *load(port, pid, "POST", f"{OIR}/query", query, token))
        )
    shutil.rmtree(data, ignore_errors=True)
    bare = rows[0][1]
    print(
        f"requests/s of one process on one core ({'wrk' if wrk else 'client processes'}, "
        f"{args.connections} connections, {args.seconds:.0f} s each, load average {_loadavg()} "
        f"at the end)"
    )
    for name, rps, note, cpu_ms in rows:
        print(
            f"  {name:<26} {rps:9.0f} req/s  {rps / bare:6.1%} of bare  "
            f"{cpu_ms:6.3f} ms CPU/request   ({note})"
        )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-app":
        bare_app()
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--mode", choices=("cell", "rps", "ab"), default="cell")
    ap.add_argument("--clients", type=int, default=4, help="client processes (cell mode)")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    ap.add_argument("--connections", type=int, default=8, help="connections (rps mode)")
    ap.add_argument(
        "--generator",
        choices=("python", "wrk"),
        default="python",
        help="cell mode: the clients as Python processes, or as wrk threads (dss_congested.lua)",
    )
    ap.add_argument("--py-spy", metavar="FILE", help="record the server's profile here")
    ap.add_argument("--busy-only", action="store_true", help="py-spy: leave out idle samples")
    ap.add_argument("--a", help="ab mode: the first version's source folder (its src/)")
    ap.add_argument("--b", help="ab mode: the second version's source folder")
    ap.add_argument("--cycles", type=int, default=3000, help="ab mode: cycles on each version")
    ap.add_argument("--block", type=int, default=25, help="ab mode: cycles before switching")
    args = ap.parse_args()
    if args.mode == "ab" and not (args.a and args.b):
        ap.error("--mode ab needs --a and --b")
    if args.mode == "rps":
        rps_mode(args)
    elif args.mode == "ab":
        ab_mode(args)
    else:
        cell_mode(args)


if __name__ == "__main__":
    main()
