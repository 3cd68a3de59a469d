"""Hostile input: limits, rate limits, headers, no internals in errors, parsers under fuzzing."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Api, _Client
from deconfliction.api import create_app
from deconfliction.api.guard import GuardConfig, json_depth
from deconfliction.auth import AuthConfig, mint_token
from deconfliction.dss.volumes import BadRequest, parse_volume4d
from deconfliction.errors import DeconflictionError
from deconfliction.formats.plans import PlanError, load_plans
from deconfliction.store import Store
from test_api import box

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=5)
    ),
    max_leaves=30,
)
# values shaped like what the parsers expect, with any field broken
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.none(),
)
positions = st.lists(numbers, min_size=0, max_size=3)
times = st.one_of(
    st.sampled_from(
        [
            "2026-11-22T12:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22T12:00:00",
            "yesterday",
            "",
        ]
    ),
    numbers,
)


@st.composite
def geojson_features(draw: st.DrawFn) -> Any:
    ring = draw(st.lists(positions, max_size=6))
    if draw(st.booleans()) and ring:
        ring = [*ring, ring[0]]
    geometry = draw(
        st.sampled_from(
            [
                {"type": "Polygon", "coordinates": [ring]},
                {"type": "Point", "coordinates": draw(positions)},
                {"type": "Polygon", "coordinates": ring},
            ]
        )
        | json_values
    )
    props = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.text(max_size=70),
                "party": st.text(max_size=10),
                "kind": st.text(max_size=8),
                "alt_lower_m": numbers,
                "alt_upper_m": numbers,
                "time_start": times,
                "time_end": times,
                "radius_m": numbers,
                "state": st.text(max_size=10),
            },
        )
        | json_values
    )
    return {"type": "Feature", "geometry": geometry, "properties": props}


@FUZZ
@given(st.lists(geojson_features(), max_size=4) | json_values)
def test_the_plan_parser_only_raises_its_own_errors(tmp_path_factory: Any, features: Any) -> None:
    path: Path = tmp_path_factory.mktemp("fuzz") / "plan.geojson"
    doc = (
        {"type": "FeatureCollection", "features": features}
        if isinstance(features, list)
        else features
    )
    path.write_text(json.dumps(doc))
    with contextlib.suppress(PlanError, DeconflictionError):
        load_plans([path])


@st.composite
def f3548_volumes(draw: st.DrawFn) -> Any:
    outline = draw(st.sampled_from(["outline_circle", "outline_polygon", "other"]))
    if outline == "outline_circle":
        shape: Any = {
            "center": {"lat": draw(numbers), "lng": draw(numbers)},
            "radius": {"value": draw(numbers), "units": draw(st.sampled_from(["M", "FT", 3]))},
        }
    else:
        shape = {
            "vertices": draw(
                st.lists(st.fixed_dictionaries({"lat": numbers, "lng": numbers}), max_size=6)
            )
        }

    def alt():
        return {
            "value": draw(numbers),
            "reference": draw(st.sampled_from(["W84", "SFC"])),
            "units": draw(st.sampled_from(["M", "FT"])),
        }

    vol = {
        "volume": {outline: shape, "altitude_lower": alt(), "altitude_upper": alt()},
        "time_start": {"value": draw(times), "format": "RFC3339"},
        "time_end": {"value": draw(times), "format": draw(st.sampled_from(["RFC3339", "x"]))},
    }
    return vol if draw(st.booleans()) else draw(json_values)


@FUZZ
@given(f3548_volumes())
def test_the_f3548_parser_only_raises_bad_request(obj: Any) -> None:
    with contextlib.suppress(BadRequest):
        parse_volume4d(obj, "extents[0]")


@FUZZ
@given(st.lists(geojson_features(), max_size=2), f3548_volumes())
def test_no_input_gets_a_500(
    api: Api, signing_key: Any, features: list[Any], dss_volume: Any
) -> None:
    vols = [
        {
            "footprint": f["geometry"],
            **(f["properties"] if isinstance(f["properties"], dict) else {}),
        }
        for f in features
    ]
    jh = {"content-type": "application/json"}
    # json.dumps writes NaN and Infinity as such: not JSON, which the service must refuse well
    r = api.post("/v1/intents", "FR", content=json.dumps({"volumes": vols}), headers=jh)
    assert r.status_code in (201, 400, 409, 422), r.text
    token = mint_token(signing_key, "uss1", scopes=["utm.strategic_coordination"])
    body = {
        "extents": [dss_volume],
        "key": [],
        "state": "Accepted",
        "uss_base_url": "https://u.example",
    }
    r = api.client.request(
        "PUT",
        f"/dss/v1/operational_intent_references/{uuid.uuid4()}",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", **jh},
    )
    assert r.status_code in (201, 400, 409), r.text


def test_limits_headers_and_no_internals(
    store: Store, auth: AuthConfig, tokens: dict[str, str]
) -> None:
    frozen = GuardConfig(max_body=4096, rate_per_s=5, burst=5, clock=lambda: 0.0)
    app = create_app(store, auth, guard=frozen)
    api = Api(_Client(app), tokens)
    big = {"volumes": [box(1, 1, 2, 2)] * 100}
    r = api.post("/v1/intents", "FR", json=big)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = api.client.request(
        "PUT",
        f"/dss/v1/operational_intent_references/{uuid.uuid4()}",
        json=big,
        headers=api.as_("FR"),
    )
    assert r.status_code == 413 and "message" in r.json()
    deep = "[" * 40 + "]" * 40
    r = api.post("/v1/intents", "RU", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested" in r.json()["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"
    # five in a burst, then 429 with Retry-After, for this caller only
    codes = [api.get("/v1/me", "UK").status_code for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    r = api.get("/v1/me", "UK")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert api.get("/v1/health").headers["cache-control"] == "no-store"

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("/secret/path/to/store.py line 42: the disk is on fire")

    store.list_parties = boom  # type: ignore[method-assign]
    r = api.get("/v1/parties", "XX")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text and "fire" not in r.text


def test_unicode_tricks_in_ids_are_refused(api: Api) -> None:
    for rid in ("FR\u2011A", "\u0420\u0423-1", "FR-1\u200b", "a" * 65, "../etc", "FR 1"):
        r = api.post("/v1/intents", "FR", json={"id": rid, "volumes": [box(1, 1, 2, 2)]})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/id", rid


def test_json_depth_counts_outside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[["}]}') == 3
    assert json_depth(b'"\\"[[["') == 0


def test_failed_logins_are_audited_without_flooding(api: Api, store: Store) -> None:
    bad = {"Authorization": "Bearer not-a-token"}
    for _ in range(5):
        assert api.client.get("/v1/me", headers=bad).status_code == 401
    assert api.client.get("/dss/v1/uss_availability/x", headers=bad).status_code == 401
    failures = [e for e in store.audit_entries() if e.action == "auth.failed"]
    assert len(failures) == 1  # one a second per address
    assert failures[0].actor == "anonymous"


# --- no request stalls the service ----------------------------------------------------------
def _ring(n: int, lon: float = 35.0, lat: float = 34.0, r: float = 0.05) -> list[list[float]]:
    import math

    pts = [
        [lon + r * math.cos(2 * math.pi * i / n), lat + r * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    return [*pts, pts[0]]


def _vol(ring: list[list[float]]) -> dict[str, Any]:
    return {**box(1, 1, 2, 2), "footprint": {"type": "Polygon", "coordinates": [ring]}}


def test_vertex_caps_are_documented_422s(api: Api) -> None:
    from deconfliction.model.footprint import MAX_POLYGON_VERTICES
    from deconfliction.model.records import MAX_VERTICES

    ok = api.post("/v1/intents", "FR", json={"volumes": [_vol(_ring(MAX_POLYGON_VERTICES))]})
    assert ok.status_code == 201, ok.text
    over = api.post("/v1/intents", "FR", json={"volumes": [_vol(_ring(MAX_POLYGON_VERTICES + 1))]})
    assert over.status_code == 422
    assert over.json()["errors"][0]["pointer"] == "/volumes/0/footprint/coordinates"
    assert f"at most {MAX_POLYGON_VERTICES} vertices" in over.json()["detail"]
    n = MAX_VERTICES // MAX_POLYGON_VERTICES + 1
    many = [_vol(_ring(MAX_POLYGON_VERTICES, lon=35 + i)) for i in range(n)]
    r = api.post("/v1/intents/preview", "FR", json={"volumes": many})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/volumes"


def test_dss_numbers_that_overflow_and_huge_polygons_are_400(api: Api, signing_key: Any) -> None:
    token = mint_token(signing_key, "uss1", scopes=["utm.strategic_coordination"])
    headers = {"Authorization": f"Bearer {token}"}

    def oir(volume: dict[str, Any]) -> dict[str, Any]:
        from datetime import UTC, datetime, timedelta

        t0 = datetime.now(UTC) + timedelta(minutes=5)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "extents": [
                {
                    "volume": {
                        **volume,
                        "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
                        "altitude_upper": {"value": 100, "reference": "W84", "units": "M"},
                    },
                    "time_start": {"value": t0.strftime(fmt), "format": "RFC3339"},
                    "time_end": {
                        "value": (t0 + timedelta(minutes=10)).strftime(fmt),
                        "format": "RFC3339",
                    },
                }
            ],
            "state": "Accepted",
            "uss_base_url": "https://uss1.example",
            "new_subscription": {"uss_base_url": "https://uss1.example"},
        }

    def put(volume: dict[str, Any]) -> Any:
        return api.client.request(
            "PUT",
            f"/dss/v1/operational_intent_references/{uuid.uuid4()}",
            json=oir(volume),
            headers=headers,
        )

    huge = {"outline_circle": {"center": {"lat": 10, "lng": 10}, "radius": {"value": 1e308}}}
    r = put(huge)
    assert r.status_code == 400 and "area" in r.json()["message"]
    many = [{"lat": p[1], "lng": p[0]} for p in _ring(2001)[:-1]]
    r = put({"outline_polygon": {"vertices": many}})
    assert r.status_code == 400 and "at most" in r.json()["message"]
    # a figure eight of 2,000 vertices: found crossing, without looking at every pair of edges
    eight = [{"lat": 10 + 0.01 * (i % 2), "lng": 10 + 0.00001 * i} for i in range(2000)]
    r = put({"outline_polygon": {"vertices": eight}})
    assert r.status_code == 400 and "cross" in r.json()["message"]
    ok = [{"lat": p[1], "lng": p[0]} for p in _ring(2000, r=0.1)[:-1]]
    assert put({"outline_polygon": {"vertices": ok}}).status_code == 201


def test_bodies_without_a_valid_token_are_cut_short_and_junk_tokens_share_a_bucket(
    store: Store, auth: AuthConfig, tokens: dict[str, str]
) -> None:
    frozen = GuardConfig(rate_per_s=5, burst=5, clock=lambda: 0.0)
    api = Api(_Client(create_app(store, auth, guard=frozen)), tokens)
    assert api.get("/v1/me", "FR").status_code == 200  # FR's token: verified once (one charge)
    blob = b"[" + b"0," * (200 << 10) + b"0]"  # 400 KB: under the limit, over the anonymous one
    r = api.client.request(
        "POST", "/v1/tracks", content=blob, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "65536" in r.json()["detail"]
    r = api.client.request(
        "POST",
        "/v1/tracks",
        content=blob,
        headers={"content-type": "application/json", "Authorization": "Bearer junk"},
    )
    assert r.status_code == 413
    # every new token is checked on its address's account: the bucket (5) is spent already by
    # FR's first request and two anonymous ones; two more junk tokens, then 429 (not checked)
    codes = [
        api.client.get("/v1/me", headers={"Authorization": f"Bearer junk-{i}"}).status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 429]
    # a verified party has its own bucket from then on, whatever its address's (one of its 5
    # went to its first request)
    assert [api.get("/v1/me", "FR").status_code for _ in range(5)] == [200] * 4 + [429]


def test_a_caller_gets_one_heavy_request_served_at_a_time() -> None:
    """Heavy bodies (over ``heavy_body`` bytes) are served one at a time per caller: its
    others wait their turn, another caller's go at once, light requests never wait."""
    import anyio

    from deconfliction.api.guard import Guard

    inside: list[str] = []
    most: dict[str, int] = {}
    release = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        who = dict(scope["headers"]).get(b"x-who", b"?").decode()
        await receive()
        inside.append(who)
        most[who] = max(most.get(who, 0), inside.count(who))
        await release.wait()
        inside.remove(who)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = Guard(app, GuardConfig(heavy_body=100))

    def scope(who: str, size: int) -> dict[str, Any]:
        return {
            "type": "http",
            "method": "POST",
            "path": "/v1/intents/preview",
            "client": ({"heavy": "10.0.0.1", "other": "10.0.0.2"}.get(who, "10.0.0.3"), 1),
            "headers": [(b"content-length", str(size).encode()), (b"x-who", who.encode())],
        }

    async def call(who: str, size: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"x" * size, "more_body": False}

        async def send(_: Any) -> None:
            return None

        await guard(scope(who, size), receive, send)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(call, "heavy", 1000)  # one caller, three heavy bodies
            tg.start_soon(call, "other", 1000)  # another caller
            for _ in range(3):
                tg.start_soon(call, "light.", 10)  # small bodies of a third caller
            with anyio.fail_after(10):
                while sorted(inside) != ["heavy", "light.", "light.", "light.", "other"]:
                    await anyio.sleep(0.01)
            release.set()

    anyio.run(main)
    assert most == {"heavy": 1, "other": 1, "light.": 3}


