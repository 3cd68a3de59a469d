"""The picture in the formats other tools read, and areas imported from theirs.

- ``GET /v1/picture/cot``: the caller's released picture as Cursor on Target events (an
  ``<events>`` document; ``formats.cot``), what ``deconfliction cot out`` serves to TAK.
- ``GET /v1/picture/kml``: the same picture as KML, or KMZ with ``?kmz=true``.
- ``POST /v1/areas/import?format=openair|aixm|notam|navwarning``: the body (the file as it is)
  becomes the caller's own areas, all in one transaction or none, with an error naming the
  line, feature or message and the field.

Everything shown comes from ``exchange.picture.released_picture``: the one release rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ..errors import DeconflictionError, FieldError, InvalidInput
from ..exchange.picture import released_picture
from ..formats import aixm, cot, kml, notam, openair
from ..formats.airspace import AreaImportError, ImportedArea, Window
from ..model import RecordKind
from .deps import PartyDep, StoreDep
from .problems import responses

router = APIRouter(prefix="/v1", tags=["formats"])


class ImportFormat(StrEnum):
    OPENAIR = "openair"
    AIXM = "aixm"
    NOTAM = "notam"
    NAVWARNING = "navwarning"


class Imported(BaseModel):
    created: list[str]
    left_out: dict[str, int]
    notes: list[str]
    conflicts: int


class ImportRefused(DeconflictionError):
    code = "import-refused"
    http_status = 422


def _picture(request: Request, party: str, with_tracks: bool = True) -> Any:
    app = request.app
    return released_picture(
        app.state.store,
        party,
        datetime.now(UTC),
        tracks=app.state.tracks.snapshot() if with_tracks else None,
        tactical=app.state.tactical.active(party),
    )


@router.get(
    "/picture/cot",
    responses={200: {"content": {"application/xml": {}}}, **responses(401, 403, 422)},
    response_class=Response,
)
def picture_cot(
    request: Request,
    party: PartyDep,
    stale_s: Annotated[float, Query(ge=5, le=3600, description="tracks' and alerts' stale")] = 60,
) -> Response:
    """Your released picture as CoT events: tracks, volumes as shapes, conflicts and tactical
    alerts as alerts (docs/formats.md has the mapping)."""
    pic = _picture(request, party)
    events = cot.picture_events(pic, datetime.now(UTC), stale_s)
    body = b"<?xml version='1.0' encoding='UTF-8'?>\n<events>" + b"".join(events) + b"</events>"
    return Response(body, media_type="application/xml")


@router.get(
    "/picture/kml",
    responses={
        200: {
            "content": {
                "application/vnd.google-earth.kml+xml": {},
                "application/vnd.google-earth.kmz": {},
            }
        },
        **responses(401, 403, 422),
    },
    response_class=Response,
)
def picture_kml(
    request: Request,
    party: PartyDep,
    kmz: Annotated[bool, Query(description="a KMZ (zipped) rather than KML")] = False,
) -> Response:
    """Your released picture as KML (Google Earth, QGIS): volumes with their altitudes and
    windows (TimeSpan), tracks, conflicts."""
    text = kml.picture_kml(_picture(request, party))
    if kmz:
        return Response(
            kml.to_kmz(text),
            media_type="application/vnd.google-earth.kmz",
            headers={"Content-Disposition": 'attachment; filename="picture.kmz"'},
        )
    return Response(text.encode(), media_type="application/vnd.google-earth.kml+xml")


def parse_import(
    data: bytes,
    fmt: ImportFormat,
    source: str,
    window: Window,
    prefix: str,
    agl_m: float | None,
) -> tuple[list[ImportedArea], dict[str, int], list[str]]:
    """Read an import (nothing written); raises AreaImportError naming the place."""
    if fmt is ImportFormat.AIXM:
        r = aixm.read_aixm(data, source, window, prefix=prefix, agl_m=agl_m)
        return r.areas, r.left_out, []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise AreaImportError(f"{source}: not text") from None
    if fmt is ImportFormat.OPENAIR:
        o = openair.read_openair(text, source, window, prefix=prefix, agl_m=agl_m)
        return o.areas, o.left_out, []
    if fmt is ImportFormat.NOTAM:
        return notam.read_notams(text, source, prefix=prefix, agl_m=agl_m), {}, []
    areas, notes = notam.read_navwarnings(text, source, prefix=prefix, agl_m=agl_m)
    return areas, {}, notes


@router.post(
    "/areas/import",
    status_code=201,
    response_model=Imported,
    responses=responses(400, 401, 403, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {}, "application/xml": {}, "application/octet-stream": {}},
        }
    },
)
async def import_areas(
    request: Request,
    party: PartyDep,
    store: StoreDep,
    format: Annotated[ImportFormat, Query(description="what the body is")],
    prefix: Annotated[str, Query(max_length=20, pattern=r"^[A-Za-z0-9._:-]*$")] = "",
    days: Annotated[int, Query(ge=1, le=31, description="OpenAir/AIXM: window length")] = 28,
    agl_m: Annotated[
        float | None, Query(ge=0, le=9000, description="highest ground under AGL limits")
    ] = None,
) -> Imported:
    """Import a file's areas as yours, every one or none (a clear error otherwise)."""
    data = await request.body()
    if not data.strip():
        raise InvalidInput([FieldError("", "the body is empty: send the file")])
    window = Window.airac(days=days)

    def run() -> Imported:
        try:
            areas, left_out, notes = parse_import(data, format, "body", window, prefix, agl_m)
        except AreaImportError as exc:
            raise ImportRefused(str(exc)) from None
        if not areas:
            raise ImportRefused("body: no area to import (see the format's left-out classes)")
        written = store.create_many(
            RecordKind.AREA, [(a.id, party, a.draft()) for a in areas], actor=party
        )
        return Imported(
            created=[w.record.id for w in written],
            left_out=left_out,
            notes=notes,
            conflicts=len({c.id for w in written for c in w.conflicts}),
        )

    return await run_in_threadpool(run)
