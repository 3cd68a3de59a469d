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
import re
import unicodedata
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconfliction.auth import AuthConfig, mint_token
from deconfliction.store import Store
from routes import (
    BIDI,
    DSS_SCOPES,
    F3548,
    Request,
    Scene,
    Slot,
    area_of_interest,
    baseline,
    make_scene,
    operations,
    send,
    string_slots,
)


def _unstorable(s: str) -> bool:
    return "\x00" in s or any("\ud800" <= c <= "\udfff" for c in s)


def _bad_id(s: str) -> bool:
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
    aoi = {"area_of_interest": area_of_interest()}
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
    return make_scene(store, auth, tokens, signing_key)


def _other(signing_key: Any) -> str:
    return mint_token(signing_key, "uss2", scopes=DSS_SCOPES)


UNSTORABLE = ["a\x00b", "x\ud800y"]


def test_unstorable_strings_are_refused_in_every_slot_of_every_route(
    scene: Scene, signing_key: Any
) -> None:
    """NUL and lone surrogates, in every string of every route: 4xx naming the field."""
    seen_ops = 0
    tried = 0
    for op, params in operations(scene.api):
        req = baseline(op, params, scene)
        seen_ops += 1
        for slot in string_slots(req):
            for i, value in enumerate(UNSTORABLE):
                # the surrogate as raw bytes in bodies (the hypothesis test sends escapes too)
                raw = slot[0] in ("value", "key") and i == 1
                r = send(scene, req, slot, value, raw)
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
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), value=hostile_text, raw=st.booleans())
def test_no_hostile_string_gets_a_500_or_poisons_an_area(
    scene: Scene, signing_key: Any, data: st.DataObject, value: str, raw: bool
) -> None:
    ops = operations(scene.api)
    op, params = data.draw(st.sampled_from(ops))
    req = baseline(op, params, scene)
    where = string_slots(req)
    slot = data.draw(st.sampled_from(where)) if where else None
    r = send(scene, req, slot, value, raw)
    _check_shape(req, r)
    if slot is not None and (_unstorable(value) or (slot[0] == "path" and _bad_id(value))):
        assert 400 <= r.status_code < 500, (op, slot, r.text[:300])
        assert _names_the_field(req, slot, r), (op, slot, r.text[:300])
    if r.status_code < 300 and slot is not None and slot[0] == "value" and not _unstorable(value):
        value.encode("utf-8")  # whatever was taken is text (this raises otherwise; "" is text)
    _canaries(scene, _other(signing_key))


def test_a_lone_surrogate_in_a_uss_base_url_poisons_nothing(scene: Scene, signing_key: Any) -> None:
    """The report's attack: refused naming the field, nothing committed, other USSs unharmed."""
    body = baseline(("PUT", "/dss/v1/operational_intent_references/{entityid}"), [], scene).body
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
