"""Live tracks, in memory: the last state of every track, by owner, expiring when stale.

Tracks change every second and matter for minutes: they are kept in memory, not in the
database (the tactical engine reads them from here). A party reports only its own tracks: a
track is known by (party, id).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from ..model import Track, TrackState

#: A track not reported for this long is dropped.
STALE_AFTER = timedelta(seconds=120)


class TrackTable:
    def __init__(
        self,
        stale_after: timedelta = STALE_AFTER,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tracks: dict[tuple[str, str], Track] = {}
        self._lock = threading.Lock()
        self.stale_after = stale_after
        self.clock = clock
        #: grows with every change: readers compare it to see whether anything moved
        self.version = 0

    def upsert(self, party: str, states: Sequence[TrackState]) -> int:
        """Keep the newest state of each track (older or equal times are ignored); returns how
        many tracks changed."""
        now = self.clock()
        changed = 0
        with self._lock:
            for s in states:
                key = (party, s.id)
                old = self._tracks.get(key)
                if old is not None and old.state.time >= s.time:
                    continue
                self._tracks[key] = Track(party=party, state=s, received_at=now)
                changed += 1
            if changed:
                self.version += 1
        return changed

    def expire(self) -> int:
        limit = self.clock() - self.stale_after
        with self._lock:
            gone = [k for k, t in self._tracks.items() if t.received_at < limit]
            for k in gone:
                del self._tracks[k]
            if gone:
                self.version += 1
        return len(gone)

    def snapshot(self) -> list[Track]:
        """Every live track (stale ones dropped first), by party and id."""
        self.expire()
        with self._lock:
            return [self._tracks[k] for k in sorted(self._tracks)]
