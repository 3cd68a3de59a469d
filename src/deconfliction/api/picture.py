"""``/v1/picture``: everything a party may see now, in one answer (the map's data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..exchange.links import LinkStatus
from ..exchange.picture import released_picture
from ..model import Area, Conflict, OperationalIntent, RecordExtent, RecordKind
from .deps import PartyDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["picture"])


class ReleasedRecord(BaseModel):
    kind: RecordKind
    level: Literal["own", "full", "extent"] = Field(
        description="own: yours; full: another party's, released in full; extent: its extent"
    )
    record: OperationalIntent | Area | RecordExtent


class ReleasedPicture(BaseModel):
    party: str
    at: str = Field(description="when the picture was taken (UTC, RFC 3339)")
    records: list[ReleasedRecord]
    conflicts: list[Conflict]
    links: list[LinkStatus]
    tactical: list[dict[str, Any]] = Field(
        description="tactical alerts in force that concern you, as GET /v1/tactical lists them"
    )
    last_event_id: int = Field(description="your event stream (/v1/events) picks up after it")


@router.get("/picture", response_model=ReleasedPicture, responses=responses(401, 403))
def picture(request: Request, party: PartyDep) -> ReleasedPicture:
    """Your intents and areas, others' as your agreements release them (``level``: own, full
    or extent), your conflicts as released, the tactical alerts that concern you and the link
    liveness of you and your partners. Every release is recorded as for any other read."""
    node = getattr(request.app.state, "federation", None)
    shown = released_picture(
        request.app.state.store,
        party,
        datetime.now(UTC),
        tactical=request.app.state.tactical.active(party),
        remote=None if node is None else node.picture,
    )
    # built, not validated: every part is a validated model or the domain's own typed answer
    return ReleasedPicture.model_construct(
        party=shown.party,
        at=shown.at.isoformat().replace("+00:00", "Z"),
        records=[
            ReleasedRecord.model_construct(kind=r.kind, level=r.level, record=r.record)
            for r in shown.records
        ],
        conflicts=shown.conflicts,
        links=shown.links,
        tactical=shown.tactical,
        last_event_id=shown.last_event_id,
    )
