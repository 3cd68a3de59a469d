"""A private key kept in a file of the data folder, made on first use by whichever process
comes first."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

K = TypeVar("K", Ed25519PrivateKey, EllipticCurvePrivateKey)


def private_key(path: Path, make: Callable[[], K], kind: type, what: str) -> K:
    """The private key kept in ``path`` (PEM, PKCS8, unencrypted, mode 0600), made by ``make``
    and kept there on first use. ``kind``: the class of what ``make`` makes; ``what`` names it
    in the error for a file that holds another kind of key.

    Processes started at once on a new data folder (``serve --workers N``) all end with one
    key: each writes the key it made to a file of its own and links that file to ``path``,
    which only the first can do, and a link appears whole, never half written. The others drop
    theirs and read the one in place."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = make()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
                return key
            except FileExistsError:  # made meanwhile by another process: that one holds
                pass
        finally:
            os.unlink(tmp)
    found = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(found, kind):
        raise ValueError(f"{path} is not {what}")
    return cast("K", found)  # an instance of ``kind``, the class of what ``make`` makes
