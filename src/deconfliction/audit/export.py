"""A party's export of the audit log, and its offline verification (docs/audit.md).

The export is one JSON document in canonical form (keys sorted, no spaces, UTF-8, no trailing
newline), so that any change to any byte is seen: either it is no longer JSON, or no longer
canonical, or a hash, a link or a signature no longer holds.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import GENESIS, AuditEntry, canonical, link
from .log import AuditLog
from .signing import Signer, key_id, load_public, message, public_pem, verify

FORMAT = "deconfliction-audit/1"
#: A signed checkpoint every this many entries, and each minute when there are new ones; an
#: export missing one where this cadence requires it does not verify.
CHECKPOINT_EVERY = 100
CADENCE_S = 60.0
#: How late a minute's checkpoint may be (a busy service, a lease changing hands).
CADENCE_SLACK_S = 60.0
_FULL = ("seq", "at", "actor", "action", "subject", "digest", "prev_hash", "hash")


def visible_to(e: AuditEntry, party: str) -> bool:
    """Whether ``party`` sees an entry in full: its own acts, what concerns it by name
    (disclosures to it, its agreements, its records and tracks, its party record, its link), and
    what concerns everyone (subject ``*``: the service's starts and audit alarms)."""
    if e.actor == party or e.subject in (party, "*"):
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


def log_rows(
    tx: AuditLog,
) -> tuple[list[AuditEntry], list[dict[str, Any]], list[dict[str, Any]]]:
    """Every entry, checkpoint and countersignature of the log (``tx``: a store transaction)."""
    checkpoints = [dict(cp._asdict()) for cp in tx.checkpoints_after(0)]
    counters = [dict(c._asdict()) for c in tx.countersignatures()]
    return tx.entries(0), checkpoints, counters


@dataclass(frozen=True)
class Verdict:
    """``code``: 0 the export verifies; 1 it does not (changed, cut, rewritten, unsigned);
    2 it is not a readable export at all (malformed)."""

    ok: bool
    message: str
    code: int = 0


def _bad(msg: str) -> Verdict:
    return Verdict(False, msg, 1)


def _malformed(msg: str) -> Verdict:
    return Verdict(False, f"malformed export: {msg}", 2)


def _time(s: Any) -> datetime | None:
    if not isinstance(s, str):
        return None
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _shape(doc: Any) -> str | None:
    """Why a parsed document is not an export, or None."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("format") != FORMAT:
        return f"format is not {FORMAT}"
    sk = doc.get("service_key")
    if not isinstance(sk, dict) or not isinstance(sk.get("key_id"), str):
        return "service_key.key_id is missing"
    for name in ("entries", "checkpoints", "countersignatures"):
        items = doc.get(name)
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            return f"{name} is not a list of objects"
    for n, e in enumerate(doc["entries"], 1):
        if not all(isinstance(e.get(k), str) for k in ("prev_hash", "hash")):
            return f"entries[{n - 1}]: prev_hash and hash must be strings"
        if not isinstance(e.get("seq"), int) or isinstance(e.get("seq"), bool):
            return f"entries[{n - 1}]: seq must be an integer"
    for name in ("checkpoints", "countersignatures"):
        for n, c in enumerate(doc[name]):
            if not isinstance(c.get("seq"), int) or isinstance(c.get("seq"), bool):
                return f"{name}[{n}]: seq must be an integer"
    if not isinstance(doc.get("export_signature"), str):
        return "export_signature is missing"
    return None


def read_export(data: bytes) -> tuple[dict[str, Any] | None, Verdict | None]:
    """The export's document, or why it cannot be one (a Verdict)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, _malformed(f"byte {exc.start}: not UTF-8")
    except json.JSONDecodeError as exc:
        return None, _malformed(f"byte {exc.pos}: not JSON ({exc.msg})")
    again = canonical(doc)
    if again != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(again, data, strict=False)) if a != b),
            min(len(again), len(data)),
        )
        return None, _bad(f"byte {at}: not in canonical form (the file was changed)")
    why = _shape(doc)
    if why is not None:
        return None, _malformed(why)
    return doc, None


