"""Exact cases of the 4D test: gaps measured independently (pyproj), buffers set exactly at them.

A conflict is decided on closed sets: a pair conflicts when every gap is at most its buffer. So
with a buffer equal to the true gap the pair conflicts, and 1 cm (or 0.01 s) less it does not.
"""

from __future__ import annotations

from typing import Any

import pytest

from deconfliction.engine import Record, check_pair, conflicts_among
from deconfliction.geo import Shape, horizontal_gap_m
from deconfliction.model import Party, SeparationPolicy
from helpers import (
    AREA,
    INTENT,
    Footprint,
    at,
    box,
    circle,
    draft,
    geodesic_m,
    meridian_m,
    polygon,
    record,
    volume,
)


def gap_of(fa: Footprint, fb: Footprint) -> float:
    """The library's horizontal gap, exact (no ``within_m``), checked to be symmetric."""
    g = horizontal_gap_m(Shape(fa), Shape(fb))
    assert horizontal_gap_m(Shape(fb), Shape(fa)) == pytest.approx(g, abs=1e-3)
    return g


def conflicts(a: Record, b: Record, **buffers: float) -> bool:
    policy = SeparationPolicy(**buffers)
    found = check_pair(a, b, policy)
    assert (check_pair(b, a, policy) is None) == (found is None)
    return found is not None


def assert_lateral_threshold(fa: Footprint, fb: Footprint, gap: float) -> None:
    """The library measures ``gap`` (within 1 mm); buffers at it conflict, 1 cm less do not."""
    assert gap > 0.02
    assert gap_of(fa, fb) == pytest.approx(gap, abs=1e-3)
    a, b = record("a", "FR", volume(fa)), record("b", "RU", volume(fb))
    assert not conflicts(a, b)
    assert conflicts(a, b, lateral_m=gap)
    assert not conflicts(a, b, lateral_m=gap - 0.01)
    found = check_pair(a, b, SeparationPolicy(lateral_m=gap))
    assert found is not None
    assert found.gaps.horizontal_m == pytest.approx(gap, abs=1e-3)
    assert (found.gaps.vertical_m, found.gaps.time_s) == (0.0, 0.0)


# --- buffers exactly at the gap ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "lats"),
    [
        # same meridians, separated in latitude: the closest points lie on a meridian
        ((10.0, 45.0, 10.5, 45.2), (10.0, 45.3, 10.5, 45.6), (45.2, 45.3)),
        # longitude ranges only partly shared; wide boxes at high latitude
        ((-3.0, 59.0, -1.0, 59.9), (-2.0, 60.0, 0.5, 61.0), (59.9, 60.0)),
        # across the equator, southern hemisphere box to the north
        ((100.0, -0.25, 100.1, -0.01), (100.05, 0.02, 100.3, 0.2), (-0.01, 0.02)),
        # southern hemisphere, B below A
        ((-70.0, -40.0, -69.0, -39.0), (-69.5, -41.5, -68.0, -40.0001), (-40.0001, -40.0)),
    ],
)
def test_lateral_buffer_exactly_at_a_meridian_gap(
    a: tuple[float, ...], b: tuple[float, ...], lats: tuple[float, float]
) -> None:
    lon = max(a[0], b[0])  # a meridian that both boxes span
    assert_lateral_threshold(box(*a), box(*b), meridian_m(*lats, lon=lon))


