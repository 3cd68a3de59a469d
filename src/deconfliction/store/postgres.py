"""The PostgreSQL store: the same schema, transactions and logic as SQLite, on a server.

**Writes into different places run side by side.** A write of one record (create, replace,
delete, a DSS intent's: ``write_tx(fn, placed=True)``) holds the store's write lock shared, then
its record, then its places (``places``: the S2 cells of about 100 km its footprint, grown by
the lateral buffer, meets, old version included), all as transaction-level advisory locks, at
READ COMMITTED: its candidate search and exact test read what is committed once it holds them,
and no write that could open or close a conflict with it runs meanwhile. Its first outbox event
or audit entry takes the journal's lock, held to its commit, so the outbox and the audit chain
grow in commit order (a reader of events after a sequence number never misses one committed
later with a lower number). A write of rows that every writer of them names (a lease, live
tracks, a party's heartbeat: ``write_tx(fn, lock=NAME)``) holds the write lock shared and its
name. Every other write (parties, agreements, the DSS's subscriptions and constraints, a write
spanning more than ``places.MAX_PLACES`` places) holds the write lock alone, so it runs by
itself, at SERIALIZABLE. When PostgreSQL refuses a transaction anyway (serialization failure or
deadlock, SQLSTATE 40001 / 40P01) the whole transaction function runs again, up to ``RETRIES``
times, so concurrent writers get exactly a serial outcome (the F3548 key rule included: two
writers that each saw an empty cell cannot both succeed). Reads run on a repeatable-read
snapshot.

**When the database is away** (stopped, restarting, failing over to a replica, or every
connection busy) an operation fails at once with ``ServiceUnavailable`` (503 with
``Retry-After`` on the API) instead of hanging: connections come from a small pool of our own
(``Connections``) that connects on demand, gives up on a full pool after ``POOL_WAIT_S``, and
forgets every idle connection as soon as one is found broken (a server that dropped one has
dropped them all), so the first request after the database is back connects afresh. A
transaction whose connection broke before its ``COMMIT`` was sent is run once more on a new
connection (nothing of it was kept); one that broke during the ``COMMIT`` is answered 503: its
outcome is unknown, and a retry finds out (a create that did happen answers 409).

The URL may name several hosts (``postgresql://h1:5432,h2:5432,h3:5432/db
?target_session_attrs=read-write``): libpq tries them in turn and keeps the one that accepts
writes, so after a failover new connections reach the new primary (docs/deployment.md).

Every statement is plain SQL with ``%s`` placeholders (``Tx`` rewrites ``?``), no
PostgreSQL-only feature in the core path, so that a PostgreSQL-protocol distributed SQL engine
with serializable transactions (CockroachDB) can run it too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo, errors

from ..audit.signing import Signer
from ..errors import ServiceUnavailable
from ..model import SeparationPolicy
from . import migrate
from .base import RecordCache, StoreHooks, Tx
from .places import WholeStore
from .txstore import TxStore

log = logging.getLogger(__name__)

T = TypeVar("T")
#: How many times a refused serializable transaction is run again before giving up.
RETRIES = 30
#: The advisory lock every write transaction holds: shared by writes of one record (which
#: then hold their places), alone by any other (migrations use another).
WRITE_LOCK = 4243
#: The first number of a record's lock (two-number advisory keys), and the journal's lock.
RECORD_LOCKS = 4244
JOURNAL_LOCK = 4245
#: The first number of the lock of a write's name (``write_tx(lock=...)``).
NAMED_LOCKS = 4246
#: How long an operation waits for a free connection before answering 503.
POOL_WAIT_S = 10.0
#: An idle connection unused for longer than this is checked (one round trip) before use.
CHECK_IDLE_S = 1.0
#: How long a store being opened waits for the database to answer (a start during a failover).
START_WAIT_S = 30.0
#: What ``Retry-After`` says when the database cannot be reached, or is busy.
RETRY_UNREACHABLE_S = 2
RETRY_BUSY_S = 1
#: Connection settings used unless the URL sets them: give up connecting to a host after 3 s
#: (then the next host of a multi-host URL is tried); notice a peer that vanished.
CONNECTION_DEFAULTS = {
    "connect_timeout": "3",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "3",
    "keepalives_count": "3",
    "tcp_user_timeout": "15000",
    "application_name": "deconfliction",
}

#: Errors that mean the database (or the way to it) is not there now, rather than a bug:
#: connection exceptions (08), insufficient resources (53: too many connections), operator
#: intervention (57: shutdown, crash, "the database system is starting up"), a read-only
#: server (25006: a replica, or a primary being demoted).
_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, errors.ReadOnlySqlTransaction)


def with_defaults(url: str) -> str:
    """``url`` with ``CONNECTION_DEFAULTS`` for the settings it does not give."""
    given = conninfo.conninfo_to_dict(url)
    extra = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
    return conninfo.make_conninfo(url, **extra)


def _broken(conn: psycopg.Connection[Any]) -> bool:
    return bool(conn.closed or conn.broken)


class Connections:
    """A small connection pool that fails fast.

    At most ``size`` connections are in use at once; an operation waits ``wait_s`` for one,
    then gets ``ServiceUnavailable``. Idle connections are reused most recent first; one idle
    for over ``CHECK_IDLE_S`` is checked first. When a connection is found broken, every idle
    one is dropped with it. Connecting is done by the caller's thread, on demand: no
    background reconnection with growing delays, so recovery follows the database's return
    at once.
    """

    def __init__(self, url: str, size: int, wait_s: float = POOL_WAIT_S) -> None:
        self.url = url
        self.size = size
        self.wait_s = wait_s
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.OperationalError as exc:
            log.warning("cannot connect to the database: %s", (str(exc).splitlines() or [""])[0])
            raise ServiceUnavailable(
                "the database cannot be reached now; try again", RETRY_UNREACHABLE_S
            ) from exc

    def _take(self) -> psycopg.Connection[Any]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if _broken(conn):
                self.forget_idle()
                continue
            if time.monotonic() - since > CHECK_IDLE_S:
                try:
                    conn.execute("")
                except _AWAY:
                    conn.close()
                    self.forget_idle()
                    continue
            return conn
        return self._connect()

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        if not _broken(conn) and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.rollback()
            except _AWAY:
                conn.close()
        if _broken(conn) or self._closed:
            conn.close()
            if not self._closed:
                self.forget_idle()
            return
        with self._lock:
            self._idle.append((conn, time.monotonic()))

    def forget_idle(self) -> None:
        """Close every idle connection (one was found broken: the others are too, likely)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise RuntimeError("the store is closed")
        if not self._slots.acquire(timeout=self.wait_s):
            raise ServiceUnavailable("every database connection is busy; try again", RETRY_BUSY_S)
        try:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        self.forget_idle()


