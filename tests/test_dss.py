"""The ASTM F3548-21 DSS (/dss/v1): our own checks of the standard's rules, in-process.

Written from the standard's text and the behaviour the public conformance suite expects, so that
CI guards conformance without the external suite.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from deconfliction.auth import mint_token
from helpers import agree

SC = "utm.strategic_coordination"
CM = "utm.constraint_management"
CP = "utm.constraint_processing"
AA = "utm.availability_arbitration"
BASE = "/dss/v1"
HIDDEN = "Available from USS"


def t(minutes: float) -> dict[str, str]:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"value": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"}


def circle(
    lat: float,
    lng: float,
    r: float,
    alt: tuple[float, float] = (0, 120),
    start: float = 10,
    end: float = 70,
) -> dict[str, Any]:
    return {
        "volume": {
            "outline_circle": {
                "center": {"lat": lat, "lng": lng},
                "radius": {"value": r, "units": "M"},
            },
            "altitude_lower": {"value": alt[0], "reference": "W84", "units": "M"},
            "altitude_upper": {"value": alt[1], "reference": "W84", "units": "M"},
        },
        "time_start": t(start),
        "time_end": t(end),
    }


def oir(extent: dict[str, Any], key: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "extents": [extent],
        "key": key or [],
        "state": "Accepted",
        "uss_base_url": "https://uss.example/ops",
        **extra,
    }


def uid() -> str:
    return str(uuid.uuid4())


class Uss:
    def __init__(self, api: Any, key: ec.EllipticCurvePrivateKey, name: str) -> None:
        self.api, self.key, self.name = api, key, name

    def call(self, method: str, path: str, scope: str = SC, **kw: Any) -> Any:
        token = mint_token(self.key, self.name, scopes=scope.split())
        headers = {"Authorization": f"Bearer {token}"}
        r = self.api.client.request(method, BASE + path, headers=headers, **kw)
        assert r.headers["content-type"].startswith("application/json"), r.headers
        return r


@pytest.fixture
def uss1(api: Any, signing_key: ec.EllipticCurvePrivateKey) -> Uss:
    return Uss(api, signing_key, "uss1")


@pytest.fixture
def uss2(api: Any, signing_key: ec.EllipticCurvePrivateKey) -> Uss:
    return Uss(api, signing_key, "uss2")


def test_auth_and_scopes(api: Any, uss1: Uss) -> None:
    body = {"area_of_interest": circle(10, 10, 100)}
    r = api.client.request("POST", f"{BASE}/operational_intent_references/query", json=body)
    assert r.status_code == 401 and "message" in r.json()
    assert (
        uss1.call("POST", "/operational_intent_references/query", CP, json=body).status_code == 403
    )
    assert uss1.call("PUT", f"/constraint_references/{uid()}", SC, json={}).status_code == 403
    assert uss1.call("POST", "/operational_intent_references/query", json=body).json() == {
        "operational_intent_references": []
    }
    assert uss1.call("GET", "/operation_references/x").status_code == 404


def test_oir_lifecycle_versions_and_hidden_ovns(uss1: Uss, uss2: Uss) -> None:
    oid = uid()
    r = uss1.call(
        "PUT",
        f"/operational_intent_references/{oid}",
        json=oir(
            circle(10, 10, 100), new_subscription={"uss_base_url": "https://uss.example/subs"}
        ),
    )
    assert r.status_code == 201, r.text
    ref = r.json()["operational_intent_reference"]
    assert (ref["id"], ref["manager"], ref["version"], ref["state"]) == (oid, "uss1", 1, "Accepted")
    ovn = ref["ovn"]
    assert ovn and ovn != HIDDEN
    assert (
        uss2.call("GET", f"/operational_intent_references/{oid}").json()[
            "operational_intent_reference"
        ]["ovn"]
        == HIDDEN
    )
    assert (
        uss1.call(
            "PUT", f"/operational_intent_references/{oid}", json=oir(circle(10, 10, 100))
        ).status_code
        == 409
    )
    assert (
        uss1.call(
            "PUT", f"/operational_intent_references/{oid}/wrong", json=oir(circle(10, 10, 100))
        ).status_code
        == 409
    )
    assert (
        uss2.call(
            "PUT", f"/operational_intent_references/{oid}/{ovn}", json=oir(circle(10, 10, 100))
        ).status_code
        == 403
    )
    r = uss1.call(
        "PUT",
        f"/operational_intent_references/{oid}/{ovn}",
        json=oir(
            circle(10, 10, 100),
            key=[ovn],
            state="Activated",
            subscription_id=ref["subscription_id"],
        ),
    )
    assert r.status_code == 200 and r.json()["operational_intent_reference"]["version"] == 2
    new_ovn = r.json()["operational_intent_reference"]["ovn"]
    assert uss2.call("DELETE", f"/operational_intent_references/{oid}/{new_ovn}").status_code == 403
    assert uss1.call("DELETE", f"/operational_intent_references/{oid}/{ovn}").status_code == 409
    assert uss1.call("DELETE", f"/operational_intent_references/{oid}/{new_ovn}").status_code == 200
    assert uss1.call("GET", f"/operational_intent_references/{oid}").status_code == 404
    # its implicit subscription went with it
    assert uss1.call("GET", f"/subscriptions/{ref['subscription_id']}").status_code == 404


def test_key_rule_lists_missing_intents_without_revealing_ovns(uss1: Uss, uss2: Uss) -> None:
    a = uss1.call(
        "PUT", f"/operational_intent_references/{uid()}", json=oir(circle(20, 20, 300))
    ).json()["operational_intent_reference"]
    b_id = uid()
    r = uss2.call("PUT", f"/operational_intent_references/{b_id}", json=oir(circle(20, 20, 200)))
    assert r.status_code == 409
    missing = r.json()["missing_operational_intents"]
    assert [m["id"] for m in missing] == [a["id"]] and missing[0]["ovn"] == HIDDEN
    # above its altitude band, or later, no key is needed
    assert (
        uss2.call(
            "PUT",
            f"/operational_intent_references/{uid()}",
            json=oir(circle(20, 20, 200, alt=(121, 200))),
        ).status_code
        == 201
    )
    assert (
        uss2.call(
            "PUT",
            f"/operational_intent_references/{uid()}",
            json=oir(circle(20, 20, 200, start=71, end=90)),
        ).status_code
        == 201
    )
    r = uss2.call(
        "PUT",
        f"/operational_intent_references/{b_id}",
        json=oir(circle(20, 20, 200), key=[a["ovn"]]),
    )
    assert r.status_code == 201, r.text


def test_notification_indices_are_exact(uss1: Uss, uss2: Uss) -> None:
    sid = uid()
    sub = {
        "extents": circle(30, 30, 500, alt=(0, 1000), start=0, end=90),
        "uss_base_url": "https://uss2.example/subs",
        "notify_for_operational_intents": True,
    }
    r = uss2.call("PUT", f"/subscriptions/{sid}", json=sub)
    assert r.status_code == 200 and r.json()["subscription"]["notification_index"] == 0
    assert "constraint_references" not in r.json()

    def index_in(resp: Any) -> int | None:
        for group in resp.json()["subscribers"]:
            for s in group["subscriptions"]:
                if s["subscription_id"] == sid:
                    return int(s["notification_index"])
        return None

    oid = uid()
    r = uss1.call("PUT", f"/operational_intent_references/{oid}", json=oir(circle(30, 30, 100)))
    assert index_in(r) == 1
    ovn = r.json()["operational_intent_reference"]["ovn"]
    # a refused write changes nothing
    assert (
        uss1.call(
            "PUT", f"/operational_intent_references/{oid}/stale", json=oir(circle(30, 30, 100))
        ).status_code
        == 409
    )
    r = uss1.call(
        "PUT",
        f"/operational_intent_references/{oid}/{ovn}",
        json=oir(circle(30, 30, 120), key=[ovn]),
    )
    assert index_in(r) == 2
    ovn = r.json()["operational_intent_reference"]["ovn"]
    # far away: not notified
    far = uss1.call("PUT", f"/operational_intent_references/{uid()}", json=oir(circle(31, 31, 100)))
    assert far.status_code == 201 and index_in(far) is None
    r = uss1.call("DELETE", f"/operational_intent_references/{oid}/{ovn}")
    assert index_in(r) == 3
    assert (
        uss2.call("GET", f"/subscriptions/{sid}").json()["subscription"]["notification_index"] == 3
    )


def test_subscription_rules(uss1: Uss, uss2: Uss) -> None:
    sid = uid()
    base = {"extents": circle(40, 40, 300, start=0, end=60), "uss_base_url": "https://u.example"}
    assert uss1.call("PUT", f"/subscriptions/{sid}", json=base).status_code == 400  # no trigger
    long = {
        **base,
        "extents": circle(40, 40, 300, start=0, end=25 * 60),
        "notify_for_constraints": True,
    }
    assert uss1.call("PUT", f"/subscriptions/{sid}", json=long).status_code == 400
    ok = {**base, "notify_for_constraints": True}
    r = uss1.call("PUT", f"/subscriptions/{sid}", json=ok)
    assert r.status_code == 200 and "operational_intent_references" not in r.json()
    version = r.json()["subscription"]["version"]
    assert uss1.call("PUT", f"/subscriptions/{sid}", json=ok).status_code == 409
    assert uss2.call("GET", f"/subscriptions/{sid}").status_code == 403
    q = uss1.call("POST", "/subscriptions/query", json={"area_of_interest": circle(40, 40, 50)})
    assert [s["id"] for s in q.json()["subscriptions"]] == [sid]
    assert (
        uss2.call(
            "POST", "/subscriptions/query", json={"area_of_interest": circle(40, 40, 50)}
        ).json()["subscriptions"]
        == []
    )
    assert uss1.call("DELETE", f"/subscriptions/{sid}/{version}").status_code == 200


def test_implicit_subscription_cannot_be_deleted_while_used(uss1: Uss) -> None:
    r = uss1.call(
        "PUT",
        f"/operational_intent_references/{uid()}",
        json=oir(
            circle(50, 50, 100), new_subscription={"uss_base_url": "https://uss.example/subs"}
        ),
    )
    sid = r.json()["operational_intent_reference"]["subscription_id"]
    sub = uss1.call("GET", f"/subscriptions/{sid}").json()["subscription"]
    assert sub["implicit_subscription"] is True and len(sub["dependent_operational_intents"]) == 1
    assert uss1.call("DELETE", f"/subscriptions/{sid}/{sub['version']}").status_code == 400


def _polygon(*latlng: tuple[float, float]) -> dict[str, Any]:
    ext = circle(0, 0, 1)
    ext["volume"].pop("outline_circle")
    ext["volume"]["outline_polygon"] = {"vertices": [{"lat": a, "lng": b} for a, b in latlng]}
    return ext


def _bad_volume(mutate: Any) -> dict[str, Any]:
    ext = circle(60, 60, 100)
    mutate(ext)
    return oir(ext)


BAD_PUTS = {
    "closed polygon": oir(_polygon((1, 1), (1, 1.01), (1.01, 1.01), (1, 1))),
    "self-crossing polygon": oir(_polygon((1, 1), (1.01, 1.01), (1, 1.01), (1.01, 1))),
    "area too large": oir(_polygon((0, 0), (0, 1), (1, 1), (1, 0))),
    "http base url": {**oir(circle(60, 60, 100)), "uss_base_url": "http://uss.example"},
    "state Ended": {**oir(circle(60, 60, 100)), "state": "Ended"},
    "created Activated": {**oir(circle(60, 60, 100)), "state": "Activated"},
    "feet": _bad_volume(lambda e: e["volume"]["altitude_lower"].update(units="FT")),
    "circle and polygon": _bad_volume(
        lambda e: e["volume"].update(outline_polygon={"vertices": [{"lat": 1, "lng": 1}] * 3})
    ),
    "ended in the past": oir(circle(60, 60, 100, start=-120, end=-60)),
    "start after end": oir(circle(60, 60, 100, start=50, end=40)),
    "bad time": _bad_volume(lambda e: e["time_start"].update(value="soon")),
    "extents not a list": {**oir(circle(60, 60, 100)), "extents": circle(60, 60, 100)},
    "both subscriptions": oir(
        circle(60, 60, 100),
        subscription_id=str(uuid.uuid4()),
        new_subscription={"uss_base_url": "https://u.example"},
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_PUTS))
def test_bad_requests_are_400_never_422(uss1: Uss, name: str) -> None:
    r = uss1.call("PUT", f"/operational_intent_references/{uid()}", json=BAD_PUTS[name])
    assert r.status_code == 400, (name, r.text)
    assert isinstance(r.json()["message"], str)


def test_bad_ids_and_missing_bodies_are_400(uss1: Uss) -> None:
    assert (
        uss1.call(
            "PUT", "/operational_intent_references/not-a-uuid", json=oir(circle(1, 1, 10))
        ).status_code
        == 400
    )
    assert uss1.call("POST", "/operational_intent_references/query").status_code == 400
    assert uss1.call("GET", f"/operational_intent_references/{uuid.uuid1()}").status_code == 400


def test_concurrent_writers_get_the_serial_outcome(uss1: Uss, uss2: Uss) -> None:
    """Each client saw an empty cell and writes with an empty key: exactly one may win."""
    statuses: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        uss = uss1 if k % 2 else uss2
        r = uss.call("PUT", f"/operational_intent_references/{uid()}", json=oir(circle(70, 70, 50)))
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(statuses) == [201] + [409] * 15


def test_constraints_and_availability(uss1: Uss, uss2: Uss) -> None:
    cid = uid()
    body = {"extents": [circle(80, 80, 100)], "uss_base_url": "https://c.example"}
    assert uss1.call("PUT", f"/constraint_references/{cid}", CP, json=body).status_code == 403
    r = uss1.call("PUT", f"/constraint_references/{cid}", CM, json=body)
    assert r.status_code == 201
    ovn = r.json()["constraint_reference"]["ovn"]
    seen = uss2.call("GET", f"/constraint_references/{cid}", CP).json()["constraint_reference"]
    assert seen["ovn"] == HIDDEN
    assert uss1.call("DELETE", f"/constraint_references/{cid}/{ovn}", CM).status_code == 200
    assert uss2.call("GET", "/uss_availability/x", AA).json() == {
        "status": {"uss": "x", "availability": "Unknown"},
        "version": "",
    }
    r = uss2.call("PUT", "/uss_availability/x", AA, json={"availability": "normal"})
    assert r.json()["status"]["availability"] == "Normal"
    assert (
        uss2.call("PUT", "/uss_availability/x", AA, json={"availability": "down"}).status_code
        == 409
    )  # names no version
    assert (
        uss2.call("PUT", "/uss_availability/x", AA, json={"availability": "purple"}).status_code
        == 400
    )


def test_dss_intents_are_native_intents_too(api: Any, uss1: Uss) -> None:
    """An intent written through the DSS is its manager's intent in the native conflict view."""
    oid = uid()
    r = uss1.call("PUT", f"/operational_intent_references/{oid}", json=oir(circle(45, 5, 500)))
    assert r.status_code == 201
    at = datetime.now(UTC) + timedelta(minutes=30)
    ring = [[4.99, 44.99], [5.01, 44.99], [5.01, 45.01], [4.99, 45.01], [4.99, 44.99]]
    native = {
        "volumes": [
            {
                "footprint": {"type": "Polygon", "coordinates": [ring]},
                "alt_lower_m": 50,
                "alt_upper_m": 300,
                "time_start": at.isoformat(),
                "time_end": (at + timedelta(minutes=10)).isoformat(),
            }
        ]
    }
    w = api.post("/v1/intents", "FR", json=native)
    assert w.status_code == 201
    # FR and uss1 have no agreement: FR is told of a conflict with uss1, not of its id
    (c,) = w.json()["conflicts"]
    assert {(s["owner"], s["id"] is None) for s in (c["a"], c["b"])} == {
        ("FR", False),
        ("uss1", True),
    }
    mine = api.client.request(
        "GET", "/v1/conflicts", headers={"Authorization": f"Bearer {mint_token(uss1.key, 'uss1')}"}
    ).json()["conflicts"]
    assert {c["a"]["owner"] for c in mine} | {c["b"]["owner"] for c in mine} == {"FR", "uss1"}
    # deleting the reference removes the native intent, and so resolves the conflict
    ovn = r.json()["operational_intent_reference"]["ovn"]
    assert uss1.call("DELETE", f"/operational_intent_references/{oid}/{ovn}").status_code == 200
    assert api.get("/v1/conflicts", "FR").json()["conflicts"] == []