def test_vertical_and_time_buffers_exactly_at_the_gap() -> None:
    fp = box(5.0, 50.0, 5.5, 50.5)
    low = record("low", "FR", volume(fp, alt=(0, 100), t=(0, 3600)))
    high = record("high", "RU", volume(fp, alt=(1100, 1250), t=(0, 3600)))
    assert not conflicts(low, high)
    assert conflicts(low, high, vertical_m=1000)
    assert not conflicts(low, high, vertical_m=999.99)
    f = check_pair(low, high, SeparationPolicy(vertical_m=1000))
    assert f is not None
    assert (f.gaps.horizontal_m, f.gaps.vertical_m, f.gaps.time_s) == (0.0, 1000.0, 0.0)

    early = record("early", "FR", volume(fp, t=(0, 3600)))
    late = record("late", "RU", volume(fp, t=(4200, 7200)))
    assert not conflicts(early, late)
    assert conflicts(early, late, time_s=600)
    assert not conflicts(early, late, time_s=599.99)
    f = check_pair(early, late, SeparationPolicy(time_s=600))
    assert f is not None
    assert (f.gaps.horizontal_m, f.gaps.vertical_m, f.gaps.time_s) == (0.0, 0.0, 600.0)
    # the window reported for volumes apart in time: the gap between them
    assert (f.time_start, f.time_end) == (at(3600), at(4200))

    # every buffer needed at once: one short in any dimension and there is no conflict
    a = record("a", "FR", volume(box(5.0, 50.0, 5.5, 50.2), alt=(0, 100), t=(0, 3600)))
    b = record("b", "RU", volume(box(5.0, 50.3, 5.5, 50.5), alt=(1100, 1200), t=(4200, 7200)))
    gap = meridian_m(50.2, 50.3, lon=5.0)
    assert conflicts(a, b, lateral_m=gap, vertical_m=1000, time_s=600)
    assert not conflicts(a, b, lateral_m=gap - 0.01, vertical_m=1000, time_s=600)
    assert not conflicts(a, b, lateral_m=gap, vertical_m=999.99, time_s=600)
    assert not conflicts(a, b, lateral_m=gap, vertical_m=1000, time_s=599.99)


# --- touching, containing, concave --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fa", "fb"),
    [
        (box(0, 0, 1, 1), box(1, 0, 2, 1)),  # shared edge (a meridian)
        (box(0, 0, 1, 1), box(0.2, 1, 0.7, 1.5)),  # part of an edge (a parallel)
        (box(0, 0, 1, 1), box(1, 1, 2, 2)),  # one corner
        (box(179, 0, 180, 1), box(-180, 0, -179, 1)),  # shared edge on the antimeridian
        (box(0, 0, 3, 3), box(1, 1, 2, 2)),  # containment
        (box(0, 0, 3, 3), circle(1.5, 1.5, 1000)),  # circle inside a polygon
        (circle(0, 0, 200_000), box(0.5, 0.5, 0.6, 0.6)),  # polygon inside a circle, off centre
        (circle(20, 20, 5000), circle(20.01, 20.01, 1000)),  # circle inside a circle
    ],
)
def test_touching_and_contained_footprints_conflict_with_zero_buffers(
    fa: Footprint, fb: Footprint
) -> None:
    assert gap_of(fa, fb) == 0.0
    a, b = record("a", "FR", volume(fa)), record("b", "RU", volume(fb))
    f = check_pair(a, b, SeparationPolicy())
    assert f is not None
    assert f.gaps.horizontal_m == 0.0
    # closed sets in altitude and time too: bands and windows that only touch still conflict
    c = record("c", "UK", volume(fb, alt=(100, 200), t=(3600, 7200)))
    assert conflicts(a, c)


def test_concave_polygon_notch() -> None:
    # a U: the notch is lon 1..2, lat 1..3, open to the north
    u = polygon((0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3))
    inside = box(1.3, 1.05, 1.7, 1.2)  # in the notch: within the U's bounding box, not in the U
    # the notch floor (a parallel at lat 1) is 0.05 degree away, the walls 0.3 degree
    assert_lateral_threshold(u, inside, meridian_m(1.0, 1.05, lon=1.5))
    # in the notch, touching its floor: conflict at zero buffer
    assert gap_of(u, box(1.3, 1.0, 1.7, 1.2)) == 0.0


