"""Blind screening: tokens against the exact engine, the PSI session, what crosses the wire."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deconfliction.engine import Record, check_pair
from deconfliction.errors import InvalidInput
from deconfliction.geo.cells import covering_at_level
from deconfliction.model import SeparationPolicy, Volume4D
from deconfliction.screening import (
    Cover,
    Grain,
    Role,
    ScreeningRefused,
    ScreeningTerms,
    Session,
    SessionParams,
    intersect,
    psi,
)
from deconfliction.screening.tokens import Growth, parent, token_bytes, token_digest
from helpers import GEOD, T0, agree, at, box, circle, record, volume

M_PER_DEG = 111_000.0


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


# --- strategies ----------------------------------------------------------------------------------


@st.composite
def grains(draw: st.DrawFn) -> tuple[Grain, ...]:
    coarse = draw(st.integers(4, 7))
    fine = draw(st.integers(coarse, min(coarse + 4, 10)))
    slot0 = draw(st.sampled_from([3600, 7200]))
    slot1 = draw(st.sampled_from([s for s in (1800, 3600, 7200) if slot0 % s == 0]))
    band0 = draw(st.sampled_from([2000, 3000]))
    band1 = draw(st.sampled_from([b for b in (500, 1000, 1500, 2000, 3000) if band0 % b == 0]))
    ladder = [Grain(s2_level=coarse, slot_s=slot0, band_m=band0)]
    if draw(st.booleans()):
        ladder.append(Grain(s2_level=fine, slot_s=slot1, band_m=band1))
    return tuple(ladder)


#: (lon, lat): anywhere, on the antimeridian, or near a pole
centres = st.tuples(
    st.one_of(st.floats(-180.0, 180.0), st.floats(179.5, 180.5).map(_wrap)),
    st.one_of(st.floats(-60.0, 60.0), st.floats(80.0, 89.9), st.floats(-89.9, -80.0)),
)


@st.composite
def volumes(draw: st.DrawFn, centre: tuple[float, float]) -> Volume4D:
    clon, clat = centre
    spread = 40_000.0
    dx, dy = draw(st.floats(-spread, spread)), draw(st.floats(-spread, spread))
    lat = max(-89.99, min(89.99, clat + dy / M_PER_DEG))
    size = 10.0 ** draw(st.floats(2.0, math.log10(30_000.0)))
    if abs(lat) > 80.0 or draw(st.booleans()):
        lon = _wrap(clon + dx / (M_PER_DEG * math.cos(math.radians(lat))))
        fp: Any = circle(lon, lat, size / 2)
    else:
        w = size / (M_PER_DEG * math.cos(math.radians(lat)))
        lon0 = _wrap(clon + dx / (M_PER_DEG * math.cos(math.radians(lat))))
        fp = box(lon0, lat, _wrap(lon0 + w), lat + size / M_PER_DEG)
    alt0 = draw(st.integers(0, 120)) * 25.0
    t0 = draw(st.integers(0, 180)) * 60 + draw(st.sampled_from([0.0, 0.25, 0.999999]))
    return volume(
        fp,
        (alt0, alt0 + draw(st.integers(0, 80)) * 25.0),
        (t0, t0 + draw(st.integers(0, 120)) * 60),
    )


@st.composite
def scenes(draw: st.DrawFn, n: int = 5) -> tuple[list[Record], list[Record]]:
    centre = draw(centres)
    sides: list[list[Record]] = [[], []]
    for s, owner in enumerate(("A", "B")):
        for i in range(draw(st.integers(1, n))):
            vols = draw(st.lists(volumes(centre), min_size=1, max_size=2))
            sides[s].append(record(f"{owner.lower()}{i}", owner, *vols))
    return sides[0], sides[1]


buffers = st.builds(
    SeparationPolicy,
    lateral_m=st.one_of(st.just(0.0), st.floats(1.0, 20_000.0)),
    vertical_m=st.one_of(st.just(0.0), st.integers(1, 60).map(lambda n: n * 10.0)),
    time_s=st.one_of(st.just(0.0), st.integers(1, 30).map(lambda n: n * 60.0)),
)
shares = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))


def _cover(ladder: Sequence[Grain], growth: Growth, recs: Sequence[Record]) -> Cover:
    c = Cover(ladder, growth)
    for r in recs:
        c.put(r.id, r.volumes)
    return c


def _flagged(hits: Mapping[Any, tuple[set[str], set[str]]]) -> set[tuple[str, str]]:
    return {(a, b) for a_ids, b_ids in hits.values() for a in a_ids for b in b_ids}


# --- never a missed conflict ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), buffers, shares, grains())
def test_screening_never_misses_a_conflict_the_exact_engine_finds(
    scene: tuple[list[Record], list[Record]],
    policy: SeparationPolicy,
    share: float,
    ladder: tuple[Grain, ...],
) -> None:
    """Whatever the grain, the buffers and how they are split, every pair of records the exact
    engine finds in conflict shares a token at the finest grain after refinement."""
    a, b = scene
    ca = _cover(ladder, Growth.share_of(policy, share), a)
    cb = _cover(ladder, Growth.share_of(policy, 1.0 - share), b)
    _, hits = intersect(ca, cb)
    exact = {(x.id, y.id) for x in a for y in b if check_pair(x, y, policy) is not None}
    event("exact conflicts" if exact else "no exact conflict")
    assert exact <= _flagged(hits)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    centres,
    st.floats(0.0, 360.0),
    buffers,
    shares,
    grains(),
    st.tuples(*[st.sampled_from([0.0, 0.5, 0.999999, 1.0])] * 3),
    st.integers(-(10**9), 10**9),
    st.floats(-500.0, 9000.0),
)
def test_pairs_at_the_edge_of_the_buffer_are_found(
    centre: tuple[float, float],
    azimuth: float,
    policy: SeparationPolicy,
    share: float,
    ladder: tuple[Grain, ...],
    fractions: tuple[float, float, float],
    t0_us: int,
    z0: float,
) -> None:
    """Two circles placed at (a fraction of, or exactly) the buffer from each other in space,
    altitude and time, at any microsecond and any height: if the exact engine finds them in
    conflict, screening flags them."""
    fh, fv, ft = fractions
    r1, r2 = 700.0, 1300.0
    lon, lat = centre
    lon1, lat1, _ = GEOD.fwd(lon, lat, azimuth, r1 + r2 + fh * policy.lateral_m)
    start = at(0) + timedelta(microseconds=t0_us)
    end = start + timedelta(seconds=1234.567891)
    b_start = end + timedelta(seconds=ft * policy.time_s)
    a = record(
        "a",
        "A",
        Volume4D(
            footprint=circle(lon, lat, r1),
            alt_lower_m=z0 - 400.0,
            alt_upper_m=z0,
            time_start=start,
            time_end=end,
        ),
    )
    b_lo = z0 + fv * policy.vertical_m
    b = record(
        "b",
        "B",
        Volume4D(
            footprint=circle(_wrap(lon1), lat1, r2),
            alt_lower_m=b_lo,
            alt_upper_m=b_lo + 10.0,
            time_start=b_start,
            time_end=b_start + timedelta(seconds=60),
        ),
    )
    exact = check_pair(a, b, policy) is not None
    event("exact conflict" if exact else "no exact conflict")
    ca = _cover(ladder, Growth.share_of(policy, share), [a])
    cb = _cover(ladder, Growth.share_of(policy, 1.0 - share), [b])
    _, hits = intersect(ca, cb)
    if exact:
        assert ("a", "b") in _flagged(hits)


def test_touching_at_the_buffer_exactly_is_found_at_every_split() -> None:
    """Volumes exactly one buffer apart in time, altitude and space: a conflict (closed sets),
    found whichever side grows by which part of the buffer, on slot and band edges."""
    ladder = (
        Grain(s2_level=6, slot_s=3600, band_m=1000),
        Grain(s2_level=12, slot_s=600, band_m=100),
    )
    policy = SeparationPolicy(lateral_m=1000.0, vertical_m=300.0, time_s=600.0)
    lon1, lat1, _ = GEOD.fwd(30.0, 35.0, 90.0, 2000.0)  # edges exactly 1 km apart
    a = record("a", "A", volume(circle(30.0, 35.0, 500.0), (0.0, 1000.0), (0, 3600)))
    # b starts 600 s after a ends, 300 m above it
    b = record("b", "B", volume(circle(lon1, lat1, 500.0), (1300.0, 2000.0), (4200, 7200)))
    found = check_pair(a, b, policy)
    assert found is not None
    assert found.gaps.time_s == 600.0 and found.gaps.vertical_m == 300.0
    for share in (0.0, 0.5, 1.0):
        ca = _cover(ladder, Growth.share_of(policy, share), [a])
        cb = _cover(ladder, Growth.share_of(policy, 1.0 - share), [b])
        _, hits = intersect(ca, cb)
        assert ("a", "b") in _flagged(hits), share


def test_volumes_apart_in_time_by_more_than_a_slot_share_no_token() -> None:
    ladder = (Grain(s2_level=8, slot_s=900, band_m=500),)
    policy = SeparationPolicy(time_s=60.0)
    a = record("a", "A", volume(circle(10.0, 50.0, 2000.0), (0, 100), (0, 900)))
    b = record("b", "B", volume(circle(10.0, 50.0, 2000.0), (0, 100), (3600, 4000)))
    _, hits = intersect(
        _cover(ladder, Growth.share_of(policy, 0.5), [a]),
        _cover(ladder, Growth.share_of(policy, 0.5), [b]),
    )
    assert hits == {}


def test_fine_tokens_nest_in_their_coarse_parents() -> None:
    ladder = (
        Grain(s2_level=5, slot_s=7200, band_m=3000),
        Grain(s2_level=9, slot_s=1800, band_m=1000),
    )
    v = volume(box(29.0, 34.0, 29.5, 34.4), (-200.0, 2500.0), (-1800, 5400))
    g = Growth.share_of(SeparationPolicy(lateral_m=5000, vertical_m=100, time_s=300), 0.5)
    c = Cover(ladder, g)
    c.put("r", [v])
    coarse = c.tokens(0)
    c.narrow(0, coarse)
    fine = c.tokens(1)
    assert fine and {parent(t, ladder[1], ladder[0]) for t in fine} == coarse
    # the fine cells are exactly the fixed-level covering of the grown footprint
    assert {t.cell for t in fine} == set(covering_at_level(v.footprint, g.lateral_m, 9))


def test_terms_refuse_grains_that_do_not_nest() -> None:
    with pytest.raises(ValueError, match="slot_s must divide"):
        ScreeningTerms(
            grains=[
                Grain(s2_level=6, slot_s=3600, band_m=1000),
                Grain(s2_level=8, slot_s=1000, band_m=500),
            ]
        )
    with pytest.raises(ValueError, match="coarser"):
        ScreeningTerms(
            grains=[
                Grain(s2_level=8, slot_s=3600, band_m=1000),
                Grain(s2_level=6, slot_s=1800, band_m=500),
            ]
        )
    assert ScreeningTerms().enabled is False


# --- the session ---------------------------------------------------------------------------------


def _exchange(
    first: list[dict[str, Any]], to: Session, back: Session
) -> list[list[dict[str, Any]]]:
    """Deliver messages back and forth until neither side has anything to say; the transcript."""
    transcript = []
    msgs, sides, turn = first, (to, back), 0
    while msgs:
        transcript.append(json.loads(json.dumps(msgs)))
        msgs = sides[turn].receive(msgs)
        turn ^= 1
    return transcript


def _open(
    params: SessionParams, a: Mapping[str, Any], b: Mapping[str, Any]
) -> tuple[Session, Session, list[list[dict[str, Any]]]]:
    ini, opening = Session.initiate(params, a)
    res, accept = Session.respond(params, b, json.loads(json.dumps(opening)))
    transcript = [[opening], *_exchange([accept], ini, res)]
    return ini, res, transcript


def _records(recs: Sequence[Record]) -> dict[str, list[Volume4D]]:
    return {r.id: list(r.volumes) for r in recs}


def _clear(
    params: SessionParams, a: Sequence[Record], b: Sequence[Record]
) -> dict[Any, tuple[set[str], set[str]]]:
    ca = _cover(params.grains, params.growth(Role.INITIATOR), a)
    cb = _cover(params.grains, params.growth(Role.RESPONDER), b)
    return intersect(ca, cb)[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(n=4), buffers, shares, grains(), st.data())
def test_the_private_intersection_is_the_clear_one_and_follows_changes(
    scene: tuple[list[Record], list[Record]],
    policy: SeparationPolicy,
    share: float,
    ladder: tuple[Grain, ...],
    data: st.DataObject,
) -> None:
    """Each side learns exactly its own tokens in the intersection (the one computed in the
    clear), and the other's set size; after a change on either side, an incremental round
    brings both to the new intersection."""
    a, b = scene
    params = SessionParams(ladder, policy, share)
    ini, res, _ = _open(params, _records(a), _records(b))
    hits = _clear(params, a, b)
    assert ini.intersection() == {t: h[0] for t, h in hits.items()}
    assert res.intersection() == {t: h[1] for t, h in hits.items()}
    assert ini.other_size(0) == res.own_size(0) and res.other_size(0) == ini.own_size(0)
    # a change on one side, then on the other (the responder may start a round too)
    for side, recs, session, peer in (("a", a, ini, res), ("b", b, res, ini)):
        i = data.draw(st.integers(0, len(recs) - 1))
        if data.draw(st.booleans()):
            new = [
                data.draw(
                    volumes(
                        (recs[0].volumes[0].footprint.cap[0], recs[0].volumes[0].footprint.cap[1])
                    )
                )
            ]
            recs[i] = record(recs[i].id, recs[i].owner, *new)
            session.put(recs[i].id, new)
        else:
            session.drop(recs[i].id)
            recs.pop(i)
        _exchange(session.sync(), peer, session)
        hits = _clear(params, a, b)
        assert ini.intersection() == {t: h[0] for t, h in hits.items()}, side
        assert res.intersection() == {t: h[1] for t, h in hits.items()}, side


def _scene_with_conflicts() -> tuple[list[Record], list[Record]]:
    a = [
        record("a1", "A", volume(circle(30.0, 35.0, 20_000.0), (3000.0, 6000.0), (0, 7200))),
        record("a2", "A", volume(box(31.0, 34.0, 31.5, 34.5), (0.0, 500.0), (3600, 10800))),
    ]
    b = [
        record("b1", "B", volume(circle(30.3, 35.1, 10_000.0), (5000.0, 9000.0), (3600, 9000))),
        record("b2", "B", volume(circle(25.0, 38.0, 5_000.0), (0.0, 900.0), (0, 3600))),
    ]
    return a, b


LADDER = (Grain(s2_level=6, slot_s=7200, band_m=3000), Grain(s2_level=10, slot_s=1800, band_m=1000))


def test_no_token_crosses_the_wire_in_the_clear() -> None:
    """Read every message of a full round and an incremental one: no cell id (in any spelling),
    no token encoding, no unblinded hash of a token; blinded sets are shuffled."""
    a, b = _scene_with_conflicts()
    params = SessionParams(
        LADDER, SeparationPolicy(lateral_m=9260.0, vertical_m=300.0, time_s=300.0)
    )
    ini, res, transcript = _open(params, _records(a), _records(b))
    assert ini.intersection(), "the scene must have common tokens"
    ini.put("a3", [volume(circle(30.1, 35.0, 3000.0), (4000.0, 4500.0), (1800, 5400))])
    transcript += _exchange(ini.sync(), res, ini)
    text = json.dumps(transcript)
    blobs = []
    for batch in transcript:
        for m in batch:
            for key in ("adds", "doubled"):
                if key in m:
                    blobs.append(base64.b64decode(m[key]))
    assert blobs and all(len(x) % 32 == 0 for x in blobs)
    chunks = {x[i : i + 32] for x in blobs for i in range(0, len(x), 32)}
    salt = ini._salt
    assert salt is not None and salt == res._salt
    every = []
    for cover in (ini.cover, res.cover):
        for k, g in enumerate(LADDER):
            for t in cover.tokens(k):
                every.append((k, g, t))
    assert len(every) > 50
    for k, g, t in every:
        cell = t.cell
        for spelled in (str(cell), str(cell - (1 << 63)), f"{cell:x}", f"{cell:016x}"):
            assert spelled not in text
        raw = token_bytes(k, g, t)
        assert not any(raw in x for x in blobs)
        assert psi.hash_to_group(token_digest(salt, k, g, t)) not in chunks
    # shuffled: the order of a side's first round is not the order of its sorted tokens
    first = base64.b64decode(transcript[2][0]["adds"])
    mine = sorted(ini.cover.tokens(0))
    assert len(mine) > 3
    blinded_sorted = [
        psi.blind(ini._scalar, psi.hash_to_group(token_digest(salt, 0, LADDER[0], t))) for t in mine
    ]
    assert first != b"".join(blinded_sorted)


def test_sessions_do_not_link_tokens_across_sessions() -> None:
    a, b = _scene_with_conflicts()
    params = SessionParams(LADDER, SeparationPolicy())
    one = _open(params, _records(a), _records(b))[2]
    two = _open(params, _records(a), _records(b))[2]

    def points(t: list[list[dict[str, Any]]]) -> set[bytes]:
        out = set()
        for batch in t:
            for m in batch:
                for key in ("adds", "doubled"):
                    if key in m:
                        raw = base64.b64decode(m[key])
                        out |= {raw[i : i + 32] for i in range(0, len(raw), 32)}
        return out

    assert points(one) and points(one).isdisjoint(points(two))


def test_a_side_over_the_agreed_set_size_is_refused_by_the_other() -> None:
    a, b = _scene_with_conflicts()
    small = SessionParams(LADDER, SeparationPolicy(), max_tokens=3)
    ini, opening = Session.initiate(small, _records(a))
    with pytest.raises(ScreeningRefused):
        ini.receive([Session.respond(small, {}, opening)[1]])
    # a peer that claims a smaller cap than its own set does not get past the other side
    big = SessionParams(LADDER, SeparationPolicy(), max_tokens=10_000)
    cheat, opening = Session.initiate(big, _records(a))
    honest, accept = Session.respond(big, _records(b), opening)
    first = cheat.receive([accept])
    honest.params = SessionParams(LADDER, SeparationPolicy(), max_tokens=2)
    with pytest.raises(ScreeningRefused):
        honest.receive(first)


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda m: m.update(adds="not base64!"), "/messages/0/adds"),
        (lambda m: m.update(adds=base64.b64encode(b"x" * 31).decode()), "/messages/0/adds"),
        (lambda m: m.update(adds=base64.b64encode(b"\xff" * 32).decode()), "/messages/0/adds"),
        (lambda m: m.update(removes=[99]), "/messages/0/removes"),
        (lambda m: m.update(grain=7), "/messages/0/grain"),
        (lambda m: m.update(type="nonsense"), "/messages/0/type"),
    ],
)
def test_malformed_messages_are_refused_naming_the_field(mutate: Any, pointer: str) -> None:
    a, b = _scene_with_conflicts()
    params = SessionParams(LADDER, SeparationPolicy())
    ini, opening = Session.initiate(params, _records(a))
    res, accept = Session.respond(params, _records(b), opening)
    first = ini.receive([accept])
    mutate(first[0])
    with pytest.raises(InvalidInput) as err:
        res.receive(first)
    assert err.value.errors[0].pointer == pointer


def test_an_open_with_other_parameters_is_refused() -> None:
    params = SessionParams(LADDER, SeparationPolicy(lateral_m=1000.0))
    _, opening = Session.initiate(params, {})
    other = SessionParams(LADDER, SeparationPolicy(lateral_m=10.0))
    with pytest.raises(InvalidInput, match="parameters"):
        Session.respond(other, {}, opening)


def test_state_survives_a_round_trip_through_json() -> None:
    a, b = _scene_with_conflicts()
    params = SessionParams(LADDER, SeparationPolicy(lateral_m=5000.0))
    ini, opening = Session.initiate(params, _records(a))
    res, accept = Session.respond(params, _records(b), opening)
    msgs = ini.receive([accept])
    sides = [res, ini]
    turn = 0
    while msgs:  # the responder is rebuilt from its stored state before every message
        if turn == 0:
            sides[0] = Session.from_state(json.loads(json.dumps(sides[0].to_state())), _records(b))
        msgs = sides[turn].receive(msgs)
        turn ^= 1
    hits = _clear(params, a, b)
    assert sides[0].intersection() == {t: h[1] for t, h in hits.items()}
    assert ini.intersection() == {t: h[0] for t, h in hits.items()}
    assert at(0) == T0


# --- within one service, and sessions over /v1 ---------------------------------------------------

T1 = "2030-01-01T00:00:00Z"
T3 = "2030-01-01T03:00:00Z"
GRAINS = [
    {"s2_level": 6, "slot_s": 7200, "band_m": 3000},
    {"s2_level": 9, "slot_s": 1800, "band_m": 1000},
]


def _terms(**screening: Any) -> dict[str, Any]:
    return {
        "releases": {"FR": {"default": "none"}, "RU": {"default": "none"}},
        "separation": {"lateral_m": 5000, "vertical_m": 300, "time_s": 300},
        "screening": {"enabled": True, "grains": GRAINS, **screening},
    }


def _intent(
    lon: float, lat: float, r: float, alt: tuple[float, float] = (1000.0, 3000.0)
) -> dict[str, Any]:
    return {
        "volumes": [
            {
                "footprint": {"type": "Circle", "center": [lon, lat], "radius_m": r},
                "alt_lower_m": alt[0],
                "alt_upper_m": alt[1],
                "time_start": T1,
                "time_end": T3,
            }
        ]
    }


def _put(api: Any, party: str, rid: str, body: dict[str, Any]) -> None:
    r = api.post("/v1/intents", party, json={"id": rid, **body})
    assert r.status_code == 201, r.text


def _findings(api: Any, party: str, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/v1/screening/findings", party, params=params)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["findings"]
    return out


def _clear_places(store: Any, terms: dict[str, Any]) -> dict[str, tuple[set[str], set[str]]]:
    """The findings expected: the clear intersection of both sides' intents, split in half."""
    from deconfliction.exchange.agreements import Terms
    from deconfliction.model import RecordKind
    from deconfliction.screening.service import params_for
    from deconfliction.screening.tokens import window

    params = params_for(Terms.model_validate(terms), store.policy)
    half = Growth.share_of(params.buffers, 0.5)
    covers = []
    for party in ("FR", "RU"):
        c = Cover(params.grains, half)
        for rec in store.list_owned(RecordKind.INTENT, party):
            c.put(rec.id, rec.volumes)
        covers.append(c)
    _, hits = intersect(covers[0], covers[1])
    return {
        str(window(params.grains[-1], t)["cell"]) + str(t.slot) + str(t.band): h
        for t, h in hits.items()
    }


