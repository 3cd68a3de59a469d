"""``/v1/links/heartbeat``: a party's clients say it is there (see exchange/links)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..exchange import links
from .deps import PartyDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["agreements"])


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: str = Field(
        default="client",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:/ -]+$",
        description='what sends it ("map", "cli", a feed\'s name): shown in the audit trail',
    )


class HeartbeatOut(BaseModel):
    party: str
    state: str = Field(description="the party's link now: up, degraded or unknown")
    heartbeat_at: str
    next_within_s: float = Field(description="send the next heartbeat within this many seconds")
    failures: int
    last_ok: str | None
    last_check: str | None


@router.post(
    "/links/heartbeat", response_model=HeartbeatOut, responses=responses(400, 401, 403, 422)
)
async def heartbeat(request: Request, party: PartyDep, body: HeartbeatIn | None = None) -> Any:
    """The caller's party is there: its signed token on this call proves it. A party with no
    webhook stays up by its clients calling this at least every 30 s (the map does while it is
    open); one that neither answers pings nor heartbeats is degraded after three rounds."""
    client = body.client if body is not None else "client"
    return await run_in_threadpool(
        partial(request.app.state.store.write_tx, lock=links.lock(party)),
        lambda tx: links.heartbeat(tx, party, client, datetime.now(UTC)),
    )
