"""Leases: background work that one process of many does alone, one holder at a time.

A lease is a row of ``leases``: who holds it, until when (``expires_at``, seconds since the
epoch), and a **fencing token** that grows each time the lease changes hands.

- ``take`` takes a free or expired lease, or renews one held; it returns the token, or None
  while another holds it.
- The holder **renews while it works**, so work that lasts longer than the lease is still
  covered (``Ticker`` renews on a heartbeat while its function runs; the webhook dispatcher
  renews before each delivery and with each move of its cursor).
- Work **fences** its writes: ``renew`` in the same transaction as the write refuses (False)
  when the token is no longer the holder's, so a holder that stalled past its lease and lost
  it cannot commit anything more under it (the transaction is rolled back).
- ``release`` on a clean stop lets another process take over at once rather than after the
  lease runs out.

Times come from the caller's clock: processes on several hosts need clocks in step (NTP) to
well within a lease's length.
"""

from __future__ import annotations

from ..store.base import Tx


def lock(name: str) -> str:
    """What a transaction that writes only lease ``name``'s row names (``Store.write_tx``), so
    that it runs beside other writes on a server database."""
    return f"lease:{name}"


def take(tx: Tx, name: str, holder: str, now: float, ttl_s: float) -> int | None:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl_s``: its fencing
    token, or None if another holder has it."""
    r = tx.x("SELECT holder, expires_at, token FROM leases WHERE name = ?", (name,)).fetchone()
    if r is None:
        tx.x(
            "INSERT INTO leases (name, holder, expires_at, token) VALUES (?, ?, ?, 1)",
            (name, holder, now + ttl_s),
        )
        return 1
    if r[0] != holder and float(r[1]) > now:
        return None
    token = int(r[2]) if r[0] == holder else int(r[2]) + 1
    tx.x(
        "UPDATE leases SET holder = ?, expires_at = ?, token = ? WHERE name = ?",
        (holder, now + ttl_s, token, name),
    )
    return token


def renew(tx: Tx, name: str, holder: str, token: int, now: float, ttl_s: float) -> bool:
    """Extend the lease if ``holder`` still holds it with ``token`` (no one took it since):
    the fence to check in the transaction of any write made under the lease."""
    cur = tx.x(
        "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ?",
        (now + ttl_s, name, holder, token),
    )
    return bool(cur.rowcount == 1)


def release(tx: Tx, name: str, holder: str) -> None:
    """Give the lease up now (if ``holder`` has it), for another process to take at once."""
    tx.x("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", (name, holder))
