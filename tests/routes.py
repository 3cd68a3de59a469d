"""Every route of the OpenAPI document with a request that would succeed (its baseline), and a
scene with one of everything those requests name: shared by the tests that walk every route
(hostile strings, the database away)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import Api, _Client
from deconfliction.api import create_app
from deconfliction.auth import ADMIN_SCOPE, PARTY_ADMIN_SCOPE, AuthConfig, mint_token
from deconfliction.federation import Federation, NodeKey, peers
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


def area_of_interest() -> dict[str, Any]:
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


def baseline(op: tuple[str, str], params: list[dict[str, Any]], scene: Scene) -> Request:
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
        body = {"area_of_interest": area_of_interest()}
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


def operations(api: Api) -> list[tuple[tuple[str, str], list[dict[str, Any]]]]:
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


def string_slots(req: Request) -> list[Slot]:
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


def send(scene: Scene, req: Request, slot: Slot | None, value: str, raw_bytes: bool) -> Any:
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


def make_scene(store: Store, auth: AuthConfig, tokens: dict[str, str], signing_key: Any) -> Scene:
    """An app on ``store`` with one of everything the baselines name, and a caller (FR) whose
    token holds every scope and role. The app is a federation node with one peer (hosting GB,
    to whom France has proposed an agreement across the nodes), so that the federation routes
    read what they would."""
    node = Federation(store, NodeKey.of(Ed25519PrivateKey.generate()))
    api = Api(_Client(create_app(store, auth, node=node)), tokens)
    token = mint_token(signing_key, "FR", scopes=[PARTY_ADMIN_SCOPE, ADMIN_SCOPE, *DSS_SCOPES])
    scene = Scene(api, token, {})
    peer_key = NodeKey.of(Ed25519PrivateKey.generate())
    store.write_tx(
        lambda tx: peers.add(
            tx, "gb", "http://127.0.0.1:9", peer_key.public_pem, [("GB", "Britain")],
            node.key.key_id, "test", datetime.now(UTC),
        )
    )  # fmt: skip
    gb = scene.call("PUT", "/v1/agreements/GB", json={"releases": {"FR": {"default": "extent"}}})
    assert gb.status_code in (200, 201), gb.text
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
    oir = baseline(("PUT", "/dss/v1/operational_intent_references/{entityid}"), [], scene).body
    r = scene.call("PUT", f"/dss/v1/operational_intent_references/{oid}", json=oir)
    assert r.status_code == 201, r.text
    cid = str(uuid.uuid4())
    con = baseline(("PUT", "/dss/v1/constraint_references/{entityid}"), [], scene).body
    c = scene.call("PUT", f"/dss/v1/constraint_references/{cid}", json=con)
    assert c.status_code == 201, c.text
    sid = str(uuid.uuid4())
    sub = baseline(("PUT", "/dss/v1/subscriptions/{subscriptionid}"), [], scene).body
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
