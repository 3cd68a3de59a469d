"""The embedded store: SQLite in WAL mode, one writer thread, readers on their own connections.

Writes are queued to a single thread, which runs a batch of them in one transaction (each in its
own savepoint, so a refused write rolls back alone; writes queued while the batch runs join it, up
to ``_BATCH``) and commits with ``synchronous=FULL`` before any caller is answered: write
transactions are serial, and an acknowledged write survives a crash of the process or of the
machine. Another thread copies committed pages from the WAL into the database (checkpoints), so
that the writer's commits do not.

When the database cannot be used now (another process holds its lock past ``BUSY_TIMEOUT_S``,
the disk is full or failing, the file cannot be opened) an operation fails with
``ServiceUnavailable`` (503 with ``Retry-After`` on the API) rather than hanging; a write that
waited ``WAIT_S`` in the queue without being started is taken out of it and answered so too.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ..audit.signing import Signer
from ..errors import ServiceUnavailable
from ..model import SeparationPolicy
from . import migrate
from .base import RecordCache, StoreHooks, Tx
from .txstore import TxStore

T = TypeVar("T")
log = logging.getLogger(__name__)
_BATCH = 64
#: How long a connection waits for another process's lock on the file before giving up.
BUSY_TIMEOUT_S = 3.0
#: How long a write waits in the queue before it is given up (if it has not started).
WAIT_S = 10.0
#: How often at most the checkpointer copies committed pages from the WAL into the database.
CHECKPOINT_EVERY_S = 0.05
#: The WAL's length (pages) past which the writer checkpoints itself (only if the checkpointer
#: falls that far behind: SQLite's default is 1,000, on every writer's commit).
WRITER_CHECKPOINT_PAGES = 10_000
#: What ``Retry-After`` says when the database cannot be used now.
RETRY_S = 1
#: SQLite's words for a database that cannot be used now (rather than a bug in a statement).
_AWAY_WORDS = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
    "attempt to write a readonly database",
)


def unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for a SQLite error that means the database cannot be used now, else None."""
    if isinstance(exc, sqlite3.OperationalError) and any(
        w in str(exc).lower() for w in _AWAY_WORDS
    ):
        return ServiceUnavailable(f"the database cannot be used now ({exc}); try again", RETRY_S)
    return None


def _too_busy() -> ServiceUnavailable:
    """A write that waited ``WAIT_S`` in the queue, given up before it started."""
    return ServiceUnavailable("the database is too busy to take this write now; try again", RETRY_S)


async def await_write(fut: Future[T]) -> T:
    """Wait in the event loop for a write queued with ``SqliteStore.queue_write``, as
    ``write_tx`` waits in a thread: given up (503) if it has not started within ``WAIT_S``. The
    writer wakes the loop itself, with no thread between them."""
    import asyncio  # here: the store's command-line tools never load it

    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()

    def settle(done: Future[T]) -> None:  # in the loop
        if waiter.done():  # its caller went away: the write stands all the same
            return
        if done.cancelled():
            waiter.set_exception(_too_busy())
        elif (exc := done.exception()) is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(done.result())

    fut.add_done_callback(lambda done: loop.call_soon_threadsafe(settle, done))
    timer = loop.call_later(WAIT_S, fut.cancel)  # only a write not started yet is given up
    try:
        return await waiter
    finally:
        timer.cancel()


