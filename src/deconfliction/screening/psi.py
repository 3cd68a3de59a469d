"""The group operations of ECDH private set intersection, over ristretto255 (libsodium).

Diffie-Hellman PSI (Meadows 1986; Huberman, Franklin and Hogg 1999; as in Google's private
join-and-compute and OpenMined's PSI): each side maps its items to the group with a hash
(``crypto_core_ristretto255_from_hash`` over SHA-512, domain-separated and salted per session),
raises them to its secret scalar, and raises the other side's blinded items to the same scalar.
``H(x)^(ab) == H(y)^(ba)`` exactly when ``x == y``; under the decisional Diffie-Hellman
assumption in the group (with the hash as a random oracle) a blinded item tells nothing of the
item, and a doubly blinded one nothing beyond equality with another.

Nothing here is new cryptography: the group, the hash to the group and the scalar
multiplication are libsodium's (ristretto255, RFC 9496), reached through ``rbcl``, which bundles
libsodium with bindings for these functions (PyNaCl 1.6 does not expose them). ``rbcl`` loads
its bundled library from a file it writes to the temporary folder; that file is removed once
the library is loaded (the mapping stays valid).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

POINT_BYTES = 32
SCALAR_BYTES = 32

_lib: Any = None


def _sodium() -> Any:
    global _lib
    if _lib is None:
        import rbcl

        bundled = sys.modules.get("rbcl._sodium")
        path = getattr(bundled, "lib_path", None)
        if isinstance(path, str) and os.path.isfile(path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        _lib = rbcl
    return _lib


class InvalidPoint(ValueError):
    """Bytes that are not the canonical encoding of a group element (or are the identity)."""


def new_scalar() -> bytes:
    """A fresh secret scalar, uniform in [1, L)."""
    out: bytes = _sodium().crypto_core_ristretto255_scalar_random()
    return out


def hash_to_group(digest64: bytes) -> bytes:
    """A 64-byte digest mapped to the group (ristretto255's hash-to-group, RFC 9496 4.3.4)."""
    if len(digest64) != 64:
        raise ValueError("hash_to_group takes 64 bytes")
    out: bytes = _sodium().crypto_core_ristretto255_from_hash(digest64)
    return out


def blind(scalar: bytes, point: bytes) -> bytes:
    """``point`` raised to ``scalar``; InvalidPoint when ``point`` is not a valid element."""
    lib = _sodium()
    if len(point) != POINT_BYTES or not lib.crypto_core_ristretto255_is_valid_point(point):
        raise InvalidPoint("not a ristretto255 point")
    try:
        out: bytes = lib.crypto_scalarmult_ristretto255(scalar, point)
    except Exception as exc:  # the identity: refused by libsodium
        raise InvalidPoint("the product is the identity") from exc
    return out