def test_screening_within_one_service_shows_each_side_only_its_own_records(
    api: Any, store: Any
) -> None:
    """FR and RU release nothing to each other but screen: each is told where and when its own
    plans may meet the other's, on the grain, with a thread; never the other's records. A plan
    moved away resolves its findings; what is found equals the clear intersection."""
    terms = _terms()
    agree(api, "FR", "RU", terms)
    _put(api, "RU", "ru-patrol", _intent(30.0, 35.0, 20_000.0))
    _put(api, "RU", "ru-far", _intent(20.0, 40.0, 5_000.0))
    assert _findings(api, "FR") == [] and _findings(api, "RU") == []
    _put(api, "FR", "fr-sortie", _intent(30.2, 35.1, 10_000.0, (2500.0, 6000.0)))
    fr, ru = _findings(api, "FR"), _findings(api, "RU")
    assert fr and {f["id"] for f in fr} == {f["id"] for f in ru}
    assert all(f["with"] == "RU" and f["records"] == ["fr-sortie"] for f in fr)
    assert all(f["with"] == "FR" and f["records"] == ["ru-patrol"] for f in ru)
    assert "ru-" not in json.dumps(fr) and "fr-" not in json.dumps(ru)
    expected = _clear_places(store, terms)
    assert len(fr) == len(expected)
    for f in fr:
        p = f["place"]
        assert p["s2_level"] == 9 and p["alt_upper_m"] - p["alt_lower_m"] == 1000.0
        thread = api.get(f"/v1/threads/{f['thread']}", "FR")
        assert thread.status_code == 200, thread.text
        assert api.get(f"/v1/threads/{f['thread']}", "UK").status_code == 404
    # events: each side hears of its own records only
    fr_events = [e for e in store.outbox_events("FR") if e["type"].startswith("screening.")]
    assert fr_events and "ru-patrol" not in json.dumps(fr_events)
    # the exact engine shows FR nothing of RU (level none), screening still told it where
    assert api.get("/v1/conflicts", "FR").json()["conflicts"] == []
    # FR moves its sortie far away: the findings are resolved
    r = api.put("/v1/intents/fr-sortie", "FR", json={**_intent(10.0, 50.0, 1000.0), "version": 1})
    assert r.status_code == 200, r.text
    assert _findings(api, "FR") == [] and _findings(api, "RU") == []
    resolved = _findings(api, "RU", include_resolved=True)
    assert resolved and all(f["state"] == "resolved" for f in resolved)
    # RU deletes its patrol; FR comes back on it: nothing to find
    assert api.delete("/v1/intents/ru-patrol", "RU", params={"version": 1}).status_code == 200
    _put(api, "FR", "fr-back", _intent(30.0, 35.0, 10_000.0))
    assert _findings(api, "FR") == []


