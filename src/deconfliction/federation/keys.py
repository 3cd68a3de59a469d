"""A node's signing key: Ed25519, kept in the data folder (``node-signing-key.pem``, 0600).

It signs every request and answer between nodes, the agreements' texts and the
countersignatures of other nodes' audit checkpoints. Its public key is what a peer is told
(``deconfliction peer key``) and pins (``deconfliction peer add ... --key PEM``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..audit.signing import key_id, load_public, public_pem
from ..keyfile import private_key

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
        key = private_key(
            data_dir / NODE_KEY_FILE,
            Ed25519PrivateKey.generate,
            Ed25519PrivateKey,
            "an Ed25519 private key",
        )
        return NodeKey.of(key)


__all__ = ["NODE_KEY_FILE", "NodeKey", "key_id", "load_public"]
