"""The FastAPI application: thin routes over the store; no logic of its own."""

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from .. import __version__, exchange, ui
from .. import dss as dss_domain
from ..auth import AuthConfig, Principal
from ..errors import Forbidden, NotFound
from ..exchange import records, release
from ..exchange.agreements import party_languages
from ..model import (
    MAX_COUNT,
    Area,
    AreaDraft,
    Conflict,
    IntentDraft,
    OperationalIntent,
    Party,
    RecordExtent,
    RecordId,
    RecordKind,
    Volume4D,
)
from ..screening import service as screening_service
from ..store import Store
from ..store.tracks import SharedTrackTable, TrackTable
from ..tactical import TacticalMonitor
from . import (
    agreements,
    audit,
    body,
    dss,
    events,
    federation,
    formats,
    hotline,
    liveness,
    ogc,
    picture,
    problems,
    screening,
    tracks,
)
from .body import json_body, openapi_body
from .deps import PartyDep, PrincipalDep, StoreDep
from .direct import DirectRoutes
from .guard import Guard, GuardConfig
from .problems import responses
from .roles import RoleGate
from .text import TextGuard

log = logging.getLogger(__name__)


def _admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs the deconfliction.admin scope")
    return principal


class Health(BaseModel):
    status: str
    version: str


#: The answer of ``/v1/health``.
_HEALTH = Health(status="ok", version=__version__).model_dump_json().encode()


class Me(BaseModel):
    party: str
    scopes: list[str]
    languages: list[str] = Field(
        default_factory=list,
        description="the languages the party reads, as its agreements in force give them "
        "(first: the one it reads first); empty when none says",
    )
    partners: list[str] = Field(
        default_factory=list, description="the parties it has an agreement in force with"
    )


class PartyList(BaseModel):
    parties: list[Party]


class ConflictList(BaseModel):
    conflicts: list[Conflict]


class VolumeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume: Volume4D


class IntentCreate(IntentDraft):
    id: RecordId | None = None


class IntentReplace(IntentDraft):
    version: int = Field(ge=1, le=MAX_COUNT, description="the version this replaces")


class AreaCreate(AreaDraft):
    id: RecordId | None = None


class AreaReplace(AreaDraft):
    version: int = Field(ge=1, le=MAX_COUNT, description="the version this replaces")


class IntentWritten(BaseModel):
    intent: OperationalIntent
    conflicts: list[Conflict]


class AreaWritten(BaseModel):
    area: Area
    conflicts: list[Conflict]


class IntentView(BaseModel):
    intents: list[OperationalIntent | RecordExtent]


class AreaView(BaseModel):
    areas: list[Area | RecordExtent]


def _now() -> datetime:
    return datetime.now(UTC)


AcceptDegraded = Annotated[
    bool,
    Query(
        description="activate even though it conflicts with an intent of a party whose link "
        "is degraded (talk to it on the hotline first)"
    ),
]


class ReleasePreview(BaseModel):
    to: str
    level: str
    reason: str
    shown: dict[str, Any] | None


OwnerQuery = Annotated[
    RecordId | None,
    Query(description="the owner of the record, when it is not yours (ids are per owner)"),
]