# --- the antimeridian ------------------------------------------------------------------------


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _antimeridian_scenario(shift: float) -> dict[str, Footprint]:
    def b(lon0: float, lat0: float, lon1: float, lat1: float) -> Footprint:
        return box(_wrap(lon0 + shift), lat0, _wrap(lon1 + shift), lat1)

    return {
        "P": b(179.5, 10.0, -179.5, 11.0),  # crosses the antimeridian (shift 0)
        "W": b(179.0, 10.2, 179.4, 10.8),  # west of it, about 11 km
        "E": b(-179.4, 10.2, -179.0, 10.8),  # east of it, about 11 km
        "N": b(179.8, 11.05, -179.8, 11.3),  # north, 0.05 degree of latitude
        "O": b(179.9, 10.4, -179.9, 10.6),  # inside it
        "F": b(0.0, 10.0, 1.0, 11.0),  # where it would be, had it gone round the world
        "C": circle(_wrap(-178.5 + shift), 10.5, 20_000),  # east, about 90 km
    }


def test_antimeridian_same_as_away_from_it() -> None:
    crossing, away = _antimeridian_scenario(0.0), _antimeridian_scenario(-10.0)
    assert away["P"].coordinates[0][:2] == [[169.5, 10.0], [170.5, 10.0]]
    gaps = {}
    for k in crossing:
        if k not in "PF":  # F: see the test below
            gaps[k] = gap_of(crossing["P"], crossing[k])
            assert gaps[k] == pytest.approx(gap_of(away["P"], away[k]), abs=1e-3), k
    assert gaps["O"] == 0.0
    assert gaps["N"] == pytest.approx(meridian_m(11.0, 11.05, lon=180.0), abs=1e-3)
    assert gaps["W"] == pytest.approx(gaps["E"], abs=1e-3)  # mirror images
    assert 10_000 < gaps["W"] < 11_000
    assert 80_000 < gaps["C"] < 100_000

    policy = SeparationPolicy(lateral_m=11_500)
    expected = {("P", "W"), ("E", "P"), ("N", "P"), ("O", "P")}
    for scenario in (crossing, away):
        recs = [record(k, k, volume(fp)) for k, fp in scenario.items()]
        for indexed in (True, False):
            found = conflicts_among(recs, policy, indexed=indexed)
            assert {(c.a.id, c.b.id) for c in found} == expected
        # and at exactly the gaps measured above
        p = recs[0]
        for r in recs[1:]:
            if r.id in "WENC":
                assert conflicts(p, r, lateral_m=gaps[r.id])
                assert not conflicts(p, r, lateral_m=gaps[r.id] - 0.01)


def test_gap_to_an_edge_that_crosses_the_opposite_meridian() -> None:
    """Distances from a point to an edge that crosses the meridian opposite the point (lon + 180).

    Near a pole such an edge can be close: a circle at (0, 89) and a box at lon 179.8..-179.8
    (across the pole from it). The nearest points are the box's corners at lat 89.5 (the parallel
    bends round the pole, away from the circle), so the gap is exact from pyproj.
    """
    r = 1000.0
    c, fp = circle(0.0, 89.0, r), box(179.8, 89.0, -179.8, 89.5)
    gap = geodesic_m(0.0, 89.0, 179.8, 89.5) - r
    assert gap == pytest.approx(166_500, abs=1000)
    assert gap_of(c, fp) == pytest.approx(gap, abs=1e-3)
    # the consequence: a false conflict with a 100 km buffer, when they are 166 km apart
    a, b = record("a", "FR", volume(c)), record("b", "RU", volume(fp))
    assert not conflicts(a, b, lateral_m=100_000)
    assert_lateral_threshold(c, fp, gap)
    # far from any pole: boxes on opposite sides of the earth are not 110 km apart, but about
    # as far as their nearest corners (the shortest paths run over the pole)
    far = gap_of(box(0.0, 10.0, 1.0, 11.0), box(179.5, 10.0, -179.5, 11.0))
    assert far == pytest.approx(geodesic_m(1.0, 11.0, 179.5, 11.0), abs=1e-3)


