"""``/v1/audit``: parties register their keys and countersign the service's checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..audit.export import build, log_rows
from ..audit.signing import key_id, load_public, message, public_pem
from ..auth import PARTY_ADMIN_SCOPE
from ..errors import FieldError, Forbidden, InvalidInput, NotFound
from ..model import MAX_COUNT
from ..store.base import Tx
from .deps import PartyDep, PrincipalDep
from .problems import responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key_pem: str = Field(max_length=2000, description="an Ed25519 public key, PEM")


class KeyOut(BaseModel):
    party: str
    key_id: str


class Checkpoint(BaseModel):
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str
    message: str = Field(description="what is signed: canonical JSON of {seq, hash}")
    countersigned_by: list[str]


class Checkpoints(BaseModel):
    checkpoints: list[Checkpoint]


class CountersignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=256, description="hex Ed25519 signature of the message")


@router.put("/keys", response_model=KeyOut, responses=responses(400, 401, 403, 422))
async def put_key(body: KeyIn, request: Request, party: PartyDep, who: PrincipalDep) -> KeyOut:
    """Register a key of your party for countersigning (a party admin's token)."""
    if PARTY_ADMIN_SCOPE not in who.scopes:
        raise Forbidden(f"keys are registered by a party's admins (scope {PARTY_ADMIN_SCOPE})")
    try:
        kid = key_id(load_public(body.public_key_pem))
    except ValueError as exc:
        raise InvalidInput([FieldError("/public_key_pem", str(exc))]) from None

    def run(tx: Tx) -> None:
        tx.register_key(kid, party, body.public_key_pem, who.subject, datetime.now(UTC))

    await run_in_threadpool(request.app.state.store.write_tx, run)
    return KeyOut(party=party, key_id=kid)


@router.get("/checkpoints", response_model=Checkpoints, responses=responses(401, 403, 422))
async def list_checkpoints(
    request: Request,
    _: PartyDep,
    after: Annotated[int, Query(ge=0, le=MAX_COUNT)] = 0,
) -> Checkpoints:
    """The service's signed checkpoints after entry ``after`` (at most 1,000)."""

    def run(tx: Tx) -> list[Checkpoint]:
        return [
            Checkpoint(
                seq=cp.seq,
                hash=cp.hash,
                at=cp.at,
                key_id=cp.key_id,
                signature=cp.signature,
                message=message(cp.seq, cp.hash).decode(),
                countersigned_by=tx.countersigners(cp.seq),
            )
            for cp in tx.checkpoints_after(after, 1000)
        ]

    rows = await run_in_threadpool(request.app.state.store.read_tx, run)
    return Checkpoints(checkpoints=rows)


class Countersigned(BaseModel):
    """A checkpoint countersigned by a party with one of its registered keys."""

    seq: int
    party: str
    key_id: str


@router.post(
    "/checkpoints/{seq}/countersignatures",
    status_code=201,
    response_model=Countersigned,
    responses=responses(400, 401, 403, 404, 422),
)
async def countersign(
    seq: Annotated[int, Path(ge=1, le=MAX_COUNT)],
    body: CountersignIn,
    request: Request,
    party: PartyDep,
    who: PrincipalDep,
) -> Countersigned:
    """Countersign a checkpoint with a registered key of your party: the signature must verify
    over the checkpoint's message. The countersignature is itself an audit entry."""

    def run(tx: Tx) -> Countersigned:
        tx.countersign(seq, party, body.key_id, body.signature, who.subject, datetime.now(UTC))
        return Countersigned(seq=seq, party=party, key_id=body.key_id)

    out: Countersigned = await run_in_threadpool(request.app.state.store.write_tx, run)
    return out


@router.get(
    "/export",
    responses={
        200: {"content": {"application/json": {}}, "description": "the party's export"},
        **responses(401, 403, 404),
    },
)
async def export(request: Request, party: PartyDep) -> Response:
    """Your party's export of the log (docs/audit.md): every entry, those that concern you in
    full and the others as hashes, the signed checkpoints (the head signed first) and the
    countersignatures; verify it offline, and keep it to check the next one against
    (``deconfliction audit verify NEW --after OLD``, or ``deconfliction audit witness``)."""
    store = request.app.state.store
    signer = store.signer
    if signer is None:
        raise NotFound("no export here: this service signs no checkpoints")

    def run() -> bytes:
        store.write_tx(lambda tx: tx.checkpoint(datetime.now(UTC)))
        entries, checkpoints, counters = store.read_tx(log_rows)
        return build(party, entries, checkpoints, counters, signer)

    data = await run_in_threadpool(run)
    return Response(data, media_type="application/json")


class Link(BaseModel):
    seq: int
    content_hash: str


class Links(BaseModel):
    links: list[Link]
    service_key: dict[str, str] = Field(description="the service's audit key: key_id and PEM")


#: Most links in one answer.
MAX_LINKS = 10_000


@router.get("/links", response_model=Links, responses=responses(401, 403, 404, 422))
async def links(
    request: Request,
    _: PartyDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_COUNT, description="the seq of an entry the caller holds")
    ],
    to: Annotated[int, Query(ge=1, le=MAX_COUNT, description="the seq of a checkpoint")],
) -> Links:
    """The content hash of every entry after ``after`` up to ``to`` (at most 10,000): with the
    hash of entry ``after`` that it kept, a witness recomputes the chain up to checkpoint
    ``to`` and checks it extends what it saw (docs/audit.md). Content hashes tell nothing of
    the entries."""
    store = request.app.state.store
    if store.signer is None:
        raise NotFound("no links here: this service signs no checkpoints")
    if to <= after or to - after > MAX_LINKS:
        raise InvalidInput([FieldError("/query/to", f"must be after 'after', by 1 to {MAX_LINKS}")])

    def run(tx: Tx) -> list[Link]:
        return [Link(seq=e.seq, content_hash=e.content_hash()) for e in tx.entries(after, to)]

    rows = await run_in_threadpool(store.read_tx, run)
    key = {"key_id": store.signer.key_id, "public_key_pem": public_pem(store.signer.public)}
    return Links(links=rows, service_key=key)
