"""``/v1/events`` (server-sent events) and ``/v1/webhook``: how a party hears of what changed.

Both read the outbox, which every change writes in its own transaction: nothing acknowledged is
missing from it, and a party's events come in commit order with increasing ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from ..alerts import webhooks
from ..alerts.outbox import events_after
from ..errors import DeconflictionError, FieldError, InvalidInput, NotFound
from ..exchange import links
from ..model import MAX_COUNT
from ..store.base import Store, Tx
from .deps import PrincipalDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["notifications"])
log = logging.getLogger(__name__)

#: How often an idle stream looks for new events, and sends a comment to keep proxies awake.
POLL_S = 0.2
KEEPALIVE_S = 15.0


SubjectDep = PrincipalDep


def _after(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is None or last_event_id == "":
        return after or 0
    try:
        value = int(last_event_id)
    except ValueError:
        raise InvalidInput(
            [FieldError("/headers/Last-Event-ID", "must be an event id (an integer)")]
        ) from None
    if not 0 <= value <= MAX_COUNT:
        raise InvalidInput(
            [FieldError("/headers/Last-Event-ID", f"must be an event id from 0 to {MAX_COUNT}")]
        )
    return value


@router.get(
    "/events",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the party's events"},
        **responses(401, 422),
    },
    response_class=StreamingResponse,
)
async def events(
    request: Request,
    who: SubjectDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_COUNT, description="resume after this event id")
    ] = None,
) -> StreamingResponse:
    """The caller's events as a server-sent event stream (``id`` = the event's ``seq``): new ones
    as they are committed. Resume with ``Last-Event-ID`` (or ``?after=``) after a disconnect.
    While it is open, the stream is the party's heartbeat (docs/exchange.md)."""
    party = who.subject
    start = _after(last_event_id, after)
    store = request.app.state.store
    beating = await run_in_threadpool(_is_party, store, party)

    async def stream() -> AsyncIterator[bytes]:
        last = start
        quiet = 0.0
        beat = -links.HEARTBEAT_EVERY_S
        yield b"retry: 1000\n\n"
        while not await request.is_disconnected():
            if beating and time.monotonic() - beat >= links.HEARTBEAT_EVERY_S:
                beat = time.monotonic()
                await run_in_threadpool(_heartbeat, store, party)
            batch = await run_in_threadpool(
                store.read_tx, lambda tx, after=last: events_after(tx, party, after)
            )
            for ev in batch:
                data = json.dumps(ev.as_json(), sort_keys=True, separators=(",", ":"))
                yield f"id: {ev.seq}\nevent: {ev.type}\ndata: {data}\n\n".encode()
                last = ev.seq
            if batch:
                quiet = 0.0
                continue
            await asyncio.sleep(POLL_S)
            quiet += POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield b": keepalive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _is_party(store: Store, party: str) -> bool:
    try:
        store.get_party(party)
    except DeconflictionError:
        return False
    return True


def _heartbeat(store: Store, party: str) -> None:
    try:
        store.write_tx(
            lambda tx: links.heartbeat(tx, party, "event-stream", datetime.now(UTC)),
            lock=links.lock(party),
        )
    except Exception:  # bookkeeping: never the reason a stream fails
        log.exception("heartbeat of %s's event stream failed", party)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="http(s) URL that receives each event as POST")
    secret: str = Field(
        min_length=16, max_length=256, description="HMAC-SHA256 key for the signature header"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return v


class WebhookOut(BaseModel):
    party: str
    url: str
    delivered_seq: int = Field(description="the last event delivered or given up on")
    pending: int = Field(description="events waiting for delivery")
    attempts: int = Field(description="failed tries of the next event so far")
    last_error: str | None
    paused_since: str | None = Field(
        default=None,
        description="delivery paused (endpoint unavailable, or link degraded) since then; "
        "the next event is tried once a minute",
    )


class DeadLetters(BaseModel):
    dead_letters: list[dict[str, Any]]


def _out(tx: Tx, hook: webhooks.Webhook) -> WebhookOut:
    return WebhookOut(
        party=hook.party,
        url=hook.url,
        delivered_seq=hook.delivered_seq,
        pending=webhooks.pending(tx, hook.party, hook.delivered_seq),
        attempts=hook.attempts,
        last_error=hook.last_error,
        paused_since=hook.paused_since,
    )


@router.put("/webhook", response_model=WebhookOut, responses=responses(400, 401, 422))
async def put_webhook(body: WebhookIn, request: Request, who: SubjectDep) -> WebhookOut:
    """Set where the caller's events are POSTed, signed with ``secret``
    (docs/notifications.md)."""
    store = request.app.state.store

    def run(tx: Tx) -> WebhookOut:
        hook = webhooks.put_webhook(
            tx, who.subject, body.url, body.secret, who.subject, datetime.now(UTC)
        )
        return _out(tx, hook)

    out: WebhookOut = await run_in_threadpool(store.write_tx, run)
    return out


@router.get("/webhook", response_model=WebhookOut, responses=responses(401, 404))
async def get_webhook(request: Request, who: SubjectDep) -> WebhookOut:
    """The caller's webhook and how its delivery stands (never the secret)."""

    def run(tx: Tx) -> WebhookOut:
        hook = webhooks.get_webhook(tx, who.subject)
        if hook is None:
            raise NotFound("no webhook set for this party")
        return _out(tx, hook)

    out: WebhookOut = await run_in_threadpool(request.app.state.store.read_tx, run)
    return out


@router.delete("/webhook", status_code=204, responses=responses(401, 404))
async def delete_webhook(request: Request, who: SubjectDep) -> None:
    def run(tx: Tx) -> bool:
        return webhooks.delete_webhook(tx, who.subject, who.subject, datetime.now(UTC))

    if not await run_in_threadpool(request.app.state.store.write_tx, run):
        raise NotFound("no webhook set for this party")


@router.get("/webhook/dead-letters", response_model=DeadLetters, responses=responses(401))
async def get_dead_letters(request: Request, who: SubjectDep) -> DeadLetters:
    """Events given up on after the last retry (still in the event stream)."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: webhooks.dead_letters(tx, who.subject)
    )
    return DeadLetters(dead_letters=rows)
