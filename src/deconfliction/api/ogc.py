"""OGC API - Features (Part 1: Core, GeoJSON), read-only, per party, under ``/ogc``.

The caller's released picture (``exchange.picture.released_picture``: its own records and
tracks, others' as its agreements release them) as four collections, so that QGIS, GDAL/OGR
(the OAPIF driver) and OWSLib add it as layers:

- ``intents`` and ``areas``: one feature per 4D volume (id ``RECORD.vN``), a Polygon (circles
  as 72-sided geodesic polygons; ``center_lon``, ``center_lat`` and ``radius_m`` kept as
  properties), with the volume's limits and window as properties and its window as the
  feature's time;
- ``tracks``: one Point feature per live track, at the state's time;
- ``conflicts``: one feature per conflict, the released footprints of its sides as a
  MultiPolygon (none where only a notice is released), the conflict's window as its time.

Every request needs a bearer token, as everywhere (GDAL: ``GDAL_HTTP_HEADERS="Authorization:
Bearer ..."``). Coordinates are CRS84 (lon, lat), the only CRS served. ``bbox`` (4 numbers, or
6 with heights in metres; west > east crosses the antimeridian) and ``datetime`` (an instant or
an interval, ``..`` open) filter the items; ``limit`` (1 to 10,000, default 100) and
``offset`` page them, with a ``next`` link. Written by hand over the domain rather than with
pygeoapi: pygeoapi's providers do not see who is asking, and every answer here is per party
(see docs/formats.md).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from shapely.geometry import box as shapely_box
from shapely.geometry import shape

from ..errors import DeconflictionError, NotFound
from ..exchange.picture import Picture, released_picture
from ..formats.kml import ring
from ..model import Volume4D
from ..model.footprint import unwrap_lons
from ..store.base import Store
from .deps import PartyDep, StoreDep
from .problems import responses

router = APIRouter(prefix="/ogc", tags=["ogc-api-features"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
COLLECTIONS = {
    "intents": "Operational intents: yours, and others' as your agreements release them",
    "areas": "Restricted and reserved areas: yours, and others' as released to you",
    "tracks": "Live tracks: yours, and others' as released to you",
    "conflicts": "Your conflicts, the other side as released to you",
}
GEOJSON = "application/geo+json"
MAX_LIMIT = 10_000
_KNOWN = {"bbox", "datetime", "limit", "offset", "f"}


class BadQuery(DeconflictionError):
    code = "bad-request"
    http_status = 400


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _link(href: str, rel: str, type_: str, title: str = "") -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


# --- the metadata documents (OGC API - Features Part 1, section 7; its field names) --------
class OgcLink(BaseModel):
    href: str
    rel: str
    type: str
    title: str | None = Field(default=None, description="left out where there is none")


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[OgcLink]


class ConformanceDeclaration(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]]
    crs: str


class TemporalExtent(BaseModel):
    interval: list[list[str | None]] = Field(description="[start, end]; null: open")


class CollectionExtent(BaseModel):
    spatial: SpatialExtent
    temporal: TemporalExtent


class CollectionInfo(BaseModel):
    id: str
    title: str
    description: str
    itemType: str
    crs: list[str]
    storageCrs: str
    extent: CollectionExtent
    links: list[OgcLink]


class Collections(BaseModel):
    links: list[OgcLink]
    collections: list[CollectionInfo]


def _doc_link(href: str, rel: str, type_: str, title: str | None = None) -> OgcLink:
    return OgcLink(href=href, rel=rel, type=type_, title=title)


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadQuery(f"{unknown[0]}: not a parameter of this resource")
    f = request.query_params.get("f")
    if f is not None and f not in ("json", "geojson"):
        raise BadQuery(f"f: only json is served, not {f!r}")


@router.get(
    "",
    response_model=LandingPage,
    response_model_exclude_none=True,
    responses=responses(400, 401, 403, 422),
)
def landing(request: Request, party: PartyDep) -> LandingPage:
    """The landing page: links to the API definition, the conformance and the collections."""
    _check_params(request, {"f"})
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return LandingPage(
        title="deconfliction: the released picture",
        description=f"What party {party} may see, as OGC API - Features collections.",
        links=[
            _doc_link(base, "self", "application/json", "this document"),
            _doc_link(
                f"{root}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.1",
                "the API definition",
            ),
            _doc_link(f"{base}/conformance", "conformance", "application/json"),
            _doc_link(f"{base}/collections", "data", "application/json"),
        ],
    )


@router.get(
    "/conformance",
    response_model=ConformanceDeclaration,
    responses=responses(400, 401, 403, 422),
)
def conformance(request: Request, _: PartyDep) -> ConformanceDeclaration:
    """The conformance classes implemented: Core and GeoJSON."""
    _check_params(request, {"f"})
    return ConformanceDeclaration(conformsTo=CONFORMANCE)


def _collection(base: str, cid: str) -> CollectionInfo:
    return CollectionInfo(
        id=cid,
        title=cid,
        description=COLLECTIONS[cid],
        itemType="feature",
        crs=[CRS84],
        storageCrs=CRS84,
        extent=CollectionExtent(
            spatial=SpatialExtent(bbox=[[-180.0, -90.0, 180.0, 90.0]], crs=CRS84),
            temporal=TemporalExtent(interval=[[None, None]]),
        ),
        links=[
            _doc_link(f"{base}/collections/{cid}", "self", "application/json"),
            _doc_link(f"{base}/collections/{cid}/items", "items", GEOJSON, f"{cid} as GeoJSON"),
        ],
    )


@router.get(
    "/collections",
    response_model=Collections,
    response_model_exclude_none=True,
    responses=responses(400, 401, 403, 422),
)
def collections(request: Request, _: PartyDep) -> Collections:
    """The four collections: intents, areas, tracks, conflicts."""
    _check_params(request, {"f"})
    base = _base(request)
    return Collections(
        links=[_doc_link(f"{base}/collections", "self", "application/json")],
        collections=[_collection(base, c) for c in COLLECTIONS],
    )


@router.get(
    "/collections/{collection_id}",
    response_model=CollectionInfo,
    response_model_exclude_none=True,
    responses=responses(400, 401, 403, 404, 422),
)
def collection(request: Request, collection_id: str, _: PartyDep) -> CollectionInfo:
    """One collection's description and the link to its items."""
    _check_params(request, {"f"})
    if collection_id not in COLLECTIONS:
        raise NotFound(f"no collection {collection_id!r}")
    return _collection(_base(request), collection_id)


