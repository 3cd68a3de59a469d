"""CPU-heavy work on large request bodies, done in a process of its own.

A Python process runs one thread's bytecode at a time, and a C call holds the interpreter
for as long as it runs: parsing a 15 MB JSON body, or scanning it for string escapes, is one
such call, and every other request of the process (``/v1/health`` included) waits for it,
whatever thread it runs in. Bodies over ``OFFLOAD_BYTES`` are therefore checked (depth,
strings) and validated in a small pool of worker processes; the service's process only moves
the bytes there (a copy) and takes back the outcome: a verdict, an error list, or the validated
model. Junk costs it nothing but the transfer.

The pool starts on the first large body (spawned, so that it inherits no threads or locks;
that body waits a second or two for it) and is shared by every app of the process.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

#: Bodies larger than this are parsed and checked in the worker processes.
OFFLOAD_BYTES = 64 << 10
#: Worker processes (the service itself keeps the other cores).
WORKERS = max(1, min(2, (os.cpu_count() or 2) - 1))

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
#: Calls sent to the workers, by function name (what the tests and the curious can read).
sent: Counter[str] = Counter()


def _executor() -> Executor:
    global _pool
    with _lock:
        if _pool is None:
            ctx = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=ctx)
        return _pool


def _reset(broken: Executor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


@atexit.register
def shutdown() -> None:
    """Stop the worker processes (at exit; tests may call it)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def is_heavy(body: bytes) -> bool:
    return len(body) > OFFLOAD_BYTES


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker process (``fn`` and its arguments must pickle). A worker that
    died (killed, out of memory) is replaced once; the call is then retried in a thread of
    this process rather than failing the request."""
    pool = _executor()
    sent[fn.__name__] += 1
    try:
        return await asyncio.wrap_future(pool.submit(fn, *args))
    except BrokenProcessPool:
        _reset(pool)
        return await run_in_threadpool(fn, *args)
