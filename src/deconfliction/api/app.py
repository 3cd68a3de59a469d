"""The FastAPI application: thin routes over the store; no logic of its own."""

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from .. import __version__, ui
from ..auth import AuthConfig, Principal
from ..errors import Forbidden, NeedsAcknowledgement, NotFound
from ..exchange import links, release
from ..exchange.live import TacticalMonitor
from ..model import (
    Area,
    AreaDraft,
    Conflict,
    IntentDraft,
    IntentState,
    OperationalIntent,
    Party,
    RecordExtent,
    RecordId,
    RecordKind,
    Volume4D,
)
from ..store import Store
from ..store.tracks import SharedTrackTable, TrackTable
from . import agreements, audit, dss, events, hotline, picture, problems, tracks
from .deps import PartyDep, PrincipalDep, StoreDep
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


class Me(BaseModel):
    party: str
    scopes: list[str]


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
    version: int = Field(ge=1, description="the version this replaces")


class AreaCreate(AreaDraft):
    id: RecordId | None = None


class AreaReplace(AreaDraft):
    version: int = Field(ge=1, description="the version this replaces")


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


def _degraded_rule(
    store: Store, party: str, kind: RecordKind, draft: Any, record_id: str | None, accepted: bool
) -> None:
    """While a party's link is degraded, activating an intent in conflict with one of its
    intents needs ``accept_degraded=true``: it may not hear of the conflict."""
    if accepted or kind is not RecordKind.INTENT or draft.state is not IntentState.ACTIVATED:
        return
    found = store.preview(party, draft, kind, record_id)
    others = sorted({o for c in found for o in (c.a.owner, c.b.owner)} - {party})
    down = store.read_tx(
        lambda tx: [o for o in others if links.status(tx, o)["state"] == "degraded"]
    )
    if down:
        raise NeedsAcknowledgement(
            f"{', '.join(down)}: link degraded; activating an intent in conflict with its "
            "intents needs accept_degraded=true"
        )


class ReleasePreview(BaseModel):
    to: str
    level: str
    reason: str
    shown: dict[str, Any] | None


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

    def pack(rec: Any, conflicts: list[Conflict], store: Store, party: str, via: str) -> Any:
        shown = store.write_tx(
            lambda tx: release.release_conflicts(tx, conflicts, party, via, _now())
        )
        return written(**{name: rec, "conflicts": shown})

    @router.post(
        "",
        status_code=201,
        response_model=written,
        responses={**body_err, **responses(409)},
        name=f"create_{name}",
        summary=f"Create an {name} (checked for conflicts)",
    )
    def create(
        body: create_model,  # type: ignore[valid-type]
        party: PartyDep,
        store: StoreDep,
        accept_degraded: AcceptDegraded = False,
    ) -> Any:
        draft = draft_model.model_validate(body.model_dump(exclude={"id"}))  # type: ignore[attr-defined]
        _degraded_rule(store, party, kind, draft, body.id, accept_degraded)  # type: ignore[attr-defined]
        res = store.create(kind, body.id, party, draft, actor=party)  # type: ignore[attr-defined]
        return pack(res.record, res.conflicts, store, party, f"create_{name}")

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
        responses=body_err,
        name=f"query_{plural}",
        summary=f"{plural.capitalize()} that meet a 4D volume",
    )
    def query(body: VolumeQuery, party: PartyDep, store: StoreDep) -> Any:
        """Your own records in full; others' as far as your agreements release them."""
        recs = store.query(body.volume, [kind])

        def run(tx: Any) -> list[Any]:
            shown = [release.release_record(tx, r, party, f"query_{plural}", _now()) for r in recs]
            return [r for r in shown if r is not None]

        return view(**{plural: store.write_tx(run)})

    @router.post(
        "/preview",
        response_model=ConflictList,
        responses=body_err,
        name=f"preview_{name}",
        summary="Conflicts a draft would have; writes nothing",
    )
    def preview(body: create_model, party: PartyDep, store: StoreDep) -> Any:  # type: ignore[valid-type]
        draft = draft_model.model_validate(body.model_dump(exclude={"id"}))  # type: ignore[attr-defined]
        found = store.preview(party, draft, kind, body.id)  # type: ignore[attr-defined]
        via = f"preview_{name}"
        shown = store.write_tx(lambda tx: release.release_conflicts(tx, found, party, via, _now()))
        return ConflictList(conflicts=shown)

    @router.get(
        "/{record_id}",
        response_model=record_model | RecordExtent,
        responses={**err, **responses(404)},
        name=f"get_{name}",
    )
    def get(record_id: str, party: PartyDep, store: StoreDep) -> Any:
        """Yours in full; another party's as far as your agreement releases it (else 404)."""
        rec = store.get(kind, record_id)
        shown = store.write_tx(
            lambda tx: release.release_record(tx, rec, party, f"get_{name}", _now())
        )
        if shown is None:
            raise NotFound(f"no {name} {record_id!r}")
        return shown

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
        rec = store.get(kind, record_id)
        if rec.owner != party:
            raise NotFound(f"no {name} {record_id!r} of yours")
        return store.read_tx(lambda tx: release.preview(tx, rec, to))

    @router.put(
        "/{record_id}",
        response_model=written,
        responses={**body_err, **responses(404, 409)},
        name=f"replace_{name}",
        summary=f"Replace an {name}: name the version it replaces",
    )
    def replace(
        record_id: str,
        body: replace_model,  # type: ignore[valid-type]
        party: PartyDep,
        store: StoreDep,
        accept_degraded: AcceptDegraded = False,
    ) -> Any:
        draft = draft_model.model_validate(body.model_dump(exclude={"version"}))  # type: ignore[attr-defined]
        _degraded_rule(store, party, kind, draft, record_id, accept_degraded)
        res = store.replace(kind, record_id, party, draft, body.version, actor=party)  # type: ignore[attr-defined]
        return pack(res.record, res.conflicts, store, party, f"replace_{name}")

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
        version: Annotated[int, Query(ge=1, description="the version to delete")],
    ) -> Any:
        return store.delete(kind, record_id, party, version, actor=party)

    return router


