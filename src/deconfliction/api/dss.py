"""``/dss/v1``: the ASTM F3548-21 DSS endpoints (strategic coordination), thin over ``dss``.

Errors use the standard's body, ``{"message": ...}``, with 400 for every input error.
"""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..auth import AuthConfig
from ..dss import entities as f3548
from ..dss import native
from ..dss.entities import AirspaceConflictResponse, ErrorResponse
from ..dss.scd import STATES, Caller, Scd, ScdError
from ..dss.volumes import BadRequest, Extent, native_volumes, parse_volume4d, union
from ..errors import ServiceUnavailable, Unauthenticated
from ..model import Volume4D
from ..store.base import Tx, VolumeCover, coverings_of
from ..store.sqlite import SqliteStore, await_write
from . import problems

SC = "utm.strategic_coordination"
CM = "utm.constraint_management"
CP = "utm.constraint_processing"
CMSA = "utm.conformance_monitoring_sa"
AA = "utm.availability_arbitration"
_UUID4 = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)

router = APIRouter(prefix="/dss/v1", tags=["ASTM F3548-21 DSS"])


class DssError(BaseModel):
    message: str


def _errors(*codes: int, ok: tuple[int, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a route's error statuses (503, the database out of reach, always)
    and, given ``ok``, its answer (status, ``dss.entities`` type)."""
    out: dict[int | str, dict[str, Any]] = {c: {"model": DssError} for c in codes}
    if ok is not None:
        out[ok[0]] = {"model": ok[1]}
    out[503] = {
        "model": DssError,
        "description": "the database is out of reach now",
        "headers": problems.RETRY_AFTER_HEADER,
    }
    return out


def _caller(request: Request, options: list[set[str]]) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    auth: AuthConfig = request.app.state.auth
    p = auth.verify(token.strip())
    if not any(opt <= p.scopes for opt in options):
        raise ScdError(403, "the token lacks the scope this endpoint needs")
    return Caller(p.subject, p.scopes)


def _parse(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        raise BadRequest("a JSON body is required")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object")
    return doc


def _uuid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _UUID4.match(value):
        raise BadRequest(f"{what} must be a UUID version 4: {value!r}")
    return value.lower()


#: Longest ``uss_base_url`` taken.
MAX_URL_CHARS = 2000


def _base_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{what} is required")
    if len(value) > MAX_URL_CHARS:
        raise BadRequest(f"{what} is longer than {MAX_URL_CHARS} characters")
    if not value.startswith("https://"):
        raise BadRequest(f"{what} must be an https URL")
    return value


def _reply(status: int, body: ErrorResponse | AirspaceConflictResponse) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _render(body: Any) -> bytes:
    """The answer's bytes, made inside the transaction: if they cannot be made, the write is
    rolled back, so a committed write is never answered with an error."""
    return json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


#: A write the event loop checks itself rather than a worker thread (``_small``): a body of at
#: most this many bytes, with at most ``INLINE_VOLUMES`` volumes, each a circle of at most
#: ``INLINE_RADIUS_M`` or a polygon of at most ``INLINE_VERTICES`` vertices within
#: ``INLINE_SPAN_DEG`` of latitude and of longitude. Their cells cost about 0.2 to 0.4 ms a
#: volume, about what the two thread hand-offs saved cost; larger ones would hold up the loop.
INLINE_BYTES = 1024
INLINE_VOLUMES = 2
INLINE_RADIUS_M = 5_000.0
INLINE_VERTICES = 32
INLINE_SPAN_DEG = 0.05


def _small(doc: dict[str, Any] | None) -> bool:
    """Whether a write's volumes are few and small enough to check in the event loop (see
    ``INLINE_BYTES``): a rough look at the document, which leaves every error to the check."""
    if doc is None:  # a delete
        return True
    if "extents" not in doc:  # no volume: a write with no nested value is judged cheap
        return not any(isinstance(v, (list, dict)) for v in doc.values())
    items = doc["extents"]
    if not isinstance(items, list) or len(items) > INLINE_VOLUMES:
        return False
    for item in items:
        volume = item.get("volume") if isinstance(item, dict) else None
        if not isinstance(volume, dict):
            return False
        circle, polygon = volume.get("outline_circle"), volume.get("outline_polygon")
        if isinstance(circle, dict):
            radius = circle.get("radius")
            value = radius.get("value") if isinstance(radius, dict) else None
            units = radius.get("units") if isinstance(radius, dict) else None
            if units != "M" or not isinstance(value, (int, float)) or not value <= INLINE_RADIUS_M:
                return False
        elif isinstance(polygon, dict):
            vertices = polygon.get("vertices")
            if not isinstance(vertices, list) or len(vertices) > INLINE_VERTICES:
                return False
            try:
                lats = [float(v["lat"]) for v in vertices]
                lngs = [float(v["lng"]) for v in vertices]
                lat_span, lng_span = max(lats) - min(lats), max(lngs) - min(lngs)
            except (TypeError, KeyError, ValueError, OverflowError):  # an error for the check
                return False
            if not (lat_span <= INLINE_SPAN_DEG and lng_span <= INLINE_SPAN_DEG):  # NaN too
                return False
        else:
            return False
    return True


async def _run(
    request: Request,
    options: list[set[str]],
    status: int,
    work: Callable[[Caller, dict[str, Any] | None], Any],
    *,
    write: bool = False,
    placed: bool = False,
    body: bool = False,
) -> Response:
    try:
        caller = _caller(request, options)
        raw = await request.body() if body else None
        store = request.app.state.store
        # an intent's write holds its places, not the whole store (``Scd._hold``)
        run = (
            partial(store.write_tx, placed=True)
            if placed
            else (store.write_tx if write else store.read_tx)
        )
        base_url = getattr(request.app.state, "public_url", "")

        def prepare(doc: dict[str, Any] | None) -> Callable[[Tx], bytes]:
            prepared = work(caller, doc)  # stateless validation; the transaction to run
            return lambda tx: _render(prepared(Scd(tx, datetime.now(UTC), base_url)))

        doc = None
        inline = (write or placed) and isinstance(store, SqliteStore)
        if inline and body:
            inline = raw is not None and len(raw) <= INLINE_BYTES and _small(doc := _parse(raw))
        if inline:
            # a small write on the embedded store: checked here and queued for its single
            # writer, which wakes the event loop itself. Through a worker thread, the thread
            # and the loop would take turns, and the loop, woken while the writer works, would
            # hold up its transaction (the interpreter lock).
            content = await await_write(store.queue_write(prepare(doc)))
        else:
            # parsing and checking volumes (S2 cells) is CPU work: in a worker thread, so that
            # a large request holds up no other; the answer is made inside the transaction
            def serve() -> bytes:
                parsed = _parse(raw) if body and doc is None else doc  # parsed above if small
                out: bytes = run(prepare(parsed))
                return out

            content = await run_in_threadpool(serve)
        return Response(content, status_code=status, media_type="application/json")
    except ServiceUnavailable as exc:
        return problems.unavailable(request, exc)
    except Unauthenticated as exc:
        await problems.record_login_failure(request, exc.user_message)
        return _reply(401, {"message": exc.user_message})
    except BadRequest as exc:
        return _reply(400, {"message": exc.message})
    except ScdError as exc:
        return _reply(exc.status, exc.body or {"message": exc.message})


def _extents(doc: dict[str, Any], key: str = "extents") -> Extent:
    items = doc.get(key)
    if not isinstance(items, list) or not items:
        raise BadRequest(f"{key} must be a non-empty list of Volume4D")
    ext = union([parse_volume4d(v, f"{key}[{i}]") for i, v in enumerate(items)])
    if ext.time_start is None or ext.time_end is None:
        raise BadRequest(f"{key}: time_start and time_end are required")
    if ext.time_end < datetime.now(UTC):
        raise BadRequest(f"{key}: time_end is in the past")
    return ext


def _area(doc: dict[str, Any] | None) -> Extent:
    assert doc is not None
    ext = parse_volume4d(doc.get("area_of_interest"), "area_of_interest")
    if ext.cells is None:
        raise BadRequest("area_of_interest: an outline is required")
    return ext


# --- operational intent references ---------------------------------------------------------
def _native_covers(native: list[Volume4D] | None) -> list[VolumeCover] | None:
    """The native view's index cells, worked out before the writer's turn (None: worked out in
    the transaction, where a volume that has none leaves the intent without a native view)."""
    try:
        return coverings_of(native) if native else None
    except ValueError:
        return None


def _put_oir(eid: str, ovn: str | None) -> Callable[[Caller, dict[str, Any] | None], Any]:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        assert doc is not None
        oid = _uuid(eid, "entityid")
        base_url = _base_url(doc.get("uss_base_url"), "uss_base_url")
        sub_id = doc.get("subscription_id")
        if sub_id is not None:
            sub_id = _uuid(sub_id, "subscription_id")
        new_sub = doc.get("new_subscription")
        if new_sub is not None:
            if not isinstance(new_sub, dict):
                raise BadRequest("new_subscription must be an object")
            _base_url(new_sub.get("uss_base_url"), "new_subscription.uss_base_url")
            if sub_id is not None:
                raise BadRequest("give subscription_id or new_subscription, not both")
        state = doc.get("state")
        if state not in STATES:
            raise BadRequest(f"state must be one of {', '.join(STATES)}")
        ext = _extents(doc)
        if ext.alt_lower is None or ext.alt_upper is None:
            raise BadRequest("extents: altitude_lower and altitude_upper are required")
        if ovn is None and state != "Accepted":
            raise BadRequest("a new operational intent must be Accepted")
        if state != "Accepted" and sub_id is None and new_sub is None:
            raise BadRequest(f"a {state} operational intent needs a subscription")
        if state in ("Nonconforming", "Contingent") and CMSA not in caller.scopes:
            raise ScdError(403, f"{state} needs the {CMSA} scope")
        key = doc.get("key") or []
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
            raise BadRequest("key must be a list of OVNs")
        native = native_volumes(doc["extents"])
        covers = _native_covers(native)
        return lambda scd: scd.put_oir(
            caller, oid, ovn, ext, state, set(key), base_url, sub_id, new_sub, native, covers
        )

    return work


@router.put(
    "/operational_intent_references/{entityid}",
    status_code=201,
    responses=_errors(400, 401, 403, 409, ok=(201, f3548.ChangeOperationalIntentReferenceResponse)),
)
async def create_oir(entityid: str, request: Request) -> Response:
    return await _run(
        request, [{SC}, {CMSA}], 201, _put_oir(entityid, None), placed=True, body=True
    )


@router.put(
    "/operational_intent_references/{entityid}/{ovn}",
    responses=_errors(400, 401, 403, 409, ok=(200, f3548.ChangeOperationalIntentReferenceResponse)),
)
async def update_oir(entityid: str, ovn: str, request: Request) -> Response:
    return await _run(request, [{SC}, {CMSA}], 200, _put_oir(entityid, ovn), placed=True, body=True)


@router.get(
    "/operational_intent_references/{entityid}",
    responses=_errors(400, 401, 403, 404, ok=(200, f3548.GetOperationalIntentReferenceResponse)),
)
async def get_oir(entityid: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        oid = _uuid(entityid, "entityid")
        return lambda scd: scd.view("oir", oid, caller.manager)

    return await _run(request, [{SC}, {CMSA}], 200, work)


@router.delete(
    "/operational_intent_references/{entityid}/{ovn}",
    responses=_errors(
        400, 401, 403, 404, 409, ok=(200, f3548.ChangeOperationalIntentReferenceResponse)
    ),
)
async def delete_oir(entityid: str, ovn: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        oid = _uuid(entityid, "entityid")
        return lambda scd: scd.delete_oir(caller, oid, ovn)

    return await _run(request, [{SC}, {CMSA}], 200, work, placed=True)


@router.post(
    "/operational_intent_references/query",
    responses=_errors(400, 401, 403, ok=(200, f3548.QueryOperationalIntentReferenceResponse)),
)
async def query_oirs(request: Request) -> Response:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        ext = _area(doc)
        return lambda scd: {"operational_intent_references": scd.query("oir", ext, caller.manager)}

    return await _run(request, [{SC}, {CMSA}], 200, work, body=True)


# --- constraint references -----------------------------------------------------------------
def _put_constraint(eid: str, ovn: str | None) -> Callable[[Caller, dict[str, Any] | None], Any]:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        assert doc is not None
        cid = _uuid(eid, "entityid")
        base_url = _base_url(doc.get("uss_base_url"), "uss_base_url")
        ext = _extents(doc)
        return lambda scd: scd.put_constraint(caller, cid, ovn, ext, base_url)

    return work


@router.put(
    "/constraint_references/{entityid}",
    status_code=201,
    responses=_errors(400, 401, 403, 409, ok=(201, f3548.ChangeConstraintReferenceResponse)),
)
async def create_constraint(entityid: str, request: Request) -> Response:
    return await _run(request, [{CM}], 201, _put_constraint(entityid, None), write=True, body=True)


@router.put(
    "/constraint_references/{entityid}/{ovn}",
    responses=_errors(400, 401, 403, 409, ok=(200, f3548.ChangeConstraintReferenceResponse)),
)
async def update_constraint(entityid: str, ovn: str, request: Request) -> Response:
    return await _run(request, [{CM}], 200, _put_constraint(entityid, ovn), write=True, body=True)


@router.get(
    "/constraint_references/{entityid}",
    responses=_errors(400, 401, 403, 404, ok=(200, f3548.GetConstraintReferenceResponse)),
)
async def get_constraint(entityid: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        cid = _uuid(entityid, "entityid")
        return lambda scd: scd.view("constraint", cid, caller.manager)

    return await _run(request, [{CM}, {CP}], 200, work)


@router.delete(
    "/constraint_references/{entityid}/{ovn}",
    responses=_errors(400, 401, 403, 404, 409, ok=(200, f3548.ChangeConstraintReferenceResponse)),
)
async def delete_constraint(entityid: str, ovn: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        cid = _uuid(entityid, "entityid")
        return lambda scd: scd.delete_constraint(caller, cid, ovn)

    return await _run(request, [{CM}], 200, work, write=True)


@router.post(
    "/constraint_references/query",
    responses=_errors(400, 401, 403, ok=(200, f3548.QueryConstraintReferencesResponse)),
)
async def query_constraints(request: Request) -> Response:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        ext = _area(doc)
        return lambda scd: {"constraint_references": scd.query("constraint", ext, caller.manager)}

    return await _run(request, [{CM}, {CP}], 200, work, body=True)


# --- subscriptions -------------------------------------------------------------------------
def _put_sub(sid: str, version: str | None) -> Callable[[Caller, dict[str, Any] | None], Any]:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        assert doc is not None
        subid = _uuid(sid, "subscriptionid")
        base_url = _base_url(doc.get("uss_base_url"), "uss_base_url")
        ext = parse_volume4d(doc.get("extents"), "extents")
        notify_ops = doc.get("notify_for_operational_intents", False) is True
        notify_cons = doc.get("notify_for_constraints", False) is True
        if not (notify_ops or notify_cons):
            raise BadRequest("no notification triggers requested")
        return lambda scd: scd.put_sub(
            caller, subid, version, ext, base_url, notify_ops, notify_cons
        )

    return work


@router.put(
    "/subscriptions/{subscriptionid}",
    responses=_errors(400, 401, 403, 409, ok=(200, f3548.PutSubscriptionResponse)),
)
async def create_sub(subscriptionid: str, request: Request) -> Response:
    return await _run(
        request, [{SC}, {CP}], 200, _put_sub(subscriptionid, None), write=True, body=True
    )


@router.put(
    "/subscriptions/{subscriptionid}/{version}",
    responses=_errors(400, 401, 403, 409, ok=(200, f3548.PutSubscriptionResponse)),
)
async def update_sub(subscriptionid: str, version: str, request: Request) -> Response:
    return await _run(
        request, [{SC}, {CP}], 200, _put_sub(subscriptionid, version), write=True, body=True
    )


@router.get(
    "/subscriptions/{subscriptionid}",
    responses=_errors(400, 401, 403, 404, ok=(200, f3548.GetSubscriptionResponse)),
)
async def get_sub(subscriptionid: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        subid = _uuid(subscriptionid, "subscriptionid")
        return lambda scd: scd.get_sub(caller, subid)

    return await _run(request, [{SC}, {CP}], 200, work)


@router.delete(
    "/subscriptions/{subscriptionid}/{version}",
    responses=_errors(400, 401, 403, 404, 409, ok=(200, f3548.DeleteSubscriptionResponse)),
)
async def delete_sub(subscriptionid: str, version: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        subid = _uuid(subscriptionid, "subscriptionid")
        return lambda scd: scd.delete_sub(caller, subid, version)

    return await _run(request, [{SC}, {CP}], 200, work, write=True)


@router.post(
    "/subscriptions/query",
    responses=_errors(400, 401, 403, ok=(200, f3548.QuerySubscriptionsResponse)),
)
async def query_subs(request: Request) -> Response:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        ext = _area(doc)
        return lambda scd: {"subscriptions": scd.query_subs(caller, ext)}

    return await _run(request, [{SC}, {CP}], 200, work, body=True)


# --- a version or OVN left empty (a path ending in "/"): refused, not redirected ---------------
async def _missing_version(request: Request, options: list[set[str]]) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        raise BadRequest("the OVN or version in the path is empty")

    return await _run(request, options, 400, work)


@router.put(
    "/operational_intent_references/{entityid}/",
    responses=_errors(400, 401, 403),
    include_in_schema=False,
)
@router.delete(
    "/operational_intent_references/{entityid}/",
    responses=_errors(400, 401, 403),
    include_in_schema=False,
)
async def oir_without_ovn(entityid: str, request: Request) -> Response:
    return await _missing_version(request, [{SC}, {CMSA}])


@router.put("/constraint_references/{entityid}/", include_in_schema=False)
@router.delete("/constraint_references/{entityid}/", include_in_schema=False)
async def constraint_without_ovn(entityid: str, request: Request) -> Response:
    return await _missing_version(request, [{CM}])


@router.put("/subscriptions/{subscriptionid}/", include_in_schema=False)
@router.delete("/subscriptions/{subscriptionid}/", include_in_schema=False)
async def sub_without_version(subscriptionid: str, request: Request) -> Response:
    return await _missing_version(request, [{SC}, {CP}])


# --- USS availability and reports ----------------------------------------------------------
_AVAILABILITY = {"": "Unknown", "unknown": "Unknown", "normal": "Normal", "down": "Down"}


@router.get(
    "/uss_availability/{uss_id}",
    responses=_errors(400, 401, 403, ok=(200, f3548.UssAvailabilityStatusResponse)),
)
async def get_availability(uss_id: str, request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        def tx(scd: Scd) -> Any:
            availability, version = scd.availability(uss_id)
            return {"status": {"uss": uss_id, "availability": availability}, "version": version}

        return tx

    return await _run(request, [{AA}, {SC}, {CMSA}], 200, work)


@router.put(
    "/uss_availability/{uss_id}",
    responses=_errors(400, 401, 403, 409, ok=(200, f3548.UssAvailabilityStatusResponse)),
)
async def put_availability(uss_id: str, request: Request) -> Response:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        assert doc is not None
        raw = doc.get("availability", "")
        value = _AVAILABILITY.get(raw.lower()) if isinstance(raw, str) else None
        if value is None:
            raise BadRequest(f"availability must be Unknown, Normal or Down, not {raw!r}")
        old = doc.get("old_version") or ""
        if not isinstance(old, str):
            raise BadRequest("old_version must be a string")
        return lambda scd: scd.put_availability(uss_id, value, old)

    return await _run(request, [{AA}], 200, work, write=True, body=True)


@router.post(
    "/reports", status_code=201, responses=_errors(400, 401, 403, ok=(201, f3548.ErrorReport))
)
async def make_report(request: Request) -> Response:
    def work(caller: Caller, doc: dict[str, Any] | None) -> Any:
        assert doc is not None
        import uuid

        report = {**doc, "report_id": str(uuid.uuid4())}
        return lambda scd: report

    return await _run(request, [{CM}, {CP}, {SC}, {CMSA}, {AA}], 201, work, body=True)


# --- this service as the managing USS of native intents ---------------------------------------
uss_router = APIRouter(prefix="/uss/v1", tags=["ASTM F3548-21 USS (native intents)"])


@uss_router.get(
    "/operational_intents/{entityid}",
    responses=_errors(400, 401, 403, 404, ok=(200, f3548.GetOperationalIntentDetailsResponse)),
)
async def get_native_details(entityid: str, request: Request) -> Response:
    """Details of an intent a party publishes from ``/v1`` (F3548
    ``getOperationalIntentDetails``), served as its managing USS would: the published volumes
    (coarsened as its owner chose), or the exact ones when the caller's party is given them in
    full by an agreement; its OVN included. Intents written through the DSS are served by their
    own USS, not here."""

    def work(caller: Caller, _: Any) -> Any:
        eid = entityid.lower() if _UUID4.match(entityid) else entityid

        def tx(scd: Scd) -> Any:
            ent = native.reference(scd.tx, "oir", eid, scd.native_base_url)
            if ent is None:
                raise ScdError(404, f"no operational intent {eid} is served here")
            return native.intent_details(scd.tx, ent, scd.native_base_url, caller.manager)

        return tx

    return await _run(request, [{SC}], 200, work)


@uss_router.get(
    "/constraints/{entityid}",
    responses=_errors(400, 401, 403, 404, ok=(200, f3548.GetConstraintDetailsResponse)),
)
async def get_native_constraint(entityid: str, request: Request) -> Response:
    """Details of an area a party publishes from ``/v1`` as a constraint (F3548
    ``getConstraintDetails``), on the same rules as intents."""

    def work(caller: Caller, _: Any) -> Any:
        eid = entityid.lower() if _UUID4.match(entityid) else entityid

        def tx(scd: Scd) -> Any:
            ent = native.reference(scd.tx, "constraint", eid, scd.native_base_url)
            if ent is None:
                raise ScdError(404, f"no constraint {eid} is served here")
            return native.constraint_details(scd.tx, ent, scd.native_base_url, caller.manager)

        return tx

    return await _run(request, [{CM}, {CP}, {SC}], 200, work)


# --- InterUSS auxiliary endpoints: version and pool ------------------------------------------
aux_router = APIRouter(tags=["InterUSS auxiliary"])
VERSIONS = "interuss.versioning.read_system_versions"
POOL_READ = "interuss.pool_status.read"
#: One instance, one airspace representation: the pool is this service alone.
DAR_ID = "deconfliction-single-instance"


@aux_router.get(
    "/versions/{system_identity}",
    responses=_errors(400, 401, 403, ok=(200, f3548.GetVersionResponse)),
)
async def get_version(system_identity: str, request: Request) -> Response:

    def work(caller: Caller, _: Any) -> Any:
        return lambda scd: {
            "system_identity": system_identity,
            "system_version": f"deconfliction-{__version__}",
        }

    return await _run(request, [{VERSIONS}], 200, work)


@aux_router.get("/aux/v1/pool", responses=_errors(401, 403, ok=(200, f3548.PoolResponse)))
async def get_pool(request: Request) -> Response:
    def work(caller: Caller, _: Any) -> Any:
        return lambda scd: {"dar_id": DAR_ID}

    return await _run(request, [{POOL_READ}], 200, work)
