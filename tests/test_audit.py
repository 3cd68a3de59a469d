"""The audit log each side verifies alone: a party's export, checked with no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deconfliction.audit.chain import canonical
from deconfliction.audit.export import verify_export
from deconfliction.audit.signing import Signer, key_id, message, public_pem
from deconfliction.cli import main
from deconfliction.model import IntentDraft, Party, RecordKind
from deconfliction.store import SqliteStore
from helpers import box, volume


def _log(data: Path, n: int = 130) -> None:
    """A log of n+ entries: FR's and RU's intents, with a checkpoint every 100 entries."""
    store = SqliteStore(data / "deconfliction.db")
    store.signer = Signer.in_folder(data)
    try:
        for p in ("FR", "RU"):
            store.put_party(Party(id=p, name=p), actor="admin")
        for i in range(n):
            owner = "FR" if i % 2 else "RU"
            draft = IntentDraft(volumes=[volume(box(i * 0.2, 10, i * 0.2 + 0.1, 10.1))])
            store.create(RecordKind.INTENT, f"{owner}-{i}", owner, draft, actor=owner)
    finally:
        store.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    data = tmp_path_factory.mktemp("audit")
    _log(data)
    out = data / "fr.json"
    assert (
        main(["audit", "export", "--data-dir", str(data), "--party", "FR", "--out", str(out)]) == 0
    )
    key = data / "service.pem"
    key.write_text(public_pem(Signer.in_folder(data).public))
    return out, key, out.read_bytes()


def test_an_untouched_export_verifies(exported: tuple[Path, Path, bytes], capsys: Any) -> None:
    out, key, data = exported
    assert main(["audit", "verify", str(out), "--key", str(key)]) == 0
    said = capsys.readouterr().out
    assert "ok: 132 entries" in said and "2 signed checkpoints" in said
    doc = json.loads(data)
    full = [e for e in doc["entries"] if "actor" in e]
    assert full and all(e["actor"] == "FR" or e["subject"] == "FR" for e in full)
    assert any("actor" not in e for e in doc["entries"])  # RU's entries: hashes only
    other = Ed25519PrivateKey.generate().public_key()
    wrong = out.parent / "other.pem"
    wrong.write_text(public_pem(other))
    assert main(["audit", "verify", str(out), "--key", str(wrong)]) == 1


def test_flipping_any_byte_is_caught(exported: tuple[Path, Path, bytes]) -> None:
    _, key, data = exported
    keys = [key.read_bytes()]
    step = max(1, len(data) // 400)
    for pos in range(0, len(data), step):
        for bit in (0x01, 0x20):
            bad = bytearray(data)
            bad[pos] ^= bit
            v = verify_export(bytes(bad), keys)
            assert not v.ok, (pos, bit)
            assert v.message.startswith(
                (
                    "byte ",
                    "malformed export: ",
                    "entry ",
                    "checkpoint ",
                    "countersignature ",
                    "service_key",
                    "format",
                    "export_signature",
                )
            ), v.message


def _edit(data: bytes, change: Any) -> bytes:
    doc = json.loads(data)
    change(doc)
    return canonical(doc)


def test_deleting_reordering_and_forging_are_named(exported: tuple[Path, Path, bytes]) -> None:
    _, key, data = exported
    keys = [key.read_bytes()]
    v = verify_export(_edit(data, lambda d: d["entries"].pop(40)), keys)
    assert not v.ok and v.message.startswith("entry 42 (position 41)")

    def swap(d: dict[str, Any]) -> None:
        d["entries"][10], d["entries"][11] = d["entries"][11], d["entries"][10]

    v = verify_export(_edit(data, swap), keys)
    assert not v.ok and "entry 12 (position 11)" in v.message

    # rewriting history whole (every hash recomputed) still fails at the signed checkpoint
    def rewrite(d: dict[str, Any]) -> None:
        from deconfliction.audit import AuditEntry
        from deconfliction.audit.chain import link

        prev = "0" * 64
        target = next(e["seq"] for e in d["entries"] if "actor" in e and e["seq"] > 2)
        for e in d["entries"]:
            if e["seq"] == target:
                e["action"] = "intent.deleted"
            e["prev_hash"] = prev
            if "actor" in e:
                e["hash"] = AuditEntry.make(
                    e["seq"], e["at"], e["actor"], e["action"], e["subject"], e["digest"], prev
                ).hash
            else:
                e["hash"] = link(prev, e["content_hash"])
            prev = e["hash"]

    v = verify_export(_edit(data, rewrite), keys)
    assert not v.ok and v.message.startswith(("checkpoint at entry", "entry "))

    # a checkpoint signed with another key, over the real hash
    forger = Ed25519PrivateKey.generate()

    def forge(d: dict[str, Any]) -> None:
        c = d["checkpoints"][-1]
        c["signature"] = forger.sign(message(c["seq"], c["hash"])).hex()

    v = verify_export(_edit(data, forge), keys)
    assert not v.ok and v.message.endswith("the signature does not verify")
    v = verify_export(_edit(data, lambda d: d["checkpoints"].pop()), keys)
    assert not v.ok and "has no signed checkpoint" in v.message


def test_parties_countersign_checkpoints(api: Any, tmp_path: Path) -> None:
    store = api.client.app.state.store
    store.signer = Signer.in_folder(tmp_path)
    for i in range(3):
        api.post("/v1/intents", "FR", json={"volumes": [_native(i)]})
    store.write_tx(
        lambda tx: tx.checkpoint(__import__("datetime").datetime.now(__import__("datetime").UTC))
    )
    fr_key = Ed25519PrivateKey.generate()
    pem = public_pem(fr_key.public_key())
    assert api.put("/v1/audit/keys", "FR", json={"public_key_pem": pem}).status_code == 403
    r = api.put("/v1/audit/keys", "FR-admin", json={"public_key_pem": pem})
    assert r.status_code == 200 and r.json()["key_id"] == key_id(fr_key.public_key())
    (cp,) = api.get("/v1/audit/checkpoints", "FR").json()["checkpoints"]
    sig = fr_key.sign(cp["message"].encode()).hex()
    body = {"key_id": r.json()["key_id"], "signature": sig}
    assert (
        api.post(
            f"/v1/audit/checkpoints/{cp['seq']}/countersignatures", "FR", json=body
        ).status_code
        == 201
    )
    bad = {**body, "signature": "00" * 64}
    assert (
        api.post(f"/v1/audit/checkpoints/{cp['seq']}/countersignatures", "RU", json=bad).status_code
        == 422
    )
    assert api.get("/v1/audit/checkpoints", "RU").json()["checkpoints"][0]["countersigned_by"] == [
        "FR"
    ]
    actions = [e.action for e in store.audit_entries()]
    assert actions[-1] == "audit.countersigned"


def _native(i: int) -> dict[str, Any]:
    from test_api import box as box_json

    return box_json(i, 1, i + 0.5, 1.5)


# --- history no one can rewrite quietly -------------------------------------------------------
def _db(data: Path) -> Any:
    import sqlite3

    return sqlite3.connect(data / "deconfliction.db", isolation_level=None)


def _export(data: Path, out: Path) -> int:
    return main(["audit", "export", "--data-dir", str(data), "--party", "FR", "--out", str(out)])


def _verify(out: Path, key: Path, after: Path | None = None) -> int:
    extra = ["--after", str(after)] if after else []
    return main(["audit", "verify", str(out), "--key", str(key), *extra])


def _rehash(conn: Any, start: int) -> None:
    """What an operator with write access does: recompute every hash from ``start`` on."""
    from deconfliction.audit import AuditEntry

    rows = conn.execute(
        "SELECT seq, at, actor, action, subject, digest FROM audit_log WHERE seq >= ? ORDER BY seq",
        (start,),
    ).fetchall()
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (start - 1,)).fetchone()
    prev = prev[0] if prev else "0" * 64
    for r in rows:
        e = AuditEntry.make(*r, prev)
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, e.hash, e.seq)
        )
        prev = e.hash


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A log, FR's first export of it (kept), and the service's key."""
    data = tmp_path / "data"
    _log(data, n=110)
    old = tmp_path / "old.json"
    assert _export(data, old) == 0
    key = tmp_path / "service.pem"
    key.write_text(public_pem(Signer.in_folder(data).public))
    return data, old, key