def verify_export(data: bytes, keys: list[bytes], *, after: bytes | None = None) -> Verdict:
    """Check an export with no server and no database; the keys are trusted PEM public keys
    (the service's, and any party's whose countersignatures should be checked). ``after``: an
    earlier copy the party kept (an export, or a checkpoint ``{"seq", "hash"}``) that this one
    must extend."""
    doc, bad = read_export(data)
    if doc is None:
        assert bad is not None
        return bad
    old: dict[int, str] | None = None
    if after is not None:
        old, old_key, why = _earlier_hashes(after, keys)
        if why is not None:
            return Verdict(False, why, 2)
        if old_key is not None and old_key != doc["service_key"]["key_id"]:
            return _bad("service_key: not the key of the earlier copy")
    verdict, _ = _verify(doc, keys, old)
    return verdict


def _verify(
    doc: dict[str, Any], keys: list[bytes], old: dict[int, str] | None = None
) -> tuple[Verdict, dict[int, str]]:
    trusted: dict[str, Ed25519PublicKey] = {}
    for pem in keys:
        pub = load_public(pem)
        trusted[key_id(pub)] = pub
    service = doc["service_key"]["key_id"]
    entries, checkpoints, countersigs = (
        doc["entries"],
        doc["checkpoints"],
        doc["countersignatures"],
    )
    hashes: dict[int, str] = {}
    if service not in trusted:
        return _bad(f"service_key: {service[:16]}... is not among the keys given"), hashes
    # the chain
    prev = GENESIS
    redacted = 0
    shown: list[dict[str, Any]] = []
    for n, e in enumerate(entries, 1):
        where = f"entry {e['seq']} (position {n})"
        if e["seq"] != n:
            return _bad(f"{where}: expected entry {n} here (deleted, inserted or reordered)"), {}
        if e["prev_hash"] != prev:
            return _bad(f"{where}: prev_hash does not match the entry before"), {}
        if set(e) == set(_FULL):
            if not all(isinstance(e[k], str) for k in _FULL if k != "seq"):
                return _bad(f"{where}: its fields must be strings"), {}
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
            shown.append(e)
        elif set(e) == {"seq", "prev_hash", "content_hash", "hash"}:
            content = str(e["content_hash"])
            redacted += 1
        else:
            return _bad(f"{where}: unexpected fields"), {}
        if link(prev, content) != e["hash"]:
            return _bad(f"{where}: its hash does not match its content and the entry before"), {}
        prev = str(e["hash"])
        hashes[n] = prev
    # what the party kept before
    if old is not None:
        why = _diverges(old, hashes)
        if why is not None:
            return _bad(why), {}
    # the service's signatures
    signed: dict[int, datetime | None] = {}
    for c in checkpoints:
        seq = c["seq"]
        where = f"checkpoint at entry {seq}"
        if seq not in hashes or c.get("hash") != hashes[seq]:
            return _bad(f"{where}: does not match the chain"), {}
        ck = trusted.get(str(c.get("key_id")))
        if ck is None or c.get("key_id") != service:
            return _bad(f"{where}: signed with a key that is not the service's"), {}
        if not verify(ck, message(seq, hashes[seq]), str(c.get("signature"))):
            return _bad(f"{where}: the signature does not verify"), {}
        signed[seq] = _time(c.get("at"))
    if entries and len(entries) not in signed:
        return _bad(f"entry {len(entries)}: the last entry has no signed checkpoint"), {}
    cadence = _cadence(len(entries), signed, shown)
    if cadence is not None:
        return _bad(cadence), {}
    # the parties' countersignatures
    checked = unchecked = 0
    for cs in countersigs:
        seq = cs["seq"]
        where = f"countersignature of {cs.get('party')} at entry {seq}"
        if seq not in signed:
            return _bad(f"{where}: no such checkpoint"), {}
        pk = trusted.get(str(cs.get("key_id")))
        if pk is None:
            unchecked += 1
            continue
        if not verify(pk, message(seq, hashes[seq]), str(cs.get("signature"))):
            return _bad(f"{where}: the signature does not verify"), {}
        checked += 1
    body = {k: v for k, v in doc.items() if k != "export_signature"}
    if not verify(trusted[service], canonical(body), str(doc.get("export_signature"))):
        return _bad("export_signature: does not verify (a field outside the chain was changed)"), {}
    extends = f"; extends the earlier copy (entries 1 to {max(old)})" if old else ""
    return (
        Verdict(
            True,
            f"ok: {len(entries)} entries ({redacted} shown as hashes only), {len(signed)} signed "
            f"checkpoints, {checked} countersignatures verified"
            + (f", {unchecked} not checked (no key given)" if unchecked else "")
            + extends,
        ),
        hashes,
    )