def _turn_on_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode, trying again for up to ``BUSY_TIMEOUT_S``. On a new
    database, connections opened at once (``serve --workers N``, each process migrating) all
    try to turn it on; when two could each wait for the other, SQLite answers one of them
    "locked" at once instead of waiting its busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore(TxStore):
    """``SqliteStore(path)``; ``":memory:"`` is not supported (readers need the same file)."""

    def __init__(self, path: str | Path, policy: SeparationPolicy | None = None) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.policy = policy or SeparationPolicy()
        self.cache = RecordCache()
        #: signs audit checkpoints when set (``serve`` sets the data folder's key)
        self.signer: Signer | None = None
        self.hooks = StoreHooks()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._queue: queue.Queue[tuple[Callable[[Tx], Any], Future[Any]] | None] = queue.Queue()
        #: set by the writer after a commit, for the checkpointer; and when closing
        self._dirty = threading.Event()
        self._closing = threading.Event()
        wconn = self._connect()
        migrate.apply(wconn, "sqlite")
        self.secret = self._secret(wconn.cursor(), "?")
        self._writer = threading.Thread(
            target=self._run_writer, args=(wconn,), name="sqlite-writer", daemon=True
        )
        self._writer.start()
        self._checkpointer = threading.Thread(
            target=self._run_checkpointer, name="sqlite-checkpointer", daemon=True
        )
        self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
        )
        _turn_on_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=4294967296")
        # a write's savepoint keeps the pages it changes in a statement journal: in memory, not
        # a temporary file made and removed in every group commit
        conn.execute("PRAGMA temp_store=MEMORY")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    # --- the checkpointer --------------------------------------------------------------------
    def _run_checkpointer(self) -> None:
        """Copy committed pages from the WAL into the database, on a connection of its own and
        beside the writer (which would otherwise do it inside a commit, every 1,000 pages, while
        the callers of its batch wait): passive, so it never waits for a reader or the writer.
        Without it (its connection failed), the writer checkpoints past
        ``WRITER_CHECKPOINT_PAGES``."""
        try:
            conn = self._connect()
        except sqlite3.Error:
            log.warning("no checkpointer: the writer checkpoints itself", exc_info=True)
            return
        while True:
            self._dirty.wait()
            if self._closing.is_set():
                return
            self._dirty.clear()
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # busy or failing now: the next commit asks again
                log.debug("background checkpoint failed", exc_info=True)
            if self._closing.wait(CHECKPOINT_EVERY_S):
                return

    # --- the writer ----------------------------------------------------------------------
    def _run_writer(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
        cur = conn.cursor()
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item] if item[1].set_running_or_notify_cancel() else []
            self._take_more(batch)
            if not batch:
                continue
            results: list[tuple[Future[Any], bool, Any]] = []
            done: list[Tx] = []
            try:
                cur.execute("BEGIN IMMEDIATE")
                k = 0
                while k < len(batch):
                    fn, fut = batch[k]
                    k += 1
                    cur.execute("SAVEPOINT w")
                    tx = self.make_tx(cur)
                    try:
                        res = fn(tx)
                        cur.execute("RELEASE w")
                        results.append((fut, True, res))
                        done.append(tx)
                    except Exception as exc:  # refused or failed: roll back this write alone
                        cur.execute("ROLLBACK TO w")
                        cur.execute("RELEASE w")
                        results.append((fut, False, unavailable(exc) or exc))
                    if k == len(batch):  # writes that came meanwhile share this commit
                        self._take_more(batch)
                cur.execute("COMMIT")
            except Exception as exc:  # the commit itself failed: nothing of the batch holds
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.rollback()
                failed = unavailable(exc) or exc
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(failed)
                continue
            self._dirty.set()
            for tx in done:
                tx.committed()
            for fut, ok, val in results:
                if ok:
                    fut.set_result(val)
                else:
                    fut.set_exception(val)

    def _take_more(self, batch: list[tuple[Callable[[Tx], Any], Future[Any]]]) -> None:
        """Add to ``batch`` the writes waiting in the queue, up to ``_BATCH`` in all: the
        end-of-work mark stays queued, and a write its caller gave up is dropped."""
        while len(batch) < _BATCH:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return
            if nxt is None:
                self._queue.put(None)
                return
            if nxt[1].set_running_or_notify_cancel():  # else given up by its caller
                batch.append(nxt)

    def queue_write(self, fn: Callable[[Tx], T]) -> Future[T]:
        """Queue ``fn(tx)`` for the writer and return its future at once, for a caller that
        waits for it without a thread of its own (the event loop: ``await_write``)."""
        if not self._writer.is_alive():
            raise RuntimeError("the store is closed")
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut

    def _write(self, fn: Callable[[Tx], T]) -> T:
        fut = self.queue_write(fn)
        try:
            return fut.result(timeout=WAIT_S)
        except TimeoutError:
            if fut.cancel():  # not started: it never will be
                raise _too_busy() from None
            return fut.result()  # started: its outcome is coming

    def _read(self, fn: Callable[[Tx], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        try:
            cur = conn.cursor()
            cur.execute("BEGIN")
            try:
                return fn(self.make_tx(cur))
            finally:
                cur.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise (unavailable(exc) or exc) from exc

    def write_tx(
        self, fn: Callable[[Tx], T], *, placed: bool = False, lock: str | None = None
    ) -> T:
        """Run ``fn(tx)`` as one write transaction, serial with every other write (one writer:
        ``placed`` and ``lock`` change nothing)."""
        return self._write(fn)

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` on a read snapshot."""
        return self._read(fn)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._closing.set()
        self._dirty.set()
        self._checkpointer.join(timeout=30)
        with self._conns_lock:
            for c in self._conns:
                c.close()
            self._conns.clear()