def test_screening_starts_when_an_agreement_turns_it_on_and_stops_when_it_is_off(api: Any) -> None:
    _put(api, "RU", "ru-patrol", _intent(30.0, 35.0, 20_000.0))
    _put(api, "FR", "fr-sortie", _intent(30.1, 35.0, 10_000.0))
    off = _terms()
    off["screening"]["enabled"] = False
    agree(api, "FR", "RU", off)
    assert _findings(api, "FR") == []
    agree(api, "RU", "FR", _terms())
    assert _findings(api, "FR") and _findings(api, "RU")
    agree(api, "FR", "RU", off)
    assert _findings(api, "FR") == []


def test_changes_past_the_budget_are_held_back_and_both_sides_told(api: Any, store: Any) -> None:
    agree(api, "FR", "RU", _terms(budget={"rounds_per_day": 2}))
    _put(api, "RU", "ru-patrol", _intent(30.0, 35.0, 20_000.0))
    _put(api, "FR", "f1", _intent(20.0, 40.0, 1000.0))
    _put(api, "FR", "f2", _intent(21.0, 40.0, 1000.0))
    _put(api, "FR", "f3", _intent(30.0, 35.0, 5000.0))  # FR's third change today: held back
    assert _findings(api, "FR") == []
    for party in ("FR", "RU"):
        kinds = [e["type"] for e in store.outbox_events(party)]
        assert "screening.deferred" in kinds
    assert any(e.action == "screening.deferred" for e in store.audit_entries())
    # RU's own changes still count against RU's budget, not FR's
    _put(api, "RU", "ru-2", _intent(21.0, 40.0, 1000.0))
    assert {f["records"][0] for f in _findings(api, "RU")} == {"ru-2"}


