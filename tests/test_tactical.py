"""Tactical detection: the pruned kernel equals brute force; the CPA geometry is right."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconfliction.engine.tactical import (
    CLASSES,
    FT,
    KERNEL_FROM,
    NM,
    Conflicts,
    Minima,
    Scene,
    brute_force,
    detect,
    ecef_motion,
    scan,
)
from deconfliction.geodesy import GEOD

KT = NM / 3600.0


def scene_of(rows: list[tuple[float, ...]]) -> Scene:
    """Rows of (lon, lat, alt_m, gs_mps, track_deg, vs_mps, party, class index)."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 8)
    return Scene(
        lon=a[:, 0],
        lat=a[:, 1],
        alt_m=a[:, 2],
        gs_mps=a[:, 3],
        track_deg=a[:, 4],
        vs_mps=a[:, 5],
        party=a[:, 6].astype(np.int64),
        cls=a[:, 7].astype(np.int64),
    )


def same(a: Conflicts, b: Conflicts) -> None:
    assert a.pairs() == b.pairs()
    for name in ("t_in", "t_out", "t_cpa", "d_cpa_m", "dz_cpa_m"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.allclose(x, y, rtol=1e-6, atol=1e-6, equal_nan=True), name
    assert (a.lost_now == b.lost_now).all()


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    lon0 = draw(st.one_of(st.floats(-180, 180), st.floats(179.0, 180.0), st.just(-179.95)))
    lat0 = draw(st.one_of(st.floats(-80, 80), st.floats(88.5, 89.9), st.floats(-89.9, -88.5)))
    n = draw(st.integers(2, 60))
    spread_km = draw(st.sampled_from([20.0, 80.0, 300.0]))
    rows = []
    for _ in range(n):
        az = draw(st.floats(0, 360))
        dist = draw(st.floats(0, spread_km * 1000))
        lon, lat, _ = GEOD.fwd(lon0, lat0, az, dist)
        cls = draw(st.sampled_from(range(len(CLASSES))))
        ship = CLASSES[cls] == "ship"
        rows.append(
            (
                float(lon),
                float(lat),
                0.0
                if ship
                else draw(st.sampled_from([1000.0, 1304.8, 3000.0]) | st.floats(0, 6000)),
                draw(st.floats(0, 15)) if ship else draw(st.floats(0, 300)),
                draw(st.floats(0, 360)),
                0.0 if ship else draw(st.sampled_from([0.0]) | st.floats(-20, 20)),
                draw(st.integers(0, 3)),
                cls,
            )
        )
    return scene_of(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.sampled_from([60.0, 300.0, 900.0]), st.sampled_from([None, 1, 3, 11]))
def test_the_kernel_equals_brute_force(scene: Scene, lookahead: float, slices: int | None) -> None:
    identical(scan(scene, lookahead, slices=slices), brute_force(scene, lookahead))
    same(detect(scene, lookahead), brute_force(scene, lookahead))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_conflicts_match_a_sampled_reference(scene: Scene) -> None:
    """Independent of the algebra: step through the look-ahead every 0.25 s."""
    lookahead = 300.0
    found = detect(scene, lookahead).pairs()
    pos, vel = ecef_motion(scene)
    m = Minima()
    ts = np.arange(0.0, lookahead + 1e-9, 0.25)
    for i in range(len(scene)):
        for j in range(i + 1, len(scene)):
            if scene.party[i] == scene.party[j]:
                continue
            d = (pos[j] - pos[i])[None, :] + ts[:, None] * (vel[j] - vel[i])[None, :]
            h = np.linalg.norm(d, axis=1)
            dz = np.abs(scene.alt_m[j] - scene.alt_m[i] + ts * (scene.vs_mps[j] - scene.vs_mps[i]))
            s_h = m.lateral_m[scene.cls[i], scene.cls[j]]
            s_v = m.vertical_m[scene.cls[i], scene.cls[j]]
            clearly_in = ((h < s_h - 1.0) & (dz < s_v - 1.0)).any()
            clearly_out = not ((h < s_h + 1.0 + 150.0) & (dz < s_v + 1.0 + 10.0)).any()
            if clearly_in:
                assert (i, j) in found
            if clearly_out:
                assert (i, j) not in found


def identical(a: Conflicts, b: Conflicts) -> None:
    """Bit for bit: the kernel tests its candidates with the reference's own arithmetic."""
    for name in ("i", "j", "t_in", "t_out", "t_cpa", "d_cpa_m", "dz_cpa_m", "lost_now"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@st.composite
def crowds(draw: st.DrawFn) -> tuple[Scene, float, Minima]:
    """Hundreds of tracks crowded into a few tens of kilometres (many to a grid cell, pairs in
    conflict for many slices), anywhere, mixed classes and few parties; climbs and descents on
    a few tracks or many; a look-ahead from seconds to an hour; default or agreed minima."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(2, 400))
    lon0 = draw(st.sampled_from([0.0, 179.9, -179.95, 33.0]))
    lat0 = draw(st.sampled_from([0.0, 45.0, 89.7, -89.8]))
    spread_m = draw(st.sampled_from([2_000.0, 20_000.0, 60_000.0]))
    lon, lat, _ = GEOD.fwd(
        np.full(n, lon0), np.full(n, lat0), rng.uniform(0, 360, n), rng.uniform(0, spread_m, n)
    )
    cls = rng.integers(0, len(CLASSES), n)
    ship = cls == CLASSES.index("ship")
    levels = draw(st.sampled_from([0.0, 0.2, 1.0]))  # share of tracks climbing or descending
    alt = np.where(ship, 0.0, rng.choice([300.0, 304.8, 600.0, 1000.0], n) * rng.integers(1, 8, n))
    minima = draw(
        st.sampled_from([Minima(), Minima.of((1 * NM, 500 * FT), 0.5 * NM, (0.5 * NM, 300 * FT))])
    )
    lookahead = draw(st.sampled_from([5.0, 60.0, 300.0, 3600.0]))
    scene = Scene(
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        alt_m=alt,
        gs_mps=np.where(ship, rng.uniform(0, 15, n), rng.choice([0.0, 60.0, 250.0], n)),
        track_deg=rng.uniform(0, 360, n),
        vs_mps=np.where(~ship & (rng.random(n) < levels), rng.uniform(-20, 20, n), 0.0),
        party=rng.integers(0, draw(st.integers(1, 4)), n),
        cls=cls,
    )
    return scene, lookahead, minima


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowds(), st.sampled_from([None, 1, 2, 5, 16]))
def test_crowded_scenes_equal_brute_force_bit_for_bit(
    case: tuple[Scene, float, Minima], slices: int | None
) -> None:
    scene, lookahead, minima = case
    reference = brute_force(scene, lookahead, minima)
    identical(scan(scene, lookahead, minima, slices), reference)
    identical(detect(scene, lookahead, minima), reference)


def test_tracks_all_over_the_earth() -> None:
    """A scene spanning the globe (the grid's cells grow to bound its size) with a crowd in it;
    and a big crowded scene, where the slices run on every core."""
    rng = np.random.default_rng(3)
    n = 3000
    far = n // 3
    lon = np.concatenate([rng.uniform(-180, 180, far), rng.uniform(2.0, 2.5, n - far)])
    lat = np.concatenate([rng.uniform(-90, 90, far), rng.uniform(48.0, 48.4, n - far)])
    scene = Scene(
        lon=lon,
        lat=lat,
        alt_m=rng.uniform(0, 3000, n),
        gs_mps=rng.uniform(0, 300, n),
        track_deg=rng.uniform(0, 360, n),
        vs_mps=np.where(rng.random(n) < 0.3, rng.uniform(-10, 10, n), 0.0),
        party=rng.integers(0, 5, n),
        cls=rng.integers(0, len(CLASSES), n),
    )
    found = detect(scene)
    assert len(scene) >= KERNEL_FROM and len(found) > 1000
    identical(found, brute_force(scene))


def test_absurd_speeds_and_heights_still_equal_brute_force() -> None:
    rows = [(0, 0, 3000, 100, 0, 0, k % 2, 0) for k in range(KERNEL_FROM)]
    for change in ((3, 1e200), (5, 1e300), (2, 1e15)):
        odd = [(*r[: change[0]], change[1], *r[change[0] + 1 :]) if k == 0 else r
               for k, r in enumerate(rows)]  # fmt: skip
        identical(scan(scene_of(odd)), brute_force(scene_of(odd)))


def test_non_finite_states_are_refused() -> None:
    s = scene_of([(0, 0, 3000, 100, 0, 0, 0, 0), (0, 0, 3000, 100, 0, 0, 1, 0)])
    bad = Scene(**{**s.__dict__, "alt_m": np.array([3000.0, np.nan])})
    for run in (detect, scan, brute_force):
        with pytest.raises(ValueError, match="alt_m"):
            run(bad)
        with pytest.raises(ValueError, match="cls"):
            run(Scene(**{**s.__dict__, "cls": np.array([0, 7])}))


def _pair(a: tuple[float, ...], b: tuple[float, ...], lookahead: float = 300.0) -> Conflicts:
    c = detect(scene_of([a, b]), lookahead)
    same(c, brute_force(scene_of([a, b]), lookahead))
    return c


def test_head_on() -> None:
    # 20 NM apart on the equator, closing at 2 x 250 kt: separation lost at 15 NM of closure
    lon_b = 20 * NM / 111_319.49
    c = _pair((0, 0, 3000, 250 * KT, 90, 0, 0, 0), (lon_b, 0, 3000, 250 * KT, 270, 0, 1, 0))
    assert len(c) == 1
    assert c.t_in[0] == pytest.approx(15 * NM / (500 * KT), rel=2e-3)
    assert c.t_cpa[0] == pytest.approx(20 * NM / (500 * KT), rel=2e-3)
    assert c.d_cpa_m[0] < 50 and not c.lost_now[0]


def test_overtaking_crossing_parallel_stationary_diverging() -> None:
    deg_nm = NM / 111_319.49
    # overtaking: 8 NM behind, 100 kt faster, same track: caught within 300 s? 3 NM in 108 s
    assert (
        len(
            _pair((0, 0, 3000, 350 * KT, 90, 0, 0, 0), (8 * deg_nm, 0, 3000, 250 * KT, 90, 0, 1, 0))
        )
        == 1
    )
    # crossing at right angles, both 10 NM from the crossing point at 300 kt
    c = _pair(
        (-10 * deg_nm, 0, 3000, 300 * KT, 90, 0, 0, 0),
        (0, -10 * deg_nm, 3000, 300 * KT, 0, 0, 1, 0),
    )
    assert len(c) == 1 and c.t_cpa[0] == pytest.approx(120, rel=5e-3)
    # parallel 6 NM apart: never closer; 4 NM apart: lost now and for the whole look-ahead
    assert (
        len(_pair((0, 0, 3000, 250 * KT, 0, 0, 0, 0), (6 * deg_nm, 0, 3000, 250 * KT, 0, 0, 1, 0)))
        == 0
    )
    c = _pair((0, 0, 3000, 250 * KT, 0, 0, 0, 0), (4 * deg_nm, 0, 3000, 250 * KT, 0, 0, 1, 0))
    assert c.lost_now[0] and c.t_in[0] == 0 and math.isinf(c.t_out[0])
    # stationary (hovering) 1 NM apart: lost now
    assert _pair((10, 10, 100, 0, 0, 0, 0, 1), (10 + deg_nm, 10, 100, 0, 0, 0, 1, 1)).lost_now[0]
    # diverging from 6 NM: never in conflict
    assert (
        len(
            _pair(
                (0, 0, 3000, 250 * KT, 270, 0, 0, 0), (6 * deg_nm, 0, 3000, 250 * KT, 90, 0, 1, 0)
            )
        )
        == 0
    )


def test_exactly_1000_ft_apart_is_separated() -> None:
    base = (33.0, 34.0, 10_000 * FT, 200.0, 45.0, 0.0, 0, 0)
    at = (33.0, 34.0, 11_000 * FT, 200.0, 45.0, 0.0, 1, 0)
    assert len(_pair(base, at)) == 0
    closer = (33.0, 34.0, 10_999 * FT, 200.0, 45.0, 0.0, 1, 0)
    assert len(_pair(base, closer)) == 1
    # one climbing towards the other: conflict from when they are within 1,000 ft
    climbing = (33.0, 34.0, 8_000 * FT, 200.0, 45.0, 5.0, 1, 0)
    c = _pair(base, climbing)
    assert c.t_in[0] == pytest.approx((1_000 * FT) / 5.0, rel=1e-6)


def test_same_party_ships_and_mixed_minima() -> None:
    deg_nm = NM / 111_319.49
    # same party: never reported
    assert len(_pair((0, 0, 3000, 0, 0, 0, 0, 0), (0, 0, 3000, 0, 0, 0, 0, 0))) == 0
    ship = CLASSES.index("ship")
    # ships: 2 NM whatever their "altitude"; 1.5 NM apart is a conflict, 2.5 NM is not
    assert (
        len(
            _pair(
                (5, 40, 0, 5, 0, 0, 0, ship),
                (5 + 1.5 * deg_nm / math.cos(math.radians(40)), 40, 0, 5, 0, 0, 1, ship),
            )
        )
        == 1
    )
    assert (
        len(
            _pair(
                (5, 40, 0, 5, 0, 0, 0, ship),
                (5 + 2.5 * deg_nm / math.cos(math.radians(40)), 40, 0, 5, 0, 0, 1, ship),
            )
        )
        == 0
    )
    # an aircraft 1,500 ft over a ship passes; at 500 ft it does not
    assert len(_pair((5, 40, 1500 * FT, 100, 0, 0, 0, 0), (5, 40, 0, 5, 0, 0, 1, ship))) == 0
    assert len(_pair((5, 40, 500 * FT, 100, 0, 0, 0, 0), (5, 40, 0, 5, 0, 0, 1, ship))) == 1
    # tighter minima by agreement: 1 NM between ships
    tight = Minima.of((5 * NM, 1000 * FT), 1 * NM, (2 * NM, 1000 * FT))
    s = scene_of(
        [
            (5, 40, 0, 5, 0, 0, 0, ship),
            (5 + 1.5 * deg_nm / math.cos(math.radians(40)), 40, 0, 5, 0, 0, 1, ship),
        ]
    )
    assert len(detect(s, 300, tight)) == 0 and len(brute_force(s, 300, tight)) == 0


def test_across_the_antimeridian_and_over_the_pole() -> None:
    deg_nm = NM / 111_319.49
    # two aircraft either side of 180 degrees, 4 NM apart
    assert _pair(
        (179.0 + 60 * deg_nm * 0 + (1 - 2 * deg_nm), 0, 3000, 0, 0, 0, 0, 0),
        (-179.0 - (1 - 2 * deg_nm), 0, 3000, 0, 0, 0, 1, 0),
    ).lost_now[0]
    # two aircraft near the pole, on opposite meridians, 4 NM apart
    lat = 90 - 2 * deg_nm
    assert _pair((0, lat, 3000, 0, 0, 0, 0, 0), (180, lat, 3000, 0, 0, 0, 1, 0)).lost_now[0]


def test_minima_tables_must_be_symmetric() -> None:
    """The scan tests each pair once, in one order: a lopsided table would make the answer
    depend on which track came first, so it is refused."""
    from deconfliction.engine.tactical import CLASSES, Minima

    n = len(CLASSES)
    lopsided = np.full((n, n), 9260.0)
    lopsided[0, 1] = 100.0
    with pytest.raises(ValueError, match="lateral_m: a symmetric"):
        Minima(lateral_m=lopsided, vertical_m=np.full((n, n), 300.0))
    Minima(lateral_m=np.full((n, n), 9260.0), vertical_m=np.full((n, n), 300.0))
