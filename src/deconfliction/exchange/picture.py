"""Everything one party may see now, in one place: the common operational picture.

Every adapter that shows a party the shared picture (the map's ``/v1/picture``, the OGC API,
CoT and KML exports, ...) takes it from ``released_picture``: own records in full, others' as
their agreements release them, conflicts as released, tracks as released, tactical alerts that
concern the party, link liveness. Nothing here knows HTTP; every release goes through
``release`` (the one rule) and is recorded there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..alerts.outbox import last_seq
from ..model import Area, Conflict, RecordExtent, RecordKind
from ..model.track import Track
from ..store import Store
from ..store.base import StoredRecord, Tx
from . import links, release


@dataclass(frozen=True)
class PictureRecord:
    kind: RecordKind
    #: "own", "full" or "extent"
    level: str
    record: StoredRecord | RecordExtent


@dataclass(frozen=True)
class Picture:
    party: str
    at: datetime
    records: list[PictureRecord]
    conflicts: list[Conflict]
    #: live tracks as released (``release.release_tracks``)
    tracks: list[dict[str, Any]]
    #: tactical alerts in force that concern the party
    tactical: list[dict[str, Any]]
    links: list[links.LinkStatus]
    #: the party's event stream (/v1/events) picks up after this one
    last_event_id: int


class RemoteView(Protocol):
    """A record another node released to the party (``federation.views.View``)."""

    kind: RecordKind
    level: str

    def shown(self) -> StoredRecord | RecordExtent: ...


#: What other nodes released to a party, and its conflicts with their records (federation).
Remote = Callable[[Tx, str], "tuple[list[RemoteView], list[Conflict]]"]


def released_picture(
    store: Store,
    party: str,
    at: datetime,
    *,
    tracks: list[Track] | None = None,
    tactical: list[dict[str, Any]] | None = None,
    remote: Remote | None = None,
) -> Picture:
    """What ``party`` may see now. ``tracks``: the live tracks (all parties'; released here);
    ``tactical``: the alerts in force that concern the party (each shown as released);
    ``remote``: what other nodes released to it (a federation node's; released there)."""

    def run(tx: Tx, shown: release.Shown) -> Picture:
        records = []
        for rec in tx.all_records():
            view = release.view_record(tx, rec, party, shown)
            if view is None:
                continue
            level = (
                "own"
                if rec.owner == party
                else ("extent" if isinstance(view, RecordExtent) else "full")
            )
            kind = RecordKind.AREA if isinstance(view, Area) else RecordKind.INTENT
            if isinstance(view, RecordExtent):
                kind = view.kind
            records.append(PictureRecord(kind, level, view))
        conflicts = release.list_conflicts(tx, party, shown)
        if remote is not None:
            views, across = remote(tx, party)
            for v in views:
                records.append(PictureRecord(v.kind, v.level, v.shown()))
            conflicts += across
        return Picture(
            party=party,
            at=at,
            records=records,
            conflicts=conflicts,
            tracks=release.view_tracks(tx, tracks or [], party, shown),
            tactical=release.view_alerts(tx, tactical or [], party),
            links=[links.status(tx, p) for p in [party, *links.partners(tx, party)]],
            last_event_id=last_seq(tx, party),
        )

    return release.read(store, run, "picture", at)
