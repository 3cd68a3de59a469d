"""Nothing finer than the level, on every path: a property test of non-interference.

Two twin scenes differ only in what an agreement hides from France: Russia's record has the
same released extent in both (same grid circle, altitudes and times rounded to the same steps)
and meets the same French plans, but its exact footprint, altitudes and times differ. Whatever
France (and the UK, with no agreement at all) reads, on every route, stream and export that can
carry Russia's data, must be the same in both twins, once what legitimately differs between two
runs (times, random OVNs and keys, hashes) is set aside. If any path derived an answer from the
exact record, some example would tell the twins apart.

A second test reads while Russia replaces and deletes its records: every answer stays within
the level (extents on the grid, notices without geometry), never the exact volumes.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import Api, _Client
from deconfliction.api import create_app
from deconfliction.audit.signing import Signer
from deconfliction.auth import AuthConfig
from deconfliction.engine import Record, check_pair
from deconfliction.exchange.agreements import Coarsening
from deconfliction.exchange.release import coarsen
from deconfliction.geodesy import GEOD
from deconfliction.model import Party, RecordKind, SeparationPolicy, Volume4D
from deconfliction.store import SqliteStore
from helpers import agree

T0 = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
GRIDS = [
    Coarsening(),
    Coarsening(position_step_deg=0.05, radius_step_m=2000.0, alt_step_m=100.0, time_step_s=600.0),
]


def _circle(
    lon: float, lat: float, r: float, alt: tuple[float, float], t: tuple[float, float]
) -> Volume4D:
    return Volume4D.model_validate(
        {
            "footprint": {"type": "Circle", "center": [lon, lat], "radius_m": r},
            "alt_lower_m": alt[0],
            "alt_upper_m": alt[1],
            "time_start": T0 + timedelta(seconds=t[0]),
            "time_end": T0 + timedelta(seconds=t[1]),
        }
    )


@st.composite
def fr_plans(draw: st.DrawFn) -> list[Volume4D]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        lon = draw(st.floats(30.2, 30.8))
        lat = draw(st.floats(34.2, 34.8))
        r = draw(st.floats(2_000, 20_000))
        lo = draw(st.floats(0, 2_000))
        t0 = draw(st.floats(0, 5_400))
        out.append(_circle(lon, lat, r, (lo, lo + draw(st.floats(100, 3_000))), (t0, t0 + 3_600)))
    return out


def _within(draw: st.DrawFn, x: float, lo: float, hi: float) -> float:
    """A value between ``lo`` and ``hi`` (x lies in between)."""
    return lo + draw(st.floats(0.0, 1.0)) * (hi - lo) if hi > lo else x


@st.composite
def scenes(draw: st.DrawFn) -> tuple[list[Volume4D], Volume4D, Volume4D, Coarsening]:
    """France's plans, Russia's volume and its twin: the same extent on the grid, another
    exact volume. Russia's lies near one of France's plans more often than not."""
    fr = draw(fr_plans())
    grid = draw(st.sampled_from(GRIDS))
    r = draw(st.floats(1_000, 30_000))
    if draw(st.booleans()):  # within the lateral buffer of a plan, not on it: gaps to hide
        plon, plat, pr = draw(st.sampled_from(fr)).footprint.cap
        gap = draw(st.floats(0.0, POLICY.lateral_m * 0.9))
        lon, lat, _ = GEOD.fwd(plon, plat, draw(st.floats(0, 360)), pr + r + gap)
    else:
        lon, lat = draw(st.floats(30.0, 31.0)), draw(st.floats(34.0, 35.0))
    lo = draw(st.floats(0, 3_000))
    hi = lo + draw(st.floats(50, 3_000))
    t0 = draw(st.floats(0, 6_000))
    t1 = t0 + draw(st.floats(600, 7_200))
    a = _circle(lon, lat, r, (lo, hi), (t0, t1))
    # the twin keeps the centre (so the grid point and the distance to it) and moves every
    # bound within its rounding step on the agreed grid and on the default one (what a party
    # with no agreement is told of comes from the default grid): no extent can change
    exts = [(coarsen(a, g), g) for g in (grid, Coarsening())]
    slack = max(0.0, min(e.footprint.cap[2] - _needed(a, g) for e, g in exts))
    r2 = r + draw(st.floats(0.0, 1.0)) * slack * 0.999
    lo2 = _within(draw, lo, max(e.alt_lower_m for e, _ in exts), lo)
    hi2 = _within(draw, hi, hi, min(e.alt_upper_m for e, _ in exts))
    e0 = max((e.time_start - T0).total_seconds() for e, _ in exts)
    e1 = min((e.time_end - T0).total_seconds() for e, _ in exts)
    t02 = _within(draw, t0, e0, t0)
    t12 = _within(draw, t1, t1, e1)
    hi2, t12 = max(hi2, lo2), max(t12, t02)
    b = _circle(lon, lat, r2, (lo2, hi2), (t02, t12))
    return fr, a, b, grid


def _needed(v: Volume4D, grid: Coarsening) -> float:
    """The radius the extent needs for ``v`` (before rounding up)."""
    from deconfliction.geodesy import GEOD

    lon, lat, r = v.footprint.cap
    clat = max(-90.0, min(90.0, round(lat / grid.position_step_deg) * grid.position_step_deg))
    clon = round(lon / grid.position_step_deg) * grid.position_step_deg
    _, _, moved = GEOD.inv(lon, lat, clon, clat)
    return r + float(moved) + 1.0


#: The store's buffers: conflicts come with gaps that the exact records would tell apart.
POLICY = SeparationPolicy(lateral_m=10_000.0, vertical_m=300.0, time_s=600.0)


def _meets(fr: list[Volume4D], ru: Volume4D) -> list[bool]:
    other = Record(RecordKind.INTENT, "RU/X", "RU", [ru])
    return [
        check_pair(Record(RecordKind.INTENT, f"FR/{i}", "FR", [v]), other, POLICY) is not None
        for i, v in enumerate(fr)
    ]


#: A query volume over the whole scene.
WIDE = _circle(30.5, 34.5, 150_000, (0, 10_000), (0, 20_000)).model_dump(mode="json")
_HEX = re.compile(r"^[0-9a-f]{32,128}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_VARYING = {
    "at",
    "created_at",
    "updated_at",
    "detected_at",
    "raised_at",
    "proposed_at",
    "accepted_at",
    "ovn",
    "last_event_id",
    "hour_start",
    "last_at",
    "since",
    "last_check",
    "last_ok",
    "timeStamp",
}


def _normal(x: Any) -> Any:
    """What two runs of the same scene would differ in, set aside: times, OVNs, keyed or random
    ids and hashes (all alike), and the order of lists (conflicts come ordered by their keyed
    ids)."""
    if isinstance(x, dict):
        return {k: ("*" if k in _VARYING else _normal(v)) for k, v in sorted(x.items())}
    if isinstance(x, list | tuple):
        return sorted((_normal(v) for v in x), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(x, str) and (_HEX.match(x) or _UUID.match(x)):
        return "#"
    if isinstance(x, str) and x.startswith(("conflict-", "alert:")):
        return x.split("-", 1)[0] + "-#"
    return x


_TIMES = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_IDS = re.compile(r"[0-9a-f]{32,64}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _no_times(text: str) -> list[str]:
    """A text export's lines, with the times and keyed ids of one run set aside, in order."""
    text = _IDS.sub("#", _TIMES.sub("*", text))
    return sorted(text.replace("><", ">\n<").splitlines())