def _record_router(
    kind: RecordKind,
    record_model: type[Any],
    create_model: type[Any],
    replace_model: type[Any],
    written: type[Any],
    view: type[Any],
    draft_model: type[Any],
) -> APIRouter:
    name = kind.value
    plural = f"{name}s"
    router = APIRouter(prefix=f"/v1/{plural}", tags=[plural])
    err = responses(401, 403, 422)
    body_err = responses(400, 401, 403, 422)  # 400: a body that is not JSON at all

    # bodies are validated in a worker thread, not in the event loop (see api/body.py)
    CreateBody = Annotated[Any, json_body(create_model)]
    ReplaceBody = Annotated[Any, json_body(replace_model)]
    QueryBody = Annotated[Any, json_body(VolumeQuery)]

    def draft_of(body: Any, exclude: str) -> Any:
        return draft_model.model_validate(body.model_dump(exclude={exclude}))

    @router.post(
        "",
        status_code=201,
        response_model=written,
        responses={**body_err, **responses(409)},
        name=f"create_{name}",
        summary=f"Create an {name} (checked for conflicts)",
        openapi_extra=openapi_body(create_model),
    )
    def create(
        body: CreateBody,
        party: PartyDep,
        store: StoreDep,
        accept_degraded: AcceptDegraded = False,
    ) -> Any:
        """Your conflicts come back as your agreements let you see them."""
        res = records.write(
            store,
            kind,
            body.id,
            party,
            draft_of(body, "id"),
            None,
            actor=party,
            accept_degraded=accept_degraded,
            via=f"create_{name}",
        )
        return written(**{name: res.record, "conflicts": res.conflicts})

    @router.get(
        "",
        response_model=view,
        responses=err,
        name=f"list_{plural}",
        summary=f"The caller's own {plural}",
    )
    def list_own(party: PartyDep, store: StoreDep) -> Any:
        return view(**{plural: store.list_owned(kind, party)})

    @router.post(
        "/query",
        response_model=view,
        responses={**body_err, **responses(429)},
        name=f"query_{plural}",
        summary=f"{plural.capitalize()} that meet a 4D volume",
        openapi_extra=openapi_body(VolumeQuery),
    )
    def query(body: QueryBody, party: PartyDep, store: StoreDep) -> Any:
        """Your own records in full; others' as far as your agreements release them, matched
        against what is released (a coarsened extent matches where it reaches). A query that
        finds another party's records below full is a probe: it counts against your
        agreement's budget (429 past it) and its owner sees it."""
        return view(**{plural: records.query(store, [kind], party, body.volume)})

    @router.post(
        "/preview",
        response_model=ConflictList,
        responses={**body_err, **responses(429)},
        name=f"preview_{name}",
        summary="Conflicts a draft would have; writes nothing",
        openapi_extra=openapi_body(create_model),
    )
    def preview(body: CreateBody, party: PartyDep, store: StoreDep) -> Any:
        """Checked against what you may see: others' records below full by their released
        extent (so a preview may show a conflict the exact check would not, never fewer). A
        preview that meets another party's records below full is a probe (see query)."""
        found = records.preview(store, kind, party, draft_of(body, "id"), body.id)
        return ConflictList(conflicts=found)

    @router.get(
        "/{record_id}",
        response_model=record_model | RecordExtent,
        responses={**err, **responses(404)},
        name=f"get_{name}",
    )
    def get(record_id: str, party: PartyDep, store: StoreDep, owner: OwnerQuery = None) -> Any:
        """Yours in full; another party's (``?owner=``) as far as your agreement releases it
        (else 404, whether or not it exists)."""
        return records.get(store, kind, owner or party, record_id, party)

    @router.get(
        "/{record_id}/released",
        response_model=ReleasePreview,
        responses={**err, **responses(404)},
        name=f"preview_release_{name}",
        summary=f"What another party is shown of your {name} now",
    )
    def released(
        record_id: str,
        party: PartyDep,
        store: StoreDep,
        to: Annotated[RecordId, Query(description="the other party")],
    ) -> Any:
        rec = store.get(kind, party, record_id)
        return store.read_tx(lambda tx: release.preview(tx, rec, to))

    @router.put(
        "/{record_id}",
        response_model=written,
        responses={**body_err, **responses(404, 409)},
        name=f"replace_{name}",
        summary=f"Replace an {name}: name the version it replaces",
        openapi_extra=openapi_body(replace_model),
    )
    def replace(
        record_id: str,
        body: ReplaceBody,
        party: PartyDep,
        store: StoreDep,
        accept_degraded: AcceptDegraded = False,
    ) -> Any:
        res = records.write(
            store,
            kind,
            record_id,
            party,
            draft_of(body, "version"),
            body.version,
            actor=party,
            accept_degraded=accept_degraded,
            via=f"replace_{name}",
        )
        return written(**{name: res.record, "conflicts": res.conflicts})

    @router.delete(
        "/{record_id}",
        response_model=record_model,
        responses={**err, **responses(404, 409)},
        name=f"delete_{name}",
    )
    def delete(
        record_id: str,
        party: PartyDep,
        store: StoreDep,
        version: Annotated[int, Query(ge=1, le=MAX_COUNT, description="the version to delete")],
    ) -> Any:
        return records.delete(store, kind, record_id, party, version, actor=party)

    return router


