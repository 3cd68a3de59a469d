"""``/v1/agreements``: what two parties release to each other (see exchange/agreements)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..auth import PARTY_ADMIN_SCOPE, Principal
from ..dss import native
from ..errors import Forbidden
from ..exchange import agreements as ag
from ..exchange import ledger, links, probes, release
from ..model import MAX_COUNT, RecordId
from ..store.base import Tx
from .deps import PartyDep, PrincipalDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["agreements"])


class AgreementView(BaseModel):
    """One version of the agreement between two parties."""

    parties: list[str]
    version: int
    status: str = Field(description="proposed, active or superseded")
    terms: ag.Terms
    proposed_by: str
    proposed_at: str
    accepted_by: str | None
    accepted_at: str | None


def _view(a: ag.Agreement) -> AgreementView:
    # built, not validated: the terms are a validated model already
    return AgreementView.model_construct(
        parties=list(a.parties),
        version=a.version,
        status=a.status,
        terms=a.terms,
        proposed_by=a.proposed_by,
        proposed_at=a.proposed_at,
        accepted_by=a.accepted_by,
        accepted_at=a.accepted_at,
    )


class AgreementList(BaseModel):
    agreements: list[AgreementView]


class DisclosureList(BaseModel):
    disclosures: list[dict[str, Any]]


def _party_admin(who: Principal) -> None:
    if PARTY_ADMIN_SCOPE not in who.scopes:
        raise Forbidden(f"agreements are made by a party's admins (scope {PARTY_ADMIN_SCOPE})")


@router.get("/agreements", response_model=AgreementList, responses=responses(401, 403))
async def list_agreements(request: Request, party: PartyDep) -> AgreementList:
    """Every version of every agreement of the caller's party (active, proposed, superseded)."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: ag.history(tx, party)
    )
    return AgreementList.model_construct(agreements=[_view(a) for a in rows])


@router.put(
    "/agreements/{other}",
    status_code=201,
    response_model=AgreementView,
    responses=responses(400, 401, 403, 404, 422),
)
async def propose_agreement(
    other: RecordId, terms: ag.Terms, request: Request, party: PartyDep, who: PrincipalDep
) -> AgreementView:
    """Propose the next version of the agreement with ``other`` (a party admin's token). It is
    in force once the other side's admin accepts it."""
    _party_admin(who)
    done: ag.Agreement = await run_in_threadpool(
        request.app.state.store.write_tx,
        lambda tx: ag.propose(tx, party, other, terms, who.subject, datetime.now(UTC)),
    )
    return _view(done)


@router.post(
    "/agreements/{other}/versions/{version}/accept",
    response_model=AgreementView,
    responses=responses(401, 403, 404, 409, 422),
)
async def accept_agreement(
    other: RecordId,
    version: Annotated[int, Path(ge=1, le=MAX_COUNT)],
    request: Request,
    party: PartyDep,
    who: PrincipalDep,
) -> AgreementView:
    """Accept a version the other side proposed (a party admin's token): it is in force now."""
    _party_admin(who)
    done: ag.Agreement = await run_in_threadpool(
        request.app.state.store.write_tx,
        lambda tx: ag.accept(tx, party, other, version, who.subject, datetime.now(UTC)),
    )
    return _view(done)


@router.get("/disclosures", response_model=DisclosureList, responses=responses(401, 403))
async def list_disclosures(request: Request, party: PartyDep) -> DisclosureList:
    """What was released of the caller's records, to whom, when and at which level."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: release.disclosures(tx, party)
    )
    return DisclosureList(disclosures=rows)


class Ledger(BaseModel):
    ledger: list[dict[str, Any]]


class Links(BaseModel):
    links: list[links.LinkStatus]


@router.get("/ledger", response_model=Ledger, responses=responses(401, 403))
async def get_ledger(request: Request, party: PartyDep) -> Ledger:
    """Give and take with each agreement partner: releases given and received (by level, and
    how many were updates), acknowledgements and their median times, alerts in force."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: ledger.ledger(tx, party)
    )
    return Ledger(ledger=rows)


@router.get("/links", response_model=Links, responses=responses(401, 403))
async def get_links(request: Request, party: PartyDep) -> Links:
    """Link liveness of the caller's party and of its agreement partners."""

    def run(tx: Tx) -> list[links.LinkStatus]:
        return [links.status(tx, p) for p in [party, *links.partners(tx, party)]]

    rows = await run_in_threadpool(request.app.state.store.read_tx, run)
    return Links(links=rows)


class ProbeList(BaseModel):
    probes: list[dict[str, Any]]


@router.get("/probes", response_model=ProbeList, responses=responses(401, 403))
async def list_probes(request: Request, party: PartyDep) -> ProbeList:
    """Previews and queries of other parties that touched the caller's records below full,
    per party and hour (each counts against their agreement's budget)."""
    rows = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: probes.probes_of(tx, party)
    )
    return ProbeList(probes=rows)


@router.get("/dss/publication", response_model=native.Publication, responses=responses(401, 403))
async def get_publication(request: Request, party: PartyDep) -> native.Publication:
    """What of the caller's native records F3548 (DSS) clients see (default: nothing)."""
    out: native.Publication = await run_in_threadpool(
        request.app.state.store.read_tx, lambda tx: native.get_publication(tx, party)
    )
    return out


@router.put(
    "/dss/publication",
    response_model=native.Publication,
    responses=responses(400, 401, 403, 422),
)
async def put_publication(
    body: native.Publication, request: Request, party: PartyDep, who: PrincipalDep
) -> native.Publication:
    """Choose what of your native records F3548 clients see: intents as operational intent
    references and areas as constraint references, each ``none``, ``extent`` (coarsened on
    ``grid``) or ``full`` (a party admin's token). Applies to every record at once."""
    _party_admin(who)
    out: native.Publication = await run_in_threadpool(
        request.app.state.store.write_tx,
        lambda tx: native.put_publication(tx, party, body, who.subject, datetime.now(UTC)),
    )
    return out
