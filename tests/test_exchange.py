"""Need-to-know: what each of three parties sees of one scene, under two agreements.

FR and RU agree (reciprocity on): FR releases its air sorties in full, its naval operating areas
as a coarsened extent, the rest as conflict notices; RU releases everything as an extent. FR and
the UK agree (reciprocity off): everything in full. RU and the UK have no agreement.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from deconfliction.alerts.webhooks import SIGNATURE_HEADER, verify_signature
from deconfliction.exchange.agreements import Coarsening
from deconfliction.exchange.hotline import Escalator
from deconfliction.exchange.ledger import check_alerts
from deconfliction.exchange.links import LinkChecker, record
from deconfliction.exchange.release import coarsen
from deconfliction.geodesy import GEOD
from deconfliction.model import CircleFootprint, Volume4D
from helpers import agree
from test_api import box
from test_properties import SETTINGS, boundary_points, centres, volumes

FR_RU = {
    "releases": {
        "FR": {"air-sortie": "full", "naval-operating-area": "extent", "default": "conflict"},
        "RU": {"default": "extent"},
    },
    "reciprocity": True,
    "separation": {"lateral_m": 20_000, "vertical_m": 0, "time_s": 0},
    "languages": {"FR": ["fr", "en"], "RU": ["ru"]},
}
FR_UK = {"releases": {"FR": {"default": "full"}, "UK": {"default": "full"}}, "reciprocity": False}


def _scene(api: Any) -> None:
    def put(party: str, rid: str, category: str, vol: dict[str, Any]) -> None:
        body = {"id": rid, "category": category, "name": f"{rid} name", "volumes": [vol]}
        r = api.post("/v1/intents", party, json=body)
        assert r.status_code == 201, r.text

    put("FR", "A", "air-sortie", box(33.0, 34.0, 33.5, 34.5))
    put("FR", "N", "naval-operating-area", box(30.0, 32.0, 31.0, 33.0))
    put("FR", "E", "exercise", box(26.0, 36.0, 26.5, 36.5))
    put("RU", "R1", "air-sortie", box(33.2, 34.2, 33.8, 34.8))  # meets A: a conflict
    put("RU", "R2", "naval-operating-area", box(31.1, 32.0, 31.5, 32.5))  # ~10 km from N
    put("RU", "R3", "exercise", box(20.0, 40.0, 20.5, 40.5))  # far from every FR plan
    put("UK", "U", "air-sortie", box(10.0, 50.0, 10.5, 50.5))


#: Who owns which record of the scene (ids are per owner).
OWNER = {"A": "FR", "N": "FR", "E": "FR", "R1": "RU", "R2": "RU", "R3": "RU", "U": "UK"}


def _seen(api: Any, viewer: str, rid: str) -> str:
    r = api.get(f"/v1/intents/{rid}?owner={OWNER[rid]}", viewer)
    if r.status_code == 404:
        return "hidden"
    assert r.status_code == 200, r.text
    return "full" if "name" in r.json() else "extent"


def test_each_party_sees_what_its_agreements_release(api: Any) -> None:
    agree(api, "FR", "RU", FR_RU)
    agree(api, "UK", "FR", FR_UK)
    _scene(api)
    expected = {
        # RU: A in full (its R1 is there), N as an extent (R2 within the agreed 20 km),
        # E conflict notices only, U nothing (no agreement with the UK)
        "RU": {"A": "full", "N": "extent", "E": "hidden", "U": "hidden"},
        # FR: RU's extents where FR has plans (give and take), not R3; the UK's in full
        "FR": {"R1": "extent", "R2": "extent", "R3": "hidden", "U": "full"},
        # UK: FR's in full whatever the place (no reciprocity); nothing of RU's
        "UK": {"A": "full", "N": "full", "E": "full", "R1": "hidden", "R3": "hidden"},
    }
    seen = {v: {rid: _seen(api, v, rid) for rid in row} for v, row in expected.items()}
    assert seen == expected

    # the extent is coarse: a circle on a 0.1 degree grid, times on the quarter hour
    n = api.get("/v1/intents/N?owner=FR", "RU").json()["volumes"][0]
    assert n["footprint"]["type"] == "Circle"
    for key in ("time_start", "time_end"):
        t = datetime.fromisoformat(n[key].replace("Z", "+00:00"))
        assert t.minute % 15 == 0 and t.second == 0 and t.microsecond == 0
    lon, lat = n["footprint"]["center"]
    assert math.isclose(lat * 10, round(lat * 10), abs_tol=1e-6)
    assert math.isclose(lon * 10, round(lon * 10), abs_tol=1e-6)

    # a query shows the same: released ones only
    q = api.post("/v1/intents/query", "RU", json={"volume": box(25, 30, 35, 37)}).json()
    assert sorted(i["id"] for i in q["intents"]) == ["A", "N", "R1", "R2"]

    # the conflict A x R1: RU sees A in full, FR sees R1 as an extent
    (c_ru,) = api.get("/v1/conflicts", "RU").json()["conflicts"]
    a_side = c_ru["a"] if c_ru["a"]["id"] == "A" else c_ru["b"]
    assert a_side["volumes"][0]["footprint"]["type"] == "Polygon"
    (c_fr,) = api.get("/v1/conflicts", "FR").json()["conflicts"]
    r_side = c_fr["a"] if c_fr["a"]["id"] == "R1" else c_fr["b"]
    assert r_side["volumes"][0]["footprint"]["type"] == "Circle"

    # FR previews what each side is shown of E, and reads what was disclosed of its records
    to_ru = api.get("/v1/intents/E/released?to=RU", "FR").json()
    assert to_ru["level"] == "conflict" and to_ru["shown"] is None
    assert api.get("/v1/intents/E/released?to=UK", "FR").json()["level"] == "full"
    assert api.get("/v1/intents/E/released?to=UK", "RU").status_code == 404  # not RU's
    told = {
        (d["record_id"], d["to"], d["level"])
        for d in api.get("/v1/disclosures", "FR").json()["disclosures"]
    }
    assert told == {
        ("A", "RU", "full"),
        ("N", "RU", "extent"),
        ("A", "UK", "full"),
        ("N", "UK", "full"),
        ("E", "UK", "full"),
    }
    store = api.client.app.state.store
    assert sum(e.action.startswith("disclosure.") for e in store.audit_entries()) >= len(told)


def test_without_reciprocity_details_flow_everywhere(api: Any) -> None:
    agree(api, "FR", "RU", FR_RU)
    _scene(api)
    assert _seen(api, "FR", "R3") == "hidden"  # reciprocity: FR has no plan near R3
    # a new version without reciprocity, proposed by RU and accepted by FR
    agree(api, "RU", "FR", {**FR_RU, "reciprocity": False})
    assert _seen(api, "FR", "R3") == "extent"
    assert _seen(api, "RU", "E") == "hidden"  # its level is still conflict notices only
    versions = api.get("/v1/agreements", "FR").json()["agreements"]
    assert [(a["version"], a["status"]) for a in versions] == [(1, "superseded"), (2, "active")]


def test_agreements_need_both_sides_admins(api: Any) -> None:
    assert api.put("/v1/agreements/RU", "FR", json=FR_RU).status_code == 403  # not an admin
    r = api.put("/v1/agreements/RU", "FR-admin", json=FR_RU)
    assert r.status_code == 201 and r.json()["status"] == "proposed"
    assert api.post("/v1/agreements/RU/versions/1/accept", "FR-admin").status_code == 403
    assert api.post("/v1/agreements/FR/versions/1/accept", "RU").status_code == 403
    bad = api.put("/v1/agreements/RU", "FR-admin", json={"releases": {"FR": {"boats": "full"}}})
    assert bad.status_code == 422
    stranger = api.put("/v1/agreements/RU", "FR-admin", json={"releases": {"UK": {}}})
    assert stranger.status_code == 422
    assert api.put("/v1/agreements/ZZ", "FR-admin", json=FR_RU).status_code == 404
    # proposed but not accepted: not in force
    _scene(api)
    assert _seen(api, "RU", "A") == "hidden"
    ok = api.post("/v1/agreements/FR/versions/1/accept", "RU-admin")
    assert ok.status_code == 200 and ok.json()["status"] == "active"
    assert _seen(api, "RU", "A") == "full"
    assert api.post("/v1/agreements/FR/versions/1/accept", "RU-admin").status_code == 409
    kinds = [e["type"] for e in api.client.app.state.store.outbox_events("RU")]
    assert "agreement.proposed" in kinds and "agreement.active" in kinds


@SETTINGS
@given(
    st.data(),
    centres.flatmap(volumes),
    st.sampled_from(
        [
            Coarsening(),
            Coarsening(
                position_step_deg=1.0, radius_step_m=10_000.0, alt_step_m=1000.0, time_step_s=3600.0
            ),
        ]
    ),
)
def test_the_coarsened_extent_contains_the_real_one(
    data: st.DataObject, v: Volume4D, c: Coarsening
) -> None:
    out = coarsen(v, c)
    assert out.alt_lower_m <= v.alt_lower_m and out.alt_upper_m >= v.alt_upper_m
    assert out.time_start <= v.time_start and out.time_end >= v.time_end
    fp = out.footprint
    assert isinstance(fp, CircleFootprint)
    points = [data.draw(boundary_points(v.footprint)) for _ in range(30)]
    if isinstance(v.footprint, CircleFootprint):  # a circle's farthest points from elsewhere
        lon0, lat0 = v.footprint.center
        az = np.linspace(-180, 180, 72, endpoint=False)
        plon, plat, _ = GEOD.fwd(
            np.full(72, lon0), np.full(72, lat0), az, np.full(72, v.footprint.radius_m)
        )
        points += list(zip(plon, plat, strict=True))
    for lon, lat in points:
        _, _, d = GEOD.inv(fp.center[0], fp.center[1], lon, lat)
        assert d <= fp.radius_m, (lon, lat, d, fp.radius_m)


def test_the_ledger_counts_give_and_take_and_alerts_on_imbalance(api: Any) -> None:
    terms = {**FR_RU, "ledger": {"max_imbalance": 1.5, "min_items": 2, "max_median_ack_s": 60}}
    agree(api, "FR", "RU", terms)
    _scene(api)
    for rid in ("A", "N"):  # RU reads two of FR's, FR reads none of RU's
        _seen(api, "RU", rid)
    store = api.client.app.state.store
    assert store.write_tx(lambda tx: check_alerts(tx, datetime.now(UTC))) == 1
    (fr_view,) = api.get("/v1/ledger", "FR").json()["ledger"]
    assert fr_view["party"] == "RU"
    assert fr_view["gave"] == {"full": 1, "extent": 1, "updates": 0}
    assert fr_view["received"] == {"full": 0, "extent": 0, "updates": 0}
    assert [a["kind"] for a in fr_view["alerts"]] == ["imbalance"]
    assert store.outbox_events("RU")[-1]["type"] == "ledger.alert"
    assert store.write_tx(lambda tx: check_alerts(tx, datetime.now(UTC))) == 0  # raised once
    # FR reads RU's two plans: the balance is back, the alert clears
    for rid in ("R1", "R2"):
        _seen(api, "FR", rid)
    assert store.write_tx(lambda tx: check_alerts(tx, datetime.now(UTC))) == 1
    assert store.outbox_events("FR")[-1]["type"] == "ledger.cleared"
    assert api.get("/v1/ledger", "FR").json()["ledger"][0]["alerts"] == []
    assert api.get("/v1/ledger", "UK").json()["ledger"] == []


def test_links_are_degraded_after_missed_pings_and_restored(api: Any) -> None:
    agree(api, "FR", "RU", FR_RU)
    store = api.client.app.state.store
    url = "http://127.0.0.1:9/hook"
    assert api.put("/v1/webhook", "RU", json={"url": url, "secret": "x" * 16}).status_code == 200
    answers: list[Any] = []

    def ping(u: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
        assert u == url and verify_signature("x" * 16, headers[SIGNATURE_HEADER], body)
        nonce = json.loads(body)["nonce"]
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a, json.dumps({"nonce": nonce if a == 200 else "wrong"}).encode()

    checker = LinkChecker(store, ping=ping, threshold=3)
    answers += [200, 500, ConnectionRefusedError("refused")]
    assert [checker.run_once()["RU"] for _ in range(3)] == ["up", "up", "up"]
    answers += [TimeoutError("timed out")]
    assert checker.run_once() == {"RU": "degraded"}  # third failure in a row
    links_seen = {x["party"]: x for x in api.get("/v1/links", "FR").json()["links"]}
    assert links_seen["RU"]["state"] == "degraded" and links_seen["RU"]["failures"] == 3
    assert store.outbox_events("FR")[-1]["type"] == "link.degraded"
    avail = store.read_tx(
        lambda tx: tx.x("SELECT availability FROM scd_availability WHERE uss = 'RU'").fetchone()
    )
    assert avail[0] == "Down"
    answers += [200]
    assert checker.run_once() == {"RU": "up"}
    assert store.outbox_events("RU")[-1]["type"] == "link.restored"
    assert (
        store.read_tx(
            lambda tx: tx.x("SELECT COUNT(*) FROM link_checks WHERE party = 'RU'").fetchone()
        )[0]
        == 5
    )


def test_agreed_languages_and_ladder_apply_to_the_hotline(api: Any) -> None:
    terms = {**FR_RU, "escalation": [{"level": "working-group", "after_s": 3600}]}
    agree(api, "FR", "RU", terms)
    _scene(api)
    (c,) = api.get("/v1/conflicts", "RU").json()["conflicts"]
    thread = api.get(f"/v1/conflicts/{c['id']}/thread", "RU").json()
    assert thread["lang"] == "ru"  # what the agreement says RU reads
    assert api.get(f"/v1/threads/{thread['id']}", "FR").json()["lang"] == "fr"
    t0 = time.time()
    sent = api.post(
        f"/v1/threads/{thread['id']}/messages",
        "FR",
        json={"code": "QST_INTENTIONS", "params": {}, "ack_within_s": 60},
    ).json()
    store = api.client.app.state.store
    assert Escalator(store, lambda: t0 + 61).run_once() == 1  # to the operations centre
    m = api.get(f"/v1/threads/{thread['id']}", "FR").json()["messages"][0]
    assert m["id"] == sent["id"] and m["escalation"]["to"] == "operations-centre"
    # the agreement gives the working group an hour, not the message's minute
    assert Escalator(store, lambda: t0 + 200).run_once() == 0
    assert Escalator(store, lambda: t0 + 61 + 3600).run_once() == 1


def test_activating_near_a_degraded_party_needs_an_acknowledgement(api: Any) -> None:
    _scene(api)
    store = api.client.app.state.store
    store.write_tx(lambda tx: record(tx, "FR", False, None, "refused", 1, datetime.now(UTC)))
    body = {"id": "R9", "state": "Activated", "volumes": [box(33.1, 34.1, 33.3, 34.3)]}
    r = api.post("/v1/intents", "RU", json=body)
    assert r.status_code == 409 and "accept_degraded" in r.json()["detail"]
    assert api.post("/v1/intents", "RU", json={**body, "state": "Accepted"}).status_code == 201
    ok = api.post("/v1/intents?accept_degraded=true", "RU", json={**body, "id": "R10"})
    assert ok.status_code == 201


def test_previews_and_queries_are_probes_with_a_budget_the_owner_sees(api: Any) -> None:
    """RU probes FR's naval area (released to it as an extent): each preview or query that
    meets it counts against the agreed budget (429 past it, with Retry-After), FR sees who
    probed and how much, and the ledger alerts both sides."""
    terms = {
        **FR_RU,
        "reciprocity": False,
        "probes": {"per_hour": 3, "alert_share": 0.6},
    }
    agree(api, "FR", "RU", terms)
    _scene(api)
    # a 1 m circle at the extent's edge but away from N's real footprint: the preview answers
    # for the extent (what RU may see), a conflict with N named at the extent's level
    n = api.get("/v1/intents/N?owner=FR", "RU").json()["volumes"][0]
    lon, lat = n["footprint"]["center"]
    edge_lon, edge_lat, _ = GEOD.fwd(lon, lat, 0.0, n["footprint"]["radius_m"] - 50.0)
    exact = api.get("/v1/intents/N", "FR").json()["volumes"][0]["footprint"]["coordinates"][0]
    assert edge_lat > max(p[1] for p in exact) + 0.1  # well north of N's real footprint
    probe = {
        "footprint": {"type": "Circle", "center": [edge_lon, edge_lat], "radius_m": 1.0},
        "alt_lower_m": 0,
        "alt_upper_m": 10,
        "time_start": n["time_start"],
        "time_end": n["time_end"],
    }
    seen = []
    for _ in range(3):
        r = api.post("/v1/intents/preview", "RU", json={"volumes": [probe]})
        assert r.status_code == 200, r.text
        seen.append({(c["a"]["id"], c["b"]["id"]) for c in r.json()["conflicts"]})
    assert all(("N", None) in s or (None, "N") in s for s in seen)
    r = api.post("/v1/intents/query", "RU", json={"volume": probe})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # a preview that meets nothing of FR's is no probe of FR's records
    far = {**probe, "footprint": {"type": "Circle", "center": [0.0, 0.0], "radius_m": 1.0}}
    assert api.post("/v1/intents/preview", "RU", json={"volumes": [far]}).status_code == 200
    (row,) = api.get("/v1/probes", "FR").json()["probes"]
    assert (row["prober"], row["count"]) == ("RU", 3)
    assert api.get("/v1/probes", "RU").json()["probes"] == []
    store = api.client.app.state.store
    store.write_tx(lambda tx: check_alerts(tx, datetime.now(UTC)))
    alerts = api.get("/v1/ledger", "FR").json()["ledger"][0]["alerts"]
    assert [(a["kind"], a["about"]) for a in alerts] == [("probing", "RU")]
    assert any(e.action == "probe" and e.subject == "FR|RU" for e in store.audit_entries())
