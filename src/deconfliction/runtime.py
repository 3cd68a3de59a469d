"""How a long-running process of the service sets up the interpreter: ``serve`` and each of its
workers call ``tune_for_service`` once started, and the benches call it to measure the store as
the service runs it.

The store keeps up to 50,000 parsed records (``store.rows.RecordCache``), each a few hundred
objects that the cyclic garbage collector tracks. With Python's default thresholds, 3,000 writes
into a store of 10^6 records ran 4 collections of the oldest generation (about 100 ms each,
while the single writer waited) and about 460 younger ones: 0.2 ms a write, about 8% of the
writer's time. Cached records are alive, so walking them frees nothing. Cyclic garbage is still
collected, less often (``tests/test_runtime.py``): the youngest generation every 10,000 net
allocations, the oldest examined every 5,000 of those collections at the soonest.
"""

from __future__ import annotations

import gc
import sys

#: How long a thread computing in Python keeps the interpreter while another waits for it
#: (Python's default: 5 ms). The event loop answers every request; while worker threads check
#: and write, it gets its turn five times sooner, for a little more switching.
SWITCH_INTERVAL_S = 0.001
#: Allocations (net of frees) between collections of the youngest generation (Python's: 700),
#: then collections of each generation before the next older one is examined (Python's: 10, 10).
GC_THRESHOLDS = (10_000, 50, 100)


def tune_for_service() -> None:
    """Set the switch interval and the collector's thresholds, and leave what exists now out of
    every later collection (``gc.freeze``: start-up's modules, tables and caches)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
