"""``/v1/picture``: everything a party may see now, in one answer (the map's data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from ..alerts.outbox import last_seq
from ..exchange import links, release
from ..model import RecordExtent, RecordKind
from .deps import PartyDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["picture"])


@router.get("/picture", response_model=dict[str, Any], responses=responses(401, 403))
def picture(request: Request, party: PartyDep) -> dict[str, Any]:
    """Your intents and areas, others' as your agreements release them (``level``: own, full
    or extent), your conflicts as released, and the link liveness of you and your partners.
    Every release is recorded as for any other read."""
    store = request.app.state.store
    owned = [
        (kind, rec)
        for p in store.list_parties()
        for kind in (RecordKind.INTENT, RecordKind.AREA)
        for rec in store.list_owned(kind, p.id)
    ]
    conflicts = store.list_conflicts(party)
    now = datetime.now(UTC)

    def run(tx: Any) -> dict[str, Any]:
        records = []
        for kind, rec in owned:
            shown = release.release_record(tx, rec, party, "picture", now)
            if shown is None:
                continue
            level = (
                "own"
                if rec.owner == party
                else ("extent" if isinstance(shown, RecordExtent) else "full")
            )
            records.append(
                {"kind": kind.value, "level": level, "record": shown.model_dump(mode="json")}
            )
        return {
            "party": party,
            "at": now.isoformat().replace("+00:00", "Z"),
            "records": records,
            "conflicts": [
                c.model_dump(mode="json")
                for c in release.release_conflicts(tx, conflicts, party, "picture", now)
            ],
            "links": [links.status(tx, p) for p in [party, *links.partners(tx, party)]],
            "tactical": request.app.state.tactical.active(party),
            # the stream of events (/v1/events) picks up after this one
            "last_event_id": last_seq(tx, party),
        }

    out: dict[str, Any] = store.write_tx(run)
    return out
