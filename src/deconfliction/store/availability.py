"""A USS's availability as the DSS reports it (``scd_availability``): set by the USS through
the DSS, and to ``Down`` / ``Normal`` by the link monitor when its link degrades or comes back.
Both write it through here, the one module holding the table's SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Tx


def get(tx: Tx, uss: str) -> tuple[str, str] | None:
    """(availability, version) of a USS, if one was ever set."""
    row = tx.x(
        "SELECT availability, version FROM scd_availability WHERE uss = ?", (uss,)
    ).fetchone()
    return None if row is None else (row[0], row[1])


def put(tx: Tx, uss: str, availability: str, version: str) -> None:
    """Set a USS's availability, with a new version."""
    tx.x(
        "INSERT INTO scd_availability (uss, availability, version) VALUES (?, ?, ?) "
        "ON CONFLICT (uss) DO UPDATE SET availability = excluded.availability, "
        "version = excluded.version",
        (uss, availability, version),
    )