def _unlock(conn: psycopg.Connection[Any]) -> None:
    """Release the write lock; on a broken connection there is nothing to release (the server
    releases a session's locks when the session ends), and a connection that cannot release
    it is closed for the same effect."""
    if _broken(conn):
        return
    try:
        conn.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
    except _AWAY:
        conn.close()


def _connect_patiently(url: str, wait_s: float) -> psycopg.Connection[Any]:
    """A connection for starting up: a process (re)started while the database restarts or
    fails over waits for it, up to ``wait_s``, rather than dying."""
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            return psycopg.connect(url, autocommit=False)
        except psycopg.OperationalError:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("the database cannot be reached yet; trying again in %.1f s", delay)
            time.sleep(delay)
            delay = min(1.0, delay * 2)


class _PlaceLocks:
    """A placed write's locks (``places.PlaceLocks``): transaction-level advisory locks, let go
    at its end. Records are locked by a hash of their key (two-number keys, apart from the
    places' one-number keys); a collision only makes two writes take turns."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self.cur = cur
        self._held: set[int] = set()
        self._tail = False

    def record(self, key: str) -> None:
        self.cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (RECORD_LOCKS, key))

    def places(self, ids: Sequence[int]) -> None:
        todo = sorted(set(ids) - self._held)
        if todo:
            # in the array's order: every write asks for its places in ascending order
            self.cur.execute(
                "SELECT count(pg_advisory_xact_lock(p)) FROM unnest(%s::bigint[]) AS p", (todo,)
            )
            self._held.update(todo)

    def tail(self) -> None:
        if not self._tail:
            self.cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (JOURNAL_LOCK,))
            self._tail = True


class _BrokeBeforeCommit(Exception):
    """The connection broke before ``COMMIT`` was sent: nothing of the transaction was kept."""


class PostgresStore(TxStore):
    def __init__(
        self,
        url: str,
        policy: SeparationPolicy | None = None,
        *,
        pool_size: int = 16,
        pool_wait_s: float = POOL_WAIT_S,
        start_wait_s: float = START_WAIT_S,
    ) -> None:
        self.url = with_defaults(url)
        self.policy = policy or SeparationPolicy()
        self.cache = RecordCache()
        self.signer: Signer | None = None
        self.hooks = StoreHooks()
        with _connect_patiently(self.url, start_wait_s) as conn:
            # one migrator at a time, whatever the number of processes starting together (a
            # session lock: each migration commits on its own)
            conn.execute("SELECT pg_advisory_lock(4242)")
            conn.commit()
            try:
                migrate.apply(conn, "postgresql")
                self.secret = self._secret(conn.cursor(), "%s")
                conn.commit()
            finally:
                conn.execute("SELECT pg_advisory_unlock(4242)")
                conn.commit()
        self.pool = Connections(self.url, pool_size, pool_wait_s)

    def _write_once(
        self, conn: psycopg.Connection[Any], fn: Callable[[Tx], T], placed: bool, lock: str | None
    ) -> T:
        committing = False
        beside = placed or lock is not None
        try:
            if not beside:
                # any other write holds the whole store (as on SQLite's single writer): under
                # contention in one area, serializable transactions alone abort each other in
                # storms. The lock is taken before the transaction begins, so its snapshot is
                # taken after it.
                conn.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
            try:
                with conn.transaction():
                    if beside:
                        # a write of one record, or of rows named by ``lock``: beside other
                        # such writes, holding its record and places (or its name), then the
                        # journal (``_PlaceLocks``); each statement reads what is committed
                        # when it runs, so reads made after a lock see the writes that held it
                        conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRITE_LOCK,))
                        if lock is not None:
                            conn.execute(
                                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                                (NAMED_LOCKS, lock),
                            )
                    else:
                        conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                    with conn.cursor() as cur:
                        tx = self.make_tx(cur, "%s")
                        if beside:
                            tx.locks = _PlaceLocks(cur)
                        result = fn(tx)
                    committing = True
            finally:
                if not beside:
                    _unlock(conn)
            tx.committed()
            return result
        except (errors.SerializationFailure, errors.DeadlockDetected):
            raise
        except _AWAY as exc:
            if isinstance(exc, errors.ReadOnlySqlTransaction):
                conn.close()  # a server that cannot write (demoted): find the primary again
            if committing:
                raise ServiceUnavailable(
                    "the database went away while committing this write: it may or may not "
                    "have been made; try again",
                    RETRY_UNREACHABLE_S,
                ) from exc
            if not _broken(conn):
                raise ServiceUnavailable(
                    "the database cannot take writes now; try again", RETRY_UNREACHABLE_S
                ) from exc
            raise _BrokeBeforeCommit from exc

    def write_tx(
        self, fn: Callable[[Tx], T], *, placed: bool = False, lock: str | None = None
    ) -> T:
        """Run ``fn(tx)`` serially with every other write, again if PostgreSQL refuses it (then
        ``fn`` must not have side effects outside the transaction). ``placed``: before it reads
        anything, ``fn`` holds one record and its places (``Tx.write``, ``Tx.delete``, a DSS
        intent's write), so it runs beside writes into other places (``places``), or alone
        when it spans too many. ``lock``: ``fn`` writes only rows that every writer of them
        names so (a lease's row), so it runs beside any write that does not name it."""
        fresh_tries = 1  # a connection found broken before anything was kept: once more
        attempt = 0
        while True:
            try:
                with self.pool.connection() as conn:
                    return self._write_once(conn, fn, placed, lock)
            except WholeStore:
                placed = False
            except (errors.SerializationFailure, errors.DeadlockDetected):
                attempt += 1
                if attempt >= RETRIES:
                    raise ServiceUnavailable(
                        "the database is too busy to order this write; try again", RETRY_BUSY_S
                    ) from None
                time.sleep(min(0.2, 0.002 * 2**attempt) * random.random())
            except _BrokeBeforeCommit as exc:
                self.pool.forget_idle()
                if fresh_tries == 0:
                    raise ServiceUnavailable(
                        "the database cannot be reached now; try again", RETRY_UNREACHABLE_S
                    ) from exc.__cause__
                fresh_tries -= 1

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        for fresh_try in (True, False):
            try:
                with self.pool.connection() as conn, conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    with conn.cursor() as cur:
                        return fn(self.make_tx(cur, "%s"))
            except _AWAY as exc:
                self.pool.forget_idle()
                if not fresh_try:
                    raise ServiceUnavailable(
                        "the database cannot be reached now; try again", RETRY_UNREACHABLE_S
                    ) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.pool.close()