# --- the poles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("clon", [0.0, 45.0, -180.0])
@pytest.mark.parametrize(
    ("pole", "box_lons"), [(90.0, (10.0, 20.0)), (-90.0, (10.0, 20.0)), (90.0, (170.0, -170.0))]
)
def test_circle_on_a_pole(clon: float, pole: float, box_lons: tuple[float, float]) -> None:
    r = 50_000.0
    sign = 1.0 if pole > 0 else -1.0
    lat_near, lat_far = 89.0 * sign, 88.9 * sign
    fp = box(box_lons[0], min(lat_near, lat_far), box_lons[1], max(lat_near, lat_far))
    gap = meridian_m(pole, lat_near, lon=box_lons[0]) - r
    assert gap == pytest.approx(111_694 - r, abs=100)  # about a degree of latitude
    assert_lateral_threshold(circle(clon, pole, r), fp, gap)


@pytest.mark.parametrize(
    ("c1", "c2"),
    [
        ((0.0, 90.0, 30_000.0), (45.0, 88.0, 40_000.0)),  # one on the North pole
        ((0.0, -90.0, 1000.0), (-120.0, -89.5, 2000.0)),  # one on the South pole
        ((179.9, -30.0, 5000.0), (-179.9, -30.1, 3000.0)),  # across the antimeridian
        ((2.0, 48.0, 100.0), (2.3, 48.1, 15_000.0)),
    ],
)
def test_two_circles(c1: tuple[float, float, float], c2: tuple[float, float, float]) -> None:
    gap = geodesic_m(c1[0], c1[1], c2[0], c2[1]) - c1[2] - c2[2]
    assert_lateral_threshold(circle(*c1), circle(*c2), gap)


# --- records of several volumes; who may conflict with whom -------------------------------------


def test_multi_volume_intent_reports_the_pair_that_meets() -> None:
    fb = box(10.0, 45.105, 10.2, 45.2)
    b = record("B", "RU", volume(fb, alt=(150, 300), t=(9000, 14_400)))
    # the first volume is where B is, but hours before it; the second is near B, at its time
    a = record(
        "A",
        "FR",
        volume(fb, alt=(150, 300), t=(0, 3600)),
        volume(box(10.0, 45.0, 10.2, 45.1), alt=(0, 100), t=(7200, 10_800)),
    )
    h = meridian_m(45.1, 45.105, lon=10.0)
    policy = SeparationPolicy(lateral_m=1000, vertical_m=100, time_s=60)
    for x, y in ((a, b), (b, a)):
        f = check_pair(x, y, policy)
        assert f is not None
        assert f.gaps.horizontal_m == pytest.approx(h, abs=1e-3)
        assert (f.gaps.vertical_m, f.gaps.time_s) == (50.0, 0.0)
        assert (f.time_start, f.time_end) == (at(9000), at(10_800))
    [pc] = conflicts_among([a, b], policy)
    assert (pc.a.id, pc.b.id) == ("A", "B")
    assert pc.finding.gaps == check_pair(a, b, policy).gaps
    # without the second volume, nothing
    a1 = record("A", "FR", a.volumes[0])
    assert check_pair(a1, b, policy) is None
    # a buffer that reaches the first volume too: the gaps are the closest found, 0 laterally
    f = check_pair(a, b, SeparationPolicy(lateral_m=1000, vertical_m=100, time_s=5400))
    assert f is not None
    assert (f.gaps.horizontal_m, f.gaps.vertical_m, f.gaps.time_s) == (0.0, 0.0, 0.0)
    assert (f.time_start, f.time_end) == (at(3600), at(10_800))


