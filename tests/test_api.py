"""The native /v1 API in-process: auth, ownership, versions, conflicts, problem documents."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from deconfliction.api import create_app
from deconfliction.auth import AuthConfig, mint_token
from helpers import agree

T0, T1 = "2026-03-01T08:00:00Z", "2026-03-01T10:00:00Z"


def box(
    lon0: float,
    lat0: float,
    lon1: float,
    lat1: float,
    alt: tuple[float, float] = (0, 3000),
    t: tuple[str, str] = (T0, T1),
) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {
        "footprint": {"type": "Polygon", "coordinates": [ring]},
        "alt_lower_m": alt[0],
        "alt_upper_m": alt[1],
        "time_start": t[0],
        "time_end": t[1],
    }


def test_health_needs_no_token(api: Any) -> None:
    r = api.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_missing_or_bad_token_is_401_problem(api: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = api.client.get("/v1/intents", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401 and r.json()["type"].endswith("unauthenticated")


def test_token_for_other_audience_or_key_is_refused(
    api: Any, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    other_key = mint_token(ec.generate_private_key(ec.SECP256R1()), "FR")
    other_audience = mint_token(signing_key, "FR", audience="somewhere-else")
    expired = mint_token(signing_key, "FR", ttl_s=-10)
    for token in (other_key, other_audience, expired):
        r = api.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
    assert api.get("/v1/me", "FR").json()["party"] == "FR"


def test_unregistered_party_is_403(api: Any) -> None:
    r = api.get("/v1/intents", "XX")
    assert r.status_code == 403 and "not a registered party" in r.json()["detail"]


def test_only_admin_manages_parties(api: Any) -> None:
    assert api.post("/v1/parties", "FR", json={"id": "DE", "name": "Germany"}).status_code == 403
    r = api.post("/v1/parties", "admin", json={"id": "DE", "name": "Germany"})
    assert r.status_code == 201
    assert "DE" in [p["id"] for p in api.get("/v1/parties", "FR").json()["parties"]]


def test_create_read_replace_delete_with_versions(api: Any) -> None:
    r = api.post("/v1/intents", "FR", json={"id": "FR-1", "volumes": [box(35, 35, 35.5, 35.5)]})
    assert r.status_code == 201, r.text
    intent = r.json()["intent"]
    assert intent["version"] == 1 and intent["owner"] == "FR" and intent["ovn"]
    assert (
        api.post("/v1/intents", "FR", json={"id": "FR-1", "volumes": [box(1, 1, 2, 2)]}).status_code
        == 409
    )
    # replacing names the version it replaces
    new = {"version": 1, "volumes": [box(36, 35, 36.5, 35.5)]}
    r = api.put("/v1/intents/FR-1", "FR", json=new)
    assert r.status_code == 200 and r.json()["intent"]["version"] == 2
    assert r.json()["intent"]["ovn"] != intent["ovn"]
    stale = api.put("/v1/intents/FR-1", "FR", json=new)
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    # another party can neither change nor delete it: ids are per owner, RU has no FR-1
    assert api.put("/v1/intents/FR-1", "RU", json={**new, "version": 2}).status_code == 404
    assert api.delete("/v1/intents/FR-1?version=2", "RU").status_code == 404
    assert api.get("/v1/intents/FR-1", "FR").json()["version"] == 2
    assert api.delete("/v1/intents/FR-1?version=1", "FR").status_code == 409
    assert api.delete("/v1/intents/FR-1?version=2", "FR").status_code == 200
    assert api.get("/v1/intents/FR-1", "FR").status_code == 404


def test_conflicts_seen_by_both_sides_as_notices_without_an_agreement(api: Any) -> None:
    fr = api.post(
        "/v1/intents",
        "FR",
        json={
            "id": "FR-1",
            "name": "carrier sortie",
            "category": "air-sortie",
            "volumes": [box(35, 35, 35.5, 35.5)],
        },
    )
    assert fr.json()["conflicts"] == []
    ru = api.post(
        "/v1/intents",
        "RU",
        json={"id": "RU-1", "name": "patrol", "volumes": [box(35.4, 35.4, 36, 36)]},
    )
    assert [c["b"]["id"] for c in ru.json()["conflicts"]] == ["RU-1"]
    for party, mine in (("FR", "FR-1"), ("RU", "RU-1")):
        cs = api.get("/v1/conflicts", party).json()["conflicts"]
        assert len(cs) == 1
        own, other = (
            (cs[0]["a"], cs[0]["b"])
            if cs[0]["a"]["owner"] == party
            else (
                cs[0]["b"],
                cs[0]["a"],
            )
        )
        assert own["id"] == mine and own["volumes"]
        # no agreement: a notice naming the other party only, no id, geometry or closeness,
        # and a window on the (default, 15-minute) grid
        assert other == {"kind": "intent", "id": None, "owner": other["owner"], "volumes": []}
        assert cs[0]["gaps"] is None
        assert cs[0]["time_start"].endswith(("00:00Z", "15:00Z", "30:00Z", "45:00Z"))
    # a third party is not concerned
    assert api.get("/v1/conflicts", "UK").json()["conflicts"] == []
    # without an agreement RU is not shown FR's intent at all
    assert api.get("/v1/intents/FR-1", "RU").status_code == 404
    assert api.get("/v1/intents/FR-1", "FR").json()["name"] == "carrier sortie"
    # moving RU's intent away resolves the conflict
    r = api.put("/v1/intents/RU-1", "RU", json={"version": 1, "volumes": [box(40, 40, 41, 41)]})
    assert r.json()["conflicts"] == []
    assert api.get("/v1/conflicts", "FR").json()["conflicts"] == []
    assert len(api.get("/v1/conflicts?include_resolved=true", "FR").json()["conflicts"]) == 1


def test_area_conflicts_with_other_parties_intents_only(api: Any) -> None:
    r = api.post(
        "/v1/areas",
        "RU",
        json={
            "id": "RU-LIVEFIRE",
            "kind": "restricted",
            "volumes": [box(35, 35, 36, 36, alt=(0, 20000))],
        },
    )
    assert r.status_code == 201
    own = api.post(
        "/v1/intents", "RU", json={"id": "RU-1", "volumes": [box(35.2, 35.2, 35.3, 35.3)]}
    )
    assert own.json()["conflicts"] == []
    fr = api.post(
        "/v1/intents", "FR", json={"id": "FR-1", "volumes": [box(35.2, 35.2, 35.3, 35.3)]}
    )
    # notices: FR's own intent, and RU's area and intent unnamed (no agreement)
    assert sorted(
        (c["a"]["id"], c["b"]["kind"], c["b"]["owner"]) for c in fr.json()["conflicts"]
    ) == [
        ("FR-1", "area", "RU"),
        ("FR-1", "intent", "RU"),
    ]
    assert all(c["b"]["id"] is None for c in fr.json()["conflicts"])


def test_query_and_preview(api: Any) -> None:
    api.post("/v1/intents", "FR", json={"id": "FR-1", "volumes": [box(35, 35, 35.5, 35.5)]})
    api.post("/v1/intents", "RU", json={"id": "RU-1", "volumes": [box(37, 35, 37.5, 35.5)]})
    query = {"volume": box(34.9, 34.9, 35.1, 35.1)}
    assert api.post("/v1/intents/query", "RU", json=query).json()["intents"] == []  # no agreement
    agree(api, "FR", "RU", {"releases": {"FR": {"default": "extent"}}, "reciprocity": False})
    q = api.post("/v1/intents/query", "RU", json=query)
    assert [i["id"] for i in q.json()["intents"]] == ["FR-1"]
    assert "version" not in q.json()["intents"][0]  # extent only
    later = box(34.9, 34.9, 35.1, 35.1, t=("2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"))
    assert api.post("/v1/intents/query", "RU", json={"volume": later}).json()["intents"] == []
    p = api.post("/v1/intents/preview", "RU", json={"volumes": [box(35.2, 35.2, 35.3, 35.3)]})
    assert p.status_code == 200 and len(p.json()["conflicts"]) == 1
    assert api.get("/v1/intents", "RU").json()["intents"][0]["id"] == "RU-1"  # nothing written


@pytest.mark.parametrize(
    ("volume_patch", "pointer", "words"),
    [
        ({"alt_lower_m": 500, "alt_upper_m": 100}, "/volumes/0", "alt_upper_m"),
        ({"time_start": T1, "time_end": T0}, "/volumes/0", "time_end"),
        ({"time_start": "2026-03-01T08:00:00"}, "/volumes/0/time_start", "timezone"),
        (
            {"footprint": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}},
            "/volumes/0/footprint/coordinates",
            "not closed",
        ),
        (
            {
                "footprint": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                }
            },
            "/volumes/0/footprint/coordinates",
            "not simple",
        ),
        (
            {"footprint": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0], [0, 0]]]}},
            "/volumes/0/footprint/coordinates",
            "3 distinct",
        ),
        (
            {"footprint": {"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]}},
            "/volumes/0/footprint/coordinates",
            "outside [-180, 180]",
        ),
        (
            {"footprint": {"type": "Circle", "center": [0, 91], "radius_m": 10}},
            "/volumes/0/footprint/center",
            "outside [-90, 90]",
        ),
        (
            {"footprint": {"type": "Circle", "center": [0, 0], "radius_m": 0}},
            "/volumes/0/footprint/radius_m",
            "greater than 0",
        ),
        ({"footprint": {"type": "Hexagon"}}, "/volumes/0/footprint", "type"),
    ],
)
def test_bad_input_is_422_naming_field_and_reason(
    api: Any, volume_patch: dict[str, Any], pointer: str, words: str
) -> None:
    vol = {**box(0, 0, 1, 1), **volume_patch}
    r = api.post("/v1/intents", "FR", json={"volumes": [vol]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["status"] == 422 and body["type"].endswith("invalid-input")
    assert any(e["pointer"] == pointer and words in e["reason"] for e in body["errors"]), body


def test_every_field_error_is_listed(api: Any) -> None:
    vols = [{**box(0, 0, 1, 1), "alt_lower_m": "high"}, {**box(0, 0, 1, 1), "time_end": 0}]
    r = api.post("/v1/intents", "FR", json={"volumes": vols, "priority": -1, "bogus": 1})
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/volumes/0/alt_lower_m", "/volumes/1/time_end", "/priority", "/bogus"} <= pointers


def test_nan_and_inf_are_rejected(api: Any) -> None:
    raw = (
        '{"volumes": [{"footprint": {"type": "Circle", "center": [NaN, 0], "radius_m": 5}, '
        f'"alt_lower_m": 0, "alt_upper_m": Infinity, "time_start": "{T0}", "time_end": "{T1}"}}]}}'
    )
    r = api.post(
        "/v1/intents",
        "FR",
        content=raw,
        headers={**api.as_("FR"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_openapi_documents_every_status_each_route_returns(store: Any, auth: AuthConfig) -> None:
    doc = create_app(store, auth).openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if path != "/v1/health":
                assert "401" in codes, (method, path)
            if op.get("requestBody") or op.get("parameters"):
                assert "422" in codes, (method, path)
            if op.get("requestBody"):
                assert "400" in codes, (method, path)  # a body that is not JSON
            if "{record_id}" in path:
                assert "404" in codes, (method, path)
            versioned = path.startswith(("/v1/intents", "/v1/areas", "/dss/"))
            if versioned and (
                method in ("put", "delete") or (method == "post" and path.count("/") == 2)
            ):
                assert "409" in codes, (method, path)


#: JSON answers whose shape is not a schema of this document: the audit export (a file with a
#: signed manifest, docs/audit.md) and OGC features (GeoJSON, the OGC's own schema).
_UNSHAPED = {"/v1/audit/export", "/ogc/collections/{collection_id}/items"}


def test_every_json_answer_documents_its_shape(store: Any, auth: AuthConfig) -> None:
    doc = create_app(store, auth).openapi()
    bare = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, answer in op["responses"].items():
                for ctype, content in answer.get("content", {}).items():
                    schema = content.get("schema", {})
                    shaped = "$ref" in schema or "anyOf" in schema or "items" in schema
                    if code.startswith("2") and "json" in ctype and not shaped:
                        bare.append(f"{method} {path} {code}")
    assert [b for b in bare if not b.split()[1].startswith(tuple(_UNSHAPED))] == []


def test_the_picture_and_agreements_are_what_their_schemas_say(api: Any) -> None:
    """The picture and agreements are built from validated models without validating them
    again: their documented models must read them back whole (nothing undocumented)."""
    from deconfliction.api.agreements import AgreementList
    from deconfliction.api.picture import ReleasedPicture

    agree(api, "FR", "RU", {"releases": {"RU": {"default": "extent"}}, "reciprocity": False})
    for who, rid in (("FR", "F1"), ("RU", "R1")):
        r = api.post("/v1/intents", who, json={"id": rid, "volumes": [box(30, 40, 30.1, 40.1)]})
        assert r.status_code == 201, r.text
    body = api.get("/v1/picture", "FR").json()
    assert {(r["record"]["id"], r["level"]) for r in body["records"]} == {
        ("F1", "own"),
        ("R1", "extent"),
    }
    assert len(body["conflicts"]) == 1 and [x["party"] for x in body["links"]] == ["FR", "RU"]
    assert ReleasedPicture.model_validate(body).model_dump(mode="json") == body
    listed = api.get("/v1/agreements", "FR").json()
    assert AgreementList.model_validate(listed).model_dump(mode="json") == listed


def test_a_body_that_is_not_json_is_a_documented_400(api: Any) -> None:
    r = api.post(
        "/v1/intents", "FR", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
