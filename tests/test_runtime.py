"""The interpreter settings of a long-running service process (``deconfliction.runtime``)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from deconfliction.runtime import GC_THRESHOLDS, tune_for_service


class Node:
    """An object that can be put in a reference cycle and watched."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def tuned() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    tune_for_service()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.mark.usefixtures("tuned")
def test_cyclic_garbage_is_still_collected_without_being_asked() -> None:
    """A cycle dropped by the service is freed by the collector on its own (nothing calls
    ``gc.collect``) once the youngest generation's threshold of allocations has passed."""
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # start-up's objects are left out of collections
    watched = _cycle()
    assert watched() is not None  # only a collection frees a cycle
    held = [[i] for i in range(2 * GC_THRESHOLDS[0])]  # containers kept: net allocations
    assert watched() is None
    del held
