"""``/v1/screening``: blind screening notices, and sessions for a side whose plans stay with it
(see screening/service.py; docs/screening.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..model import RecordId
from ..screening import service
from .body import json_body, openapi_body
from .deps import PartyDep
from .problems import responses

router = APIRouter(prefix="/v1/screening", tags=["screening"])


class FindingList(BaseModel):
    findings: list[dict[str, Any]] = Field(
        description="your screening notices: your records, the other party, the place and "
        "time on the agreed grain, the hotline thread"
    )


class SessionOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    with_: RecordId = Field(
        alias="with", description="the party whose plans held here to screen against"
    )


class SessionOpened(BaseModel):
    id: str
    with_: str = Field(alias="with")
    params: dict[str, Any] = Field(description="grains, buffers and shares your side must use")
    expires_at: str


class Messages(BaseModel):
    """Messages of a round (tokens by the thousand: validated off this process when large)."""

    model_config = ConfigDict(extra="forbid")
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=8)


class MessagesOut(BaseModel):
    messages: list[dict[str, Any]]
    done: bool = Field(description="the finest grain is reached and no round is under way")
    sizes: list[int] = Field(description="the other side's token count at each grain")


class SessionList(BaseModel):
    sessions: list[dict[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/findings", response_model=FindingList, responses=responses(401, 403, 422))
async def list_findings(
    request: Request, party: PartyDep, include_resolved: bool = False
) -> FindingList:
    """Where your plans and another party's meet at the grain your agreement sets, found
    without either side's plans being shown to the other."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx,
        lambda tx: service.findings_for(tx, party, include_resolved=include_resolved),
    )
    return FindingList(findings=[f.as_json() for f in rows])


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionOpened,
    response_model_by_alias=True,
    responses=responses(400, 401, 403, 404, 422, 429),
)
async def open_session(body: SessionOpen, request: Request, party: PartyDep) -> Any:
    """Open a session to screen plans you keep (``deconfliction screen``) against the plans
    of ``with`` held here: you learn where they meet at the agreed grain, the service (and
    ``with``) learns that much of yours, and each learns the size of the other's token set."""
    store = request.app.state.store
    return await run_in_threadpool(
        store.write_tx, lambda tx: service.open_session(tx, party, body.with_, _now())
    )


@router.post(
    "/sessions/{session_id}/messages",
    response_model=MessagesOut,
    responses=responses(400, 401, 403, 404, 409, 422, 429),
    openapi_extra=openapi_body(Messages),
)
async def session_messages(
    session_id: str,
    body: Annotated[Messages, json_body(Messages)],
    request: Request,
    party: PartyDep,
) -> Any:
    """Deliver your side's protocol messages; the service's side answers."""
    store = request.app.state.store
    return await run_in_threadpool(
        service.exchange, store, session_id, party, body.messages, _now()
    )


@router.get("/sessions", response_model=SessionList, responses=responses(401, 403))
async def list_sessions(request: Request, party: PartyDep) -> SessionList:
    """Sessions you ran, and those run against your plans with what they found there."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: service.sessions_for(tx, party)
    )
    return SessionList(sessions=rows)