def test_a_later_export_extends_the_earlier_one(logged: tuple[Path, Path, Path]) -> None:
    data, old, key = logged
    _log_more(data, 5)
    new = old.parent / "new.json"
    assert _export(data, new) == 0
    assert _verify(new, key, after=old) == 0
    # a checkpoint kept (what a countersignature signs) serves as well
    doc = json.loads(old.read_bytes())
    point = old.parent / "point.json"
    point.write_text(json.dumps({"seq": 50, "hash": doc["entries"][49]["hash"]}))
    assert _verify(new, key, after=point) == 0
    # the earlier copy must extend... the later one: never
    assert _verify(old, key, after=new) == 1


def _log_more(data: Path, n: int) -> None:
    store = SqliteStore(data / "deconfliction.db")
    store.signer = Signer.in_folder(data)
    try:
        for i in range(n):
            draft = IntentDraft(volumes=[volume(box(100 + i * 0.2, 10, 100.1 + i * 0.2, 10.1))])
            store.create(RecordKind.INTENT, f"FR-more-{i}", "FR", draft, actor="FR")
    finally:
        store.close()


def test_cutting_the_newest_entries_off_is_caught(
    logged: tuple[Path, Path, Path], capsys: Any
) -> None:
    data, old, key = logged
    conn = _db(data)
    head = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    conn.execute("DELETE FROM audit_log WHERE seq > ?", (head - 5,))
    conn.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (head - 5,))
    conn.close()
    # the service remembers what it signed (data folder): it signs nothing over the cut log
    new = old.parent / "new.json"
    assert _export(data, new) == 0
    assert _verify(new, key) == 1
    assert "no signed checkpoint" in capsys.readouterr().out
    # even with the service's memory gone too, the copy FR kept names the cut
    (data / "audit-head.json").unlink()
    assert _export(data, new) == 0
    capsys.readouterr()
    assert _verify(new, key) == 0  # alone, it looks fine...
    assert _verify(new, key, after=old) == 1  # ...not next to what FR kept
    assert "log was cut back" in capsys.readouterr().out