# --- filters ----------------------------------------------------------------------------
def _parse_time(text: str, what: str) -> datetime | None:
    if text in ("..", ""):
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(f"datetime: {what} {text!r} is not an RFC 3339 date-time") from None
    if t.tzinfo is None:
        raise BadQuery(f"datetime: {what} {text!r} has no time zone")
    return t.astimezone(UTC)


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    """``datetime``: an instant, or ``start/end`` with ``..`` (or nothing) for an open end."""
    if text is None:
        return None
    if "/" in text:
        a, _, b = text.partition("/")
        lo, hi = _parse_time(a, "start"), _parse_time(b, "end")
        if lo is None and hi is None:
            raise BadQuery("datetime: an interval needs at least one end")
        if lo is not None and hi is not None and hi < lo:
            raise BadQuery("datetime: the interval ends before it starts")
        return lo, hi
    t = _parse_time(text, "instant")
    if t is None:
        raise BadQuery("datetime: '..' is not an instant")
    return t, t


def parse_bbox(text: str | None) -> tuple[float, float, float, float, float, float] | None:
    if text is None:
        return None
    try:
        nums = [float(x) for x in text.split(",")]
    except ValueError:
        raise BadQuery(f"bbox: {text!r} is not 4 or 6 comma-separated numbers") from None
    if len(nums) not in (4, 6) or not all(math.isfinite(n) for n in nums):
        raise BadQuery(f"bbox: {text!r} is not 4 or 6 comma-separated numbers")
    if len(nums) == 4:
        w, s, e, n = nums
        lo, hi = -math.inf, math.inf
    else:
        w, s, lo, e, n, hi = nums
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90) or hi < lo:
        raise BadQuery(f"bbox: {text!r} is outside CRS84 or its corners are swapped")
    return w, s, e, n, lo, hi


def _boxes(bb: tuple[float, float, float, float, float, float]) -> list[Any]:
    w, s, e, n = bb[:4]
    if w <= e:
        return [shapely_box(w, s, e, n)]
    return [shapely_box(w, s, 180.0, n), shapely_box(-180.0, s, e, n)]


