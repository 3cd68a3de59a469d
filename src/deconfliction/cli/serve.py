"""``deconfliction serve``: the service, on the embedded store by default."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ..audit import digest
from ..auth import (
    ADMIN_SCOPE,
    PARTY_ADMIN_SCOPE,
    AuthConfig,
    dev_private_key,
    mint_token,
    public_pem,
)
from ..model import SeparationPolicy
from ..runtime import tune_for_service
from ..store.base import Store, Tx

#: The environment variable that carries the service's settings to worker processes.
CONFIG_ENV = "DECONFLICTION_SERVE_CONFIG"

#: Exit code when the service cannot listen on its address (documented in docs/cli.md).
EXIT_CANNOT_LISTEN = 3


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) reaches only this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening (as uvicorn would make it), or OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def run_serve(args: argparse.Namespace, policy: SeparationPolicy) -> int:

    from ..store import open_store
    from . import UsageError

    data_dir = args.data_dir
    db = args.db or f"sqlite:///{data_dir / 'deconfliction.db'}"
    for p in args.auth_public_key:
        if not p.is_file():
            raise UsageError(f"--auth-public-key: no such file {p}")
        try:
            serialization.load_pem_public_key(p.read_bytes())
        except ValueError:
            raise UsageError(f"--auth-public-key: {p} is not a PEM public key") from None
    audiences = args.auth_audience or ["deconfliction"]
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    if not public_url.startswith(("http://", "https://")):
        raise UsageError(f"--public-url must start with http:// or https://, got {public_url!r}")
    if not args.rate_limit > 0:
        raise UsageError(f"--rate-limit must be > 0, got {args.rate_limit}")
    if not args.peer_ping_s > 0:
        raise UsageError(f"--peer-ping-s must be > 0, got {args.peer_ping_s}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1 and not db.startswith(("postgresql://", "postgres://")):
        raise UsageError("--workers > 1 needs a database server (--db postgresql://...)")
    if not db.startswith(("sqlite:///", "postgresql://", "postgres://")):
        open_store(db, policy)  # refuses it, naming the schemes it takes (before any port)
    demo = bool(args.demo or args.demo_party)
    demo_login = demo and (is_loopback(args.host) or args.demo_login_anywhere)
    # the address first: nothing is printed (no "serving", no token) when it cannot be had
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = "; pick another with --port" if exc.errno == 98 else ""
        print(
            f"deconfliction: cannot listen on {args.host}:{args.port}: {reason}{hint}",
            file=sys.stderr,
        )
        return EXIT_CANNOT_LISTEN
    if args.workers > 1:  # uvicorn's worker processes bind it themselves
        sock.close()
    try:
        return _serve(args, policy, db, data_dir, audiences, public_url, demo_login, sock)
    finally:
        sock.close()


def _serve(
    args: argparse.Namespace,
    policy: SeparationPolicy,
    db: str,
    data_dir: Path,
    audiences: list[str],
    public_url: str,
    demo_login: bool,
    sock: socket.socket,
) -> int:
    import uvicorn

    from ..store import open_store

    config = {
        "db": db,
        "data_dir": str(data_dir),
        "public_keys": [str(p) for p in args.auth_public_key],
        "jwks_urls": list(args.auth_jwks_url),
        "audiences": audiences,
        "public_url": public_url,
        "rate_limit": args.rate_limit,
        "policy": policy.model_dump(),
        "demo": bool(args.demo or args.demo_party),
        "demo_parties": list(args.demo_party),
        "demo_login": demo_login,
        "workers": args.workers,
        "peer_ping_s": args.peer_ping_s,
    }
    dev_key = None
    if not args.auth_public_key and not args.auth_jwks_url:
        dev_key = dev_private_key(data_dir)
    lines = [
        f"deconfliction: serving on http://{args.host}:{args.port}  (database {db}"
        + (f", {args.workers} worker processes)" if args.workers > 1 else ")"),
        f"  API docs: http://{args.host}:{args.port}/docs",
        f"  map: http://{args.host}:{args.port}/ui/  "
        + ("(demo login: pick a party)" if demo_login and dev_key else "(log in with a token)"),
    ]
    demo = bool(config["demo"])
    if demo and not demo_login:
        lines.append(
            f"  demo login off: {args.host} is not a loopback address "
            "(--demo-login-anywhere turns it on for anyone who reaches the service)"
        )
    if demo:
        from ..demo import load_demo

        store = open_store(db, policy)
        try:
            n = load_demo(store, parties=args.demo_party or None)
        finally:
            store.close()
        lines.append(f"  demo scenario loaded ({n} new records)")
    if dev_key is not None:
        from ..demo import PARTIES

        lines.append(
            "  development tokens (signed with the data folder's dev key; "
            "send as 'Authorization: Bearer TOKEN'):"
        )
        shown = [p.id for p in PARTIES if not args.demo_party or p.id in args.demo_party]
        for sub in shown if demo else []:
            lines.append(f"    {sub}: {mint_token(dev_key, sub, audience=audiences[0])}")
        admin = mint_token(dev_key, "admin", audience=audiences[0], scopes=[ADMIN_SCOPE])
        lines.append(f"    admin: {admin}")
    print("\n".join(lines), flush=True)
    logging.basicConfig(level=logging.INFO)
    # open event streams would hold a graceful shutdown forever: give them 5 s; an idle or slow
    # client does not hold a connection long
    opts: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning",
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": 5,
        # uvicorn's httptools protocol, an answer's head and body in one write (cli/wire.py)
        "http": "deconfliction.cli.wire:OneWriteProtocol",
    }
    if args.workers > 1:
        os.environ[CONFIG_ENV] = json.dumps(config)
        uvicorn.run(
            "deconfliction.cli.serve:worker_app", factory=True, workers=args.workers, **opts
        )
        return 0
    service = build_service(config)
    tune_for_service()
    try:
        server = uvicorn.Server(uvicorn.Config(service.app, **opts))
        server.run(sockets=[sock])
    finally:
        service.stop()
    return 0


def worker_app() -> Any:
    """One worker process's app (``serve --workers N``): built from the settings the parent
    put in the environment; its background work takes turns with the other workers' through
    the database's leases."""
    app = build_service(json.loads(os.environ[CONFIG_ENV])).app
    tune_for_service()
    return app


