"""Ed25519 signatures over audit checkpoints: the service signs, parties countersign.

A checkpoint commits to the chain up to an entry: its message is the canonical JSON (keys
sorted, no spaces, UTF-8) of ``{"seq": SEQ, "hash": HASH_OF_ENTRY_SEQ}``. A key is known by its
id: the SHA-256 (hex) of its public key in DER SubjectPublicKeyInfo form.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..keyfile import private_key
from .keys import key_id, load_public, message, public_pem, verify

AUDIT_KEY_FILE = "audit-signing-key.pem"
__all__ = [
    "AUDIT_KEY_FILE",
    "Signer",
    "key_id",
    "load_public",
    "message",
    "public_pem",
    "verify",
]


class Signer:
    """The service's checkpoint key, and the guard that keeps it from signing a rewritten
    chain (``guard.ChainGuard``; its memory is kept in the data folder when there is one)."""

    def __init__(self, private: Ed25519PrivateKey, data_dir: Path | None = None) -> None:
        from .guard import HEAD_FILE, ChainGuard

        self.private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)
        self.guard = ChainGuard(self.public, None if data_dir is None else data_dir / HEAD_FILE)

    def sign(self, msg: bytes) -> str:
        return self.private.sign(msg).hex()

    @staticmethod
    def in_folder(data_dir: Path) -> Signer:
        """The data folder's audit key, created (mode 0600) on first use."""
        path = data_dir / AUDIT_KEY_FILE
        key = private_key(
            path, Ed25519PrivateKey.generate, Ed25519PrivateKey, "an Ed25519 private key"
        )
        return Signer(key, data_dir)
