"""``/v1/picture``: everything a party may see now, in one answer (the map's data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from ..exchange.picture import released_picture
from .deps import PartyDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["picture"])


@router.get("/picture", response_model=dict[str, Any], responses=responses(401, 403))
def picture(request: Request, party: PartyDep) -> dict[str, Any]:
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
    return shown.as_json(with_tracks=False)
