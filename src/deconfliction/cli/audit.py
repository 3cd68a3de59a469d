"""``deconfliction audit export|verify|witness|party-key|key``: a party's copy of the log,
checked offline, and kept so that no one can rewrite it quietly."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..audit.export import build, log_rows, read_export, verify_export
from ..audit.signing import AUDIT_KEY_FILE, Signer, key_id, message, public_pem
from ..errors import NotFound
from . import UsageError


def _service_folder(data_dir: Path) -> Signer:
    """The data folder's audit key, which must exist: an export from a folder that is not the
    service's would be signed with a new key over an empty log."""
    if not (data_dir / AUDIT_KEY_FILE).exists():
        raise UsageError(
            f"--data-dir: {data_dir} holds no audit key ({AUDIT_KEY_FILE}): give the service's "
            "data folder"
        )
    try:
        return Signer.in_folder(data_dir)
    except ValueError as exc:
        raise UsageError(f"--data-dir: {exc}") from None


def run_export(db: str, data_dir: Path, party: str, out: Path) -> int:
    from ..store import open_store

    signer = _service_folder(data_dir)
    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///") :]).exists():
        raise UsageError(f"--db: {db[len('sqlite:///') :]} does not exist")
    store = open_store(db)
    try:
        store.signer = signer
        try:
            store.get_party(party)
        except NotFound:
            raise UsageError(f"--party: no party {party!r} in this database") from None
        # a signed checkpoint at the head, so that the whole export is covered
        store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
        entries, checkpoints, counters = store.read_tx(log_rows)
    finally:
        store.close()
    data = build(party, entries, checkpoints, counters, signer)
    out.write_bytes(data)
    print(f"{out}: {len(entries)} entries for {party}", file=sys.stderr)
    return 0


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path}: {exc.strerror}") from None


def run_verify(path: Path, keys: list[Path], after: Path | None = None) -> int:
    if not keys:
        raise UsageError("--key: give at least the service's public key (deconfliction audit key)")
    pems = [_read(k, "--key") for k in keys]
    data = _read(path, str(path))
    earlier = _read(after, "--after") if after is not None else None
    try:
        verdict = verify_export(data, pems, after=earlier)
    except ValueError as exc:
        raise UsageError(f"--key: {exc}") from None
    if verdict.code == 2:
        raise UsageError(f"{path}: {verdict.message}")
    print(f"{path}: {verdict.message}")
    return 0 if verdict.ok else 1


def run_key(data_dir: Path) -> int:
    print(public_pem(_service_folder(data_dir).public), end="")
    return 0


def run_party_key(out: Path) -> int:
    """Make a party's Ed25519 key (mode 0600) and print its public key (to register with
    ``PUT /v1/audit/keys``)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(public_pem(key.public_key()), end="")
    return 0


def _load_party_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "--key"), password=None)
    except ValueError as exc:
        raise UsageError(f"--key: {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"--key: {path} is not an Ed25519 private key")
    return key


def _call(method: str, url: str, token: str, body: dict[str, object] | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            out: bytes = resp.read()
            return out
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        raise UsageError(f"{method} {url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"{method} {url}: {exc}") from None


def run_witness(
    url: str, token: str, key_path: Path, keep: Path, service_key: Path | None, register: bool
) -> int:
    """Fetch the party's export, check it against the copy kept last time, countersign its
    newest checkpoint, and keep it. Exit 0: it extends what was kept (and is countersigned);
    1: it does not (history changed: nothing is signed); 2: it could not be done."""
    base = url.rstrip("/")
    party_key = _load_party_key(key_path)
    keep.mkdir(parents=True, exist_ok=True)
    pinned = keep / "service.pem"
    if register:
        pem = public_pem(party_key.public_key())
        _call("PUT", f"{base}/v1/audit/keys", token, {"public_key_pem": pem})
    data = _call("GET", f"{base}/v1/audit/export", token)
    doc, bad = read_export(data)
    if doc is None:
        assert bad is not None
        raise UsageError(f"{base}/v1/audit/export: {bad.message}")
    if service_key is not None:
        trusted = _read(service_key, "--service-key")
    elif pinned.exists():
        trusted = pinned.read_bytes()
    else:  # first use: pin the service's key, and say so
        trusted = str(doc["service_key"]["public_key_pem"]).encode()
        kid = str(doc["service_key"]["key_id"])
        print(f"{pinned}: pinned the service's key {kid[:16]}... (first use)")
    if not pinned.exists():
        pinned.write_bytes(trusted)
    latest = keep / "latest.json"
    earlier = latest.read_bytes() if latest.exists() else None
    verdict = verify_export(data, [trusted], after=earlier)
    if not verdict.ok:
        print(f"ALARM: {verdict.message}")
        (keep / f"refused-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json").write_bytes(data)
        return 1
    seq = len(doc["entries"])
    if seq:
        head = doc["entries"][-1]["hash"]
        signature = party_key.sign(message(seq, head)).hex()
        kid = key_id(party_key.public_key())
        _call(
            "POST",
            f"{base}/v1/audit/checkpoints/{seq}/countersignatures",
            token,
            {"key_id": kid, "signature": signature},
        )
        with (keep / "countersigned.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"seq": seq, "hash": head, "key_id": kid, "signature": signature}))
            f.write("\n")
    (keep / f"export-{seq}.json").write_bytes(data)
    tmp = keep / "latest.json.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, latest)
    print(f"{verdict.message}; countersigned entry {seq}")
    return 0
