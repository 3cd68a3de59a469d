"""A node's signing key: Ed25519, kept in the data folder (``node-signing-key.pem``, 0600).

It signs every request and answer between nodes, the agreements' texts and the
countersignatures of other nodes' audit checkpoints. Its public key is what a peer is told
(``deconfliction peer key``) and pins (``deconfliction peer add ... --key PEM``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..audit.signing import key_id, load_public, public_pem

NODE_KEY_FILE = "node-signing-key.pem"


@dataclass(frozen=True)
class NodeKey:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    key_id: str

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    def sign(self, msg: bytes) -> str:
        return self.private.sign(msg).hex()

    @staticmethod
    def of(private: Ed25519PrivateKey) -> NodeKey:
        public = private.public_key()
        return NodeKey(private, public, key_id(public))

    @staticmethod
    def in_folder(data_dir: Path) -> NodeKey:
        """The data folder's node key, made (mode 0600) on first use."""
        path = data_dir / NODE_KEY_FILE
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            return NodeKey.of(key)
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another process of the same node
            return NodeKey.in_folder(data_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return NodeKey.of(key)


__all__ = ["NODE_KEY_FILE", "NodeKey", "key_id", "load_public"]
