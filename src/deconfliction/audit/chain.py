"""The audit hash chain: each entry commits to the one before it.

An entry's **content** is the JSON object ``{"seq", "at", "actor", "action", "subject",
"digest"}``; its ``content_hash`` is the SHA-256 (hex) of that object serialized canonically
(keys sorted, no spaces, UTF-8). Its ``hash`` is the SHA-256 (hex) of the ASCII string
``prev_hash + content_hash`` (128 hex digits); the first entry's ``prev_hash`` is 64 zeros.
Changing, removing or reordering any entry breaks every hash after it, and the links can be
checked without the content: an entry shown only as ``(prev_hash, content_hash, hash)`` still
proves its place in the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
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
        e = AuditEntry(seq, at, actor, action, subject, record_digest, prev_hash, "")
        return AuditEntry(
            seq,
            at,
            actor,
            action,
            subject,
            record_digest,
            prev_hash,
            link(prev_hash, e.content_hash()),
        )

    def content_hash(self) -> str:
        return digest(
            {
                "seq": self.seq,
                "at": self.at,
                "actor": self.actor,
                "action": self.action,
                "subject": self.subject,
                "digest": self.digest,
            }
        )

    def expected_hash(self) -> str:
        return link(self.prev_hash, self.content_hash())


def link(prev_hash: str, content_hash: str) -> str:
    """An entry's hash from the one before it and its content's hash."""
    return hashlib.sha256((prev_hash + content_hash).encode("ascii")).hexdigest()


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