class Service:
    def __init__(self, app: Any, store: Store, background: list[Any]) -> None:
        self.app, self.store, self.background = app, store, background

    def stop(self) -> None:
        for b in self.background:
            b.stop()
        with contextlib.suppress(Exception):  # a last checkpoint, if the database is there
            self.store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
        self.store.close()


def build_service(config: dict[str, Any]) -> Service:
    """The app, its store and its background work (started), from the settings."""
    from ..alerts.ticker import Ticker
    from ..alerts.webhooks import Dispatcher
    from ..api import create_app
    from ..api.guard import GuardConfig
    from ..audit.signing import Signer
    from ..exchange.hotline import Escalator
    from ..exchange.ledger import check_alerts
    from ..exchange.links import LinkChecker
    from ..federation import Federation
    from ..store import open_store

    data_dir = Path(config["data_dir"])
    audiences = config["audiences"]
    auth = AuthConfig.from_files(
        [Path(p) for p in config["public_keys"]], audiences, config["jwks_urls"]
    )
    dev_key = None
    if not config["public_keys"] and not config["jwks_urls"]:
        dev_key = dev_private_key(data_dir)
        auth.add_key(public_pem(dev_key))
    store = open_store(config["db"], SeparationPolicy(**config["policy"]))
    # audit checkpoints: signed every 100 entries, and each minute when there is news; on
    # start, the chain is checked against the last checkpoint this service signed (an alarm to
    # every party if it changed) and the head is signed
    store.signer = Signer.in_folder(data_dir)

    def started(tx: Tx) -> None:
        now = datetime.now(UTC)
        tx.audit(now, "service", "service.started", "*", digest({"pid": os.getpid()}))
        tx.checkpoint(now)

    store.write_tx(started)
    rate = float(config["rate_limit"])
    node = Federation.in_folder(store, data_dir, ping_s=float(config.get("peer_ping_s", 10.0)))
    app = create_app(
        store,
        auth,
        public_url=config["public_url"],
        guard=GuardConfig(rate_per_s=rate, burst=2 * rate, processes=int(config.get("workers", 1))),
        shared_tracks=bool(config.get("workers", 1) > 1),
        node=node,
    )
    # the token-less demo login: only where the service listens on loopback (or where the
    # operator said --demo-login-anywhere)
    if config.get("demo_login", config["demo"]) and dev_key is not None:
        key, audience = dev_key, audiences[0]
        app.state.dev_token = lambda party: mint_token(
            key, party, audience=audience, scopes=[PARTY_ADMIN_SCOPE]
        )

    def check_ledger(tx: Tx) -> int:
        return check_alerts(tx, datetime.now(UTC))

    background: list[Any] = [
        Dispatcher(store),
        Ticker(store, "escalation", Escalator(store, time.time).run_once, interval_s=1.0),
        Ticker(store, "ledger", lambda: store.write_tx(check_ledger), interval_s=5.0),
        Ticker(store, "links", LinkChecker(store).run_once, interval_s=60.0),
        Ticker(store, "tactical", app.state.tactical.run_once, interval_s=1.0),
        Ticker(
            store,
            "audit-checkpoint",
            lambda: store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC))),
            interval_s=60.0,
        ),
    ]
    background.append(node)
    if config["demo"] and not config.get("demo_parties"):
        from ..demo.traffic import DemoTraffic

        traffic = DemoTraffic(app.state.tracks)
        background.append(Ticker(store, "demo-traffic", traffic.run_once, interval_s=1.0))
    for b in background:
        b.start()
    return Service(app, store, background)
