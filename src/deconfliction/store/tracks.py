"""Live tracks: the last state of every track, by owner, expiring when stale.

Tracks change every second and matter for minutes. One process keeps them in memory
(``TrackTable``); several API processes share them through the database
(``SharedTrackTable``, the same interface). A party reports only its own tracks: a track is
known by (party, id).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import Track, TrackState
from .base import Store

#: A track not reported for this long is dropped.
STALE_AFTER = timedelta(seconds=120)
#: What every write of live tracks names (``Store.write_tx``): they run beside other writes.
TRACKS_LOCK = "live_tracks"


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


class SharedTrackTable:
    """The same table kept in the database, for several API processes: a state reported to
    any process is seen by all (and by the one that runs the tactical picture). ``version`` is
    the highest revision, read from the database."""

    def __init__(
        self,
        store: Store,
        stale_after: timedelta = STALE_AFTER,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.stale_after = stale_after
        self.clock = clock

    def upsert(self, party: str, states: Sequence[TrackState]) -> int:
        now = self.clock()

        def run(tx: Any) -> int:
            row = tx.x("SELECT MAX(rev) FROM live_tracks").fetchone()
            rev = int(row[0] or 0) + 1
            rows = tx.rows_in(
                "SELECT id, state_time FROM live_tracks WHERE party = ? AND id",
                sorted({s.id for s in states}),
                (party,),
            )
            stored = {tid: datetime.fromisoformat(t) for tid, t in rows}
            # the states in order, each kept if newer than the track's last (as TrackTable):
            # then one statement writes the newest kept of each track
            newest: dict[str, TrackState] = {}
            changed = 0
            for s in states:
                last = newest[s.id].time if s.id in newest else stored.get(s.id)
                if last is not None and last >= s.time:
                    continue
                newest[s.id] = s
                changed += 1
            tx.xm(
                "INSERT INTO live_tracks (party, id, state, state_time, received_at, rev) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (party, id) DO UPDATE SET "
                "state = excluded.state, state_time = excluded.state_time, "
                "received_at = excluded.received_at, rev = excluded.rev",
                [
                    (
                        party,
                        s.id,
                        s.model_dump_json(by_alias=True),
                        s.time.isoformat(),
                        now.timestamp(),
                        rev,
                    )
                    for s in newest.values()
                ],
            )
            return changed

        # only live tracks' rows (and their revision, taken in commit order under the name)
        changed: int = self.store.write_tx(run, lock=TRACKS_LOCK)
        return changed

    def expire(self) -> int:
        limit = (self.clock() - self.stale_after).timestamp()
        gone: int = self.store.write_tx(
            lambda tx: tx.x("DELETE FROM live_tracks WHERE received_at < ?", (limit,)).rowcount,
            lock=TRACKS_LOCK,
        )
        return gone

    def snapshot(self) -> list[Track]:
        limit = (self.clock() - self.stale_after).timestamp()
        rows = self.store.read_tx(
            lambda tx: tx.x(
                "SELECT party, state, received_at FROM live_tracks WHERE received_at >= ? "
                "ORDER BY party, id",
                (limit,),
            ).fetchall()
        )
        return [
            Track(
                party=r[0],
                state=TrackState.model_validate_json(r[1]),
                received_at=datetime.fromtimestamp(float(r[2]), UTC),
            )
            for r in rows
        ]

    @property
    def version(self) -> int:
        row = self.store.read_tx(lambda tx: tx.x("SELECT MAX(rev) FROM live_tracks").fetchone())
        return int(row[0] or 0)