def _first_difference(a: Any, b: Any) -> str:
    """Where two answers first differ (for the failure message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return f"{k}: " + _first_difference(a.get(k), b.get(k))
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            ka = Counter(json.dumps(x, sort_keys=True) for x in a)
            kb = Counter(json.dumps(x, sort_keys=True) for x in b)
            only_a, only_b = list((ka - kb).elements()), list((kb - ka).elements())
            return (
                f"{len(a)} items against {len(b)}; only in the first: {only_a!r:.1500}; "
                f"only in the second: {only_b!r:.1500}"
            )
        for x, y in zip(a, b, strict=True):
            if x != y:
                return _first_difference(x, y)
    return f"{a!r:.300} / {b!r:.300}"


def _agreement(level: str, reciprocity: bool, grid: Coarsening) -> dict[str, Any]:
    return {
        "releases": {"RU": {"default": level, "area": level}, "FR": {"default": "full"}},
        "reciprocity": reciprocity,
        "coarsening": grid.model_dump(),
        "probes": {"per_hour": 100_000},
    }


def _views(
    tokens: dict[str, str],
    auth: AuthConfig,
    fr: list[Volume4D],
    ru: Volume4D,
    ru_kind: RecordKind,
    terms: dict[str, Any] | None,
    after: str,
) -> Any:
    """Play the scene in a fresh store; everything France and the UK can read."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "db.sqlite", POLICY)
        store.signer = Signer.in_folder(Path(tmp))
        try:
            for pid in ("FR", "RU", "UK"):
                store.put_party(Party(id=pid, name=pid), actor="admin")
            api = Api(_Client(create_app(store, auth)), tokens)
            if terms is not None:
                agree(api, "FR", "RU", terms)
            for i, v in enumerate(fr):
                body = {
                    "id": f"F{i}",
                    "category": "air-sortie",
                    "volumes": [v.model_dump(mode="json")],
                }
                assert api.post("/v1/intents", "FR", json=body).status_code == 201
            plural = "intents" if ru_kind is RecordKind.INTENT else "areas"
            body = {"id": "R1", "volumes": [ru.model_dump(mode="json")]}
            w = api.post(f"/v1/{plural}", "RU", json=body)
            assert w.status_code == 201, w.text
            if after == "replace":
                again = {"version": 1, "volumes": body["volumes"]}
                assert api.put(f"/v1/{plural}/R1", "RU", json=again).status_code == 200
            elif after == "delete":
                assert api.delete(f"/v1/{plural}/R1?version=1", "RU").status_code == 200
            seen: dict[str, Any] = {}
            for who in ("FR", "UK"):
                conflicts = api.get("/v1/conflicts?include_resolved=true", who).json()
                seen[f"{who} conflicts"] = conflicts
                seen[f"{who} picture"] = api.get("/v1/picture", who).json()
                for p in ("intents", "areas"):
                    r = api.get(f"/v1/{p}/R1?owner=RU", who)
                    seen[f"{who} get {p}"] = (r.status_code, r.json())
                    q = api.post(
                        f"/v1/{p}/query",
                        who,
                        json={
                            "volume": _circle(
                                30.5, 34.5, 150_000, (0, 10_000), (0, 20_000)
                            ).model_dump(mode="json")
                        },
                    )
                    seen[f"{who} query {p}"] = (q.status_code, q.json())
                for i, v in enumerate(fr):
                    p = api.post(
                        "/v1/intents/preview",
                        who,
                        json={"volumes": [v.model_dump(mode="json")]},
                    )
                    seen[f"{who} preview {i}"] = (p.status_code, p.json())
                threads = []
                for c in conflicts["conflicts"]:
                    t = api.get(f"/v1/conflicts/{c['id']}/thread", who)
                    threads.append((t.status_code, t.json()))
                seen[f"{who} conflict threads"] = threads
                seen[f"{who} threads"] = api.get("/v1/threads", who).json()
                seen[f"{who} events"] = store.outbox_events(who)
                seen[f"{who} ledger"] = api.get("/v1/ledger", who).json()
                seen[f"{who} tactical"] = api.get("/v1/tactical", who).json()
                # the formats other tools read: OGC API Features, Cursor on Target, KML
                for coll in ("intents", "areas", "conflicts"):
                    items = api.get(f"/ogc/collections/{coll}/items", who)
                    seen[f"{who} ogc {coll}"] = (items.status_code, items.json())
                for fmt in ("cot", "kml"):
                    r = api.get(f"/v1/picture/{fmt}", who)
                    seen[f"{who} {fmt}"] = (r.status_code, _no_times(r.text))
                export = api.get("/v1/audit/export", f"{who}")
                doc = export.json()
                seen[f"{who} export"] = [e for e in doc["entries"] if "actor" in e]
            # what no one may tell: whether an id exists elsewhere
            seen["UK thread on R1"] = api.post(
                "/v1/threads", "UK", json={"record_id": "R1", "owner": "RU"}
            ).json()
            return _normal(seen)
        finally:
            store.close()


