"""The loss of the database server: three PostgreSQL nodes under Patroni with synchronous
replication, the service (two processes) on a multi-host URL, several clients writing; the
primary's machine dies (SIGKILL of its Patroni and its PostgreSQL). Patroni promotes the
synchronous replica; writes in flight meanwhile are answered 503 with Retry-After, and
resume; nothing acknowledged before is missing after; background work (webhook delivery, the
audit checkpoints) goes on against the new primary.

Loopback only; needs the Debian packages patroni and etcd-server (``.ci/run`` installs them in
CI, where the test must run; elsewhere it is skipped without them). About a minute.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from deconfliction.alerts.webhooks import put_webhook
from deconfliction.audit.export import verify_export
from deconfliction.audit.signing import Signer, public_pem
from deconfliction.cli import main
from deconfliction.store import open_store
from test_faults import Writers, _service, _stop, _wait, check_intact
from test_notifications import SECRET, Receiver

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from hacluster import HaCluster, missing_tools

pytestmark = [
    pytest.mark.failover,
    pytest.mark.skipif(
        bool(missing_tools()) and os.environ.get("CI") != "true",
        reason=f"not installed: {', '.join(missing_tools())}",
    ),
]


def test_writes_survive_the_loss_of_the_primary(tmp_path: Path) -> None:
    with HaCluster() as cluster:
        db = cluster.url()
        first = cluster.primary()
        assert first is not None and cluster.sync_standby() is not None
        proc, base, _, fr, data = _service(tmp_path, ["--db", db, "--workers", "2"])
        receiver = Receiver()
        writers: Writers | None = None
        try:
            store = open_store(db)
            try:
                hook = store.write_tx(
                    lambda tx: put_webhook(tx, "FR", receiver.url, SECRET, "FR", datetime.now(UTC))
                )
            finally:
                store.close()
            writers = Writers(base, fr)
            writers.wait_for(100)
            cluster.kill_node(first)
            promoted = cluster.wait_primary(exclude=first)
            before = writers.count()
            writers.wait_for(before + 100)  # writing resumes, on the new primary
            acked = writers.finish()

            def drained() -> bool:
                r = httpx.get(f"{base}/v1/webhook", headers=fr, timeout=10)
                return r.status_code == 200 and r.json()["pending"] == 0

            _wait(drained, 60, "webhook delivery to catch up after the failover")
        finally:
            if writers is not None:
                writers.finish()
            _stop(proc)
            receiver.stop()
        assert promoted != first
        assert writers.refused_503 > 0  # the failover was seen, and answered so
        assert writers.statuses <= {201, 409, 503}, writers.statuses
        check_intact(db, acked)
        store = open_store(db)
        try:
            expected = [e["seq"] for e in store.outbox_events("FR", hook.delivered_seq)]
        finally:
            store.close()
        assert receiver.unique() == expected  # every event delivered, in order
        out = tmp_path / "fr-audit.json"
        args = ["audit", "export", "--db", db, "--data-dir", str(data), "--party", "FR"]
        assert main([*args, "--out", str(out)]) == 0
        key = tmp_path / "service.pem"
        key.write_text(public_pem(Signer.in_folder(data).public))
        assert verify_export(out.read_bytes(), [key.read_bytes()]).ok
