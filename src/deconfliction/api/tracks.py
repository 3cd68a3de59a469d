"""``/v1/tracks``: live tracks reported in batches, read as the agreements release them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ..errors import DeconflictionError, ServiceUnavailable, field_errors
from ..exchange import release
from ..model import TrackState
from ..store.tracks import TrackTable
from .body import json_body, openapi_body
from .deps import PartyDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["tracks"])

#: Most states in one batch.
MAX_BATCH = 10_000


class TrackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    states: list[TrackState] = Field(max_length=MAX_BATCH)


class Accepted(BaseModel):
    accepted: int
    changed: int = Field(description="tracks whose state moved on (older states are ignored)")


class TrackList(BaseModel):
    tracks: list[dict[str, Any]]


def _table(request: Request) -> TrackTable:
    table: TrackTable = request.app.state.tracks
    return table


@router.post(
    "/tracks",
    status_code=202,
    response_model=Accepted,
    responses=responses(400, 401, 403, 422),
    openapi_extra=openapi_body(TrackBatch),
)
def post_tracks(
    body: Annotated[TrackBatch, json_body(TrackBatch)], request: Request, party: PartyDep
) -> Accepted:
    """Report states of your own aircraft and ships (a track is yours by its id)."""
    changed = _table(request).upsert(party, body.states)
    return Accepted(accepted=len(body.states), changed=changed)


def _visible(request: Request, party: str) -> list[dict[str, Any]]:
    tracks = _table(request).snapshot()
    out: list[dict[str, Any]] = release.read(
        request.app.state.store,
        lambda tx, shown: release.view_tracks(tx, tracks, party, shown),
        "tracks",
    )
    return out


@router.get("/tracks", response_model=TrackList, responses=responses(401, 403))
def get_tracks(request: Request, party: PartyDep) -> TrackList:
    """Your live tracks, and others' as far as your agreements release tracks."""
    return TrackList(tracks=_visible(request, party))


@router.get(
    "/tracks/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **responses(401, 403)},
    response_class=StreamingResponse,
)
async def stream_tracks(request: Request, party: PartyDep) -> StreamingResponse:
    """Server-sent events: a ``tracks`` event with every track you may see, each time any
    track changes (checked every 0.25 s)."""
    table = _table(request)

    async def stream() -> AsyncIterator[bytes]:
        seen = -1
        while not await request.is_disconnected():
            if table.version != seen:
                seen = table.version
                tracks = await run_in_threadpool(_visible, request, party)
                data = json.dumps({"tracks": tracks}, separators=(",", ":"))
                yield f"event: tracks\ndata: {data}\n\n".encode()
            await asyncio.sleep(0.25)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


class TacticalList(BaseModel):
    alerts: list[dict[str, Any]]


@router.get("/tactical", response_model=TacticalList, responses=responses(401, 403))
def get_tactical(request: Request, party: PartyDep) -> TacticalList:
    """Tactical alerts in force that concern you: tracks predicted to lose separation
    (``tactical``), a track heading into another party's active restricted area (``area``),
    a track outside the intent it flies (``conformance``)."""
    alerts = request.app.state.tactical.active(party)
    store = request.app.state.store
    return TacticalList(alerts=store.read_tx(lambda tx: release.view_alerts(tx, alerts, party)))


@router.websocket("/tracks/live")
async def tracks_live(websocket: WebSocket) -> None:
    """A live feed over one WebSocket: send ``{"states": [...]}`` messages (as for
    ``POST /v1/tracks``), get ``{"accepted": N, "changed": M}`` back for each, or
    ``{"error": ..., "errors": [{pointer, reason}]}`` for a bad one (the socket stays open), or
    ``{"error": ..., "retry_after_s": N}`` when the database cannot take it now (send it again).
    The token comes in the ``Authorization`` header or, for browsers, ``?access_token=``."""
    app = websocket.app
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    token = token or websocket.query_params.get("access_token", "")
    try:
        who = app.state.auth.verify(token)
        party = await run_in_threadpool(app.state.store.get_party, who.subject)
    except ServiceUnavailable as exc:  # said once open (1013: try again later)
        await websocket.accept()
        await websocket.close(code=1013, reason=exc.user_message[:120])
        return
    except DeconflictionError:
        await websocket.close(code=1008, reason="a valid token of a registered party is needed")
        return
    if "watch-officer" not in who.roles:
        await websocket.close(code=1008, reason="this needs the role watch-officer")
        return
    await websocket.accept()
    table: TrackTable = app.state.tracks
    try:
        while True:
            text = await websocket.receive_text()
            if len(text) > 16 << 20:
                await websocket.send_json({"error": "the message is over 16 MB"})
                continue
            try:
                batch = TrackBatch.model_validate_json(text)
            except ValidationError as exc:
                errs = field_errors(exc.errors())
                await websocket.send_json(
                    {
                        "error": "invalid states",
                        "errors": [{"pointer": e.pointer, "reason": e.reason} for e in errs],
                    }
                )
                continue
            try:
                changed = await run_in_threadpool(table.upsert, party.id, batch.states)
            except ServiceUnavailable as exc:  # the batch was not taken: send it again later
                await websocket.send_json(
                    {"error": exc.user_message, "retry_after_s": exc.retry_after_s}
                )
                continue
            await websocket.send_json({"accepted": len(batch.states), "changed": changed})
    except WebSocketDisconnect:
        return
