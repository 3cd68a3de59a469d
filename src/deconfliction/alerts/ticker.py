"""Periodic work that one process of many must do alone (escalations, expiries)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .webhooks import take_lease

log = logging.getLogger(__name__)


class Ticker:
    """Calls ``fn()`` every ``interval_s`` in a thread, while this process holds the lease
    ``name`` (a row in ``leases``, renewed each time, taken over once it expires)."""

    def __init__(
        self,
        store: Any,
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
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def tick(self) -> bool:
        """One turn: True if this process held the lease and ran ``fn``."""
        now = self.clock()
        held = self.store.write_tx(
            lambda tx: take_lease(tx, self.name, self.holder, now, self.lease_s)
        )
        if held:
            self.fn()
        return bool(held)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep ticking: a failed turn is retried on the next
                log.exception("%s failed", self.name)
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
