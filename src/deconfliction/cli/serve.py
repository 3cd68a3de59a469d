"""``deconfliction serve``: the service, on the embedded store by default."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from ..auth import (
    ADMIN_SCOPE,
    PARTY_ADMIN_SCOPE,
    AuthConfig,
    dev_private_key,
    mint_token,
    public_pem,
)
from ..model import SeparationPolicy


def run_serve(args: argparse.Namespace, policy: SeparationPolicy) -> int:
    import uvicorn

    from ..alerts.ticker import Ticker
    from ..alerts.webhooks import Dispatcher
    from ..api import create_app
    from ..api.guard import GuardConfig
    from ..audit.signing import Signer
    from ..exchange.hotline import Escalator
    from ..exchange.ledger import check_alerts
    from ..exchange.links import LinkChecker
    from ..store import open_store
    from . import UsageError

    def _check_ledger(tx: Any) -> int:
        return check_alerts(tx, datetime.now(UTC))

    data_dir = args.data_dir
    db = args.db or f"sqlite:///{data_dir / 'deconfliction.db'}"
    for p in args.auth_public_key:
        if not p.is_file():
            raise UsageError(f"--auth-public-key: no such file {p}")
    audiences = args.auth_audience or ["deconfliction"]
    for p in args.auth_public_key:
        try:
            serialization.load_pem_public_key(p.read_bytes())
        except ValueError:
            raise UsageError(f"--auth-public-key: {p} is not a PEM public key") from None
    auth = AuthConfig.from_files(args.auth_public_key, audiences, args.auth_jwks_url)
    dev_key = None
    if not args.auth_public_key and not args.auth_jwks_url:
        dev_key = dev_private_key(data_dir)
        auth.add_key(public_pem(dev_key))
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    store = open_store(db, policy)
    # audit checkpoints: signed every 100 entries, and each minute when there is news
    store.signer = Signer.in_folder(data_dir)
    lines = [
        f"deconfliction: serving on http://{args.host}:{args.port}  (database {db})",
        f"  API docs: http://{args.host}:{args.port}/docs",
    ]
    if args.demo:
        from ..demo import PARTIES, load_demo

        n = load_demo(store)
        lines.append(f"  demo scenario loaded ({n} new records)")
    if dev_key is not None:
        lines.append(
            "  development tokens (signed with the data folder's dev key; "
            "send as 'Authorization: Bearer TOKEN'):"
        )
        subjects = [p.id for p in PARTIES] if args.demo else []
        for sub in subjects:
            lines.append(f"    {sub}: {mint_token(dev_key, sub, audience=audiences[0])}")
        admin = mint_token(dev_key, "admin", audience=audiences[0], scopes=[ADMIN_SCOPE])
        lines.append(f"    admin: {admin}")
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    if not public_url.startswith(("http://", "https://")):
        raise UsageError(f"--public-url must start with http:// or https://, got {public_url!r}")
    if not args.rate_limit > 0:
        raise UsageError(f"--rate-limit must be > 0, got {args.rate_limit}")
    guard = GuardConfig(rate_per_s=args.rate_limit, burst=2 * args.rate_limit)
    app = create_app(store, auth, public_url=public_url, guard=guard)
    if args.demo and dev_key is not None:
        key, audience = dev_key, audiences[0]
        app.state.dev_token = lambda party: mint_token(
            key, party, audience=audience, scopes=[PARTY_ADMIN_SCOPE]
        )
        lines.insert(2, f"  map: http://{args.host}:{args.port}/ui/  (demo login: pick a party)")
    else:
        lines.insert(2, f"  map: http://{args.host}:{args.port}/ui/  (log in with a token)")
    print("\n".join(lines), flush=True)
    logging.basicConfig(level=logging.INFO)
    dispatcher = Dispatcher(store)
    dispatcher.start()
    tickers = [
        Ticker(store, "escalation", Escalator(store, time.time).run_once, interval_s=1.0),
        Ticker(store, "ledger", lambda: store.write_tx(_check_ledger), interval_s=30.0),
        Ticker(store, "links", LinkChecker(store).run_once, interval_s=60.0),
        Ticker(store, "tactical", app.state.tactical.run_once, interval_s=1.0),
        Ticker(
            store,
            "audit-checkpoint",
            lambda: store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC))),
            interval_s=60.0,
        ),
    ]
    for t in tickers:
        t.start()
    try:
        # open event streams would hold a graceful shutdown forever: give them 5 s
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=5,  # an idle or slow client does not hold a connection long
        )
    finally:
        for t in tickers:
            t.stop()
        dispatcher.stop()
        store.close()
    return 0
