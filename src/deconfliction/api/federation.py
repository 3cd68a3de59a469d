"""Federation routes: the inbox other nodes post to (signed, ``/federation/v1``), and what a
party is shown of the federation (``/v1/federation``). See federation/ and docs/federation.md."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ..errors import NotFound
from ..federation import conflicts, peers, relay, views
from ..federation.inbox import INBOX_PATH
from ..store.base import Tx
from .deps import PartyDep
from .problems import responses

peer_router = APIRouter(tags=["federation"], include_in_schema=False)
router = APIRouter(prefix="/v1/federation", tags=["federation"])


def _fed(request: Request) -> Any:
    fed = getattr(request.app.state, "federation", None)
    if fed is None:
        raise NotFound("this service is no federation node")
    return fed


@peer_router.post(INBOX_PATH)
async def inbox(request: Request) -> Response:
    """A batch of messages from a peer node, signed (RFC 9421); the answer is signed too."""
    fed = _fed(request)
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    answer = await run_in_threadpool(fed.receive, "POST", INBOX_PATH, headers, body)
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


class NodeIdentity(BaseModel):
    """What a node tells a peer of itself: its public key (what the peer pins) and the parties
    it hosts."""

    key_id: str
    public_key_pem: str
    parties: list[str]


@peer_router.get("/federation/v1/node", response_model=NodeIdentity)
def node(request: Request) -> NodeIdentity:
    """This node's public key (what a peer pins) and the parties it hosts."""
    fed = _fed(request)
    hosted = fed.store.read_tx(peers.local_parties)
    return NodeIdentity(key_id=fed.key.key_id, public_key_pem=fed.key.public_pem, parties=hosted)


class FederatedConflicts(BaseModel):
    conflicts: list[dict[str, Any]]


class ReleasedViews(BaseModel):
    views: list[dict[str, Any]]


class SignedAgreements(BaseModel):
    agreements: list[dict[str, Any]]


class PeerList(BaseModel):
    peers: list[dict[str, Any]]


class Exchanged(BaseModel):
    countersigned_by_peers: list[dict[str, Any]]
    countersigned_here: list[dict[str, Any]]


class RemoteTracks(BaseModel):
    tracks: list[dict[str, Any]]


def _read(request: Request, fn: Any, empty: Any) -> Any:
    fed = getattr(request.app.state, "federation", None)
    if fed is None:
        return empty
    return request.app.state.store.read_tx(fn)


@router.get("/conflicts", response_model=FederatedConflicts, responses=responses(401, 403, 422))
def federated_conflicts(
    request: Request, party: PartyDep, include_resolved: bool = False
) -> FederatedConflicts:
    """Your conflicts with other nodes' parties: ``finding`` is ``agreed`` (both nodes find
    it), ``ours`` (this node only), ``theirs`` (the other node only, as its notice says) or
    ``resolved``; ``thread`` is the hotline thread both nodes share."""
    rows = _read(request, lambda tx: conflicts.list_for(tx, party, include_resolved), [])
    return FederatedConflicts(conflicts=rows)


@router.get("/views", response_model=ReleasedViews, responses=responses(401, 403))
def released_views(request: Request, party: PartyDep) -> ReleasedViews:
    """What other nodes' parties released to you: each record in full or as its extent."""

    def run(tx: Tx) -> list[dict[str, Any]]:
        return [
            {
                "owner": v.owner,
                "node": v.peer,
                "kind": v.kind.value,
                "level": v.level,
                "version": v.version,
                "received_at": v.received_at,
                "record": v.body,
            }
            for v in views.views_for(tx, party)
        ]

    return ReleasedViews(views=_read(request, run, []))


@router.get("/agreements", response_model=SignedAgreements, responses=responses(401, 403))
def signed_agreements(request: Request, party: PartyDep) -> SignedAgreements:
    """Your agreements made across nodes: the text both nodes keep, signed by both."""
    fed = getattr(request.app.state, "federation", None)
    if fed is None:
        return SignedAgreements(agreements=[])
    rows = fed.store.read_tx(lambda tx: relay.signed_agreements(tx, party, fed.key))
    return SignedAgreements(agreements=rows)


@router.get("/peers", response_model=PeerList, responses=responses(401, 403))
def peer_list(request: Request, _: PartyDep) -> PeerList:
    """This node's peers: URL, key, the parties each hosts, and how delivery to it stands."""
    rows = _read(request, lambda tx: [p.as_json() for p in peers.all_peers(tx)], [])
    return PeerList(peers=rows)


@router.get("/checkpoints", response_model=Exchanged, responses=responses(401, 403))
def exchanged_checkpoints(request: Request, _: PartyDep) -> Exchanged:
    """This node's checkpoints its peers countersigned, and theirs it countersigned."""
    empty: dict[str, list[Any]] = {"countersigned_by_peers": [], "countersigned_here": []}
    return Exchanged(**_read(request, relay.checkpoints, empty))


@router.get("/tracks", response_model=RemoteTracks, responses=responses(401, 403))
def remote_tracks(request: Request, party: PartyDep) -> RemoteTracks:
    """Other nodes' live tracks as released to you (the last minute's)."""
    now = time.time()
    return RemoteTracks(tracks=_read(request, lambda tx: relay.tracks_for(tx, party, now), []))
