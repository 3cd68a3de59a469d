"""A party's export of the audit log, and its offline verification (docs/audit.md).

The export is one JSON document in canonical form (keys sorted, no spaces, UTF-8, no trailing
newline), so that any change to any byte is seen: either it is no longer JSON, or no longer
canonical, or a hash, a link or a signature no longer holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import GENESIS, AuditEntry, canonical, link
from .signing import Signer, key_id, load_public, message, public_pem, verify

FORMAT = "deconfliction-audit/1"
_FULL = ("seq", "at", "actor", "action", "subject", "digest", "prev_hash", "hash")


def visible_to(e: AuditEntry, party: str) -> bool:
    """Whether ``party`` sees an entry in full: its own acts, and what concerns it by name
    (disclosures to it, its agreements, its tracks, its party record, its link)."""
    if e.actor == party or e.subject == party:
        return True
    s = e.subject
    return s.endswith(f"->{party}") or party in s.split("|") or s.startswith(f"{party}/")


def build(
    party: str,
    entries: list[AuditEntry],
    checkpoints: list[dict[str, Any]],
    countersignatures: list[dict[str, Any]],
    signer: Signer,
) -> bytes:
    service_key = signer.public
    doc: dict[str, Any] = {
        "format": FORMAT,
        "party": party,
        "service_key": {"key_id": key_id(service_key), "public_key_pem": public_pem(service_key)},
        "entries": [
            {k: getattr(e, k) for k in _FULL}
            if visible_to(e, party)
            else {
                "seq": e.seq,
                "prev_hash": e.prev_hash,
                "content_hash": e.content_hash(),
                "hash": e.hash,
            }
            for e in entries
        ],
        "checkpoints": checkpoints,
        "countersignatures": countersignatures,
    }
    # the whole document, signed: nothing in it (times, parties, fields outside the chain) can
    # change unseen
    doc["export_signature"] = signer.sign(canonical(doc))
    return canonical(doc)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def _bad(msg: str) -> Verdict:
    return Verdict(False, msg)


def verify_export(data: bytes, keys: list[bytes]) -> Verdict:
    """Check an export with no server and no database; the keys are trusted PEM public keys
    (the service's, and any party's whose countersignatures should be checked)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _bad(f"byte {exc.start}: not UTF-8")
    except json.JSONDecodeError as exc:
        return _bad(f"byte {exc.pos}: not JSON ({exc.msg})")
    again = canonical(doc)
    if again != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(again, data, strict=False)) if a != b),
            min(len(again), len(data)),
        )
        return _bad(f"byte {at}: not in canonical form (the file was changed)")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return _bad(f"format: not {FORMAT}")
    trusted: dict[str, Ed25519PublicKey] = {}
    for pem in keys:
        pub = load_public(pem)
        trusted[key_id(pub)] = pub
    try:
        service = doc["service_key"]["key_id"]
        entries = doc["entries"]
        checkpoints = doc["checkpoints"]
        countersigs = doc["countersignatures"]
    except (KeyError, TypeError):
        return _bad("the document lacks service_key, entries, checkpoints or countersignatures")
    if service not in trusted:
        return _bad(f"service_key: {service[:16]}... is not among the keys given")
    # the chain
    prev = GENESIS
    hashes: dict[int, str] = {}
    redacted = 0
    for n, e in enumerate(entries, 1):
        where = f"entry {e.get('seq', '?') if isinstance(e, dict) else '?'} (position {n})"
        if not isinstance(e, dict) or e.get("seq") != n:
            return _bad(f"{where}: expected entry {n} here (deleted, inserted or reordered)")
        if e.get("prev_hash") != prev:
            return _bad(f"{where}: prev_hash does not match the entry before")
        if set(e) == set(_FULL):
            content = AuditEntry(
                e["seq"],
                e["at"],
                e["actor"],
                e["action"],
                e["subject"],
                e["digest"],
                e["prev_hash"],
                e["hash"],
            ).content_hash()
        elif set(e) == {"seq", "prev_hash", "content_hash", "hash"}:
            content = str(e["content_hash"])
            redacted += 1
        else:
            return _bad(f"{where}: unexpected fields")
        if link(prev, content) != e["hash"]:
            return _bad(f"{where}: its hash does not match its content and the entry before")
        prev = str(e["hash"])
        hashes[n] = prev
    # the service's signatures
    signed: set[int] = set()
    for c in checkpoints:
        seq = c.get("seq")
        where = f"checkpoint at entry {seq}"
        if seq not in hashes or c.get("hash") != hashes[seq]:
            return _bad(f"{where}: does not match the chain")
        ck = trusted.get(str(c.get("key_id")))
        if ck is None or c.get("key_id") != service:
            return _bad(f"{where}: signed with a key that is not the service's")
        if not verify(ck, message(seq, hashes[seq]), str(c.get("signature"))):
            return _bad(f"{where}: the signature does not verify")
        signed.add(seq)
    if entries and len(entries) not in signed:
        return _bad(f"entry {len(entries)}: the last entry has no signed checkpoint")
    # the parties' countersignatures
    checked = unchecked = 0
    for cs in countersigs:
        seq = cs.get("seq")
        where = f"countersignature of {cs.get('party')} at entry {seq}"
        if seq not in signed:
            return _bad(f"{where}: no such checkpoint")
        pk = trusted.get(str(cs.get("key_id")))
        if pk is None:
            unchecked += 1
            continue
        if not verify(pk, message(seq, hashes[seq]), str(cs.get("signature"))):
            return _bad(f"{where}: the signature does not verify")
        checked += 1
    body = {k: v for k, v in doc.items() if k != "export_signature"}
    if not verify(trusted[service], canonical(body), str(doc.get("export_signature"))):
        return _bad("export_signature: does not verify (a field outside the chain was changed)")
    return Verdict(
        True,
        f"ok: {len(entries)} entries ({redacted} shown as hashes only), {len(signed)} signed "
        f"checkpoints, {checked} countersignatures verified"
        + (f", {unchecked} not checked (no key given)" if unchecked else ""),
    )
