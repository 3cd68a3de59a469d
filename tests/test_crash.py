"""SIGKILL the server during a write burst: every acknowledged write survives, whole."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from deconfliction.audit import first_bad_entry
from deconfliction.audit.export import verify_export
from deconfliction.audit.signing import Signer, public_pem
from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
from deconfliction.cli import main
from deconfliction.model import RecordKind
from deconfliction.store import open_store
from helpers import free_port, serve

_start = serve  # the name other tests import


def _intent(i: int) -> dict[str, object]:
    lon, lat = 2 + (i % 50) * 0.05, 45 + (i // 50) * 0.05
    ring = [[lon, lat], [lon + 0.03, lat], [lon + 0.03, lat + 0.03], [lon, lat + 0.03], [lon, lat]]
    return {
        "id": f"W{i}",
        "volumes": [
            {
                "footprint": {"type": "Polygon", "coordinates": [ring]},
                "alt_lower_m": 0,
                "alt_upper_m": 500,
                "time_start": "2026-07-01T10:00:00Z",
                "time_end": "2026-07-01T11:00:00Z",
            }
        ],
    }


@pytest.fixture(params=["sqlite", "postgresql-2-workers"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[list[str], str]:
    """Extra serve options, and the database URL to read back from."""
    if request.param == "sqlite":
        return [], f"sqlite:///{tmp_path / 'data' / 'deconfliction.db'}"
    import psycopg

    base = request.getfixturevalue("pg_cluster")
    name = f"crash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return ["--db", f"{base}/{name}", "--workers", "2"], f"{base}/{name}"


def test_acknowledged_writes_survive_sigkill(
    tmp_path: Path, backend: tuple[list[str], str]
) -> None:
    extra, db = backend
    data = tmp_path / "data"
    key = dev_private_key(data)
    admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
    fr = {"Authorization": f"Bearer {mint_token(key, 'FR')}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data, port, extra)
    acked: list[str] = []
    lock = threading.Lock()
    try:
        assert (
            httpx.post(
                f"{base}/v1/parties", json={"id": "FR", "name": "France"}, headers=admin
            ).status_code
            == 201
        )

        def writer(k: int) -> None:
            with httpx.Client(timeout=5) as c:
                for i in range(k, 100_000, 4):
                    try:
                        r = c.post(f"{base}/v1/intents", json=_intent(i), headers=fr)
                    except httpx.TransportError:
                        return
                    if r.status_code == 201:
                        with lock:
                            acked.append(f"W{i}")

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(acked) < 150:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # every process of the service at once
        for t in threads:
            t.join(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(acked) >= 150, "the burst was too short to mean anything"
    store = open_store(db)
    try:
        stored = {r.id for r in store.list_owned(RecordKind.INTENT, "FR")}
        assert set(acked) <= stored
        entries = store.audit_entries()
        assert first_bad_entry(entries) is None
        created = {e.subject for e in entries if e.action == "intent.created"}
        # nothing half there: every record has its audit entry (its subject: the record's key)
        assert created == {f"FR/{rid}" for rid in stored}
        events = {
            e["payload"]["id"] for e in store.outbox_events("FR") if e["type"] == "intent.created"
        }
        assert events == stored
    finally:
        store.close()
    # the log exported for FR after the crash still verifies, offline
    out = tmp_path / "fr-audit.json"
    export = ["audit", "export", "--data-dir", str(data), "--db", db, "--party", "FR"]
    assert main([*export, "--out", str(out)]) == 0
    key = tmp_path / "service.pem"
    key.write_text(public_pem(Signer.in_folder(data).public))
    assert verify_export(out.read_bytes(), [key.read_bytes()]).ok