def _hits(geom: Any, bb: tuple[float, float, float, float, float, float] | None) -> bool:
    if bb is None:
        return True
    if geom is None:
        return False
    boxes = _boxes(bb)
    # a ring crossing the antimeridian is unwrapped past +-180: test it shifted too
    return any(
        geom.intersects(b) or geom.intersects(_shift(b, 360.0)) or geom.intersects(_shift(b, -360))
        for b in boxes
    )


def _shift(b: Any, dx: float) -> Any:
    x0, y0, x1, y1 = b.bounds
    return shapely_box(x0 + dx, y0, x1 + dx, y1)


def _int(text: str | None, name: str, lo: int, hi: int, default: int) -> int:
    if text is None:
        return default
    try:
        v = int(text)
    except ValueError:
        raise BadQuery(f"{name}: {text!r} is not an integer") from None
    if not lo <= v <= hi:
        raise BadQuery(f"{name}: {v} is not between {lo} and {hi}")
    return v


def _in_time(
    t0: datetime, t1: datetime, span: tuple[datetime | None, datetime | None] | None
) -> bool:
    if span is None:
        return True
    lo, hi = span
    return (lo is None or t1 >= lo) and (hi is None or t0 <= hi)


def _polygon(v: Volume4D) -> dict[str, Any]:
    pts = ring(v)
    lons = unwrap_lons([p[0] for p in pts])
    return {"type": "Polygon", "coordinates": [[[x, p[1]] for x, p in zip(lons, pts, strict=True)]]}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _features(picture: Picture, cid: str) -> list[tuple[dict[str, Any], datetime, datetime]]:
    """(feature, start, end) of every item of the collection."""
    out: list[tuple[dict[str, Any], datetime, datetime]] = []
    if cid in ("intents", "areas"):
        kind = cid[:-1]
        for pr in picture.records:
            if pr.kind.value != kind:
                continue
            rec = pr.record
            for i, v in enumerate(rec.volumes):
                props: dict[str, Any] = {
                    "record_id": rec.id,
                    "owner": rec.owner,
                    "level": pr.level,
                    "name": getattr(rec, "name", ""),
                    "volume": i,
                    "alt_lower_m": v.alt_lower_m,
                    "alt_upper_m": v.alt_upper_m,
                    "time_start": _iso(v.time_start),
                    "time_end": _iso(v.time_end),
                }
                for attr in ("state", "category", "priority", "kind", "version"):
                    val = getattr(rec, attr, None)
                    if val is not None:
                        props[attr if attr != "kind" else "area_kind"] = getattr(val, "value", val)
                if v.footprint.type == "Circle":
                    props["center_lon"], props["center_lat"] = v.footprint.center
                    props["radius_m"] = v.footprint.radius_m
                feat = {
                    "type": "Feature",
                    "id": f"{rec.id}.v{i}",
                    "geometry": _polygon(v),
                    "properties": props,
                }
                out.append((feat, v.time_start, v.time_end))
    elif cid == "tracks":
        for t in picture.tracks:
            when = datetime.fromisoformat(str(t["time"]).replace("Z", "+00:00"))
            props = {k: v for k, v in t.items() if k not in ("lon", "lat")}
            props["track_id"] = props.pop("id")
            feat = {
                "type": "Feature",
                "id": f"{t['party']}.{t['id']}",
                "geometry": {"type": "Point", "coordinates": [t["lon"], t["lat"], t["alt_m"]]},
                "properties": props,
            }
            out.append((feat, when, when))
    else:
        for c in picture.conflicts:
            polys = [_polygon(v)["coordinates"] for s in (c.a, c.b) for v in s.volumes]
            geom = {"type": "MultiPolygon", "coordinates": polys} if polys else None
            props = {
                "a_id": c.a.id,
                "a_owner": c.a.owner,
                "a_kind": c.a.kind.value,
                "b_id": c.b.id,
                "b_owner": c.b.owner,
                "b_kind": c.b.kind.value,
                "time_start": _iso(c.time_start),
                "time_end": _iso(c.time_end),
                # a notice carries no gaps (None)
                "horizontal_gap_m": c.gaps.horizontal_m if c.gaps is not None else None,
                "vertical_gap_m": c.gaps.vertical_m if c.gaps is not None else None,
                "time_gap_s": c.gaps.time_s if c.gaps is not None else None,
                "detected_at": _iso(c.detected_at),
            }
            feature: dict[str, Any] = {
                "type": "Feature",
                "id": c.id,
                "geometry": geom,
                "properties": props,
            }
            out.append((feature, c.time_start, c.time_end))
    return out


