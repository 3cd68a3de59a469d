"""Periodic work that one process of many must do alone (escalations, expiries)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from ..errors import ServiceUnavailable
from ..store.base import Store
from . import leases

log = logging.getLogger(__name__)


class Ticker:
    """Calls ``fn()`` every ``interval_s`` in a thread, while this process holds the lease
    ``name`` (``alerts.leases``: taken or renewed before each call, taken over by another
    process once it runs out). While ``fn`` runs, a heartbeat renews the lease every third of
    its length, so a call that lasts longer than the lease is still covered: with any number
    of processes, one call runs at a time. A clean stop releases the lease."""

    def __init__(
        self,
        store: Store,
        name: str,
        fn: Callable[[], object],
        *,
        interval_s: float = 1.0,
        lease_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.name, self.fn = store, name, fn
        self.interval_s, self.lease_s, self.clock = interval_s, lease_s, clock
        self.holder = f"{name}-{uuid.uuid4()}"
        self._stop = threading.Event()
        #: set once the last call has ended: the heartbeat covers a call until then
        self._halted = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        #: the fencing token while ``fn`` runs (the heartbeat renews it), else None
        self._running: int | None = None
        self._beat = threading.Condition()
        self._heart = threading.Thread(target=self._heartbeat, name=f"{name}-lease", daemon=True)

    def tick(self) -> bool:
        """One turn: True if this process held the lease and ran ``fn``."""
        now = self.clock()
        token = self.store.write_tx(
            lambda tx: leases.take(tx, self.name, self.holder, now, self.lease_s),
            lock=leases.lock(self.name),
        )
        if token is None:
            return False
        with self._beat:
            self._running = token
            self._beat.notify()
        try:
            self.fn()
        finally:
            with self._beat:
                self._running = None
        return True

    def _renew(self, token: int) -> bool:
        now = self.clock()
        held: bool = self.store.write_tx(
            lambda tx: leases.renew(tx, self.name, self.holder, token, now, self.lease_s),
            lock=leases.lock(self.name),
        )
        return held

    def _heartbeat(self) -> None:
        while not self._halted.is_set():
            with self._beat:
                while self._running is None and not self._halted.is_set():
                    self._beat.wait(1.0)
                token = self._running
            if self._halted.wait(self.lease_s / 3) or token is None:
                continue
            with self._beat:
                if self._running != token:
                    continue  # that call ended: the next one takes the lease itself
            try:
                if not self._renew(token):
                    log.warning("%s: lease lost to another process during a call", self.name)
            except Exception:  # out of reach: the lease runs out, another may take over
                log.warning("%s: lease not renewed", self.name, exc_info=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except ServiceUnavailable as exc:  # the database is away: try again next turn
                log.warning("%s: %s", self.name, exc.user_message)
            except Exception:  # keep ticking: a failed turn is retried on the next
                log.exception("%s failed", self.name)
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()
        self._heart.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._halted.set()
        with self._beat:
            self._beat.notify_all()
        if self._heart.is_alive():
            self._heart.join(timeout=10)
        try:
            self.store.write_tx(
                lambda tx: leases.release(tx, self.name, self.holder), lock=leases.lock(self.name)
            )
        except Exception:  # closing, or out of reach: the lease runs out by itself
            log.info("%s: lease not released; it runs out by itself", self.name)
