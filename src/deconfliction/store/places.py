"""Places: what a record's write locks on a server database so that writes elsewhere go on.

A place is an S2 cell at ``PLACE_LEVEL`` (about 100 km across). A write of a record takes the
places of its footprint grown by the service's lateral buffer, those of the version it
replaces or deletes included. Two records closer than the buffer have a point of one inside
the other's grown footprint, so their writes share at least that point's place and take turns;
writes whose places differ cannot open, close or change a conflict between their records, and
run at the same time (``PostgresStore``). A write that would need more than ``MAX_PLACES``
places (a country-wide area) takes the whole store instead (``WholeStore``).

The embedded store has one writer and ignores places.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from ..geo.cells import covering_at_level, to_sql
from ..model import SeparationPolicy, Volume4D

#: The S2 level of a place (level 6: cells of about 110 km by 110 km).
PLACE_LEVEL = 6
#: More places than this and a write takes the whole store.
MAX_PLACES = 16


class WholeStore(Exception):
    """The write spans too many places: run it again holding the whole store."""


class PlaceLocks(Protocol):
    """What a back end that runs writes side by side gives a placed transaction."""

    def record(self, key: str) -> None:
        """Hold record ``key`` (its current version is read after this) until the end."""

    def places(self, ids: Sequence[int]) -> None:
        """Hold these places until the end (in one order, so that no two writes wait on each
        other in a circle)."""

    def tail(self) -> None:
        """Hold the journal (outbox and audit log) until the end: appended in commit order."""


def places_of(volumes: Iterable[Volume4D], policy: SeparationPolicy) -> list[int] | None:
    """The places of these volumes' footprints grown by ``policy``'s lateral buffer (as the
    database stores cell ids), sorted; None when there are more than ``MAX_PLACES``."""
    out: set[int] = set()
    for v in volumes:
        out.update(covering_at_level(v.footprint, policy.lateral_m, PLACE_LEVEL))
        if len(out) > MAX_PLACES:
            return None
    return sorted(to_sql(c) for c in out)