def _alt_range(feat: dict[str, Any]) -> tuple[float, float]:
    p = feat["properties"]
    if "alt_lower_m" in p:
        return float(p["alt_lower_m"]), float(p["alt_upper_m"])
    if "alt_m" in p:
        return float(p["alt_m"]), float(p["alt_m"])
    return -math.inf, math.inf


def _picture(request: Request, store: Store, party: str, cid: str) -> Picture:
    if cid not in COLLECTIONS:
        raise NotFound(f"no collection {cid!r}")
    app = request.app
    return released_picture(
        store,
        party,
        datetime.now(UTC),
        tracks=app.state.tracks.snapshot() if cid == "tracks" else None,
        tactical=None,
    )


@router.get(
    "/collections/{collection_id}/items",
    responses={
        200: {"content": {GEOJSON: {}}},
        **responses(400, 401, 403, 404, 422),
    },
)
def items(
    request: Request,
    collection_id: str,
    party: PartyDep,
    store: StoreDep,
    bbox: Annotated[str | None, Query(description="west,south,east,north (CRS84)")] = None,
    datetime_: Annotated[
        str | None, Query(alias="datetime", description="an instant or start/end ('..' open)")
    ] = None,
    limit_: Annotated[
        str | None, Query(alias="limit", description=f"1 to {MAX_LIMIT} (default 100)")
    ] = None,
    offset_: Annotated[str | None, Query(alias="offset", description=">= 0 (default 0)")] = None,
) -> JSONResponse:
    """The collection's features that meet ``bbox`` and ``datetime``, a page at a time."""
    _check_params(request, _KNOWN)
    limit = _int(limit_, "limit", 1, MAX_LIMIT, 100)
    offset = _int(offset_, "offset", 0, 10**9, 0)
    bb, span = parse_bbox(bbox), parse_datetime(datetime_)
    picture = _picture(request, store, party, collection_id)
    found = []
    for feat, t0, t1 in _features(picture, collection_id):
        if not _in_time(t0, t1, span):
            continue
        g = feat["geometry"]
        if bb is not None:
            lo, hi = _alt_range(feat)
            if hi < bb[4] or lo > bb[5] or not _hits(shape(g) if g else None, bb):
                continue
        found.append(feat)
    page = found[offset : offset + limit]
    base = f"{_base(request)}/collections/{collection_id}/items"
    query = {k: v for k, v in request.query_params.items() if k not in ("offset",)}
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    links = [_link(f"{base}?{qs}&offset={offset}".replace("?&", "?"), "self", GEOJSON)]
    if offset + limit < len(found):
        links.append(
            _link(f"{base}?{qs}&offset={offset + limit}".replace("?&", "?"), "next", GEOJSON)
        )
    body = {
        "type": "FeatureCollection",
        "features": page,
        "numberMatched": len(found),
        "numberReturned": len(page),
        "timeStamp": _iso(picture.at),
        "links": links,
    }
    return JSONResponse(body, media_type=GEOJSON, headers={"Content-Crs": f"<{CRS84}>"})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    responses={200: {"content": {GEOJSON: {}}}, **responses(400, 401, 403, 404, 422)},
)
def item(
    request: Request, collection_id: str, feature_id: str, party: PartyDep, store: StoreDep
) -> JSONResponse:
    _check_params(request, {"f"})
    picture = _picture(request, store, party, collection_id)
    for feat, _, _ in _features(picture, collection_id):
        if feat["id"] == feature_id:
            base = f"{_base(request)}/collections/{collection_id}"
            feat = {
                **feat,
                "links": [
                    _link(f"{base}/items/{feature_id}", "self", GEOJSON),
                    _link(base, "collection", "application/json"),
                ],
            }
            return JSONResponse(feat, media_type=GEOJSON, headers={"Content-Crs": f"<{CRS84}>"})
    raise NotFound(f"no feature {feature_id!r} in {collection_id}")
