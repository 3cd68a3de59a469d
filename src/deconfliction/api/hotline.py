"""``/v1/phrasebook`` and ``/v1/threads``: the hotline between parties (see exchange/hotline)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..exchange import hotline, phrasebook
from ..model import RecordId
from ..store.base import Tx
from .deps import PartyDep, PrincipalDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["hotline"])

LangQuery = Annotated[
    str | None,
    Query(
        description="the reader's language (en, fr, ru); else, in a thread, the one the "
        "agreement says the reader reads; else Accept-Language; else en"
    ),
]
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]


class PhraseOut(BaseModel):
    code: str
    category: str
    params: list[str]
    text: str = Field(
        description="the phrase in the language asked, with {param} slots ({time:date} and "
        "{time:clock}: a time's day and time of day)"
    )


class Phrasebook(BaseModel):
    lang: str
    phrases: list[PhraseOut]


@router.get("/phrasebook", response_model=Phrasebook, responses=responses(401, 422))
def get_phrasebook(
    _: PrincipalDep, lang: LangQuery = None, accept: AcceptLanguage = None
) -> Phrasebook:
    """Every coded message, in one language."""
    chosen = hotline.reading_language(None, None, "", lang, accept)
    return Phrasebook(
        lang=chosen,
        phrases=[
            PhraseOut(code=p.code, category=p.category.value, params=list(p.params),
                      text=p.text[chosen])
            for p in phrasebook.PHRASES.values()
        ],
    )  # fmt: skip


class ThreadOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: RecordId
    owner: RecordId | None = Field(
        default=None, description="the record's owner, when it is not yours (ids are per owner)"
    )
    with_: RecordId | None = Field(
        default=None, alias="with", description="the other party, when you own the record"
    )


class ThreadSummary(BaseModel):
    id: str
    subject: dict[str, str]
    parties: list[str]
    opened_by: str
    created_at: str


class ThreadList(BaseModel):
    threads: list[ThreadSummary]


def _summary(t: hotline.Thread) -> ThreadSummary:
    return ThreadSummary(
        id=t.id,
        subject={"kind": t.subject_kind, "id": t.subject_id},
        parties=list(t.parties),
        opened_by=t.opened_by,
        created_at=t.created_at,
    )


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, max_length=64, description="a phrasebook code")
    params: dict[str, Any] | None = None
    text: str | None = Field(default=None, description="free text, shown as written")
    lang: str | None = Field(default=None, description="the free text's language")
    ack_within_s: float | None = Field(
        default=None, description="ask the other party to acknowledge within this many seconds"
    )


class Posted(BaseModel):
    id: str
    thread: hotline.ThreadView


def _now() -> datetime:
    return datetime.now(UTC)


def _lang(tx: Tx, thread: hotline.Thread, party: str, lang: str | None, accept: str | None) -> str:
    """The reader's language (``hotline.reading_language``: the one rule)."""
    return hotline.reading_language(tx, thread, party, lang, accept)


@router.get("/threads", response_model=ThreadList, responses=responses(401, 403))
async def list_threads(request: Request, party: PartyDep) -> ThreadList:
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: hotline.list_threads(tx, party)
    )
    return ThreadList(threads=[_summary(t) for t in rows])


@router.post(
    "/threads",
    status_code=201,
    response_model=ThreadSummary,
    responses=responses(400, 401, 403, 404, 422),
)
async def open_thread(body: ThreadOpen, request: Request, party: PartyDep) -> ThreadSummary:
    """Open a thread about a record with its owner (or, on your own record, with ``with``)."""
    t = await run_in_threadpool(
        request.app.state.store.write_tx,
        lambda tx: hotline.open_record_thread(
            tx, body.owner or party, body.record_id, party, body.with_, _now()
        ),
    )
    return _summary(t)


@router.get(
    "/conflicts/{conflict_id}/thread",
    response_model=hotline.ThreadView,
    responses=responses(401, 403, 404, 422),
)
async def conflict_thread(
    conflict_id: str,
    request: Request,
    party: PartyDep,
    lang: LangQuery = None,
    accept: AcceptLanguage = None,
) -> hotline.ThreadView:
    """The hotline thread of a conflict (each conflict has one), in the reader's language."""

    def run(tx: Tx) -> hotline.ThreadView:
        t = hotline.conflict_thread(tx, conflict_id, party, _now())
        return hotline.view(tx, t, _lang(tx, t, party, lang, accept))

    out: hotline.ThreadView = await run_in_threadpool(request.app.state.store.write_tx, run)
    return out


@router.get(
    "/threads/{thread_id}",
    response_model=hotline.ThreadView,
    responses=responses(401, 403, 404, 422),
)
async def get_thread(
    thread_id: str,
    request: Request,
    party: PartyDep,
    lang: LangQuery = None,
    accept: AcceptLanguage = None,
) -> hotline.ThreadView:
    def run(tx: Tx) -> hotline.ThreadView:
        t = hotline.thread_for(tx, thread_id, party)
        return hotline.view(tx, t, _lang(tx, t, party, lang, accept))

    out: hotline.ThreadView = await run_in_threadpool(request.app.state.store.read_tx, run)
    return out


@router.post(
    "/threads/{thread_id}/messages",
    status_code=201,
    response_model=Posted,
    responses=responses(400, 401, 403, 404, 422),
)
async def post_message(
    thread_id: str,
    body: MessageIn,
    request: Request,
    party: PartyDep,
    who: PrincipalDep,
    lang: LangQuery = None,
    accept: AcceptLanguage = None,
) -> Posted:
    """Send a coded message (``code`` + ``params``) or free text (``text``, ``lang``)."""

    def run(tx: Tx) -> Posted:
        t = hotline.thread_for(tx, thread_id, party)
        mid = hotline.post(
            tx,
            t,
            party,
            who.subject,
            code=body.code,
            params=body.params,
            text=body.text,
            lang=body.lang,
            ack_within_s=body.ack_within_s,
            at=_now(),
        )
        return Posted(id=mid, thread=hotline.view(tx, t, _lang(tx, t, party, lang, accept)))

    out: Posted = await run_in_threadpool(request.app.state.store.write_tx, run)
    return out


@router.post(
    "/threads/{thread_id}/messages/{message_id}/ack",
    response_model=hotline.ThreadView,
    responses=responses(400, 401, 403, 404, 422),
)
async def ack_message(
    thread_id: str,
    message_id: str,
    request: Request,
    party: PartyDep,
    who: PrincipalDep,
    lang: LangQuery = None,
    accept: AcceptLanguage = None,
) -> hotline.ThreadView:
    """Acknowledge a message that asks for it (again: no change)."""

    def run(tx: Tx) -> hotline.ThreadView:
        t = hotline.thread_for(tx, thread_id, party)
        hotline.acknowledge(tx, t, message_id, party, who.subject, _now())
        return hotline.view(tx, t, _lang(tx, t, party, lang, accept))

    out: hotline.ThreadView = await run_in_threadpool(request.app.state.store.write_tx, run)
    return out
