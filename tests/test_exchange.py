"""Need-to-know: what each of three parties sees of one scene, under two agreements.

FR and RU agree (reciprocity on): FR releases its air sorties in full, its naval operating areas
as a coarsened extent, the rest as conflict notices; RU releases everything as an extent. FR and
the UK agree (reciprocity off): everything in full. RU and the UK have no agreement.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from deconfliction.alerts.webhooks import SIGNATURE_HEADER, verify_signature
from deconfliction.exchange import hotline
from deconfliction.exchange.agreements import Coarsening, Terms, accept, propose
from deconfliction.exchange.hotline import Escalator, Thread
from deconfliction.exchange.ledger import check_alerts
from deconfliction.exchange.ledger import ledger as ledger_of
from deconfliction.exchange.links import LinkChecker, record
from deconfliction.exchange.release import coarsen
from deconfliction.geodesy import GEOD
from deconfliction.model import CircleFootprint, IntentDraft, RecordKind, Volume4D
from deconfliction.store import Store
from deconfliction.store.base import iso
from helpers import agree, volume
from helpers import box as footprint_box
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
    raised, cleared = (
        [e["payload"] for e in store.outbox_events("FR") if e["type"] == t]
        for t in ("ledger.alert", "ledger.cleared")
    )
    assert store.outbox_events("FR")[-1]["type"] == "ledger.cleared"
    # one shape for both: the alert as raised, its state, since when, and when
    assert set(raised[0]) == set(cleared[0]) == LEDGER_EVENT
    assert cleared[0] == {**raised[0], "state": "cleared", "at": cleared[0]["at"]}
    assert raised[0]["alert"] == "imbalance:RU" and raised[0]["parties"] == ["FR", "RU"]
    assert api.get("/v1/ledger", "FR").json()["ledger"][0]["alerts"] == []
    assert api.get("/v1/ledger", "UK").json()["ledger"] == []


LEDGER_EVENT = {"alert", "kind", "about", "parties", "detail", "state", "since", "at"}


def test_silence_is_flagged_while_it_lasts(store: Store) -> None:
    """A message left unanswered past its window raises an alert at once (not when it is
    finally answered), which stands while the silence lasts; the wait so far counts towards the
    median acknowledgement time."""
    t0 = datetime(2030, 1, 1, tzinfo=UTC)

    def setup(tx: Any) -> Thread:
        terms = Terms.model_validate(
            {
                "releases": {"FR": {"default": "extent"}},
                "reciprocity": False,
                "ledger": {"max_median_ack_s": 600, "min_items": 100},
            }
        )
        done = propose(tx, "FR", "RU", terms, "FR", t0)
        accept(tx, "RU", "FR", done.version, "RU", t0)
        return hotline.open_record_thread(tx, "FR", "FR-PLAN", "RU", None, t0)

    plan = IntentDraft(
        volumes=[volume(footprint_box(10, 10, 10.1, 10.1), t=(t0, t0 + timedelta(hours=1)))]
    )
    store.create(RecordKind.INTENT, "FR-PLAN", "FR", plan, actor="FR")
    thread = store.write_tx(setup)
    mid = store.write_tx(
        lambda tx: hotline.post(
            tx, thread, "FR", "fr-officer", code="QST_INTENTIONS", params={}, text=None,
            lang=None, ack_within_s=60, at=t0,
        )
    )  # fmt: skip

    def check(s: float) -> list[tuple[str, str]]:
        before = len(store.outbox_events("FR"))
        store.write_tx(lambda tx: check_alerts(tx, t0 + timedelta(seconds=s)))
        new = store.outbox_events("FR")[before:]
        return [(e["type"], e["payload"]["alert"]) for e in new if e["type"].startswith("ledger")]

    assert check(59) == []  # within its window
    assert check(61) == [("ledger.alert", "unanswered:RU")]  # past it: at once
    for s in (120, 300, 599):
        assert check(s) == []  # standing, raised once
    view = store.read_tx(lambda tx: ledger_of(tx, "FR", t0 + timedelta(seconds=599)))
    assert [a["alert"] for a in view[0]["alerts"]] == ["unanswered:RU"]
    assert view[0]["acknowledgements"]["unanswered_by_them"] == 1
    assert check(601) == [("ledger.alert", "slow-acknowledgement:RU")]  # silent 601 s > 600
    store.write_tx(
        lambda tx: hotline.acknowledge(
            tx, thread, mid, "RU", "ru-officer", t0 + timedelta(seconds=700)
        )
    )
    # answered: the silence is over; 700 s to answer is still slow
    assert check(701) == [("ledger.cleared", "unanswered:RU")]
    events = [e["payload"] for e in store.outbox_events("RU") if e["type"].startswith("ledger")]
    assert all(set(e) == LEDGER_EVENT for e in events)
    assert events[-1]["since"] == iso(t0 + timedelta(seconds=61)) and events[-1]["about"] == "RU"


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
    assert checker.run_once()["RU"] == "degraded"  # third failure in a row
    links_seen = {x["party"]: x for x in api.get("/v1/links", "FR").json()["links"]}
    assert links_seen["RU"]["state"] == "degraded" and links_seen["RU"]["failures"] == 3
    assert store.outbox_events("FR")[-1]["type"] == "link.degraded"
    avail = store.read_tx(
        lambda tx: tx.x("SELECT availability FROM scd_availability WHERE uss = 'RU'").fetchone()
    )
    assert avail[0] == "Down"
    answers += [200]
    assert checker.run_once()["RU"] == "up"
    assert store.outbox_events("RU")[-1]["type"] == "link.restored"
    assert (
        store.read_tx(
            lambda tx: tx.x("SELECT COUNT(*) FROM link_checks WHERE party = 'RU'").fetchone()
        )[0]
        == 5
    )


def test_a_party_without_a_webhook_is_live_by_its_heartbeats(api: Any) -> None:
    """FR has no webhook: its clients' signed heartbeats keep it up; when they stop it is
    degraded like a party whose pings fail, and one heartbeat restores it at once. The UK,
    which neither answers pings nor heartbeats, is degraded too."""
    agree(api, "FR", "RU", FR_RU)
    store = api.client.app.state.store
    assert api.post("/v1/links/heartbeat").status_code == 401
    assert api.post("/v1/links/heartbeat", "XX").status_code == 403  # not a party
    bad = api.post("/v1/links/heartbeat", "FR", json={"client": "\u202e"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/client"
    t0 = time.time()
    r = api.post("/v1/links/heartbeat", "FR", json={"client": "map"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "up" and r.json()["next_within_s"] == 30  # from unknown
    clock = [t0 + 60]
    checker = LinkChecker(store, ping=lambda *a: (200, b""), clock=lambda: clock[0])
    rounds = []
    for k in range(1, 5):
        clock[0] = t0 + 60 * k  # the heartbeat is fresh for 90 s, then the map is gone
        rounds.append(checker.run_once())
    assert [x["FR"] for x in rounds] == ["up", "up", "up", "degraded"]
    assert [x["UK"] for x in rounds] == ["unknown", "unknown", "degraded", "degraded"]
    (fr,) = [x for x in api.get("/v1/links", "RU").json()["links"] if x["party"] == "FR"]
    assert fr["state"] == "degraded" and "no webhook; no heartbeat within 90 s" in fr["last_error"]
    assert [e["type"] for e in store.outbox_events("RU")][-1] == "link.degraded"
    back = api.post("/v1/links/heartbeat", "FR")  # the map is back: at once
    assert back.status_code == 200 and back.json()["state"] == "up"
    assert [e["type"] for e in store.outbox_events("RU")][-1] == "link.restored"
    assert [e["type"] for e in store.outbox_events("FR")][-2:] == ["link.degraded", "link.restored"]


def test_agreed_languages_and_ladder_apply_to_the_hotline(api: Any) -> None:
    terms = {**FR_RU, "escalation": [{"level": "working-group", "after_s": 3600}]}
    agree(api, "FR", "RU", terms)
    _scene(api)
    (c,) = api.get("/v1/conflicts", "RU").json()["conflicts"]
    thread = api.get(f"/v1/conflicts/{c['id']}/thread", "RU").json()
    assert thread["lang"] == "ru"  # what the agreement says RU reads
    assert api.get(f"/v1/threads/{thread['id']}", "FR").json()["lang"] == "fr"
    # the one rule (docs/hotline.md): ?lang=, then the agreement, then Accept-Language
    url = f"/v1/threads/{thread['id']}"
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    assert api.get(url, "RU", headers=english).json()["lang"] == "ru"
    assert api.get(f"{url}?lang=en", "RU", headers=english).json()["lang"] == "en"
    assert api.get("/v1/phrasebook", "RU", headers=english).json()["lang"] == "en"
    assert api.get("/v1/phrasebook?lang=fr", "RU", headers=english).json()["lang"] == "fr"
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
