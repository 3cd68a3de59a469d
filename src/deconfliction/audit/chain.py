"""The audit hash chain: each entry commits to the one before it.

An entry is the JSON object ``{"seq", "at", "actor", "action", "subject", "digest",
"prev_hash"}``; its ``hash`` is the SHA-256 (hex) of that object serialized canonically (keys
sorted, no spaces, UTF-8). The first entry's ``prev_hash`` is 64 zeros. Changing, removing or
reordering any entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(obj: Any) -> str:
    """SHA-256 (hex) of an object's canonical JSON: what the log keeps instead of the content."""
    return hashlib.sha256(canonical(obj)).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    digest: str
    prev_hash: str
    hash: str

    @staticmethod
    def make(
        seq: int, at: str, actor: str, action: str, subject: str, record_digest: str, prev_hash: str
    ) -> AuditEntry:
        body = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "digest": record_digest,
            "prev_hash": prev_hash,
        }
        return AuditEntry(**body, hash=digest(body))  # type: ignore[arg-type]

    def expected_hash(self) -> str:
        body = asdict(self)
        del body["hash"]
        return digest(body)


def first_bad_entry(entries: Iterable[AuditEntry]) -> int | None:
    """The ``seq`` of the first entry that breaks the chain, or None when it holds."""
    prev = GENESIS
    expected_seq = 1
    for e in entries:
        if e.seq != expected_seq or e.prev_hash != prev or e.hash != e.expected_hash():
            return e.seq
        prev = e.hash
        expected_seq += 1
    return None
