"""Hostile strings over every route, generated from the OpenAPI document, on both stores.

Each operation of the document gets a request that would succeed (a baseline), then one of its
strings (a path parameter, a query parameter, a string or a key anywhere in the body) is
replaced by a hostile one: NUL, a lone surrogate (escaped, or as raw bytes), bidirectional
controls, zero-width characters, over-long ids, or any text hypothesis finds. What must hold:

- never a 5xx, and every error in its API's shape (problem document on /v1, ``{"message"}`` on
  the F3548 paths);
- a string that is not storable text (NUL, lone surrogate) is refused with 4xx naming the very
  field, whatever the route; an id (a path segment) that is over-long or holds a control or
  format character too;
- no area is poisoned: after each request, other parties' and other USSs' reads of the area
  (DSS queries, lists, the picture, conflicts) still answer 200.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Api, _Client
from deconfliction.api import create_app
from deconfliction.auth import ADMIN_SCOPE, PARTY_ADMIN_SCOPE, AuthConfig, mint_token
from deconfliction.store import Store
from helpers import agree

DSS_SCOPES = [
    "utm.strategic_coordination",
    "utm.constraint_management",
    "utm.constraint_processing",
    "utm.conformance_monitoring_sa",
    "utm.availability_arbitration",
    "interuss.versioning.read_system_versions",
    "interuss.pool_status.read",
]
F3548 = ("/dss/", "/uss/", "/aux/", "/versions/")
#: Where the DSS baselines write (random spots in a box around it) and the canaries read.
LAT, LNG = 47.0, 8.0
BIDI = ["\u202e", "\u202d", "\u2066", "\u2067", "\u2069", "\u200f", "\u061c", "\u200b", "\ufeff"]


def _t(minutes: float) -> dict[str, str]:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"value": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"}


def _iso(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def _dss_extent(rng: random.Random, r_m: float = 50) -> dict[str, Any]:
    return {
        "volume": {
            "outline_circle": {
                "center": {
                    "lat": LAT + rng.uniform(-0.1, 0.1),
                    "lng": LNG + rng.uniform(-0.1, 0.1),
                },
                "radius": {"value": r_m, "units": "M"},
            },
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"},
        },
        "time_start": _t(5),
        "time_end": _t(60),
    }


def _area_of_interest() -> dict[str, Any]:
    ext = _dss_extent(random.Random(0), 25_000)
    ext["volume"]["outline_circle"]["center"] = {"lat": LAT, "lng": LNG}
    return ext


def _native_volume(rng: random.Random) -> dict[str, Any]:
    lon, lat = 30 + rng.uniform(0, 1), 40 + rng.uniform(0, 1)
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]
    return {
        "footprint": {"type": "Polygon", "coordinates": [ring]},
        "alt_lower_m": 0,
        "alt_upper_m": 1000,
        "time_start": _iso(10),
        "time_end": _iso(70),
    }


@dataclass
class Request:
    method: str
    template: str
    path_params: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class Scene:
    """What the baselines refer to: ids that exist."""

    api: Api
    token: str
    ids: dict[str, str]
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def call(self, method: str, url: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return self.api.client.request(method, url, headers=headers, **kw)


def _baseline(op: tuple[str, str], params: list[dict[str, Any]], scene: Scene) -> Request:
    """A request for the operation that would succeed (or fail for a reason of its own)."""
    method, template = op
    rng, ids = scene.rng, scene.ids
    path = {p["name"]: ids.get(p["name"], "x") for p in params if p["in"] == "path"}
    query = {
        p["name"]: ids.get(p["name"], "1")
        for p in params
        if p["in"] == "query" and p["name"] not in ("accept_degraded", "include_resolved", "lang")
    }
    body: Any = None
    new = str(uuid.uuid4())
    if template.startswith("/v1/areas"):
        path = {k: ids["area_id"] if k == "record_id" else v for k, v in path.items()}
    if (method, template) == ("POST", "/v1/parties"):
        body = {"id": f"P{rng.randrange(10**6)}", "name": "A party"}
    elif template in ("/v1/intents", "/v1/intents/preview") and method == "POST":
        body = {"id": f"I{rng.randrange(10**9)}", "volumes": [_native_volume(rng)], "name": "x"}
    elif template in ("/v1/areas", "/v1/areas/preview") and method == "POST":
        body = {"id": f"A{rng.randrange(10**9)}", "volumes": [_native_volume(rng)], "name": "x"}
    elif template.endswith("/query") and template.startswith("/v1/"):
        body = {"volume": _native_volume(rng)}
    elif method == "PUT" and template in ("/v1/intents/{record_id}", "/v1/areas/{record_id}"):
        body = {"volumes": [_native_volume(rng)], "version": 1, "name": "x"}
    elif method == "PUT" and template.startswith("/dss/v1/operational_intent_references/"):
        path["entityid"] = new if "{ovn}" not in template else ids["entityid"]
        body = {
            "extents": [_dss_extent(rng)],
            "key": [],
            "state": "Accepted",
            "uss_base_url": "https://uss.example/ops",
            "new_subscription": {"uss_base_url": "https://uss.example/subs"},
        }
    elif template.startswith("/dss/v1/constraint_references/{entityid}") and method == "PUT":
        path["entityid"] = new if "{ovn}" not in template else ids["constraint_id"]
        if "{ovn}" in template:
            path["ovn"] = ids["constraint_ovn"]
        body = {"extents": [_dss_extent(rng)], "uss_base_url": "https://uss.example/c"}
    elif template.startswith("/dss/v1/subscriptions/{subscriptionid}") and method == "PUT":
        path["subscriptionid"] = new if "{version}" not in template else ids["subscriptionid"]
        body = {
            "extents": _dss_extent(rng),
            "uss_base_url": "https://uss.example/subs",
            "notify_for_operational_intents": True,
        }
    elif template.startswith("/dss/v1/") and template.endswith("/query"):
        body = {"area_of_interest": _area_of_interest()}
    elif (method, template) == ("PUT", "/dss/v1/uss_availability/{uss_id}"):
        body = {"availability": "Normal", "old_version": ""}
    elif (method, template) == ("POST", "/dss/v1/reports"):
        body = {"exchange": {"problem": "x"}, "note": "hello"}
    elif (method, template) == ("PUT", "/v1/webhook"):
        body = {"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}
    elif (method, template) == ("POST", "/v1/threads"):
        body = {"record_id": ids["record_id"], "with": "RU"}
    elif (method, template) == ("POST", "/v1/threads/{thread_id}/messages"):
        body = {"text": "hello", "lang": "en"}
    elif (method, template) == ("PUT", "/v1/agreements/{other}"):
        body = {"releases": {"FR": {"default": "full"}, "UK": {"default": "extent"}}}
        path["other"] = "UK"
    elif (method, template) == ("PUT", "/v1/audit/keys"):
        body = {"public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}
    elif (method, template) == ("POST", "/v1/audit/checkpoints/{seq}/countersignatures"):
        body = {"key_id": "k1", "signature": "00" * 64}
    elif (method, template) == ("POST", "/v1/tracks"):
        body = {
            "states": [
                {
                    "id": "T1",
                    "class": "fixed-wing",
                    "time": datetime.now(UTC).isoformat(),
                    "lon": 30.5,
                    "lat": 40.5,
                    "alt_m": 3000,
                }
            ]
        }
    return Request(method, template, path, query, body)


def _operations(api: Api) -> list[tuple[tuple[str, str], list[dict[str, Any]]]]:
    """Every operation of the OpenAPI document but the streams (an answer that never ends)."""
    doc = api.client.app.openapi()
    out = []
    for template, ops in doc["paths"].items():
        for method, op in ops.items():
            content = op.get("responses", {}).get("200", {}).get("content", {})
            if "text/event-stream" in content:
                continue
            out.append(((method.upper(), template), op.get("parameters", [])))
    return out


# --- where a string can go ----------------------------------------------------------------------
Slot = tuple[str, Any]  # ("path", name) | ("query", name) | ("value", pointer) | ("key", pointer)


def _body_slots(doc: Any, pointer: str = "") -> Iterator[Slot]:
    if isinstance(doc, str):
        yield ("value", pointer)
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield ("key", f"{pointer}/{k}")
            yield from _body_slots(v, f"{pointer}/{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _body_slots(v, f"{pointer}/{i}")


def _slots(req: Request) -> list[Slot]:
    return [
        *(("path", n) for n in req.path_params),
        *(("query", n) for n in req.query),
        *_body_slots(req.body),
    ]


def _put(doc: Any, slot: Slot, value: str) -> Any:
    """A copy of ``doc`` with the string at the slot (or the key it names) replaced."""
    doc = json.loads(json.dumps(doc))
    kind, pointer = slot
    parts = pointer.strip("/").split("/")
    parent = doc
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last = parts[-1]
    if kind == "key":
        parent[value] = parent.pop(last)
    elif isinstance(parent, list):
        parent[int(last)] = value
    else:
        parent[last] = value
    return doc


def _quote(value: str) -> str:
    """A path or query value as a hostile client sends it: percent-encoded UTF-8, and a lone
    surrogate as the three bytes an encoder that lets it through writes (not UTF-8)."""
    raw = value.encode("utf-8", "surrogatepass")
    return "".join(chr(b) if chr(b).isalnum() or chr(b) in "-._~" else f"%{b:02X}" for b in raw)


def _send(scene: Scene, req: Request, slot: Slot | None, value: str, raw_bytes: bool) -> Any:
    path_params = dict(req.path_params)
    query = dict(req.query)
    body = req.body
    if slot is not None and slot[0] == "path":
        path_params[slot[1]] = value
    elif slot is not None and slot[0] == "query":
        query[slot[1]] = value
    elif slot is not None:
        body = _put(body, slot, value)
    url = req.template
    for name, v in path_params.items():
        url = url.replace("{" + name + "}", _quote(v))
    if query:
        url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
    kw: dict[str, Any] = {}
    if body is not None:
        text = json.dumps(body, ensure_ascii=not raw_bytes)
        kw["content"] = text.encode("utf-8", "surrogatepass")
        kw["headers"] = {"content-type": "application/json"}
    return scene.call(req.method, url, **kw)


def _unstorable(s: str) -> bool:
    return "\x00" in s or any("\ud800" <= c <= "\udfff" for c in s)


def _bad_id(s: str) -> bool:
    import unicodedata

    return (
        len(s) > 255
        or _unstorable(s)
        or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in s)
    )


def _check_shape(req: Request, r: Any) -> None:
    assert r.status_code < 500, (req.method, req.template, r.status_code, r.text[:300])
    if r.status_code < 400:
        return
    if req.template.startswith(F3548):
        assert set(r.json()) == {"message"}, r.text
    else:
        assert r.headers["content-type"] == "application/problem+json", r.text
        assert {"type", "title", "status", "detail", "errors"} <= set(r.json())


def _names_the_field(req: Request, slot: Slot, r: Any) -> bool:
    kind, where = slot
    if req.template.startswith(F3548):
        msg = r.json()["message"]
        if kind == "key":
            parent = where.rsplit("/", 1)[0].strip("/").replace("/", ".")
            return bool(msg.startswith(parent) and "the name" in msg)
        name = where if kind in ("path", "query") else where.strip("/").replace("/", ".")
        return bool(msg.startswith(f"{name}:"))
    pointers = [e["pointer"] for e in r.json()["errors"]]
    if kind in ("path", "query"):
        return f"/{kind}/{where}" in pointers
    if kind == "key":
        parent = where.rsplit("/", 1)[0]
        return any(p.startswith(parent + "/") for p in pointers)
    return where in pointers


def _canaries(scene: Scene, other: str) -> None:
    """Other parties' and USSs' reads of the area still answer."""
    aoi = {"area_of_interest": _area_of_interest()}
    for kind in ("operational_intent_references", "constraint_references", "subscriptions"):
        r = scene.api.client.request(
            "POST", f"/dss/v1/{kind}/query", json=aoi, headers={"Authorization": f"Bearer {other}"}
        )
        assert r.status_code == 200, (kind, r.text)
    r = scene.api.client.request(
        "GET",
        f"/dss/v1/operational_intent_references/{scene.ids['entityid']}",
        headers={"Authorization": f"Bearer {other}"},
    )
    assert r.status_code == 200, r.text
    for who, url in (
        ("FR", "/v1/intents"),
        ("FR", "/v1/conflicts"),
        ("RU", "/v1/picture"),
        ("RU", "/v1/threads"),
        ("FR", "/v1/parties"),
        ("RU", "/v1/agreements"),
    ):
        r = scene.api.get(url, who)
        assert r.status_code == 200, (url, r.text[:300])


@pytest.fixture
def scene(store: Store, auth: AuthConfig, tokens: dict[str, str], signing_key: Any) -> Scene:
    api = Api(_Client(create_app(store, auth)), tokens)
    token = mint_token(signing_key, "FR", scopes=[PARTY_ADMIN_SCOPE, ADMIN_SCOPE, *DSS_SCOPES])
    scene = Scene(api, token, {})
    agree(api, "FR", "RU", {"releases": {"FR": {"default": "full"}, "RU": {"default": "full"}}})
    rng = random.Random(7)
    vol = _native_volume(rng)
    r = api.post("/v1/intents", "FR", json={"id": "FR-1", "volumes": [vol]})
    assert r.status_code == 201, r.text
    a = api.post("/v1/areas", "RU", json={"id": "RU-A", "volumes": [vol]})
    assert a.status_code == 201, a.text
    conflict_id = a.json()["conflicts"][0]["id"]
    th = api.get(f"/v1/conflicts/{conflict_id}/thread", "FR")
    assert th.status_code == 200, th.text
    thread_id = th.json()["id"]
    m = api.post(f"/v1/threads/{thread_id}/messages", "RU", json={"text": "hi", "lang": "en"})
    assert m.status_code in (200, 201), m.text
    message_id = m.json()["id"]
    area = api.post("/v1/areas", "FR", json={"id": "FR-A", "volumes": [_native_volume(rng)]})
    assert area.status_code == 201, area.text
    oid = str(uuid.uuid4())
    oir = _baseline(("PUT", "/dss/v1/operational_intent_references/{entityid}"), [], scene).body
    r = scene.call("PUT", f"/dss/v1/operational_intent_references/{oid}", json=oir)
    assert r.status_code == 201, r.text
    cid = str(uuid.uuid4())
    con = _baseline(("PUT", "/dss/v1/constraint_references/{entityid}"), [], scene).body
    c = scene.call("PUT", f"/dss/v1/constraint_references/{cid}", json=con)
    assert c.status_code == 201, c.text
    sid = str(uuid.uuid4())
    sub = _baseline(("PUT", "/dss/v1/subscriptions/{subscriptionid}"), [], scene).body
    s = scene.call("PUT", f"/dss/v1/subscriptions/{sid}", json=sub)
    assert s.status_code == 200, s.text
    scene.ids.update(
        record_id="FR-1",
        area_id="FR-A",
        conflict_id=conflict_id,
        thread_id=thread_id,
        message_id=message_id,
        other="RU",
        version="1",
        to="RU",
        after="0",
        seq="1",
        party="FR",
        entityid=oid,
        ovn=r.json()["operational_intent_reference"]["ovn"],
        constraint_id=cid,
        constraint_ovn=c.json()["constraint_reference"]["ovn"],
        subscriptionid=sid,
        uss_id="uss-a",
        system_identity="dss",
    )
    return scene


def _other(signing_key: Any) -> str:
    return mint_token(signing_key, "uss2", scopes=DSS_SCOPES)


UNSTORABLE = ["a\x00b", "\x00", "x\ud800y", "\udfff"]


def test_unstorable_strings_are_refused_in_every_slot_of_every_route(
    scene: Scene, signing_key: Any
) -> None:
    """NUL and lone surrogates, in every string of every route: 4xx naming the field."""
    seen_ops = 0
    tried = 0
    for op, params in _operations(scene.api):
        req = _baseline(op, params, scene)
        seen_ops += 1
        for slot in _slots(req):
            for i, value in enumerate(UNSTORABLE):
                raw = slot[0] in ("value", "key") and i % 2 == 1  # raw bytes, not \u escapes
                r = _send(scene, req, slot, value, raw)
                tried += 1
                _check_shape(req, r)
                assert 400 <= r.status_code < 500, (op, slot, value, r.text[:300])
                assert _names_the_field(req, slot, r), (op, slot, r.text[:300])
    assert seen_ops >= 60 and tried >= 500
    _canaries(scene, _other(signing_key))


hostile_text = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda xs, s: "".join(x + s for x in xs),
        st.lists(st.sampled_from(BIDI), min_size=1, max_size=6),
        st.text(max_size=8),
    ),
    st.builds(lambda n, c: c * n, st.integers(200, 4000), st.sampled_from(["a", "é", "\u202e"])),
    st.builds(
        lambda a, b, c: a + c + b,
        st.text(max_size=10),
        st.text(max_size=10),
        st.sampled_from(["\x00", "\ud800", "\udbff\udbff", "\udc00"]),
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), value=hostile_text, raw=st.booleans())
def test_no_hostile_string_gets_a_500_or_poisons_an_area(
    scene: Scene, signing_key: Any, data: st.DataObject, value: str, raw: bool
) -> None:
    ops = _operations(scene.api)
    op, params = data.draw(st.sampled_from(ops))
    req = _baseline(op, params, scene)
    slots = _slots(req)
    slot = data.draw(st.sampled_from(slots)) if slots else None
    r = _send(scene, req, slot, value, raw)
    _check_shape(req, r)
    if slot is not None and (_unstorable(value) or (slot[0] == "path" and _bad_id(value))):
        assert 400 <= r.status_code < 500, (op, slot, r.text[:300])
        assert _names_the_field(req, slot, r), (op, slot, r.text[:300])
    if r.status_code < 300 and slot is not None and slot[0] == "value" and not _unstorable(value):
        assert value.encode("utf-8")  # whatever was taken is text
    _canaries(scene, _other(signing_key))


def test_a_lone_surrogate_in_a_uss_base_url_poisons_nothing(scene: Scene, signing_key: Any) -> None:
    """The report's attack: refused naming the field, nothing committed, other USSs unharmed."""
    body = _baseline(("PUT", "/dss/v1/operational_intent_references/{entityid}"), [], scene).body
    spot = {"lat": 10.0, "lng": 10.0}
    body["extents"][0]["volume"]["outline_circle"]["center"] = spot
    body["uss_base_url"] = "https://evil.example/\ud800"
    oid = str(uuid.uuid4())
    r = scene.call(
        "PUT",
        f"/dss/v1/operational_intent_references/{oid}",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["message"].startswith("uss_base_url:"), r.text
    other = _other(signing_key)
    body["uss_base_url"] = "https://good.example/"
    r = scene.api.client.request(
        "PUT",
        f"/dss/v1/operational_intent_references/{uuid.uuid4()}",
        json=body,
        headers={"Authorization": f"Bearer {other}"},
    )
    assert r.status_code == 201, r.text  # the empty key suffices: nothing is there
    assert scene.call("GET", f"/dss/v1/operational_intent_references/{oid}").status_code == 404


@pytest.mark.parametrize(
    "sub", ["FR\x00", "\ud800", "FR\u202eRU", "a" * 300, "FR\u200b", "FR\n"], ids=repr
)
def test_token_subjects_that_are_not_ids_are_refused(
    scene: Scene, signing_key: Any, sub: str
) -> None:
    token = mint_token(signing_key, sub, scopes=DSS_SCOPES)
    h = {"Authorization": f"Bearer {token}"}
    r = scene.api.client.request("GET", "/v1/me", headers=h)
    assert r.status_code == 401 and "'sub'" in r.json()["detail"], r.text
    r = scene.api.client.request(
        "PUT", "/dss/v1/uss_availability/uss-z", json={"availability": "Down"}, headers=h
    )
    assert r.status_code == 401 and set(r.json()) == {"message"}, r.text


def test_over_long_ids_are_refused_everywhere(scene: Scene) -> None:
    long_id = "u" * 3000
    r = scene.call("PUT", f"/dss/v1/uss_availability/{long_id}", json={"availability": "Down"})
    assert r.status_code == 400 and r.json()["message"].startswith("uss_id:"), r.text
    r = scene.call("GET", f"/v1/intents/{long_id}")
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/path/record_id"
    assert re.search("255", r.json()["detail"])


def test_bidi_controls_in_free_text_come_back_as_written(scene: Scene) -> None:
    name = "\u202eabc\u2066xyz\u2069 \u05e9\u05dc\u05d5\u05dd"
    r = scene.api.post("/v1/parties", "admin", json={"id": "IL", "name": name})
    assert r.status_code == 201, r.text
    got = {p["id"]: p["name"] for p in scene.api.get("/v1/parties", "FR").json()["parties"]}
    assert got["IL"] == name
    r = scene.call("GET", "/v1/intents/FR\u202e1")
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/path/record_id"
