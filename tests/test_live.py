"""The live tactical picture: alerts raised once, recomputed every cycle, updated by the stated
steps, cleared with hysteresis; checked second by second on an injectable clock against the
geometry (closed forms, and pyproj's geodesics), no sleeps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.engine.alert_book import AlertBook
from deconfliction.engine.tactical import NM
from deconfliction.exchange.agreements import Coarsening, Terms, accept, propose
from deconfliction.exchange.release import coarsen
from deconfliction.model import AreaDraft, CircleFootprint, IntentDraft, RecordKind, TrackState
from deconfliction.store import Store
from deconfliction.store.tracks import TrackTable
from deconfliction.tactical import TacticalMonitor
from helpers import GEOD, box, circle, geodesic_m, polygon, volume
from test_properties import SETTINGS

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEG_NM = NM / 111_319.49
A_M = 6_378_137.0  # WGS84 equatorial radius: the equator is a geodesic of this radius


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
            "vs_mps": kw.pop("vs_mps", 0),
            **kw,
        }
    )


def epoch(v: str | None) -> float | None:
    return None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def agree(store: Store, releases: dict[str, Any], **terms: Any) -> None:
    """FR and RU agree ``releases`` (no reciprocity unless said)."""

    def run(tx: Any) -> None:
        t = Terms.model_validate({"releases": releases, "reciprocity": False, **terms})
        done = propose(tx, "FR", "RU", t, "FR", datetime.now(UTC))
        accept(tx, "RU", "FR", done.version, "RU", datetime.now(UTC))

    store.write_tx(run)


# --- the stated steps, as docs/tactical.md states them: the oracle of the event tests ----------
TIME_FIELDS = {"t_cpa", "t_los_start", "t_los_end", "t_enter", "t_exit"}
STEPS_M = {"d_cpa_m": 0.1 * NM, "dz_cpa_m": 100 * 0.3048, "d_now_m": NM}


def news(sent: dict[str, Any], now: dict[str, Any]) -> bool:
    for name, new in now.items():
        old = sent.get(name)
        if name.endswith("_s") or name in ("raised_at", "updated_at"):
            continue
        if old is None or new is None:
            if (old is None) != (new is None):
                return True
        elif name in TIME_FIELDS:
            if abs(epoch(new) - epoch(old)) > 2.0:  # type: ignore[operator]
                return True
        elif name in STEPS_M:
            if abs(new - old) > STEPS_M[name]:
                return True
        elif new != old:
            return True
    return False


def near(got: Any, want: Any, tol: float) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return abs(float(got) - float(want)) <= tol


def test_the_alert_book_recomputes_every_cycle_and_tells_only_the_steps() -> None:
    book = AlertBook("tactical", clear_after_s=5)
    key, parties = ("FR/a", "RU/b"), ("FR", "RU")
    t_cpa = "2026-11-22T12:01:40.000Z"
    geo = {"tracks": list(key), "t_cpa": t_cpa, "d_cpa_m": 1000.0, "lost": False, "d_now_m": 9e3}
    at = [T0 + timedelta(seconds=s) for s in range(20)]
    assert [c.kind for c in book.cycle(at[0], {key: (parties, geo)})] == ["raised"]
    # under every step: the numbers are this cycle's, nobody is told
    small = {**geo, "t_cpa": "2026-11-22T12:01:41.900Z", "d_cpa_m": 1180.0, "d_now_m": 10e3}
    (c,) = book.cycle(at[1], {key: (parties, small)})
    assert c.kind == "refreshed" and c.alert.geometry == small and c.alert.updated_at == at[1]
    # the steps count from what was last sent, so slow drift is told once it adds up
    drift = {**small, "t_cpa": "2026-11-22T12:01:42.100Z"}
    assert [c.kind for c in book.cycle(at[2], {key: (parties, drift)})] == ["updated"]
    assert [c.kind for c in book.cycle(at[3], {key: (parties, drift)})] == ["refreshed"]
    assert [c.kind for c in book.cycle(at[4], {key: (parties, {**drift, "lost": True})})] == [
        "updated"
    ]
    gone = {**drift, "lost": True, "t_cpa": None}  # a time going is news
    assert [c.kind for c in book.cycle(at[5], {key: (parties, gone)})] == ["updated"]
    # not found any more: recomputed all the same while the hysteresis lasts, then cleared
    after = {**gone, "lost": False}
    kinds = [c.kind for s in range(6, 12) for c in book.cycle(at[s], {}, {key: after})]
    assert kinds == ["updated", "refreshed", "refreshed", "refreshed", "cleared"]
    # flickering at the edge of the minima: back within 5 s, no clear and no raise
    book.cycle(at[12], {key: (parties, geo)})
    for s in range(13, 17):
        assert all(c.kind == "refreshed" for c in book.cycle(at[s], {}, {key: geo}))
    assert [c.kind for c in book.cycle(at[17], {key: (parties, geo)})] == ["refreshed"]


def test_two_tracks_closing_second_by_second(store: Store) -> None:
    """Head-on on the equator at 200 m/s each, 100 m apart in height, 40 km apart: in the
    tracks' straight-line model (the chord between ECEF points, closed forms below) the closest
    approach is exactly when they meet, and separation is lost within 5 NM of it."""
    now = [T0]
    table = TrackTable(stale_after=timedelta(hours=1), clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    lon_b = math.degrees(40_000.0 / A_M)
    table.upsert("FR", [state("A", 0.0, 0.0, T0, track_deg=90)])
    table.upsert("RU", [state("B", lon_b, 0.0, T0, track_deg=270, alt_m=6100)])
    s_h = 5 * NM
    sent: dict[str, Any] | None = None
    seen = 0.0
    for k in range(140):
        now[0] = T0 + timedelta(seconds=k)
        kinds = [c.kind for c in mon.run_once() if c.alert.kind == "tactical"]
        # where they are now (each along the equator), half the angle between them
        theta = (math.radians(lon_b) - 2 * 200.0 * k / A_M) / 2
        d_now = abs(2 * A_M * math.sin(theta))
        closing = 400.0 * math.cos(theta)
        t_cpa = k + A_M * math.tan(theta) / 200.0
        t_in = k + (2 * A_M * math.sin(theta) - s_h) / closing
        t_out = k + (2 * A_M * math.sin(theta) + s_h) / closing
        conflict = t_out > k and t_in <= k + 300
        if conflict:
            seen = k
        if not conflict and k - seen >= 5:
            assert kinds in ([], ["cleared"]), k
            if kinds == ["cleared"]:
                assert k - seen == 5
                break
            continue
        alerts = [a for a in mon.active("FR") if a["kind"] == "tactical"]
        assert mon.active("RU") == alerts and mon.active("UK") == []
        (a,) = alerts
        assert a["tracks"] == ["FR/A", "RU/B"] and a["parties"] == ["FR", "RU"]
        assert a["key"] == ["FR/A", "RU/B"] and epoch(a["updated_at"]) == now[0].timestamp()
        assert near(epoch(a["t_cpa"]), T0.timestamp() + t_cpa, 0.002), (k, a)
        assert near(a["d_cpa_m"], 0.0, 0.1) and near(a["dz_cpa_m"], 100.0, 0.1)
        assert near(a["d_now_m"], d_now, 0.1), (k, a)
        assert near(a["t_cpa_s"], t_cpa - k, 0.05)
        want_start = T0.timestamp() + t_in if conflict else None
        want_end = T0.timestamp() + t_out if conflict and t_out <= k + 300 else None
        assert near(epoch(a["t_los_start"]), want_start, 0.002), (k, a)
        assert near(epoch(a["t_los_end"]), want_end, 0.002), (k, a)
        assert a["lost"] is (conflict and t_in <= k), k
        # the events: raised once, then updated exactly when the stated steps say
        if sent is None:
            assert kinds == ["raised"]
            sent = a
        elif news(sent, a):
            assert kinds == ["updated"], (k, sent, a)
            sent = a
        else:
            assert kinds == ["refreshed"], (k, sent, a)
    else:
        raise AssertionError("the alert never cleared")
    types = [e["type"] for e in store.outbox_events("RU") if e["type"].startswith("tactical.")]
    assert types == [e["type"] for e in store.outbox_events("FR") if e["type"].startswith("tact")]
    assert types[0] == "tactical.raised" and types[-1] == "tactical.cleared"
    assert 10 <= types.count("tactical.updated") <= 40  # the distance steps, lost, regained
    last = store.outbox_events("FR")[-1]["payload"]
    assert last["kind"] == "tactical" and last["lost"] is False and last["t_los_start"] is None
    actions = [e.action for e in store.audit_entries()]
    assert actions.count("tactical.updated") == types.count("tactical.updated")


def _fly_through(mon: TacticalMonitor, now: list[datetime], expect: Any) -> None:
    """Run the monitor each second from ``now[0]``; ``expect(k)`` gives (t_enter, t_exit,
    inside, d_now) in epoch seconds (or None when the track is clear of the area for good)."""
    sent: dict[str, Any] | None = None
    seen = -1
    start = now[0]
    for k in range(400):
        now[0] = start + timedelta(seconds=k)
        kinds = [c.kind for c in mon.run_once() if c.alert.kind == "area"]
        want = expect(k)
        if want is not None:
            seen = k
        elif sent is None:
            assert kinds == []
            continue
        if want is None and k - seen >= 5:
            assert kinds == ["cleared"], k
            assert [a for a in mon.active("FR") if a["kind"] == "area"] == []
            return
        (a,) = [a for a in mon.active("FR") if a["kind"] == "area"]
        assert [x for x in mon.active("RU") if x["kind"] == "area"] == [a]
        assert a["track"] == "FR/RAF1" and a["record_kind"] == "area"
        assert a["parties"] == ["FR", "RU"] and a["key"] == ["FR/RAF1", "RU/RU-LIVEFIRE"]
        if want is None:  # left, for good: nothing predicted, held a few seconds
            enter, leave, inside, d_now = None, None, False, expect(-1)(k)
        else:
            enter, leave, inside, d_now = want
        assert near(epoch(a["t_enter"]), enter, 0.002), (k, a, want)
        assert near(epoch(a["t_exit"]), leave, 0.002), (k, a, want)
        assert a["inside"] is inside, (k, a)
        assert near(a["d_now_m"], d_now, 0.2), (k, a, d_now)
        assert near(a["t_enter_s"], None if enter is None else enter - now[0].timestamp(), 0.05)
        if sent is None:
            assert kinds == ["raised"], k
            sent = a
        elif news(sent, a):
            assert kinds == ["updated"], (k, sent, a)
            sent = a
        else:
            assert kinds == ["refreshed"], (k, sent, a)
    raise AssertionError("the alert never cleared")


def test_a_track_flown_into_an_area_and_through_it_second_by_second(store: Store) -> None:
    """North along the meridian 33.1 E at 100 m/s through a lon/lat box: its south and north
    edges are parallels, met where the meridian crosses them, so the times are meridian arc
    lengths over the speed, and the distance is the arc to the nearer edge."""
    agree(store, {"RU": {"area": "full"}})  # FR sees RU's areas as they are
    t0 = datetime.now(UTC).replace(microsecond=0)
    now = [t0]
    window = (t0 - timedelta(days=1), t0 + timedelta(days=1))
    area = AreaDraft(volumes=[volume(box(33.0, 34.1, 33.2, 34.3), alt=(0, 20000), t=window)])
    store.create(RecordKind.AREA, "RU-LIVEFIRE", "RU", area, actor="RU")
    table = TrackTable(stale_after=timedelta(hours=1), clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    table.upsert("FR", [state("RAF1", 33.1, 34.0, t0, track_deg=0, gs_mps=100)])
    enter = t0.timestamp() + geodesic_m(33.1, 34.0, 33.1, 34.1) / 100.0
    leave = t0.timestamp() + geodesic_m(33.1, 34.0, 33.1, 34.3) / 100.0

    def lat_at(k: int) -> float:
        return float(GEOD.fwd(33.1, 34.0, 0.0, 100.0 * k)[1])

    def gap(k: int) -> float:
        lat = lat_at(k)
        if lat < 34.1:
            return geodesic_m(33.1, lat, 33.1, 34.1)
        return 0.0 if lat <= 34.3 else geodesic_m(33.1, 34.3, 33.1, lat)

    def expect(k: int) -> Any:
        if k < 0:
            return gap
        t = t0.timestamp() + k
        if t > leave:
            return None
        inside = enter <= t
        return (
            None if inside else enter,
            leave if leave <= t + 300 else None,
            inside,
            gap(k),
        )

    _fly_through(mon, now, expect)

    def alerts(party: str) -> list[dict[str, Any]]:
        # the area's own record events (area.created, ...) have no alert kind
        return [e for e in store.outbox_events(party) if e["payload"].get("kind") == "area"]

    types = [e["type"] for e in alerts("RU")]
    assert types == [e["type"] for e in alerts("FR")]
    assert types[0] == "area.raised" and types[-1] == "area.cleared"
    inside = [e["payload"]["inside"] for e in alerts("FR") if e["type"] == "area.updated"]
    assert True in inside and inside[-1] is False  # entering, and leaving, were told


def test_entry_by_the_circle_the_band_and_the_window(store: Store) -> None:
    """A circle on the equator, entered along it (closed form); an altitude band climbed into;
    a time window opening while the track is already over the area."""
    agree(store, {"RU": {"area": "full"}})
    now = [datetime.now(UTC).replace(microsecond=0)]
    t = now[0]
    day = (t - timedelta(days=1), t + timedelta(days=1))
    circle_area = volume(circle(1.0, 0.0, 5000.0), alt=(0, 20000), t=day)
    banded = volume(box(10.0, 10.0, 10.5, 10.5), alt=(1000, 2000), t=day)
    later = volume(
        box(20.0, 20.0, 20.5, 20.5), alt=(0, 20000), t=(t + timedelta(seconds=60), day[1])
    )
    for rid, v in (("C", circle_area), ("BAND", banded), ("LATER", later)):
        store.create(RecordKind.AREA, rid, "RU", AreaDraft(volumes=[v]), actor="RU")
    table = TrackTable(stale_after=timedelta(hours=1), clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp(), lookahead_s=600)
    lon0 = 1.0 - math.degrees(90_000.0 / A_M)  # 90 km west of the centre, on the equator
    table.upsert(
        "FR",
        [
            state("EQ", lon0, 0.0, t, track_deg=90, gs_mps=200),
            state("CLIMB", 10.25, 10.25, t, gs_mps=0, alt_m=100, vs_mps=10),
            state("WAIT", 20.25, 20.25, t, gs_mps=0),
        ],
    )
    mon.run_once()
    got = {a["track"]: a for a in mon.active("FR") if a["kind"] == "area"}
    assert set(got) == {"FR/EQ", "FR/CLIMB", "FR/WAIT"}
    ts = t.timestamp()
    assert near(epoch(got["FR/EQ"]["t_enter"]), ts + (90_000 - 5000) / 200, 0.002)
    assert near(epoch(got["FR/EQ"]["t_exit"]), ts + (90_000 + 5000) / 200, 0.002)
    assert near(got["FR/EQ"]["d_now_m"], 85_000, 0.2)
    assert near(epoch(got["FR/CLIMB"]["t_enter"]), ts + 90, 0.002)  # 100 m to 1,000 m at 10 m/s
    assert near(epoch(got["FR/CLIMB"]["t_exit"]), ts + 190, 0.002)  # and out at 2,000 m
    assert got["FR/CLIMB"]["d_now_m"] == 0.0  # over it, below its floor
    assert near(epoch(got["FR/WAIT"]["t_enter"]), ts + 60, 0.002)
    assert got["FR/WAIT"]["t_exit"] is None and got["FR/WAIT"]["inside"] is False
    # no time is ever a fallback: a track that will not meet an area within the look-ahead has no
    # alert at all, and one that does not leave has a null exit
    assert all(isinstance(epoch(a["t_enter"]), float) for a in got.values())


def test_area_alerts_are_computed_on_what_the_agreement_releases(store: Store) -> None:
    """Below ``full``, the track's owner is shown the coarsened extent: the alert is raised,
    and timed, on it (even far from the real footprint); at ``none``, nothing at all."""
    t = datetime.now(UTC).replace(microsecond=0)
    day = (t - timedelta(days=1), t + timedelta(days=1))
    small = volume(box(33.04, 34.04, 33.06, 34.06), alt=(0, 20000), t=day)
    # 400 km long and 2 km wide: its extent is a circle some 400 km across
    long = volume(box(28.0, 40.0, 32.4, 40.02), alt=(0, 20000), t=day)
    store.create(RecordKind.AREA, "SMALL", "RU", AreaDraft(volumes=[small]), actor="RU")
    store.create(RecordKind.AREA, "LONG", "RU", AreaDraft(volumes=[long]), actor="RU")
    # no agreement: conflict notices only, derived from the extent on the default grid
    coarse = {
        rid: coarsen(v, Coarsening()).footprint for rid, v in (("SMALL", small), ("LONG", long))
    }
    # each track 2 km inside its extent's edge, heading out: west of SMALL (away from its
    # footprint), and some 200 km north of LONG's
    track = {}
    for rid, az in (("SMALL", 270.0), ("LONG", 0.0)):
        c = coarse[rid]
        assert isinstance(c, CircleFootprint)
        lon, lat, _ = GEOD.fwd(c.center[0], c.center[1], az, c.radius_m - 2000.0)
        track[rid] = (float(lon), float(lat), az)
    now = [t]
    table = TrackTable(stale_after=timedelta(hours=1), clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    table.upsert(
        "FR",
        [
            state(f"T{rid}", lon, lat, t, gs_mps=20, track_deg=az)
            for rid, (lon, lat, az) in track.items()
        ],
    )
    mon.run_once()
    got = {a["area"]: a for a in mon.active("FR") if a["kind"] == "area"}
    assert set(got) == {"SMALL", "LONG"}
    for rid, a in got.items():
        c = coarse[rid]
        assert isinstance(c, CircleFootprint)
        # inside the extent now, leaving it where the path meets its circle
        assert a["inside"] is True and a["t_enter"] is None and a["d_now_m"] == 0.0
        lon0, lat0, az = track[rid]
        left = epoch(a["t_exit"])
        assert left is not None and near(left - t.timestamp(), 2000.0 / 20.0, 1.0), a
        lon, lat, _ = GEOD.fwd(lon0, lat0, az, 20.0 * (left - t.timestamp()))
        assert near(geodesic_m(c.center[0], c.center[1], lon, lat), c.radius_m, 0.05), rid
    # full release: the real footprints, which the tracks do not meet
    agree(store, {"RU": {"area": "full"}})
    for s in range(1, 8):
        now[0] = t + timedelta(seconds=s)
        mon.run_once()
    assert [a for a in mon.active("FR") if a["kind"] == "area"] == []
    # none: nothing derived at all, not even from the extent
    agree(store, {"RU": {"area": "none"}})
    fresh = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    fresh.run_once()
    assert [a for a in fresh.active("FR") if a["kind"] == "area"] == []


def test_a_track_out_of_its_intent_turns_it_nonconforming(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = [now]
    table = TrackTable(clock=lambda: clock[0])
    mon = TacticalMonitor(store, table, clock=lambda: clock[0].timestamp())
    window = (now - timedelta(hours=1), now + timedelta(hours=1))
    plan = IntentDraft(volumes=[volume(box(32.0, 33.5, 32.5, 34.5), alt=(0, 10000), t=window)])
    store.create(RecordKind.INTENT, "FR-PLAN", "FR", plan, actor="FR")
    table.upsert("FR", [state("RAF1", 33.0, 34.0, now, intent_id="FR-PLAN")])
    changes = {(c.alert.kind, c.kind) for c in mon.run_once()}
    assert changes == {("conformance", "raised")}
    (a,) = mon.active("FR")
    assert a["kind"] == "conformance" and a["intent"] == "FR-PLAN" and a["track"] == "FR/RAF1"
    rec = store.get(RecordKind.INTENT, "FR", "FR-PLAN")
    assert rec.state.value == "Nonconforming" and rec.version == 2
    assert "conformance.raised" in [e["type"] for e in store.outbox_events("FR")]


def test_agreed_minima_apply_between_the_two_parties_only(store: Store) -> None:
    agree(store, {}, tactical={"ship_cpa_m": 1 * NM})  # the agreement says 1 NM
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
    (a,) = mon.active("UK")
    # side by side, both heading north: they close so slowly that the closest approach is weeks
    # away, beyond the look-ahead: no time to count down to (null, never a made-up one)
    assert a["t_cpa"] is None and a["lost"] is True and a["t_los_end"] is None


@pytest.mark.parametrize("lookahead_s", [300.0])
def test_the_demo_traffic_moves_and_meets(store: Store, lookahead_s: float) -> None:
    from deconfliction.demo.traffic import ORBITS, DemoTraffic

    clock = [1_800_000_000.0]
    table = TrackTable(clock=lambda: datetime.fromtimestamp(clock[0], UTC))
    traffic = DemoTraffic(table, clock=lambda: clock[0])
    mon = TacticalMonitor(store, table, clock=lambda: clock[0], lookahead_s=lookahead_s)
    raised = 0
    first = None
    for _ in range(400):  # 400 seconds of 10 s steps: more than an hour
        assert traffic.run_once() == len(ORBITS)
        snap = {t.state.id: t.state for t in table.snapshot()}
        first = first or snap["RAFALE-M-11"]
        raised += sum(c.kind == "raised" for c in mon.run_once() if c.alert.kind == "tactical")
        clock[0] += 10
    assert snap["RAFALE-M-11"].lon != first.lon  # it moves
    assert raised >= 2  # the two fighters meet now and then


# --- entry and exit against brute force -------------------------------------------------------
def _inside_brute(fp: Any, lon: Any, lat: Any) -> Any:
    """Point in footprint, by a method of the test's own: pyproj distances for a circle; shapely
    in (lon, lat), with the polygon's ring unwrapped and every 360-degree shift, for a polygon."""
    import numpy as np
    import shapely

    if isinstance(fp, CircleFootprint):
        n = len(lon)
        _, _, d = GEOD.inv([fp.center[0]] * n, [fp.center[1]] * n, lon, lat)
        return np.asarray(d) <= fp.radius_m
    ring = fp.coordinates[0]
    xs = [ring[0][0]]
    for p in ring[1:]:
        xs.append(p[0] + 360.0 * round((xs[-1] - p[0]) / 360.0))
    poly = shapely.Polygon(list(zip(xs, [p[1] for p in ring], strict=True)))
    return np.any(
        [shapely.intersects_xy(poly, np.asarray(lon) + k, lat) for k in (-360, 0, 360)], axis=0
    )


