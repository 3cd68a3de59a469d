"""Ed25519 keys and signatures over audit checkpoints: what a signed message is, a key's id,
verification. (``signing.Signer`` holds the service's private key.)

A checkpoint commits to the chain up to an entry: its message is the canonical JSON (keys
sorted, no spaces, UTF-8) of ``{"seq": SEQ, "hash": HASH_OF_ENTRY_SEQ}``. A key is known by its
id: the SHA-256 (hex) of its public key in DER SubjectPublicKeyInfo form.
"""

from __future__ import annotations

import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import canonical

_SIG = re.compile(r"[0-9a-f]{128}")


def message(seq: int, entry_hash: str) -> bytes:
    return canonical({"seq": seq, "hash": entry_hash})


def key_id(public: Ed25519PublicKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public(pem: bytes | str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (ValueError if it is not one)."""
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def verify(public: Ed25519PublicKey, msg: bytes, signature_hex: str) -> bool:
    """Whether ``signature_hex`` (exactly 128 lowercase hex digits) signs ``msg``."""
    if not _SIG.fullmatch(signature_hex):
        return False
    try:
        public.verify(bytes.fromhex(signature_hex), msg)
    except (InvalidSignature, ValueError):
        return False
    return True