def test_large_bodies_are_parsed_and_checked_in_a_worker_process(api: Api) -> None:
    """A large body's checks (depth, strings) and validation run in a worker process (their
    C calls would hold up every request of the service's own), with the same answers as a
    small body's; a worker that dies is replaced, and the request is still answered."""
    import os
    import signal

    from deconfliction.api import offload

    def batch(n: int, **change: Any) -> dict[str, Any]:
        states = [
            {
                "id": f"FR-T{i:05d}",
                "class": "fixed-wing",
                "time": "2026-12-07T03:00:00Z",
                "lon": 33.0 + i * 1e-4,
                "lat": 34.0,
                "alt_m": 9000.0,
                "gs_mps": 200.0,
            }
            for i in range(n)
        ]
        for k, v in change.items():
            states[n - 7][k] = v
        return {"states": states}

    def post(doc: Any = None, raw: bytes | None = None) -> Any:
        body = raw if raw is not None else json.dumps(doc).encode()
        assert len(body) > offload.OFFLOAD_BYTES
        h = {"content-type": "application/json", **api.as_("FR")}
        return api.client.request("POST", "/v1/tracks", content=body, headers=h)

    before = dict(offload.sent)
    r = post(batch(2000))
    assert r.status_code == 202 and r.json()["accepted"] == 2000
    assert {k: offload.sent[k] - before.get(k, 0) for k in offload.sent} == {
        "json_depth": 1,
        "body_problems": 1,
        "validate": 1,
    }
    r = post(batch(2000, lat=91.0))  # one bad field deep in the batch: named as for a small one
    assert r.status_code == 422
    assert [e["pointer"] for e in r.json()["errors"]] == ["/states/1993/lat"]
    r = post(batch(2000, source="a\u0000b"))  # a NUL: the text check, in the worker
    assert r.status_code == 422
    assert [e["pointer"] for e in r.json()["errors"]] == ["/states/1993/source"]
    r = post(raw=b"[" + b"0," * 50_000 + b"0")  # not JSON
    assert r.status_code == 400 and r.json()["type"].endswith("not-json")
    r = post(raw=b"[" * 40 + b"0," * 50_000 + b"0" + b"]" * 40)  # too deep
    assert r.status_code == 400 and r.json()["type"].endswith("too-deep")
    # the workers die (killed, out of memory): the pool is replaced, nothing is refused
    pool = offload._pool
    assert pool is not None
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    for _ in range(2):
        r = post(batch(2000))
        assert r.status_code == 202 and r.json()["changed"] == 0  # the same states again
    assert offload._pool is not pool