@settings(SETTINGS, max_examples=80)
@given(
    lon=st.floats(-180, 180),
    lat=st.floats(-70, 70),
    heading=st.floats(0, 360),
    speed=st.floats(0, 400),
    climb=st.sampled_from([0.0, 0.0, 20.0, -20.0]),
    shape=st.sampled_from(["box", "triangle", "circle"]),
    size_km=st.floats(1, 60),
    ahead=st.floats(-0.2, 1.2),
    side=st.floats(-1.2, 1.2),
    window=st.sampled_from([(-3600, 3600), (40, 3600), (-3600, 200)]),
)
def test_entry_and_exit_agree_with_brute_force(
    lon: float, lat: float, heading: float, speed: float, climb: float, shape: str,
    size_km: float, ahead: float, side: float, window: tuple[int, int],
) -> None:  # fmt: skip
    """Random footprints placed near a random path (across the antimeridian too): the stays
    computed on the path match the footprint, band and window sampled every 0.1 s."""
    import numpy as np

    from deconfliction.engine.encounter import Path, stays

    # the footprint's centre: a share of the path ahead, a share of its size to one side
    r = size_km * 1000
    clon, clat, _ = GEOD.fwd(lon, lat, heading, ahead * speed * 300)
    clon, clat, _ = GEOD.fwd(clon, clat, heading + 90, side * r)
    if shape == "circle":
        fp: Any = circle(float(clon), float(clat), r)
    else:
        n = 4 if shape == "box" else 3
        pts = [GEOD.fwd(clon, clat, 45 + k * 360 / n + heading / 7, r)[:2] for k in range(n)]
        fp = polygon(*[(float(x), float(y)) for x, y in pts])
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    v = volume(fp, alt=(5000.0, 7000.0), t=(t0 + timedelta(seconds=window[0]),
                                             t0 + timedelta(seconds=window[1])))  # fmt: skip
    path = Path(lon, lat, 6000.0 if climb == 0 else 4000.0, heading, speed, climb)
    got = stays(path, [v], t0.timestamp(), 0.0, 300.0)
    ts = np.linspace(0.0, 300.0, 3001)
    plon, plat, _ = GEOD.fwd([lon] * len(ts), [lat] * len(ts), [heading] * len(ts), speed * ts)
    alt = path.alt_m + climb * ts
    want = (
        _inside_brute(fp, np.asarray(plon), np.asarray(plat))
        & (alt >= 5000.0) & (alt <= 7000.0)
        & (ts >= window[0]) & (ts <= window[1])
    )  # fmt: skip
    edges = [x for s, e in got for x in (s, e)]
    for t, w in zip(ts, want, strict=True):
        if any(abs(t - x) < 1e-3 for x in edges):
            continue  # at a boundary, to rounding
        assert any(s <= t <= e for s, e in got) == bool(w), (t, got)