def create_app(
    store: Store,
    auth: AuthConfig,
    *,
    title: str = "deconfliction",
    public_url: str = "http://localhost",
    guard: GuardConfig | None = None,
    shared_tracks: bool = False,
    node: Any | None = None,
) -> FastAPI:
    """The service. ``public_url``: where DSS clients reach it (the ``uss_base_url`` of native
    intents in the DSS view). ``node``: this service's ``federation.Federation``, when it is a
    node of a federation."""
    app = FastAPI(
        redirect_slashes=False,
        # the API docs (/docs, /redoc) are served from local assets by ui.install
        docs_url=None,
        redoc_url=None,
        title=title,
        version=__version__,
        description="Deconfliction between parties that share a sky or a sea.",
    )
    app.state.store = store
    exchange.install(store.hooks)
    dss_domain.install(store.hooks)
    screening_service.register(store.hooks)
    app.state.auth = auth
    app.state.public_url = public_url.rstrip("/")
    # several processes share live tracks through the database; one keeps them in memory
    app.state.tracks = SharedTrackTable(store) if shared_tracks else TrackTable()
    app.state.tactical = TacticalMonitor(store, app.state.tracks)
    app.state.federation = node
    if node is not None:
        node.install(store.hooks)
        node.tracks = app.state.tracks.snapshot
    #: demo mode: party -> token (None: no development login)
    app.state.dev_token = None
    problems.install(app)
    body.install(app)
    app.add_middleware(RoleGate, auth_of=lambda: app.state.auth)
    # storable text and bounded ids everywhere; path parameters named from the OpenAPI paths
    app.add_middleware(TextGuard, templates_of=lambda: app.openapi()["paths"])
    # outermost: who calls, then limits, first
    app.add_middleware(
        Guard,
        config=guard or GuardConfig(),
        auth_of=lambda: app.state.auth,
        peers_of=lambda: app.state.federation,
    )

    @app.get("/v1/health", response_model=Health, tags=["service"])
    async def health() -> Response:
        # async: nothing here blocks, so it needs no worker thread (a sync route takes two);
        # its answer never changes: made once, as FastAPI would make it from the model
        return Response(_HEALTH, media_type="application/json")

    @app.get("/v1/me", response_model=Me, responses=responses(401, 403), tags=["service"])
    def me(principal: PrincipalDep, party: PartyDep, store: StoreDep) -> Me:
        langs, partners = store.read_tx(lambda tx: party_languages(tx, party))
        return Me(party=party, scopes=sorted(principal.scopes), languages=langs, partners=partners)

    @app.post(
        "/v1/parties",
        status_code=201,
        response_model=Party,
        responses=responses(400, 401, 403, 422),
        tags=["parties"],
    )
    def put_party(
        body: Party, admin: Annotated[Principal, Depends(_admin)], store: StoreDep
    ) -> Party:
        return store.put_party(body, actor=admin.subject)

    @app.get("/v1/parties", response_model=PartyList, responses=responses(401), tags=["parties"])
    def list_parties(_: PrincipalDep, store: StoreDep) -> PartyList:
        return PartyList(parties=store.list_parties())

    @app.get(
        "/v1/conflicts",
        response_model=ConflictList,
        responses=responses(401, 403, 422),
        tags=["conflicts"],
    )
    def conflicts(party: PartyDep, store: StoreDep, include_resolved: bool = False) -> ConflictList:
        """Your conflicts; the other side shown as far as your agreement releases it."""
        return ConflictList(
            conflicts=records.conflicts(store, party, include_resolved=include_resolved)
        )

    app.include_router(dss.router)
    app.include_router(dss.aux_router)
    app.include_router(dss.uss_router)
    app.include_router(events.router)
    app.include_router(hotline.router)
    app.include_router(agreements.router)
    app.include_router(liveness.router)
    app.include_router(tracks.router)
    app.include_router(picture.router)
    app.include_router(audit.router)
    app.include_router(screening.router)
    app.include_router(formats.router)
    app.include_router(ogc.router)
    app.include_router(federation.router)
    app.include_router(federation.peer_router)
    ui.install(app)

    @app.get("/v1/dev/parties", include_in_schema=False)
    def dev_parties(store: StoreDep) -> PartyList:
        """Demo mode only: the parties one may log in as without a token."""
        if app.state.dev_token is None:
            raise NotFound("no development login here")
        node = app.state.federation  # a party another node hosts logs in there
        return PartyList(
            parties=[
                p
                for p in store.list_parties()
                if node is None or node.hosted_elsewhere(p.id) is None
            ]
        )

    @app.get("/v1/dev/token", include_in_schema=False)
    def dev_token(party: Annotated[RecordId, Query()], store: StoreDep) -> dict[str, str]:
        """Demo mode only: a token for a demo party, signed with the data folder's dev key."""
        if app.state.dev_token is None:
            raise NotFound("no development login here")
        store.get_party(party)
        return {"token": app.state.dev_token(party)}

    app.include_router(
        _record_router(
            RecordKind.INTENT,
            OperationalIntent,
            IntentCreate,
            IntentReplace,
            IntentWritten,
            IntentView,
            IntentDraft,
        )
    )
    app.include_router(
        _record_router(
            RecordKind.AREA, Area, AreaCreate, AreaReplace, AreaWritten, AreaView, AreaDraft
        )
    )
    # the F3548 routes and the health check, served ahead of FastAPI's routing (the same
    # routes, answers and checks: see api/direct.py); no route before them in the app's order
    # can match their paths (the tests compare every answer with FastAPI's)
    hot = [r for r in app.router.routes if getattr(r, "path", None) == "/v1/health"]
    app.router.routes.insert(
        0, DirectRoutes([*hot, *dss.router.routes, *dss.uss_router.routes, *dss.aux_router.routes])
    )
    return app
