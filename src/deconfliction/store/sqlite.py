"""The embedded store: SQLite in WAL mode, one writer thread, readers on their own connections.

Writes are queued to a single thread, which runs a batch of them in one transaction (each in its
own savepoint, so a refused write rolls back alone) and commits with ``synchronous=FULL`` before
any caller is answered: write transactions are serial, and an acknowledged write survives a crash
of the process or of the machine.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ..audit.signing import Signer
from ..model import SeparationPolicy
from . import migrate
from .base import RecordCache, StoreHooks, Tx
from .txstore import TxStore

T = TypeVar("T")
_BATCH = 64


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
        wconn = self._connect()
        migrate.apply(wconn, "sqlite")
        self.secret = self._secret(wconn.cursor(), "?")
        self._writer = threading.Thread(
            target=self._run_writer, args=(wconn,), name="sqlite-writer", daemon=True
        )
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=4294967296")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    # --- the writer ----------------------------------------------------------------------
    def _run_writer(self, conn: sqlite3.Connection) -> None:
        cur = conn.cursor()
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < _BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            results: list[tuple[Future[Any], bool, Any]] = []
            done: list[Tx] = []
            try:
                cur.execute("BEGIN IMMEDIATE")
                for fn, fut in batch:
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
                        results.append((fut, False, exc))
                cur.execute("COMMIT")
            except Exception as exc:  # the commit itself failed: nothing of the batch holds
                if conn.in_transaction:
                    conn.rollback()
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for tx in done:
                tx.committed()
            for fut, ok, val in results:
                if ok:
                    fut.set_result(val)
                else:
                    fut.set_exception(val)

    def _write(self, fn: Callable[[Tx], T]) -> T:
        if not self._writer.is_alive():
            raise RuntimeError("the store is closed")
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result()

    def _read(self, fn: Callable[[Tx], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            return fn(self.make_tx(cur))
        finally:
            cur.execute("COMMIT")

    def write_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` as one write transaction, serial with every other write."""
        return self._write(fn)

    def read_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` on a read snapshot."""
        return self._read(fn)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=30)
        with self._conns_lock:
            for c in self._conns:
                c.close()
            self._conns.clear()
