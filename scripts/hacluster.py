"""A PostgreSQL cluster that survives the loss of its primary, on loopback: three etcd members,
three PostgreSQL 15 instances under Patroni with synchronous replication.

Used by ``scripts/ha-demo`` (the cluster and the service on it, for people trying it), by the
failover test (``tests/test_failover.py``) and by ``bench/failover.py``. Everything runs from a
temporary folder and stops when the ``HaCluster`` is closed (or the process exits).

    with HaCluster() as cluster:
        url = cluster.url()            # postgresql://...h1,h2,h3/deconfliction?target_session_attrs=read-write
        cluster.kill_node(cluster.primary())   # SIGKILL Patroni and PostgreSQL of the primary
        cluster.wait_primary(exclude=...)      # a replica promoted

Needs the Debian packages ``patroni``, ``etcd-server`` and ``postgresql`` (``.ci/run`` installs
them). Settings chosen for a fast failover on one machine (docs/deployment.md discusses them
for real deployments): Patroni's leader key lives 6 s (``ttl``), its loop runs every second,
``synchronous_mode`` holds every commit until a replica has it, and ``primary_start_timeout:
0`` fails over at once when the primary's PostgreSQL dies rather than restarting it in place.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

SCOPE = "deconfliction"
DATABASE = "deconfliction"
NODES = ("pg1", "pg2", "pg3")
DCS = {
    "ttl": 6,
    "loop_wait": 1,
    "retry_timeout": 2,
    "maximum_lag_on_failover": 1048576,
    "synchronous_mode": True,
    "primary_start_timeout": 0,
    "postgresql": {
        "use_pg_rewind": True,
        "use_slots": True,
        "parameters": {
            "wal_level": "replica",
            "hot_standby": "on",
            "wal_log_hints": "on",
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "max_connections": 200,
            "wal_keep_size": "128MB",
        },
    },
}


def free_port() -> int:
    """A free loopback TCP port below the range the kernel hands out for outgoing connections:
    a port it picks (a bind to port 0) comes from that range, and until the server binds it,
    any outgoing connection (another test's client) may take it."""
    first_ephemeral = 32768
    with contextlib.suppress(OSError, ValueError):
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(500):
        port = random.randint(10_000, max(10_001, first_ephemeral - 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # nothing free below it: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return found[-1].parent


def missing_tools() -> list[str]:
    """What is not installed of what the cluster needs."""
    out = [t for t in ("etcd", "patroni") if shutil.which(t) is None]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        out.append("postgresql")
    return out


def _yaml(doc: Any) -> str:
    """JSON is YAML: Patroni reads it as its configuration file."""
    return json.dumps(doc, indent=2)


class HaCluster:
    def __init__(self, root: Path | None = None, log: bool = False) -> None:
        missing = missing_tools()
        if missing:
            raise RuntimeError(
                f"not installed: {', '.join(missing)} (apt-get install etcd-server patroni "
                "postgresql)"
            )
        self.root = root or Path(tempfile.mkdtemp(prefix="deconfliction-ha-"))
        self.log = log
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]
            self.root.chmod(0o755)
            shutil.chown(self.root, "postgres")
        self.etcd_client = {n: free_port() for n in ("e1", "e2", "e3")}
        self.etcd_peer = {n: free_port() for n in ("e1", "e2", "e3")}
        self.pg_port = {n: free_port() for n in NODES}
        self.api_port = {n: free_port() for n in NODES}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._closed = False
        atexit.register(self.close)

    # --- starting ----------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str]) -> None:
        with (self.root / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root
            )

    def start(self, timeout_s: float = 120.0) -> HaCluster:
        """Start etcd, then Patroni on each node; returns once a primary, a synchronous
        replica and a second replica are streaming, and the database exists."""
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in self.etcd_peer.items())
        for n in self.etcd_client:
            data = self.root / f"etcd-{n}"
            self._spawn(
                f"etcd-{n}",
                [
                    "etcd",
                    "--name", n,
                    "--data-dir", str(data),
                    "--listen-client-urls", f"http://127.0.0.1:{self.etcd_client[n]}",
                    "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_client[n]}",
                    "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer[n]}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer[n]}",
                    "--initial-cluster", initial,
                    "--initial-cluster-token", f"{SCOPE}-{os.getpid()}",
                    "--initial-cluster-state", "new",
                    "--log-level", "warn",
                ],
            )  # fmt: skip
        for n in NODES:
            self._start_patroni(n)
        deadline = time.monotonic() + timeout_s
        while not self._healthy():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up; logs in {self.root}")
            self._check_alive()
            time.sleep(0.5)
        self._create_database()
        return self

    def _config(self, n: str) -> dict[str, Any]:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.etcd_client.values())
        sock = self.root / f"sock-{n}"
        return {
            "scope": SCOPE,
            "name": n,
            "log": {"level": "WARNING"},
            "restapi": {
                "listen": f"127.0.0.1:{self.api_port[n]}",
                "connect_address": f"127.0.0.1:{self.api_port[n]}",
            },
            "etcd3": {"hosts": hosts},
            "bootstrap": {
                "dcs": DCS,
                "initdb": [{"encoding": "UTF8"}, "data-checksums"],
                "pg_hba": [
                    "local all all trust",
                    "host replication replicator 127.0.0.1/32 trust",
                    "host all all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port[n]}",
                "connect_address": f"127.0.0.1:{self.pg_port[n]}",
                "data_dir": str(self.root / f"data-{n}"),
                "bin_dir": str(pg_bindir()),
                "pgpass": str(self.root / f"pgpass-{n}"),
                "authentication": {
                    "replication": {"username": "replicator", "password": "replicator"},
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(sock)},
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def _start_patroni(self, n: str) -> None:
        sock = self.root / f"sock-{n}"
        sock.mkdir(exist_ok=True)
        config = self.root / f"patroni-{n}.yml"
        config.write_text(_yaml(self._config(n)))
        if self.as_user:
            for p in (sock, config):
                shutil.chown(p, "postgres")
        self._spawn(f"patroni-{n}", [*self.as_user, "patroni", str(config)])

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None and not name.startswith("patroni-"):
                raise RuntimeError(f"{name} exited ({p.returncode}); logs in {self.root}")

    # --- looking -----------------------------------------------------------------------------
    def members(self) -> list[dict[str, Any]]:
        """The cluster as Patroni sees it (name, role, state, lag), from any live node."""
        for n in NODES:
            with contextlib.suppress(OSError, ValueError):
                url = f"http://127.0.0.1:{self.api_port[n]}/cluster"
                with urllib.request.urlopen(url, timeout=2) as r:
                    members: list[dict[str, Any]] = json.load(r)["members"]
                    return members
        return []

    def _healthy(self) -> bool:
        roles = {m["role"]: m for m in self.members() if m["state"] in ("running", "streaming")}
        ms = self.members()
        return (
            "leader" in roles
            and "sync_standby" in roles
            and sum(m["state"] in ("running", "streaming") for m in ms) == 3
        )

    def primary(self) -> str | None:
        for m in self.members():
            if m["role"] == "leader" and m["state"] == "running":
                return str(m["name"])
        return None

    def sync_standby(self) -> str | None:
        for m in self.members():
            if m["role"] == "sync_standby":
                return str(m["name"])
        return None

    def wait_primary(self, exclude: str | None = None, timeout_s: float = 60.0) -> str:
        """The primary, once there is one (other than ``exclude``) that takes writes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            p = self.primary()
            if p is not None and p != exclude and self._writable(p):
                return p
            time.sleep(0.2)
        raise RuntimeError(f"no primary after {timeout_s} s; logs in {self.root}")

    def _writable(self, n: str) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.node_url(n, "postgres"), connect_timeout=2) as c:
                row = c.execute("SELECT pg_is_in_recovery()").fetchone()
                return row is not None and row[0] is False
        except psycopg.Error:
            return False

    def node_url(self, n: str, db: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port[n]}/{db}"

    def url(self, db: str = DATABASE) -> str:
        """What the service connects to: every node, the one that takes writes chosen."""
        hosts = ",".join(f"127.0.0.1:{self.pg_port[n]}" for n in NODES)
        return f"postgresql://postgres@{hosts}/{db}?target_session_attrs=read-write"

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")

    # --- breaking ----------------------------------------------------------------------------
    def _postmaster(self, n: str) -> int | None:
        pid_file = self.root / f"data-{n}" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pid_file.read_text().split()[0])
        return None

    def kill_postgres(self, n: str) -> None:
        """SIGKILL the node's PostgreSQL (every process of it); its Patroni stays."""
        pid = self._postmaster(n)
        if pid is None:
            return
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for p in [pid, *map(int, children)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)

    def kill_node(self, n: str) -> None:
        """The node's machine lost: SIGKILL its Patroni and its PostgreSQL at once."""
        p = self.procs.get(f"patroni-{n}")
        if p is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        self.kill_postgres(n)

    def restart_node(self, n: str) -> None:
        """Start a lost node again: Patroni rewinds it and it rejoins as a replica."""
        (self.root / f"data-{n}" / "postmaster.pid").unlink(missing_ok=True)
        self._start_patroni(n)

    # --- stopping ----------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name, p in self.procs.items():
            if name.startswith("patroni-") and p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, p in self.procs.items():
            if name.startswith("patroni-"):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
        for n in NODES:
            self.kill_postgres(n)
        for p in self.procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> HaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _demo(args: argparse.Namespace) -> int:
    """The cluster, and ``deconfliction serve --demo`` on it, until Ctrl-C."""
    cluster = HaCluster()
    service: subprocess.Popen[bytes] | None = None

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        print("starting etcd (3 members) and PostgreSQL under Patroni (3 nodes)...", flush=True)
        cluster.start()
        print(f"  primary {cluster.primary()}, synchronous replica {cluster.sync_standby()}")
        for m in cluster.members():
            print(f"  {m['name']}: {m['role']} ({m['state']}) on port {m['port']}")
        print(f"  database URL: {cluster.url()}")
        print(f"  Patroni API: http://127.0.0.1:{cluster.api_port['pg1']}/cluster")
        print(
            "  to fail over, kill the primary: "
            f"kill -9 $(head -1 {cluster.root}/data-<primary>/postmaster.pid)",
            flush=True,
        )
        cmd = [
            sys.executable, "-m", "deconfliction", "serve", "--demo",
            "--db", cluster.url(), "--workers", str(args.workers),
            "--port", str(args.port), "--data-dir", str(args.data_dir),
        ]  # fmt: skip
        service = subprocess.Popen(cmd, start_new_session=True)
        while service.poll() is None:
            time.sleep(0.5)
        return service.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        if service is not None and service.poll() is None:
            os.killpg(service.pid, signal.SIGTERM)
            try:
                service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(service.pid, signal.SIGKILL)
        print("stopping the cluster...", flush=True)
        cluster.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The service on a 3-node PostgreSQL cluster.")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data-dir", type=Path, default=Path("data-ha"))
    return _demo(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