def _draft(lon: float, lat: float, r: float) -> dict[str, list[Volume4D]]:
    v = Volume4D.model_validate(_intent(lon, lat, r)["volumes"][0])
    return {"draft-1": [v]}


def _run_session(
    api: Any, who: str, other: str, plans: dict[str, list[Volume4D]]
) -> tuple[Session, str]:
    opened = api.post("/v1/screening/sessions", who, json={"with": other})
    assert opened.status_code == 201, opened.text
    sid = opened.json()["id"]
    params = SessionParams.from_json(opened.json()["params"])
    session, opening = Session.initiate(params, plans)
    msgs = [opening]
    while msgs:
        r = api.post(f"/v1/screening/sessions/{sid}/messages", who, json={"messages": msgs})
        assert r.status_code == 200, r.text
        msgs = session.receive(r.json()["messages"]) if r.json()["messages"] else []
    return session, sid


def test_a_planner_screens_a_draft_it_keeps_against_plans_held_by_the_service(
    api: Any, store: Any
) -> None:
    """The draft never reaches the service; the planner learns the places at the grain, RU (the
    owner of the plans held here) sees the same places with its own records, and is told."""
    terms = _terms()
    agree(api, "FR", "RU", terms)
    _put(api, "RU", "ru-patrol", _intent(30.0, 35.0, 20_000.0))
    draft = _draft(30.2, 35.1, 10_000.0)
    session, sid = _run_session(api, "FR", "RU", draft)
    found = session.intersection()
    assert found and all(r == {"draft-1"} for r in found.values())
    # the same as in the clear (the service side grows by the rest of the buffers)
    from deconfliction.exchange.agreements import Terms
    from deconfliction.model import RecordKind
    from deconfliction.screening.service import params_for

    params = params_for(Terms.model_validate(terms), store.policy)
    ru = {r.id: list(r.volumes) for r in store.list_owned(RecordKind.INTENT, "RU")}
    ca = _cover(
        params.grains, params.growth(Role.INITIATOR), [record("draft-1", "FR", *draft["draft-1"])]
    )
    cb = _cover(
        params.grains, params.growth(Role.RESPONDER), [record(k, "RU", *v) for k, v in ru.items()]
    )
    assert set(found) == set(intersect(ca, cb)[1])
    # nothing of the draft is stored; RU sees the session's places with its own records
    assert not store.list_owned(RecordKind.INTENT, "FR")
    ru_view = api.get("/v1/screening/sessions", "RU").json()["sessions"]
    assert [s["id"] for s in ru_view] == [sid]
    assert ru_view[0]["by"] == "FR" and len(ru_view[0]["found"]) == len(found)
    assert ru_view[0]["their_tokens"] == [session.own_size(k) for k in range(len(params.grains))]
    assert all(p["records"] == ["ru-patrol"] for p in ru_view[0]["found"])
    fr_view = api.get("/v1/screening/sessions", "FR").json()["sessions"]
    assert "found" not in fr_view[0]
    assert "screening.session" in [e["type"] for e in store.outbox_events("RU")]
    # another party cannot use FR's session
    again = api.post(
        f"/v1/screening/sessions/{sid}/messages", "UK", json={"messages": [{"type": "round"}]}
    )
    assert again.status_code in (403, 404)