def create_app(
    store: Store,
    auth: AuthConfig,
    *,
    title: str = "deconfliction",
    public_url: str = "http://localhost",
    guard: GuardConfig | None = None,
    shared_tracks: bool = False,
) -> FastAPI:
    """The service. ``public_url``: where DSS clients reach it (the ``uss_base_url`` of native
    intents in the DSS view)."""
    app = FastAPI(
        redirect_slashes=False,
        title=title,
        version=__version__,
        description="Deconfliction between parties that share a sky or a sea.",
    )
    app.state.store = store
    app.state.auth = auth
    app.state.public_url = public_url.rstrip("/")
    # several processes share live tracks through the database; one keeps them in memory
    app.state.tracks = SharedTrackTable(store) if shared_tracks else TrackTable()
    app.state.tactical = TacticalMonitor(store, app.state.tracks)
    #: demo mode: party -> token (None: no development login)
    app.state.dev_token = None
    problems.install(app)
    app.add_middleware(RoleGate, auth_of=lambda: app.state.auth)
    # storable text and bounded ids everywhere; path parameters named from the OpenAPI paths
    app.add_middleware(TextGuard, templates_of=lambda: app.openapi()["paths"])
    app.add_middleware(Guard, config=guard or GuardConfig())  # outermost: limits first

    @app.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.get("/v1/me", response_model=Me, responses=responses(401, 403), tags=["service"])
    def me(principal: PrincipalDep, party: PartyDep) -> Me:
        return Me(party=party, scopes=sorted(principal.scopes))

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
        found = store.list_conflicts(party, include_resolved=include_resolved)
        shown = store.write_tx(
            lambda tx: release.release_conflicts(tx, found, party, "list_conflicts", _now())
        )
        return ConflictList(conflicts=shown)

    app.include_router(dss.router)
    app.include_router(dss.aux_router)
    app.include_router(dss.uss_router)
    app.include_router(events.router)
    app.include_router(hotline.router)
    app.include_router(agreements.router)
    app.include_router(tracks.router)
    app.include_router(picture.router)
    app.include_router(audit.router)
    ui.install(app)

    @app.get("/v1/dev/parties", include_in_schema=False)
    def dev_parties(store: StoreDep) -> PartyList:
        """Demo mode only: the parties one may log in as without a token."""
        if app.state.dev_token is None:
            raise NotFound("no development login here")
        return PartyList(parties=store.list_parties())

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
    return app
