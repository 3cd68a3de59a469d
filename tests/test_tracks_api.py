"""Live tracks over the API: reported in batches, newest state kept, released by agreement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers import agree

NOW = datetime.now(UTC)


def state(tid: str, lon: float, lat: float, dt_s: float = 0, **kw: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "class": kw.pop("cls", "fixed-wing"),
        "time": (NOW + timedelta(seconds=dt_s)).isoformat(),
        "lon": lon,
        "lat": lat,
        "alt_m": 6000,
        "gs_mps": 220,
        "track_deg": 90,
        "vs_mps": 0,
        **kw,
    }


def test_tracks_are_released_as_agreed(api: Any) -> None:
    r = api.post(
        "/v1/tracks", "FR", json={"states": [state("F1", 33.0, 34.0), state("F2", 20, 40)]}
    )
    assert r.status_code == 202 and r.json() == {"accepted": 2, "changed": 2}
    # an older state does not replace a newer one
    r = api.post("/v1/tracks", "FR", json={"states": [state("F1", 0, 0, dt_s=-10)]})
    assert r.json()["changed"] == 0
    mine = api.get("/v1/tracks", "FR").json()["tracks"]
    assert [(t["id"], t["lon"], t["level"]) for t in mine] == [
        ("F1", 33.0, "full"),
        ("F2", 20, "full"),
    ]
    assert api.get("/v1/tracks", "RU").json()["tracks"] == []  # no agreement: nothing
    agree(api, "FR", "RU", {"releases": {"FR": {"track": "extent"}}, "reciprocity": True})
    assert api.get("/v1/tracks", "RU").json()["tracks"] == []  # RU has no track near
    api.post("/v1/tracks", "RU", json={"states": [state("R1", 33.5, 34.2, cls="ship")]})
    seen = {t["id"]: t for t in api.get("/v1/tracks", "RU").json()["tracks"]}
    assert set(seen) == {"R1", "F1"}  # F2 is far from every RU track
    assert seen["F1"]["level"] == "extent" and "gs_mps" not in seen["F1"]
    assert abs(seen["F1"]["lon"] - 33.0) < 0.051 and seen["F1"]["uncertainty_m"] > 0
    told = api.get("/v1/disclosures", "FR").json()["disclosures"]
    assert [(d["record_id"], d["to"], d["level"]) for d in told] == [
        ("track:FR:F1", "RU", "extent")
    ]


def test_bad_states_are_refused_naming_the_field(api: Any) -> None:
    r = api.post("/v1/tracks", "FR", json={"states": [state("F1", 200, 0)]})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/states/0/lon"
    r = api.post("/v1/tracks", "FR", json={"states": [state("F1", 0, 0, cls="submarine")]})
    assert r.json()["errors"][0]["pointer"] == "/states/0/class"
    r = api.post("/v1/tracks", "FR", json={"states": [{**state("F1", 0, 0), "time": 0}]})
    assert r.json()["errors"][0]["pointer"] == "/states/0/time"
    picture = api.get("/v1/picture", "FR").json()
    assert picture["party"] == "FR" and picture["records"] == [] and picture["conflicts"] == []


@pytest.mark.parametrize("shared", [False, True])
def test_track_tables_in_memory_and_shared_behave_alike(store: Any, shared: bool) -> None:
    from deconfliction.model import TrackState
    from deconfliction.store.tracks import SharedTrackTable, TrackTable

    clock = [NOW]
    table = (
        SharedTrackTable(store, clock=lambda: clock[0])
        if shared
        else TrackTable(clock=lambda: clock[0])
    )
    v0 = table.version
    s1 = TrackState.model_validate(state("F1", 33.0, 34.0))
    assert table.upsert("FR", [s1, TrackState.model_validate(state("F2", 20, 40))]) == 2
    assert table.version > v0
    assert table.upsert("FR", [TrackState.model_validate(state("F1", 0, 0, dt_s=-5))]) == 0
    assert table.upsert("RU", [TrackState.model_validate(state("F1", 1, 1))]) == 1  # RU's own F1
    snap = table.snapshot()
    assert [(t.party, t.state.id, t.state.lon) for t in snap] == [
        ("FR", "F1", 33.0),
        ("FR", "F2", 20.0),
        ("RU", "F1", 1.0),
    ]
    # states of one track in one batch: each kept if newer than the last one kept
    batch = [state("F9", 1, 1, dt_s=1), state("F9", 3, 3, dt_s=3), state("F9", 2, 2, dt_s=2)]
    assert table.upsert("UK", [TrackState.model_validate(b) for b in batch]) == 2
    assert [(t.state.id, t.state.lon) for t in table.snapshot() if t.party == "UK"] == [("F9", 3.0)]
    clock[0] = NOW + timedelta(seconds=119)
    table.upsert("FR", [TrackState.model_validate(state("F2", 21, 40, dt_s=100))])
    clock[0] = NOW + timedelta(seconds=121)
    assert [(t.party, t.state.id) for t in table.snapshot()] == [
        ("FR", "F2")
    ]  # the rest went stale


def test_a_live_feed_over_a_websocket(tmp_path: Any) -> None:
    import json

    import httpx
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
    from helpers import free_port, serve

    data = tmp_path / "data"
    key = dev_private_key(data)
    port = free_port()
    proc = serve(data, port)
    try:
        admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
        httpx.post(
            f"http://127.0.0.1:{port}/v1/parties", json={"id": "FR", "name": "F"}, headers=admin
        )
        url = f"ws://127.0.0.1:{port}/v1/tracks/live"
        token = mint_token(key, "FR")
        with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            ws.send(json.dumps({"states": [state("F1", 33.0, 34.0), state("F2", 33.1, 34.0)]}))
            assert json.loads(ws.recv()) == {"accepted": 2, "changed": 2}
            ws.send(json.dumps({"states": [state("F1", 33.2, 34.0, dt_s=1)]}))
            assert json.loads(ws.recv()) == {"accepted": 1, "changed": 1}
            ws.send(json.dumps({"states": [state("F3", 200, 0)]}))  # bad: said, the feed goes on
            bad = json.loads(ws.recv())
            assert bad["error"] == "invalid states"
            assert bad["errors"][0]["pointer"] == "/states/0/lon"
        tracks = httpx.get(
            f"http://127.0.0.1:{port}/v1/tracks", headers={"Authorization": f"Bearer {token}"}
        ).json()["tracks"]
        assert {t["id"]: t["lon"] for t in tracks} == {"F1": 33.2, "F2": 33.1}
        planner = mint_token(key, "FR", roles=["planner"])
        for bad_token in ("nope", planner):  # refused at the handshake
            with pytest.raises(InvalidStatus) as refused:
                connect(f"{url}?access_token={bad_token}")
            assert refused.value.response.status_code == 403
    finally:
        proc.kill()
        proc.wait()