#: Found by the property below: Russia's twin intents reach France's F0 alike on every grid,
#: but only one of them touches F0's released extent exactly. Reciprocity once tested the
#: viewer's exact plans, so France's audit told it which (its F0 was disclosed in full to
#: Russia in one twin only): the gate must see the viewer's plans as the owner is shown them.
_RECIPROCITY_TWINS = (
    [
        _circle(30.31706, 34.264861, 4491.06, (83.77, 810.96), (1526.98, 5126.98)),
        _circle(30.557378, 34.246485, 7077.49, (0.0, 1262.5), (3966.08, 7566.08)),
        _circle(30.37508, 34.2, 4484.93, (0.0, 1310.2), (0.5, 3600.5)),
    ],
    _circle(30.559503, 34.576858, 29571.2, (1e-9, 50.0), (4491.06, 5091.06)),
    _circle(30.559503, 34.576858, 29978.8, (0.0, 50.0), (3600.0, 5091.06)),
    Coarsening(),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    scene=scenes(),
    level=st.sampled_from(["extent", "conflict", "none", "no agreement"]),
    reciprocity=st.booleans(),
    kind=st.sampled_from([RecordKind.INTENT, RecordKind.AREA]),
    after=st.sampled_from(["nothing", "replace", "delete"]),
)
@example(
    scene=_RECIPROCITY_TWINS,
    level="extent",
    reciprocity=True,
    kind=RecordKind.INTENT,
    after="nothing",
)
def test_what_the_level_hides_changes_nothing_anyone_can_read(
    tokens: dict[str, str],
    auth: AuthConfig,
    scene: tuple[list[Volume4D], Volume4D, Volume4D, Coarsening],
    level: str,
    reciprocity: bool,
    kind: RecordKind,
    after: str,
) -> None:
    fr, a, b, grid = scene
    for g in (grid, Coarsening()):  # the twins are the same at every grain anyone sees
        assert coarsen(a, g) == coarsen(b, g)
    meets = _meets(fr, a)
    assume(meets == _meets(fr, b))  # a notice tells whether they meet, no more
    terms = None if level == "no agreement" else _agreement(level, reciprocity, grid)
    seen_a = _views(tokens, auth, fr, a, kind, terms, after)
    seen_b = _views(tokens, auth, fr, b, kind, terms, after)
    for path in seen_a:
        assert seen_a[path] == seen_b[path], (path, _first_difference(seen_a[path], seen_b[path]))