def test_sessions_are_refused_without_screening_past_the_budget_and_on_bad_messages(
    api: Any,
) -> None:
    r = api.post("/v1/screening/sessions", "FR", json={"with": "RU"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert api.post("/v1/screening/sessions", "FR", json={"with": "NOPE"}).status_code == 404
    agree(api, "FR", "RU", _terms(budget={"rounds_per_day": 2}))
    _put(api, "RU", "ru-patrol", _intent(30.0, 35.0, 20_000.0))
    opened = api.post("/v1/screening/sessions", "FR", json={"with": "RU"}).json()
    bad = api.post(
        f"/v1/screening/sessions/{opened['id']}/messages",
        "FR",
        json={"messages": [{"type": "open"}]},
    )
    assert bad.status_code == 422, bad.text
    _run_session(api, "FR", "RU", _draft(30.2, 35.1, 10_000.0))  # two rounds: the budget
    over = api.post("/v1/screening/sessions", "FR", json={"with": "RU"})
    assert over.status_code == 429, over.text
    # a watch officer may screen, an auditor may not
    assert api.post("/v1/screening/sessions", "RU-admin", json={"with": "FR"}).status_code in (
        201,
        403,
    )


def test_deconfliction_screen_against_a_running_service(tmp_path: Any) -> None:
    """The command line over real HTTP: a plan file screened against RU's plans held by the
    service, which never sees the file's plans; exit 1 with the places, 0 when none, 2 on a
    bad file."""
    import subprocess
    import sys

    import httpx

    from deconfliction.auth import ADMIN_SCOPE, PARTY_ADMIN_SCOPE, dev_private_key, mint_token
    from helpers import free_port, serve

    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port)
    try:
        base = f"http://127.0.0.1:{port}"
        key = dev_private_key(data)

        def h(sub: str, *scopes: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {mint_token(key, sub, scopes=list(scopes))}"}

        with httpx.Client(base_url=base, timeout=60) as c:
            for pid in ("FR", "RU"):
                r = c.post(
                    "/v1/parties", json={"id": pid, "name": pid}, headers=h("admin", ADMIN_SCOPE)
                )
                assert r.status_code == 201, r.text
            r = c.put("/v1/agreements/RU", json=_terms(), headers=h("FR", PARTY_ADMIN_SCOPE))
            assert r.status_code == 201, r.text
            r = c.post("/v1/agreements/FR/versions/1/accept", headers=h("RU", PARTY_ADMIN_SCOPE))
            assert r.status_code == 200, r.text
            r = c.post(
                "/v1/intents",
                json={"id": "ru-patrol", **_intent(30.0, 35.0, 20_000.0)},
                headers=h("RU"),
            )
            assert r.status_code == 201, r.text

        def plan(lon: float) -> Any:
            path = tmp_path / f"plan-{lon}.geojson"
            feat = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, 35.1]},
                "properties": {
                    "intent_id": "draft-1",
                    "party": "FR",
                    "radius_m": 10_000,
                    "alt_lower_m": 1000,
                    "alt_upper_m": 3000,
                    "time_start": T1,
                    "time_end": T3,
                },
            }
            path.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
            return path

        token = mint_token(key, "FR")
        cmd = [
            sys.executable,
            "-m",
            "deconfliction",
            "screen",
            "--peer",
            base,
            "--token",
            token,
            "--with",
            "RU",
        ]
        near = subprocess.run(
            [*cmd, "--json", str(plan(30.2))], capture_output=True, text=True, timeout=120
        )
        assert near.returncode == 1, near.stderr
        out = json.loads(near.stdout)
        assert out["places"] and all(p["records"] == ["draft-1"] for p in out["places"])
        assert out["their_tokens"][0] > 0 and out["bytes_sent"] > 0
        far = subprocess.run([*cmd, str(plan(10.0))], capture_output=True, text=True, timeout=120)
        assert far.returncode == 0, far.stderr
        assert far.stdout.startswith("0 place(s)")
        bad = tmp_path / "bad.geojson"
        bad.write_text("{}")
        wrong = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=120)
        assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
        with httpx.Client(base_url=base, timeout=60) as c:
            sessions = c.get("/v1/screening/sessions", headers=h("RU")).json()["sessions"]
            assert len(sessions) == 2 and sessions[0]["found"] and not sessions[1]["found"]
            # the plans checked were never stored
            assert c.get("/v1/intents", headers=h("FR")).json()["intents"] == []
    finally:
        proc.kill()
        proc.wait()
