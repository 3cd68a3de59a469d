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