def _cadence(n: int, signed: dict[int, datetime | None], shown: list[dict[str, Any]]) -> str | None:
    """Why the checkpoints miss the documented cadence, or None: one at every
    ``CHECKPOINT_EVERY``-th entry, and every entry the party sees covered by a checkpoint signed
    within ``CADENCE_S + CADENCE_SLACK_S`` of it, unless the service (re)started in between."""
    for seq in range(CHECKPOINT_EVERY, n + 1, CHECKPOINT_EVERY):
        if seq not in signed:
            return f"entry {seq}: no checkpoint where every {CHECKPOINT_EVERY}th entry has one"
    order = sorted(signed)
    starts = [int(e["seq"]) for e in shown if e["action"] == "service.started"]
    limit = CADENCE_S + CADENCE_SLACK_S
    for e in shown:
        at = _time(e["at"])
        i = bisect.bisect_left(order, e["seq"])
        if at is None or i == len(order):
            continue
        cseq = order[i]
        cat = signed[cseq]
        if cat is None or (cat - at).total_seconds() <= limit:
            continue
        if any(e["seq"] < s <= cseq for s in starts):
            continue  # the service stopped after it: signed when it started again
        return (
            f"entry {e['seq']}: first covered by the checkpoint at entry {cseq}, signed "
            f"{(cat - at).total_seconds():.0f} s later (the service signs each minute)"
        )
    return None


def _earlier_hashes(
    after: bytes, keys: list[bytes]
) -> tuple[dict[int, str], str | None, str | None]:
    """(seq -> hash) of an earlier copy, its service key id, or why it cannot be used."""
    try:
        doc = json.loads(after.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}, None, "--after: the earlier copy is not JSON"
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        old, bad = read_export(after)
        if old is None:
            assert bad is not None
            return {}, None, f"--after: the earlier copy: {bad.message}"
        verdict, hashes = _verify(old, keys)
        if not verdict.ok:
            return {}, None, f"--after: the earlier copy does not verify: {verdict.message}"
        return hashes, str(old["service_key"]["key_id"]), None
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("seq"), int)
        and isinstance(doc.get("hash"), str)
    ):
        return {int(doc["seq"]): str(doc["hash"])}, None, None
    return {}, None, '--after: give an earlier export, or a checkpoint {"seq", "hash"}'


def _diverges(old: dict[int, str], hashes: dict[int, str]) -> str | None:
    """Where the chain stops extending an earlier copy, or None."""
    top = max(old) if old else 0
    for seq in sorted(old):
        if hashes.get(seq) == old[seq]:
            continue
        if len(hashes) < top:
            what = "missing" if seq not in hashes else "differs"
            return (
                f"entry {seq}: {what}: the log was cut back (the earlier copy reaches entry "
                f"{top}, this one {len(hashes)})"
            )
        return f"entry {seq}: differs from the earlier copy: history was rewritten"
    return None
