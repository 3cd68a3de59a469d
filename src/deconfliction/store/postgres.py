"""The PostgreSQL store: the same schema, transactions and logic as SQLite, on a server.

Every write transaction takes the store's advisory write lock, so writers take turns across
all API processes (as SQLite's single writer does in one), and runs at SERIALIZABLE; when
PostgreSQL refuses one anyway (serialization
failure or deadlock, SQLSTATE 40001 / 40P01) the whole transaction function runs again, up to
``RETRIES`` times, so concurrent writers get exactly a serial outcome (the F3548 key rule
included: two writers that each saw an empty cell cannot both succeed). Reads run on a
repeatable-read snapshot. Connections come from a pool sized for the API's threads.

Every statement is plain SQL with ``%s`` placeholders (``Tx`` rewrites ``?``), no
PostgreSQL-only feature in the core path, so that a PostgreSQL-protocol distributed SQL engine
with serializable transactions (CockroachDB) can run it too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool

from ..audit.signing import Signer
from ..model import SeparationPolicy
from . import migrate
from .base import RecordCache, StoreHooks, Tx
from .txstore import TxStore

T = TypeVar("T")
#: How many times a refused serializable transaction is run again before giving up.
RETRIES = 30
#: The advisory lock every write transaction holds (migrations use another).
WRITE_LOCK = 4243


class PostgresStore(TxStore):
    def __init__(
        self, url: str, policy: SeparationPolicy | None = None, *, pool_size: int = 16
    ) -> None:
        self.url = url
        self.policy = policy or SeparationPolicy()
        self.cache = RecordCache()
        self.signer: Signer | None = None
        self.hooks = StoreHooks()
        with psycopg.connect(url, autocommit=False) as conn:
            migrate.apply(conn, "postgresql")  # one migrator at a time (its own lock)
            self.secret = self._secret(conn.cursor(), "%s")
            conn.commit()
        self.pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=True, kwargs={"autocommit": True}
        )

    def write_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` at SERIALIZABLE, again if PostgreSQL refuses it (then ``fn`` must not
        have side effects outside the transaction)."""
        for attempt in range(RETRIES):
            with self.pool.connection() as conn:
                # writers take turns (as on SQLite's single writer): under contention in one
                # area, serializable transactions alone abort each other in storms. The lock is
                # taken before the transaction begins, so its snapshot is taken after it.
                conn.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
                try:
                    with conn.transaction():
                        conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                        with conn.cursor() as cur:
                            tx = self.make_tx(cur, "%s")
                            result = fn(tx)
                    tx.committed()
                    return result
                except (errors.SerializationFailure, errors.DeadlockDetected):
                    if attempt == RETRIES - 1:
                        raise
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
            time.sleep(min(0.2, 0.002 * 2**attempt) * random.random())
        raise AssertionError("unreachable")

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with conn.cursor() as cur:
                return fn(self.make_tx(cur, "%s"))

    def close(self) -> None:
        self.pool.close()
