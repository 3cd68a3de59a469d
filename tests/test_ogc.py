"""OGC API - Features under /ogc: the protocol, the filters, the release rule, and GDAL's
OAPIF driver (``ogrinfo``) as a real client."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import Api
from deconfliction.api.ogc import CONFORMANCE
from deconfliction.auth import mint_token
from helpers import agree
from scene import Scene, box, start, vol


def _setup(api: Api) -> None:
    agree(api, "RU", "FR", {"releases": {"RU": {"default": "extent"}}, "reciprocity": False})
    for who, rid, fp in (
        ("FR", "FR-1", box(33, 34, 33.5, 34.5)),
        ("RU", "RU-1", box(33.2, 34.2, 33.6, 34.6)),
        ("UK", "UK-1", box(33.1, 34.1, 33.3, 34.3)),
    ):
        r = api.post("/v1/intents", who, json={"id": rid, "volumes": [vol(fp, 5000, 9000, -1, 2)]})
        assert r.status_code == 201, r.text
    circle = {"type": "Circle", "center": [10.0, 50.0], "radius_m": 5000}
    r = api.post("/v1/areas", "FR", json={"id": "FR-A", "volumes": [vol(circle, 0, 3000, 5, 6)]})
    assert r.status_code == 201, r.text


def _items(api: Api, coll: str, who: str = "FR", **params: Any) -> dict[str, Any]:
    r = api.get(f"/ogc/collections/{coll}/items", who, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    out: dict[str, Any] = r.json()
    return out


def test_landing_conformance_and_collections(api: Api) -> None:
    land = api.get("/ogc", "FR")
    assert land.status_code == 200
    rels = {ln["rel"]: ln["href"] for ln in land.json()["links"]}
    assert set(rels) == {"self", "service-desc", "conformance", "data"}
    assert rels["conformance"].endswith("/ogc/conformance")
    assert api.get("/ogc/conformance", "FR").json() == {"conformsTo": CONFORMANCE}
    colls = api.get("/ogc/collections", "FR").json()["collections"]
    assert [c["id"] for c in colls] == ["intents", "areas", "tracks", "conflicts"]
    one = api.get("/ogc/collections/areas", "FR").json()
    assert one["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    assert {ln["rel"] for ln in one["links"]} == {"self", "items"}
    assert api.get("/ogc/collections/targets", "FR").status_code == 404
    assert api.get("/ogc/collections/targets/items", "FR").status_code == 404


def test_a_token_is_needed_and_the_role_table_applies(
    api: Api, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    assert api.get("/ogc").status_code == 401
    assert api.get("/ogc/collections/intents/items").status_code == 401
    only_admin = {"Authorization": f"Bearer {mint_token(signing_key, 'FR', roles=['admin'])}"}
    r = api.client.get("/ogc/collections/intents/items", headers=only_admin)
    assert r.status_code == 403 and "needs one of the roles" in r.text
    assert api.client.get("/ogc", headers=only_admin).status_code == 200  # any role
    auditor = {"Authorization": f"Bearer {mint_token(signing_key, 'FR', roles=['auditor'])}"}
    assert api.client.get("/ogc/collections/intents/items", headers=auditor).status_code == 200


def test_items_are_the_released_picture(api: Api) -> None:
    _setup(api)
    fc = _items(api, "intents")
    assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 2
    by_id = {f["properties"]["record_id"]: f for f in fc["features"]}
    assert set(by_id) == {"FR-1", "RU-1"}  # the UK has no agreement with France: nothing
    assert by_id["FR-1"]["properties"]["level"] == "own"
    assert by_id["FR-1"]["geometry"]["coordinates"] == box(33, 34, 33.5, 34.5)["coordinates"]
    ru = by_id["RU-1"]
    assert ru["properties"]["level"] == "extent" and "radius_m" in ru["properties"]
    assert len(ru["geometry"]["coordinates"][0]) == 73  # the coarsened circle, drawn
    assert ru["id"] == "RU-1.v0"
    one = api.get("/ogc/collections/intents/items/RU-1.v0", "FR")
    assert one.status_code == 200 and one.json()["properties"]["level"] == "extent"
    assert api.get("/ogc/collections/intents/items/UK-1.v0", "FR").status_code == 404
    # the UK sees its own and nothing of the others
    assert {f["properties"]["record_id"] for f in _items(api, "intents", "UK")["features"]} == {
        "UK-1"
    }
    # the conflicts exactly as /v1/conflicts releases them to France
    conflicts = {f["id"]: f for f in _items(api, "conflicts")["features"]}
    released = {c["id"]: c for c in api.get("/v1/conflicts", "FR").json()["conflicts"]}
    assert set(conflicts) == set(released) and len(released) == 2
    for cid, f in conflicts.items():
        c = released[cid]
        assert (f["properties"]["a_id"], f["properties"]["b_id"]) == (c["a"]["id"], c["b"]["id"])
        n = len(f["geometry"]["coordinates"]) if f["geometry"] else 0
        assert n == len(c["a"]["volumes"]) + len(c["b"]["volumes"])
        if "UK" in (c["a"]["owner"], c["b"]["owner"]):  # a notice: the UK's side has no volume
            assert n == 1


def test_bbox_and_datetime_filters(api: Api) -> None:
    _setup(api)
    ids = lambda fc: sorted(f["id"] for f in fc["features"])  # noqa: E731
    assert ids(_items(api, "areas", bbox="9.9,49.9,10.1,50.1")) == ["FR-A.v0"]
    assert ids(_items(api, "areas", bbox="11,49,12,50")) == []
    assert ids(_items(api, "intents", bbox="33.55,34.55,34,35")) == ["RU-1.v0"]
    # heights: 6 numbers
    assert ids(_items(api, "areas", bbox="9,49,0,11,51,100")) == ["FR-A.v0"]
    assert ids(_items(api, "areas", bbox="9,49,4000,11,51,5000")) == []
    # across the antimeridian: west > east
    assert ids(_items(api, "areas", bbox="170,40,11,60")) == ["FR-A.v0"]
    # FR-A is active from +5 h to +6 h
    from scene import NOW  # the volumes' times are relative to it

    def at(h: float) -> str:
        from datetime import timedelta

        return (NOW + timedelta(hours=h)).isoformat().replace("+00:00", "Z")

    assert ids(_items(api, "areas", datetime=f"{at(5.5)}")) == ["FR-A.v0"]
    assert ids(_items(api, "areas", datetime=f"../{at(4)}")) == []
    assert ids(_items(api, "areas", datetime=f"{at(5.9)}/..")) == ["FR-A.v0"]
    assert ids(_items(api, "intents", datetime=f"{at(3)}/{at(4)}")) == []
    # paging
    page = _items(api, "intents", limit=1)
    assert page["numberReturned"] == 1 and page["numberMatched"] == 2
    nxt = [ln["href"] for ln in page["links"] if ln["rel"] == "next"]
    assert nxt and "offset=1" in nxt[0]
    assert _items(api, "intents", limit=1, offset=1)["numberReturned"] == 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "10,50,9,40"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"datetime": "2026-01-01T00:00:00"}, "no time zone"),
        ({"datetime": "2026-02-01T00:00:00Z/2026-01-01T00:00:00Z"}, "ends before"),
        ({"datetime": "../.."}, "at least one end"),
        ({"crs": "EPSG:3857"}, "crs: not a parameter"),
        ({"f": "html"}, "only json"),
        ({"limit": "0"}, "limit: 0 is not between 1 and 10000"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "ten"}, "limit: 'ten' is not an integer"),
    ],
)
def test_bad_queries_are_400_naming_the_parameter(
    api: Api, params: dict[str, str], reason: str
) -> None:
    r = api.get("/ogc/collections/intents/items", "FR", params=params)
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Scene]:
    yield from start(tmp_path)


def _ogrinfo(live: Scene, *args: str) -> str:
    env = {
        **os.environ,
        "GDAL_HTTP_HEADERS": f"Authorization: Bearer {live.tokens['FR']}",
        "GDAL_HTTP_TIMEOUT": "60",
    }
    r = subprocess.run(
        ["ogrinfo", "-ro", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def test_gdal_reads_the_collections(live: Scene) -> None:
    if shutil.which("ogrinfo") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("GDAL's ogrinfo is needed in CI: .ci/run installs gdal-bin")
        pytest.skip(
            "GDAL (ogrinfo) IS NOT INSTALLED: the OGC API was not read by a real client "
            "(apt-get install gdal-bin)"
        )
    url = f"OAPIF:{live.base}/ogc"
    layers = _ogrinfo(live, url)
    for name in ("intents", "areas", "tracks", "conflicts"):
        assert f": {name}" in layers, layers
    intents = _ogrinfo(live, "-al", url, "intents")
    assert "Feature Count: 2" in intents or intents.count("OGRFeature(intents)") == 2
    assert "FR-1" in intents and "RU-1" in intents and "UK-1" not in intents
    assert "level (String) = extent" in intents and "POLYGON ((33 34" in intents
    tracks = _ogrinfo(live, "-al", url, "tracks")
    assert "F1" in tracks and "R1" in tracks and "K1" not in tracks
    # a spatial filter, passed to the server as bbox
    west = _ogrinfo(live, "-al", "-spat", "32.9", "33.9", "33.1", "34.05", url, "intents")
    assert "FR-1" in west and "RU-1" not in west
    summary = _ogrinfo(live, "-al", "-so", url, "areas")
    assert "Layer name: areas" in summary and "alt_upper_m: Real" in summary
    print(summary)