def test_rewriting_an_early_entry_and_every_hash_is_caught(
    logged: tuple[Path, Path, Path], capsys: Any
) -> None:
    data, old, key = logged
    conn = _db(data)
    conn.execute("UPDATE audit_log SET actor = 'admin' WHERE seq = 5")
    _rehash(conn, 5)
    conn.execute("DELETE FROM audit_checkpoints")
    conn.close()
    new = old.parent / "new.json"
    assert _export(data, new) == 0
    assert _verify(new, key) == 1  # the service refused to sign the rewritten chain
    # every party was told, in its events and in the chain itself
    store = SqliteStore(data / "deconfliction.db")
    try:
        for p in ("FR", "RU"):
            alarms = [e for e in store.outbox_events(p) if e["type"] == "audit.alarm"]
            assert alarms and "rewritten" in alarms[-1]["payload"]["problem"], p
        assert store.audit_entries()[-1].action == "audit.alarm"
    finally:
        store.close()
    # with the service's memory gone, its checkpoints are new and the export verifies alone,
    # but not against FR's copy: the first difference is named
    (data / "audit-head.json").unlink()
    assert _export(data, new) == 0
    capsys.readouterr()
    assert _verify(new, key, after=old) == 1
    assert "entry 5: differs from the earlier copy" in capsys.readouterr().out


def test_a_missing_checkpoint_where_the_cadence_needs_one_fails(
    logged: tuple[Path, Path, Path], capsys: Any
) -> None:
    data, old, key = logged
    conn = _db(data)
    conn.execute("DELETE FROM audit_checkpoints WHERE seq = 100")
    conn.close()
    new = old.parent / "new.json"
    assert _export(data, new) == 0
    assert _verify(new, key) == 1
    assert "entry 100: no checkpoint" in capsys.readouterr().out


def test_malformed_exports_get_one_line_and_exit_2(
    exported: tuple[Path, Path, bytes], tmp_path: Path, capsys: Any
) -> None:
    _, key, data = exported
    cases = {
        "not-json": b"{not json",
        "list": b"[]",
        "no-format": canonical({"entries": []}),
        "entries-not-list": _edit(data, lambda d: d.update(entries={"a": 1})),
        "seq-string": _edit(data, lambda d: d["entries"][0].update(seq="1")),
    }
    for name, body in cases.items():
        f = tmp_path / f"{name}.json"
        f.write_bytes(body)
        assert _verify(f, key) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith("deconfliction: ") and "\n" not in err, (name, err)
        assert "Traceback" not in err


def test_export_from_a_folder_that_is_not_the_services_is_refused(
    tmp_path: Path, capsys: Any
) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    assert _export(empty, tmp_path / "x.json") == 2
    assert "holds no audit key" in capsys.readouterr().err
    assert not (empty / "audit-signing-key.pem").exists()  # nothing was made there


