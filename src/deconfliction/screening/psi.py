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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import UnreadableInput

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


class InvalidPoint(UnreadableInput):
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


def blind(scalar: bytes, point: bytes, *, ours: bool = False) -> bytes:
    """``point`` raised to ``scalar``; InvalidPoint when ``point`` is not a valid element (a
    point of ``ours``, just hashed to the group, is not checked again)."""
    lib = _sodium()
    if not ours and (
        len(point) != POINT_BYTES or not lib.crypto_core_ristretto255_is_valid_point(point)
    ):
        raise InvalidPoint("not a ristretto255 point")
    try:
        out: bytes = lib.crypto_scalarmult_ristretto255(scalar, point)
    except Exception as exc:  # the identity: refused by libsodium
        raise InvalidPoint("the product is the identity") from exc
    return out


#: Batches at least this long are spread over threads (libsodium runs without the GIL).
PARALLEL_FROM = 2048
_CHUNK = 512
_pool: ThreadPoolExecutor | None = None


def _map(fn: Callable[[bytes], bytes], items: Sequence[bytes]) -> list[bytes]:
    global _pool
    workers = min(8, os.cpu_count() or 1)
    if len(items) < PARALLEL_FROM or workers < 2:
        return [fn(x) for x in items]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="psi")
    chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
    out: list[bytes] = []
    for part in _pool.map(lambda c: [fn(x) for x in c], chunks):
        out += part
    return out


def blind_many(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    """``blind`` of each of the other side's points, in order."""
    return _map(lambda p: blind(scalar, p), points)


def hash_blind_many(scalar: bytes, digests: Sequence[bytes]) -> list[bytes]:
    """Our own items: each 64-byte digest hashed to the group and raised to ``scalar``."""
    return _map(lambda d: blind(scalar, hash_to_group(d), ours=True), digests)