def test_the_twin_scenes_often_meet_frances_plans() -> None:
    """The property above means something only if the twins often conflict with France: the
    scenes it draws (the same strategy, drawn here on their own, deterministically)."""
    met: list[bool] = []

    @settings(max_examples=200, derandomize=True, database=None, deadline=None)
    @given(scene=scenes())
    def draw(scene: tuple[list[Volume4D], Volume4D, Volume4D, Coarsening]) -> None:
        fr, a, _, _ = scene
        met.append(any(_meets(fr, a)))

    draw()
    assert len(met) >= 100 and sum(met) >= len(met) // 4, (sum(met), len(met))


def test_reads_during_replaces_and_deletes_stay_within_the_level(api: Api) -> None:
    """Russia rewrites and deletes its intents as fast as it can while France reads its
    conflicts and picture: France sees Russia's records as extents on the grid, or notices,
    never their exact volumes (the release reads in the snapshot of the data)."""
    grid = Coarsening()
    agree(api, "FR", "RU", _agreement("extent", False, grid))
    fr = _circle(30.5, 34.5, 20_000, (0, 3_000), (0, 7_200))
    api.post("/v1/intents", "FR", json={"id": "F", "volumes": [fr.model_dump(mode="json")]})
    stop = threading.Event()
    errors: list[str] = []

    def churn() -> None:
        k = 0
        while not stop.is_set() and k < 40:
            v = _circle(30.5 + 0.001 * k, 34.5, 5_000 + k, (100, 200), (60, 3_000))
            body = {"id": f"R{k}", "volumes": [v.model_dump(mode="json")]}
            if api.post("/v1/intents", "RU", json=body).status_code != 201:
                errors.append("create")
            api.put(f"/v1/intents/R{k}", "RU", json={"version": 1, "volumes": body["volumes"]})
            api.delete(f"/v1/intents/R{k}?version=2", "RU")
            k += 1

    worker = threading.Thread(target=churn)
    worker.start()
    reads = 0
    try:
        while worker.is_alive() or reads < 5:
            for c in api.get("/v1/conflicts?include_resolved=true", "FR").json()["conflicts"]:
                other = c["a"] if c["a"]["owner"] == "RU" else c["b"]
                _on_grid(other["volumes"], grid)
            for r in api.get("/v1/picture", "FR").json()["records"]:
                if r["record"]["owner"] == "RU":
                    assert r["level"] == "extent"
                    _on_grid(r["record"]["volumes"], grid)
            reads += 1
    finally:
        stop.set()
        worker.join()
    assert not errors and reads >= 5


def _on_grid(volumes: list[dict[str, Any]], grid: Coarsening) -> None:
    for v in volumes:
        fp = v["footprint"]
        assert fp["type"] == "Circle", v
        lon, lat = fp["center"]
        assert math.isclose(
            lon / grid.position_step_deg, round(lon / grid.position_step_deg), abs_tol=1e-6
        )
        assert math.isclose(
            lat / grid.position_step_deg, round(lat / grid.position_step_deg), abs_tol=1e-6
        )
        assert fp["radius_m"] % grid.radius_step_m == 0
        for key in ("time_start", "time_end"):
            t = datetime.fromisoformat(v[key].replace("Z", "+00:00")).timestamp()
            assert t % grid.time_step_s == 0