def test_volumes_of_one_record_never_conflict(store_factory: Any) -> None:
    fp = box(0, 0, 1, 1)
    vols = [volume(fp), volume(fp, alt=(50, 150)), volume(box(0.5, 0.5, 2, 2), t=(1800, 5400))]
    policy = SeparationPolicy(lateral_m=1000, vertical_m=100, time_s=600)
    for kind in (INTENT, AREA):
        assert conflicts_among([record("X", "FR", *vols, kind=kind)], policy) == []
        assert conflicts_among([record("X", "FR", *vols, kind=kind)], policy, indexed=False) == []
    store = store_factory(policy)
    store.put_party(Party(id="FR", name="FR"), actor="t")
    for kind in (INTENT, AREA):
        w = store.create(kind, f"X-{kind.value}", "FR", draft(kind, vols), actor="FR")
        assert w.conflicts == []
    assert store.list_conflicts("FR") == []


def test_who_may_conflict_with_whom(store_factory: Any) -> None:
    """Intents meet every intent (their own party's too) and other parties' areas; an area never
    meets its own party's intents, nor any area."""
    vol = volume(box(0, 0, 1, 1))
    recs = {
        "I-fr": record("I-fr", "FR", vol),
        "I-fr2": record("I-fr2", "FR", vol),
        "I-ru": record("I-ru", "RU", vol),
        "A-fr": record("A-fr", "FR", vol, kind=AREA),
        "A-fr2": record("A-fr2", "FR", vol, kind=AREA),
        "A-ru": record("A-ru", "RU", vol, kind=AREA),
    }
    expected = {
        frozenset(p)
        for p in [
            ("I-fr", "I-fr2"),
            ("I-fr", "I-ru"),
            ("I-fr2", "I-ru"),
            ("A-fr", "I-ru"),
            ("A-fr2", "I-ru"),
            ("A-ru", "I-fr"),
            ("A-ru", "I-fr2"),
        ]
    }
    policy = SeparationPolicy()
    for indexed in (True, False):
        found = conflicts_among(list(recs.values()), policy, indexed=indexed)
        assert {frozenset((c.a.id, c.b.id)) for c in found} == expected

    store = store_factory(policy)
    for p in ("FR", "RU"):
        store.put_party(Party(id=p, name=p), actor="t")
    for r in recs.values():
        store.create(r.kind, r.id, r.owner, draft(r.kind, r.volumes), actor=r.owner)
    stored = {frozenset((c.a.id, c.b.id)) for p in ("FR", "RU") for c in store.list_conflicts(p)}
    assert stored == expected


def test_a_polygon_keeps_the_cap_of_its_own_ring_from_validation() -> None:
    """The cap computed while validating is kept by the model it belongs to, whatever was
    validated (or refused) before it in the same thread."""
    from deconfliction.model import IntentDraft
    from deconfliction.model.footprint import PolygonFootprint, _polygon_cap, dense_ring

    def box(lon: float, lat: float, w: float) -> list[list[float]]:
        return [[lon, lat], [lon + w, lat], [lon + w, lat + w / 2], [lon, lat + w / 2], [lon, lat]]

    with pytest.raises(ValueError):  # refused after its ring was checked: an unknown field
        PolygonFootprint.model_validate(
            {"type": "Polygon", "coordinates": [box(0, 0, 1)], "extra": 1}
        )
    trusted = PolygonFootprint.model_validate(  # not checked again: computes its cap when asked
        {"type": "Polygon", "coordinates": [box(3, 3, 0.5)]}, context={"trusted": True}
    )
    vol = {"alt_lower_m": 0, "alt_upper_m": 10, "time_start": "2026-05-01T10:00:00Z"}
    vol["time_end"] = "2026-05-01T11:00:00Z"
    d = IntentDraft.model_validate(
        {
            "volumes": [
                {**vol, "footprint": {"type": "Polygon", "coordinates": [box(5, 40, w)]}}
                for w in (0.01, 2.0, 0.3)
            ]
        }
    )
    for fp in [*(v.footprint for v in d.volumes), trusted]:
        assert isinstance(fp, PolygonFootprint)
        assert fp.cap == _polygon_cap(*dense_ring(*fp.lonlat_ring()))