def test_the_running_service_signs_no_rewritten_chain(store: Any, tmp_path: Path) -> None:
    """On both stores: a checkpoint committed, then history rewritten under the service: the
    next checkpoint is refused and every party is alarmed, in its events and in the chain."""
    from datetime import UTC, datetime

    store.signer = Signer.in_folder(tmp_path)
    for i in range(3):
        draft = IntentDraft(volumes=[volume(box(i, 0, i + 0.1, 0.1))])
        store.create(RecordKind.INTENT, f"I{i}", "FR", draft, actor="FR")
    first = store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
    assert first is not None and store.signer.guard.seq == first[0]
    assert json.loads((tmp_path / "audit-head.json").read_text())["seq"] == first[0]

    def rewrite(tx: Any) -> None:  # an operator with the database, not the service's key
        tx.x("UPDATE audit_log SET actor = 'RU' WHERE seq = 2")
        rows = tx.x(
            "SELECT seq, at, actor, action, subject, digest FROM audit_log ORDER BY seq"
        ).fetchall()
        prev = "0" * 64
        from deconfliction.audit import AuditEntry

        for r in rows:
            e = AuditEntry.make(*r, prev)
            tx.x(
                "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, e.hash, e.seq)
            )
            prev = e.hash
        tx.x("DELETE FROM audit_checkpoints")

    store.write_tx(rewrite)
    store.create(
        RecordKind.INTENT,
        "I9",
        "FR",
        IntentDraft(volumes=[volume(box(9, 0, 9.1, 0.1))]),
        actor="FR",
    )
    before = store.read_tx(lambda tx: tx.x("SELECT COUNT(*) FROM audit_checkpoints").fetchone()[0])
    store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
    after = store.read_tx(lambda tx: tx.x("SELECT COUNT(*) FROM audit_checkpoints").fetchone()[0])
    assert before == after == 0  # nothing signed over the rewritten chain
    for p in ("FR", "RU", "UK"):
        (alarm,) = [e for e in store.outbox_events(p) if e["type"] == "audit.alarm"]
        assert "rewritten" in alarm["payload"]["problem"]
    assert store.audit_entries()[-1].action == "audit.alarm"


def test_witness_countersigns_what_extends_and_alarms_otherwise(
    tmp_path: Path, capsys: Any
) -> None:
    """``audit witness`` against a running service: first use pins the key and countersigns;
    a later run checks the new export extends the kept one; a rewritten history is refused."""
    from deconfliction.auth import PARTY_ADMIN_SCOPE, dev_private_key, mint_token
    from helpers import free_port, serve

    data = tmp_path / "data"
    key = dev_private_key(data)
    port = free_port()
    proc = serve(data, port, ["--demo"])
    try:
        url = f"http://127.0.0.1:{port}"
        token = mint_token(key, "FR", scopes=[PARTY_ADMIN_SCOPE])
        party_key = tmp_path / "fr.pem"
        keep = tmp_path / "kept"
        assert main(["audit", "party-key", "--out", str(party_key)]) == 0
        capsys.readouterr()
        args = ["audit", "witness", "--url", url, "--token", token, "--key", str(party_key)]
        args += ["--keep", str(keep)]
        assert main([*args, "--register"]) == 0
        out = capsys.readouterr().out
        assert "pinned the service's key" in out and "countersigned entry" in out
        assert (keep / "latest.json").exists() and (keep / "service.pem").exists()
        assert main(args) == 0
        assert "extends the earlier copy" in capsys.readouterr().out
        # the operator rewrites an early entry and every hash after it
        conn = _db(data)
        conn.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 3")
        _rehash(conn, 3)
        conn.execute("DELETE FROM audit_checkpoints")
        conn.close()
        assert main(args) == 1
        assert "ALARM" in capsys.readouterr().out
        assert list(keep.glob("refused-*.json"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_links_let_a_witness_check_a_later_checkpoint(api: Any, tmp_path: Path) -> None:
    """What the map does: keep a checkpoint, fetch the links up to a later one, recompute the
    chain from the hash kept and land on the later checkpoint's hash."""
    from datetime import UTC, datetime

    from deconfliction.audit.chain import link

    store = api.client.app.state.store
    store.signer = Signer.in_folder(tmp_path)
    api.post("/v1/intents", "FR", json={"volumes": [_native(0)]})
    store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
    (kept,) = api.get("/v1/audit/checkpoints", "FR").json()["checkpoints"]
    for i in range(1, 4):
        api.post("/v1/intents", "RU", json={"volumes": [_native(i)]})
    store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
    later = api.get(f"/v1/audit/checkpoints?after={kept['seq']}", "FR").json()["checkpoints"][-1]
    got = api.get(f"/v1/audit/links?after={kept['seq']}&to={later['seq']}", "FR").json()
    h = kept["hash"]
    for item in got["links"]:
        h = link(h, item["content_hash"])
    assert h == later["hash"]
    assert got["service_key"]["key_id"] == store.signer.key_id
    assert "RU" not in str(got["links"])  # hashes only
    bad = api.get(f"/v1/audit/links?after={later['seq']}&to={kept['seq']}", "FR")
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/query/to"