@pytest.mark.parametrize("level", ["full", "extent", "conflict", "none"])
def test_tactical_alerts_show_the_other_track_as_its_release_allows(
    store: Store, level: str
) -> None:
    """The same head-on pair as above: France always sees its own track; Russia's as Russia
    releases tracks to France (named at full and extent, unnamed below, times and distances
    on the grid below full, no alert and no event at none); in /v1/tactical's source and in
    the events alike."""
    from deconfliction.exchange.release import view_alerts

    agree(store, {"RU": {"track": level}, "FR": {"track": "full"}})
    now = [T0]
    table = TrackTable(stale_after=timedelta(hours=1), clock=lambda: now[0])
    mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
    lon_b = math.degrees(40_000.0 / A_M)
    table.upsert("FR", [state("A", 0.0, 0.0, T0, track_deg=90)])
    table.upsert("RU", [state("B", lon_b, 0.0, T0, track_deg=270, alt_m=6100)])
    mon.run_once()
    (raw,) = [a for a in mon.active("FR") if a["kind"] == "tactical"]
    shown = store.read_tx(lambda tx: view_alerts(tx, [raw], "FR"))
    events = [e for e in store.outbox_events("FR") if e["type"] == "tactical.raised"]
    grid = Coarsening()
    if level == "none":
        assert shown == [] and events == []
        return
    (a,) = shown
    assert events[0]["payload"]["tracks"] == a["tracks"]
    if level == "full":
        assert a == raw
        return
    assert a["tracks"][0] == "FR/A"
    assert a["tracks"][1] == ("RU/B" if level == "extent" else None)
    assert "RU/B" not in str(a if level == "conflict" else {}), a
    assert a["d_cpa_m"] % grid.radius_step_m == 0 and a["dz_cpa_m"] % grid.alt_step_m == 0
    assert epoch(a["t_cpa"]) % grid.time_step_s == 0  # type: ignore[operator]
    # Russia sees France's track in full (France releases it so)
    (ru,) = store.read_tx(lambda tx: view_alerts(tx, [raw], "RU"))
    assert ru == raw
