"""``deconfliction peer key|add|list|remove``: this node's key, and the nodes it federates with.

They work on the node's database directly (its data folder's SQLite file, or ``--db``), whether
the node is running or not: a running node picks a change up within seconds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DeconflictionError
from ..federation import NodeKey, peers
from ..federation.service import remove_peer
from ..store.base import Store
from . import UsageError

T = TypeVar("T")


def run_key(data_dir: Path) -> int:
    """Print this node's public key (PEM), made on first use, and its key id on stderr."""
    key = NodeKey.in_folder(data_dir)
    sys.stdout.write(key.public_pem)
    print(f"key id {key.key_id}", file=sys.stderr)
    return 0


def _with_store(db: str, fn: Callable[[Any], T]) -> T:
    from ..store import open_store

    store = open_store(db)
    try:
        return fn(store)
    finally:
        store.close()


def _parties(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        pid, _, name = spec.partition("=")
        out.append((pid, name or pid))
    return out


def run_add(
    db: str, data_dir: Path, name: str, url: str, key_file: Path, party_specs: list[str]
) -> int:
    if not key_file.is_file():
        raise UsageError(f"--key: no such file {key_file}")
    pem = key_file.read_text(encoding="utf-8", errors="replace")
    own = NodeKey.in_folder(data_dir).key_id
    now = datetime.now(UTC)

    def add(store: Store) -> peers.Peer:
        found: peers.Peer = store.write_tx(
            lambda tx: peers.add(
                tx, name, url, pem, _parties(party_specs), own, "cli:peer-add", now
            )
        )
        return found

    try:
        peer = _with_store(db, add)
    except DeconflictionError as exc:
        raise UsageError(exc.user_message) from None
    hosts = ", ".join(peer.parties)
    print(f"peer {peer.name}: {peer.url}, key {peer.key_id[:16]}..., hosts {hosts}")
    return 0


def run_list(db: str, as_json: bool) -> int:
    rows = _with_store(db, lambda store: store.read_tx(peers.all_peers))
    if as_json:
        print(json.dumps([p.as_json() for p in rows], indent=2))
        return 0
    for p in rows:
        state = p.last_error or "ok"
        print(
            f"{p.name}\t{p.url}\t{','.join(p.parties)}\tkey {p.key_id[:16]}...\t"
            f"queued {p.next_seq - p.delivered_seq}\t{state}"
        )
    return 0


def run_remove(db: str, name: str) -> int:
    now = datetime.now(UTC)
    try:
        _with_store(
            db,
            lambda store: store.write_tx(lambda tx: remove_peer(tx, name, "cli:peer-remove", now)),
        )
    except DeconflictionError as exc:
        raise UsageError(exc.user_message) from None
    print(f"peer {name} removed")
    return 0
