"""Storage: the Store protocol and its back ends."""

from __future__ import annotations

from pathlib import Path

from ..errors import FieldError, InvalidInput
from ..model import SeparationPolicy
from .base import Store, StoredRecord, StoreHooks, WriteResult, record_key
from .sqlite import SqliteStore


def open_store(url: str, policy: SeparationPolicy | None = None) -> Store:
    """Open a store by URL: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``
    or ``postgresql://user@host:port/database``."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path or path == ":memory:":
            raise InvalidInput([FieldError("/db", "give a file path: sqlite:///data/x.db")])
        return SqliteStore(Path(path), policy)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, policy)
    scheme = url.split(":", 1)[0]
    raise InvalidInput(
        [
            FieldError(
                "/db",
                f"unsupported database URL {scheme!r}; use sqlite:///PATH or postgresql://...",
            )
        ]
    )


__all__ = [
    "SqliteStore",
    "Store",
    "StoreHooks",
    "StoredRecord",
    "WriteResult",
    "open_store",
    "record_key",
]
