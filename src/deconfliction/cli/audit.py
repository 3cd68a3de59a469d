"""``deconfliction audit export|verify|key``: a party's copy of the log, checked offline."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..audit import AuditEntry
from ..audit.export import build, verify_export
from ..audit.signing import Signer, public_pem
from . import UsageError


def _rows(tx: Any) -> tuple[list[AuditEntry], list[dict[str, Any]], list[dict[str, Any]]]:
    entries = [
        AuditEntry(*r)
        for r in tx.x(
            "SELECT seq, at, actor, action, subject, digest, prev_hash, hash FROM audit_log "
            "ORDER BY seq"
        ).fetchall()
    ]
    checkpoints = [
        {"seq": int(r[0]), "hash": r[1], "at": r[2], "key_id": r[3], "signature": r[4]}
        for r in tx.x(
            "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq"
        ).fetchall()
    ]
    counters = [
        {"seq": int(r[0]), "party": r[1], "key_id": r[2], "signature": r[3], "at": r[4]}
        for r in tx.x(
            "SELECT seq, party, key_id, signature, at FROM audit_countersignatures "
            "ORDER BY seq, party"
        ).fetchall()
    ]
    return entries, checkpoints, counters


def run_export(db: str, data_dir: Path, party: str, out: Path) -> int:
    from ..store import open_store

    store = open_store(db)
    try:
        signer = Signer.in_folder(data_dir)
        store.signer = signer
        # a signed checkpoint at the head, so that the whole export is covered
        store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
        entries, checkpoints, counters = store.read_tx(_rows)
    finally:
        store.close()
    data = build(party, entries, checkpoints, counters, signer)
    out.write_bytes(data)
    print(f"{out}: {len(entries)} entries for {party}", file=sys.stderr)
    return 0


def run_verify(path: Path, keys: list[Path]) -> int:
    if not keys:
        raise UsageError("--key: give at least the service's public key (deconfliction audit key)")
    pems = []
    for k in keys:
        try:
            pems.append(k.read_bytes())
        except OSError as exc:
            raise UsageError(f"--key: cannot read {k}: {exc.strerror}") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        verdict = verify_export(data, pems)
    except ValueError as exc:
        raise UsageError(f"--key: {exc}") from None
    print(f"{path}: {verdict.message}")
    return 0 if verdict.ok else 1


def run_key(data_dir: Path) -> int:
    print(public_pem(Signer.in_folder(data_dir).public), end="")
    return 0
