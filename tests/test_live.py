"""The live tactical picture: alerts raised once, updated, cleared with hysteresis; tracks
against areas; tracks outside the intent they fly (an injectable clock, no sleeps)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from deconfliction.engine.alerts import AlertBook
from deconfliction.engine.tactical import NM
from deconfliction.exchange.live import TacticalMonitor
from deconfliction.model import AreaDraft, IntentDraft, RecordKind, TrackState
from deconfliction.store import Store
from deconfliction.store.tracks import TrackTable
from helpers import box, volume

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEG_NM = NM / 111_319.49


def state(tid: str, lon: float, lat: float, t: datetime, **kw: Any) -> TrackState:
    return TrackState.model_validate(
        {
            "id": tid,
            "class": kw.pop("cls", "fixed-wing"),
            "time": t,
            "lon": lon,
            "lat": lat,
            "alt_m": kw.pop("alt_m", 6000),
            "gs_mps": kw.pop("gs_mps", 200),
            "track_deg": kw.pop("track_deg", 90),
            "vs_mps": 0,
            **kw,
        }
    )


def test_the_alert_book_raises_once_and_clears_with_hysteresis() -> None:
    book = AlertBook(clear_after_s=5, update_every_s=5, update_m=100)
    geo = {"d_cpa_m": 1000.0, "lost": False}
    key, parties = ("a", "b"), ("FR", "RU")
    assert [c.kind for c in book.cycle(T0, {key: (parties, geo)})] == ["raised"]
    assert book.cycle(T0 + timedelta(seconds=1), {key: (parties, geo)}) == []
    # a big change, but too soon after the last event: not yet
    near = {"d_cpa_m": 200.0, "lost": False}
    assert book.cycle(T0 + timedelta(seconds=2), {key: (parties, near)}) == []
    assert [c.kind for c in book.cycle(T0 + timedelta(seconds=6), {key: (parties, near)})] == [
        "updated"
    ]
    # missing for 4 s then back: no flapping
    for s in range(7, 11):
        assert book.cycle(T0 + timedelta(seconds=s), {}) == []
    assert book.cycle(T0 + timedelta(seconds=11), {key: (parties, near)}) == []
    for s in range(12, 16):
        assert book.cycle(T0 + timedelta(seconds=s), {}) == []
    assert [c.kind for c in book.cycle(T0 + timedelta(seconds=16), {})] == ["cleared"]


def test_tracks_converging_raise_then_clear(store: Store) -> None:
    now = [T0]
    table = TrackTable(clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    table.upsert("FR", [state("RAF1", 33.0, 34.0, T0)])
    table.upsert("RU", [state("SU30", 33.0 + 20 * DEG_NM, 34.0, T0, track_deg=270)])
    changes = mon.run_once()
    assert [(k, c.kind) for k, c in changes] == [("tactical", "raised")]
    alert = mon.active("RU")[0]
    assert alert["tracks"] == ["FR/RAF1", "RU/SU30"] and 0 < alert["t_in_s"] < alert["t_cpa_s"]
    assert store.outbox_events("FR")[-1]["type"] == "tactical.raised"
    assert store.outbox_events("RU")[-1]["type"] == "tactical.raised"
    assert mon.active("UK") == []
    # RU turns away: the alert stays 5 s (hysteresis), then clears, once
    now[0] = T0 + timedelta(seconds=1)
    table.upsert("RU", [state("SU30", 33.0 + 20 * DEG_NM, 34.0, now[0], track_deg=0)])
    kinds = []
    for s in range(1, 9):
        now[0] = T0 + timedelta(seconds=s)
        kinds += [c.kind for _, c in mon.run_once()]
    assert kinds == ["cleared"]
    assert "tactical.cleared" in [e.action for e in store.audit_entries()]


def test_a_track_heading_into_a_restricted_area_and_out_of_its_intent(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = [now]
    table = TrackTable(clock=lambda: clock[0])
    mon = TacticalMonitor(store, table, clock=lambda: clock[0].timestamp())
    window = (now - timedelta(hours=1), now + timedelta(hours=1))
    area = AreaDraft(volumes=[volume(box(33.2, 33.9, 33.4, 34.1), alt=(0, 20000), t=window)])
    store.create(RecordKind.AREA, "RU-LIVEFIRE", "RU", area, actor="RU")
    plan = IntentDraft(volumes=[volume(box(32.0, 33.5, 32.5, 34.5), alt=(0, 10000), t=window)])
    store.create(RecordKind.INTENT, "FR-PLAN", "FR", plan, actor="FR")
    # the Rafale flies FR-PLAN but is already east of it, heading for RU's live-firing area
    table.upsert("FR", [state("RAF1", 33.0, 34.0, now, intent_id="FR-PLAN")])
    changes = {(k, c.kind) for k, c in mon.run_once()}
    assert changes == {("area", "raised"), ("conformance", "raised")}
    area_alert = next(a for a in mon.active("RU") if a["kind"] == "area")
    assert area_alert["area"] == "RU-LIVEFIRE" and area_alert["t_enter_s"] > 0
    rec = store.get(RecordKind.INTENT, "FR", "FR-PLAN")
    assert rec.state.value == "Nonconforming" and rec.version == 2
    assert "conformance.raised" in [e["type"] for e in store.outbox_events("FR")]


def test_agreed_minima_apply_between_the_two_parties_only(store: Store) -> None:
    from deconfliction.exchange.agreements import Terms, accept, propose

    def agree(tx: Any) -> None:
        terms = Terms.model_validate(
            {"releases": {}, "tactical": {"ship_cpa_m": 1 * NM}}  # the agreement says 1 NM
        )
        done = propose(tx, "FR", "RU", terms, "FR", T0)
        accept(tx, "RU", "FR", done.version, "RU", T0)

    store.write_tx(agree)
    now = [T0]
    table = TrackTable(clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    lon_off = 1.5 * DEG_NM / math.cos(math.radians(35))  # 1.5 NM east
    table.upsert("FR", [state("FS1", 20.0, 35.0, T0, cls="ship", alt_m=0, gs_mps=5, track_deg=0)])
    table.upsert(
        "RU", [state("RS1", 20.0 + lon_off, 35.0, T0, cls="ship", alt_m=0, gs_mps=5, track_deg=0)]
    )
    table.upsert(
        "UK", [state("US1", 20.0 - lon_off, 35.0, T0, cls="ship", alt_m=0, gs_mps=5, track_deg=0)]
    )
    mon.run_once()
    pairs = sorted(tuple(a["tracks"]) for a in mon.active("FR"))
    # FR and RU agreed 1 NM: 1.5 NM apart is separated; the UK ship, under the default 2 NM, is not
    assert pairs == [("FR/FS1", "UK/US1")]


def test_the_demo_traffic_moves_and_meets(store: Store) -> None:
    from deconfliction.demo.traffic import ORBITS, DemoTraffic

    clock = [1_800_000_000.0]
    table = TrackTable(clock=lambda: datetime.fromtimestamp(clock[0], UTC))
    traffic = DemoTraffic(table, clock=lambda: clock[0])
    mon = TacticalMonitor(store, table, clock=lambda: clock[0])
    raised = 0
    first = None
    for _ in range(400):  # 400 seconds of 10 s steps: more than an hour
        assert traffic.run_once() == len(ORBITS)
        snap = {t.state.id: t.state for t in table.snapshot()}
        first = first or snap["RAFALE-M-11"]
        raised += sum(c.kind == "raised" for k, c in mon.run_once() if k == "tactical")
        clock[0] += 10
    assert snap["RAFALE-M-11"].lon != first.lon  # it moves
    assert raised >= 2  # the two fighters meet now and then