@pytest.mark.parametrize("path", ["/operational_intent_references", "/subscriptions"])
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_an_empty_version_in_the_path_is_400(uss1: Uss, path: str, method: str) -> None:
    r = uss1.call(method, f"{path}/{uid()}/", json=oir(circle(1, 1, 10)))
    assert r.status_code == 400


def test_version_and_pool_need_their_scopes(uss1: Uss) -> None:
    token = mint_token(uss1.key, "uss1", scopes=["interuss.versioning.read_system_versions"])
    r = uss1.api.client.request(
        "GET", "/versions/dss", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and r.json()["system_identity"] == "dss"
    assert r.json()["system_version"].startswith("deconfliction-")
    r = uss1.api.client.request("GET", "/aux/v1/pool", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    token = mint_token(uss1.key, "uss1", scopes=["interuss.pool_status.read"])
    r = uss1.api.client.request("GET", "/aux/v1/pool", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["dar_id"]


def _native_volume(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    at = datetime.now(UTC) + timedelta(minutes=20)
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {
        "footprint": {"type": "Polygon", "coordinates": [ring]},
        "alt_lower_m": 0,
        "alt_upper_m": 3000,
        "time_start": at.isoformat(),
        "time_end": (at + timedelta(minutes=40)).isoformat(),
    }


def _publish(api: Any, party: str, **levels: Any) -> None:
    r = api.put("/v1/dss/publication", f"{party}-admin", json=levels)
    assert r.status_code == 200, r.text


def test_a_publication_grid_finer_than_a_metre_is_refused_naming_the_step(api: Any) -> None:
    """A step of next to nothing would put coordinates on a grid of more points than a float
    counts (it answered 500 when records were republished on it)."""
    for step, tiny in (("position_step_deg", 5e-324), ("radius_step_m", 1e-9)):
        r = api.put(
            "/v1/dss/publication", "FR-admin", json={"intents": "extent", "grid": {step: tiny}}
        )
        assert r.status_code == 422, r.text
        assert any(e["pointer"] == f"/grid/{step}" for e in r.json()["errors"]), r.text


def test_native_intents_are_seen_by_dss_clients_only_as_published(
    api: Any, uss1: Uss, uss2: Uss
) -> None:
    """DSS clients see nothing of a party's native intents unless it publishes them; then a
    reference under an id of its own, managed by the party at this service, with the published
    (coarsened) volumes in its details; native writes notify."""
    sid = uid()
    sub = {
        "extents": circle(45, 5, 5000, alt=(0, 5000), start=0, end=120),
        "uss_base_url": "https://uss2.example/subs",
        "notify_for_operational_intents": True,
    }
    assert uss2.call("PUT", f"/subscriptions/{sid}", json=sub).status_code == 200

    def index() -> int:
        r = uss2.call("GET", f"/subscriptions/{sid}")
        return int(r.json()["subscription"]["notification_index"])

    here = circle(45.01, 5.01, 200)

    def refs(area: dict[str, Any]) -> list[dict[str, Any]]:
        r = uss1.call(
            "POST", "/operational_intent_references/query", json={"area_of_interest": area}
        )
        out: list[dict[str, Any]] = r.json()["operational_intent_references"]
        return out

    nid = uid()
    w = api.post(
        "/v1/intents", "FR", json={"id": nid, "volumes": [_native_volume(5, 45, 5.02, 45.02)]}
    )
    assert w.status_code == 201, w.text
    native_ovn = w.json()["intent"]["ovn"]
    # nothing published: nothing seen, nobody notified, no details, no key to give
    assert refs(here) == [] and index() == 0
    assert uss1.call("GET", f"/operational_intent_references/{nid}").status_code == 404
    free = uid()
    planned = uss1.call("PUT", f"/operational_intent_references/{free}", json=oir(here))
    assert planned.status_code == 201
    ovn = planned.json()["operational_intent_reference"]["ovn"]
    assert uss1.call("DELETE", f"/operational_intent_references/{free}/{ovn}").status_code == 200
    base = index()  # uss1's own create and delete

    _publish(api, "FR", intents="extent")
    (found,) = refs(here)
    pid = found["id"]
    assert pid != nid and uuid.UUID(pid).version == 4  # its own id: the native one is not told
    assert (found["manager"], found["ovn"], found["state"]) == ("FR", HIDDEN, "Accepted")
    assert found["uss_base_url"] == "http://localhost"
    assert index() == base + 1
    events = api.client.app.state.store.outbox_events("uss2")
    assert events[-1]["payload"]["operational_intent_id"] == pid
    assert nid not in str(events)
    assert refs(circle(45.2, 5.2, 200)) == []
    got = uss1.call("GET", f"/operational_intent_references/{pid}")
    assert got.status_code == 200 and got.json()["operational_intent_reference"]["manager"] == "FR"

    # the key rule counts it: without its OVN, 409 naming it
    oid = uid()
    r = uss1.call("PUT", f"/operational_intent_references/{oid}", json=oir(here))
    assert r.status_code == 409
    assert [(o["id"], o["ovn"]) for o in r.json()["missing_operational_intents"]] == [(pid, HIDDEN)]
    # its USS (this service) gives the published details and the OVN, with the scope
    token = mint_token(uss1.key, "uss1", scopes=[SC])
    d = api.client.get(
        f"/uss/v1/operational_intents/{pid}", headers={"Authorization": f"Bearer {token}"}
    )
    assert d.status_code == 200, d.text
    assert d.json()["operational_intent"]["reference"]["ovn"] == native_ovn
    (vol,) = d.json()["operational_intent"]["details"]["volumes"]
    assert "outline_circle" in vol["volume"]  # the coarsened extent, not the polygon
    no_scope = mint_token(uss1.key, "uss1", scopes=[CP])
    assert (
        api.client.get(
            f"/uss/v1/operational_intents/{pid}", headers={"Authorization": f"Bearer {no_scope}"}
        ).status_code
        == 403
    )
    # a party that FR's agreement gives full gets the exact volumes from the same route
    agree(api, "FR", "RU", {"releases": {"FR": {"default": "full"}}, "reciprocity": False})
    ru = mint_token(uss1.key, "RU", scopes=[SC])
    d = api.client.get(
        f"/uss/v1/operational_intents/{pid}", headers={"Authorization": f"Bearer {ru}"}
    )
    (vol,) = d.json()["operational_intent"]["details"]["volumes"]
    assert len(vol["volume"]["outline_polygon"]["vertices"]) == 4
    r = uss1.call("PUT", f"/operational_intent_references/{oid}", json=oir(here, key=[native_ovn]))
    assert r.status_code == 201
    assert index() == base + 2
    # the DSS cannot take over the published id
    assert (
        uss1.call("PUT", f"/operational_intent_references/{pid}", json=oir(here)).status_code == 403
    )

    # a native update and a delete notify too, and the view follows
    moved = {"version": 1, "volumes": [_native_volume(5.5, 45.5, 5.52, 45.52)]}
    assert api.put(f"/v1/intents/{nid}", "FR", json=moved).status_code == 200
    assert index() == base + 3  # the old place was in the subscription
    assert api.delete(f"/v1/intents/{nid}?version=2", "FR").status_code == 200
    assert index() == base + 3  # the new place was not
    assert uss1.call("GET", f"/operational_intent_references/{pid}").status_code == 404
    d = api.client.get(
        f"/uss/v1/operational_intents/{pid}", headers={"Authorization": f"Bearer {token}"}
    )
    assert d.status_code == 404 and "message" in d.json()


def test_published_areas_are_constraints(api: Any, uss1: Uss) -> None:
    """A party's areas, published, are constraint references with details served here."""
    area = {"id": "LIVEFIRE", "volumes": [_native_volume(5, 45, 5.02, 45.02)]}
    assert api.post("/v1/areas", "RU", json=area).status_code == 201
    body = {"area_of_interest": circle(45.01, 5.01, 200)}

    def found() -> list[dict[str, Any]]:
        r = uss1.call("POST", "/constraint_references/query", CP, json=body)
        out: list[dict[str, Any]] = r.json()["constraint_references"]
        return out

    assert found() == []
    _publish(api, "RU", areas="full")
    (ref,) = found()
    assert ref["manager"] == "RU" and ref["ovn"] == HIDDEN
    token = mint_token(uss1.key, "uss1", scopes=[CP])
    d = api.client.get(
        f"/uss/v1/constraints/{ref['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert d.status_code == 200, d.text
    (vol,) = d.json()["constraint"]["details"]["volumes"]
    assert len(vol["volume"]["outline_polygon"]["vertices"]) == 4
    _publish(api, "RU", areas="none")  # withdrawn at once
    assert found() == []


def test_large_native_intents_are_found_by_their_coarse_covering(
    api: Any, uss1: Uss, uss2: Uss
) -> None:
    """A naval operating area far larger than the DSS's limit is still seen wherever it lies."""
    sid = uid()
    sub = {
        "extents": circle(34.5, 33.5, 2000, alt=(0, 5000), start=0, end=120),
        "uss_base_url": "https://uss2.example/subs",
        "notify_for_operational_intents": True,
    }
    assert uss2.call("PUT", f"/subscriptions/{sid}", json=sub).status_code == 200
    _publish(api, "RU", intents="full")
    w = api.post("/v1/intents", "RU", json={"volumes": [_native_volume(33, 33, 35, 35)]})
    assert w.status_code == 201, w.text
    r = uss2.call("GET", f"/subscriptions/{sid}")
    assert r.json()["subscription"]["notification_index"] == 1
    nid = api.client.app.state.store.outbox_events("uss2")[-1]["payload"]["operational_intent_id"]

    def seen(lat: float, lng: float) -> list[str]:
        body = {"area_of_interest": circle(lat, lng, 100)}
        refs = uss1.call("POST", "/operational_intent_references/query", json=body).json()
        return [o["id"] for o in refs["operational_intent_references"]]

    assert seen(33.5, 34.5) == [nid]
    assert seen(34.9, 33.1) == [nid]
    assert seen(36.0, 34.0) == []


def test_every_answer_is_the_entity_its_schema_documents(uss1: Uss, uss2: Uss) -> None:
    """Each answer, read through the ``dss.entities`` type the OpenAPI document gives it
    (strictly: no number for a string, no float for an integer), is the answer itself: no key
    missing, none undocumented."""
    from pydantic import TypeAdapter

    from deconfliction.dss import entities as f3548

    def ask(entity: Any, who: Uss, method: str, path: str, scope: str = SC, **kw: Any) -> Any:
        status = kw.pop("status", 200)
        r = who.call(method, path, scope, **kw)
        assert r.status_code == status, r.text
        body = r.json()
        assert TypeAdapter(entity).validate_python(body, strict=True) == body
        return body

    sid, oid, cid = uid(), uid(), uid()
    sub = {"extents": circle(20, 20, 500), "uss_base_url": "https://s.example"}
    both = {"notify_for_operational_intents": True, "notify_for_constraints": True}
    made = ask(
        f3548.PutSubscriptionResponse, uss2, "PUT", f"/subscriptions/{sid}", json={**sub, **both}
    )
    assert made["operational_intent_references"] == [] and made["constraint_references"] == []
    change, oirs = f3548.ChangeOperationalIntentReferenceResponse, "/operational_intent_references"
    body = oir(circle(20, 20, 100))
    ovn = ask(change, uss1, "PUT", f"{oirs}/{oid}", json=body, status=201)
    ovn = ovn["operational_intent_reference"]["ovn"]
    body = oir(circle(20, 20, 120), key=[ovn], new_subscription={"uss_base_url": "https://s.x"})
    changed = ask(change, uss1, "PUT", f"{oirs}/{oid}/{ovn}", json=body)
    told = {s["subscription_id"] for n in changed["subscribers"] for s in n["subscriptions"]}
    assert sid in told
    ovn = changed["operational_intent_reference"]["ovn"]
    ask(f3548.GetOperationalIntentReferenceResponse, uss2, "GET", f"{oirs}/{oid}")
    aoi = {"area_of_interest": circle(20, 20, 1000)}
    found = ask(
        f3548.QueryOperationalIntentReferenceResponse, uss2, "POST", f"{oirs}/query", json=aoi
    )
    assert [o["ovn"] for o in found["operational_intent_references"]] == [HIDDEN]
    body = oir(circle(20, 20, 50))
    ask(f3548.AirspaceConflictResponse, uss2, "PUT", f"{oirs}/{uid()}", json=body, status=409)
    con = {"extents": [circle(20, 20, 100)], "uss_base_url": "https://c.example"}
    c_change, cons = f3548.ChangeConstraintReferenceResponse, "/constraint_references"
    cov = ask(c_change, uss1, "PUT", f"{cons}/{cid}", CM, json=con, status=201)
    cov = cov["constraint_reference"]["ovn"]
    ask(f3548.GetConstraintReferenceResponse, uss2, "GET", f"{cons}/{cid}", CP)
    ask(f3548.QueryConstraintReferencesResponse, uss2, "POST", f"{cons}/query", CP, json=aoi)
    ask(c_change, uss1, "DELETE", f"{cons}/{cid}/{cov}", CM)
    got = ask(f3548.GetSubscriptionResponse, uss2, "GET", f"/subscriptions/{sid}")
    ask(f3548.QuerySubscriptionsResponse, uss2, "POST", "/subscriptions/query", json=aoi)
    version = got["subscription"]["version"]
    ask(f3548.DeleteSubscriptionResponse, uss2, "DELETE", f"/subscriptions/{sid}/{version}")
    ask(change, uss1, "DELETE", f"{oirs}/{oid}/{ovn}")
    normal = {"availability": "Normal"}
    ask(f3548.UssAvailabilityStatusResponse, uss1, "PUT", "/uss_availability/u", AA, json=normal)
    ask(f3548.UssAvailabilityStatusResponse, uss1, "GET", "/uss_availability/u", AA)
    ask(f3548.ErrorResponse, uss1, "GET", f"/subscriptions/{uid()}", status=404)


def _glance_circle(radius_m: float) -> dict[str, Any]:
    return {"volume": {"outline_circle": {"radius": {"value": radius_m, "units": "M"}}}}


def _glance_polygon(span_deg: float, n: int = 4) -> dict[str, Any]:
    vertices = [
        {"lat": 48.0 + span_deg * (k % 2), "lng": 2.0 + span_deg * (k // 2)} for k in range(n)
    ]
    return {"volume": {"outline_polygon": {"vertices": vertices}}}


def test_only_writes_of_a_few_small_volumes_are_checked_in_the_event_loop() -> None:
    """A write whose cells cost little is checked in the event loop (no thread hand-off); one
    with more or larger volumes, or one it cannot judge at a glance, in a worker thread, so
    that it holds up no other request (``api.dss.INLINE_BYTES``)."""
    from deconfliction.api.dss import INLINE_RADIUS_M, INLINE_SPAN_DEG, _small

    assert _small(None)  # a delete
    assert _small({"extents": [_glance_circle(30)], "key": [], "state": "Accepted"})
    assert _small({"extents": [_glance_circle(INLINE_RADIUS_M), _glance_polygon(INLINE_SPAN_DEG)]})
    assert not _small({"extents": [_glance_circle(30)] * 3})
    assert not _small({"extents": [_glance_circle(INLINE_RADIUS_M + 1)]})
    assert not _small({"extents": [_glance_circle(float("nan"))]})
    assert not _small({"extents": [_glance_polygon(INLINE_SPAN_DEG * 1.1)]})
    assert not _small({"extents": [_glance_polygon(0.001, n=33)]})
    assert not _small({"extents": [{"volume": {"outline_polygon": {"vertices": []}}}]})
    assert not _small({"subscription": {"extents": [_glance_circle(1e6)]}})  # nested: not judged


any_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["extents", "key", "state", "volume"]) | st.text(max_size=6), any_json
    )
)
def test_the_look_at_a_writes_volumes_never_fails(doc: dict[str, Any]) -> None:
    """Whatever the body holds, the glance that sends a write to the event loop or a thread
    answers (the check proper reports what is wrong)."""
    from deconfliction.api.dss import _small

    assert _small(doc) in (True, False)
