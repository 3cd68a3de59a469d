"""Replays in columns against a replay written the plain way, and the column reader against the
model's reader: the same encounters, the same states, the same errors."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconfliction.engine.replay import Encounter, Recording, replay, replay_recording
from deconfliction.engine.tactical import CLASSES, KERNEL_FROM, Minima, Scene, detect
from deconfliction.formats.tracks import FIELDS, TrackFileError, load_recording, load_tracks
from deconfliction.geodesy import GEOD
from deconfliction.model import TrackState

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plain_replay(
    states: list[tuple[str, TrackState]], lookahead_s: float = 300.0, stale_s: float = 120.0
) -> list[Encounter]:
    """The replay as first written: a dict of latest states, ``detect`` once a second."""
    minima = Minima()
    ordered = sorted(states, key=lambda ps: ps[1].time)
    if not ordered:
        return []
    parties = {p: k for k, p in enumerate(sorted({p for p, _ in ordered}))}
    start, end = ordered[0][1].time, ordered[-1][1].time
    latest: dict[tuple[str, str], TrackState] = {}
    found: dict[tuple[str, str], Encounter] = {}
    k = 0
    t = start
    while t <= end:
        while k < len(ordered) and ordered[k][1].time <= t:
            p, s = ordered[k]
            latest[(p, s.id)] = s
            k += 1
        live = [(key, s) for key, s in latest.items() if (t - s.time).total_seconds() <= stale_s]
        if len(live) >= 2:
            dt = np.array([(t - s.time).total_seconds() for _, s in live])
            trk = np.array([s.track_deg for _, s in live])
            gs = np.array([s.gs_mps for _, s in live])
            vs = np.array([s.vs_mps for _, s in live])
            lon, lat, _ = GEOD.fwd(
                np.array([s.lon for _, s in live]), np.array([s.lat for _, s in live]), trk, gs * dt
            )
            scene = Scene(
                lon=np.asarray(lon),
                lat=np.asarray(lat),
                alt_m=np.array([s.alt_m for _, s in live]) + vs * dt,
                gs_mps=gs,
                track_deg=trk,
                vs_mps=vs,
                party=np.array([parties[key[0]] for key, _ in live], dtype=np.int64),
                cls=np.array([CLASSES.index(s.cls.value) for _, s in live], dtype=np.int64),
            )
            c = detect(scene, lookahead_s, minima)
            for n in range(len(c)):
                i, j = int(c.i[n]), int(c.j[n])
                (pa, ida), (pb, idb) = live[i][0], live[j][0]
                key = (ida, idb) if (pa, ida) < (pb, idb) else (idb, ida)
                enc = found.get(key)
                d = float(c.d_cpa_m[n])
                if enc is not None and d >= enc.min_horizontal_m:
                    enc.lost = enc.lost or bool(c.lost_now[n])
                    continue
                tc = float(c.t_cpa[n])
                la = GEOD.fwd(scene.lon[i], scene.lat[i], scene.track_deg[i], gs[i] * tc)
                lo = GEOD.fwd(scene.lon[j], scene.lat[j], scene.track_deg[j], gs[j] * tc)
                az, _, dist = GEOD.inv(la[0], la[1], lo[0], lo[1])
                mid = GEOD.fwd(la[0], la[1], az, 0.5 * dist)
                found[key] = Encounter(
                    tracks=key,
                    parties=(pa, pb) if key == (ida, idb) else (pb, pa),
                    first_detected=enc.first_detected if enc else t,
                    cpa_time=t + timedelta(seconds=tc),
                    cpa_lon=float(mid[0]),
                    cpa_lat=float(mid[1]),
                    min_horizontal_m=d,
                    vertical_at_cpa_m=float(c.dz_cpa_m[n]),
                    lost=(enc.lost if enc else False) or bool(c.lost_now[n]),
                )
        t += timedelta(seconds=1)
    return sorted(found.values(), key=lambda e: (e.first_detected, e.tracks))


@st.composite
def traffic(draw: st.DrawFn) -> list[tuple[str, TrackState]]:
    """Tracks of a few parties converging on a point, reported at odd moments: several times in
    a second, with silences longer than the staleness, some ids used by two parties; sometimes
    crowds of more than ``KERNEL_FROM`` at once."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.sampled_from([2, 6, 20, KERNEL_FROM + 6]))
    span_s = draw(st.sampled_from([30, 200]))
    out = []
    for k in range(n):
        party = str(rng.choice(["FR", "RU", "UK"]))
        ident = f"T{k % max(2, n // 2)}" if rng.random() < 0.3 else f"T{k}"
        lon, lat, _ = GEOD.fwd(2.0, 48.0, rng.uniform(0, 360), rng.uniform(0, 60_000))
        cls = str(rng.choice(CLASSES))
        head = (float(GEOD.inv(lon, lat, 2.0, 48.0)[0]) + rng.uniform(-30, 30)) % 360
        t = float(rng.uniform(0, span_s))
        while t < span_s + 60:
            out.append(
                (
                    party,
                    TrackState.model_validate(
                        {
                            "id": ident,
                            "class": cls,
                            "time": T0 + timedelta(microseconds=int(t * 1e6)),
                            "lon": float(lon),
                            "lat": float(lat),
                            "alt_m": 0.0 if cls == "ship" else float(rng.choice([900, 1200])),
                            "gs_mps": float(rng.uniform(0, 15 if cls == "ship" else 200)),
                            "track_deg": head,
                            "vs_mps": float(rng.choice([0.0, 0.0, -5.0, 5.0])),
                        }
                    ),
                )
            )
            t += float(rng.choice([0.3, 1.0, 2.5, 130.0], p=[0.2, 0.5, 0.25, 0.05]))
    order = rng.permutation(len(out))
    return [out[k] for k in order]


@SETTINGS
@given(traffic())
def test_the_replay_in_columns_is_the_plain_replay(states: list[tuple[str, TrackState]]) -> None:
    assert replay(states) == plain_replay(states)


def test_a_long_replay_goes_by_blocks_of_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many blocks of a few snapshots each give what one block gives."""
    from deconfliction.engine import replay as module

    states = [
        (
            party,
            TrackState.model_validate(
                {
                    "id": f"{party}{k}",
                    "class": "fixed-wing",
                    "time": T0 + timedelta(seconds=s),
                    "lon": 2.0 + 0.002 * s * (1 if party == "A" else -1) + 0.01 * k,
                    "lat": 48.0,
                    "alt_m": 1000.0,
                    "gs_mps": 150.0,
                    "track_deg": 90.0 if party == "A" else 270.0,
                }
            ),
        )
        for s in range(0, 600, 3)
        for party in ("A", "B")
        for k in range(3)
    ]
    whole = replay(states)
    monkeypatch.setattr(module, "_ROWS_AT_ONCE", 7)
    monkeypatch.setattr(module, "_PAIRS_AT_ONCE", 5)
    assert whole and replay(states) == whole == plain_replay(states)


# --- the column reader ------------------------------------------------------------------------
def as_rows(states: list[tuple[str, TrackState]]) -> list[dict[str, Any]]:
    return [{**s.model_dump(mode="json", by_alias=True, exclude_none=True), "party": p}
            for p, s in states]  # fmt: skip


def same_recording(a: Recording, b: Recording) -> None:
    assert a.track_ids == b.track_ids and a.track_parties == b.track_parties
    for name in ("track", "time_us", "cls", "lon", "lat", "alt_m", "gs_mps", "track_deg",
                 "vs_mps"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


#: Values as a file may hold them, each accepted by the model (some only by it).
ODD = {
    "lon": ["2.5", " 2.5", "2.50000", "2", "1_0", "-0.0", "180"],
    "time": ["2026-11-22T12:00:01Z", "2026-11-22T13:00:01+01:00", "2026-11-22T12:00:01.5Z",
             "2026-11-22 12:00:01Z", "2026-11-22T12:00:01.1234567Z", "2026-11-22T12:00:01z",
             "1790000000"],
    "intent_id": ["", "OI-1"],
    "vs_mps": ["0", "-500", "1e1"],
}  # fmt: skip
#: Values the model refuses, each with the field the error names.
BAD = {
    "lon": ["east", "nan", "inf", "180.5", ""],
    "time": ["noon", "2026-02-30T00:00:00Z", "2026-11-22T12:00:01", "2026-11-22T12:00:01+24:00"],
    "class": ["jet", ""],
    "id": ["-x", "a" * 65, ""],
    "party": ["", "a b"],
    "intent_id": ["-no"],
    "gs_mps": ["-1", "1501"],
}


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted({*ODD, "none"})),
            st.integers(0, 6),
            st.sampled_from(["csv", "nd"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 2**32 - 1),
)
def test_the_column_reader_reads_what_the_model_reads(
    tmp_path_factory: pytest.TempPathFactory, changes: list[tuple[str, int, str]], seed: int
) -> None:
    """Plain files, and files with values only the model accepts (odd number forms, times with
    offsets or fractions or a space), blank lines, a value spanning lines, an intent column."""
    rng = np.random.default_rng(seed)
    rows = as_rows([(str(rng.choice(["FR", "RU"])), s) for s in _states(rng, 40)])
    kind = changes[0][2]
    for field, k, _ in changes:
        if field != "none":
            rows[int(rng.integers(len(rows)))][field] = ODD[field][k % len(ODD[field])]
    path = tmp_path_factory.mktemp("r") / ("s.csv" if kind == "csv" else "s.ndjson")
    _write(path, rows, blank_every=int(rng.integers(3, 50)), quoted=bool(rng.random() < 0.3))
    reference = load_tracks(path)
    same_recording(load_recording(path), Recording.of([(r.party, r.state) for r in reference]))


@pytest.mark.parametrize("kind", ["csv", "nd"])
@pytest.mark.parametrize(("field", "value"), [(f, v) for f, vs in BAD.items() for v in vs])
def test_the_column_reader_refuses_what_the_model_refuses(
    tmp_path: Path, kind: str, field: str, value: str
) -> None:
    rng = np.random.default_rng(1)
    long = (field, value) == ("lon", "east")
    rows = as_rows([("FR", s) for s in _states(rng, 12_000 if long else 30)])
    rows[-7][field] = value  # past the first chunk, where the file is long
    rows[-3][field] = value  # the first bad line is the one named
    path = tmp_path / ("s.csv" if kind == "csv" else "s.ndjson")
    _write(path, rows, blank_every=5, quoted=field == "id")
    with pytest.raises(TrackFileError) as model:
        load_tracks(path)
    with pytest.raises(TrackFileError) as columns:
        load_recording(path)
    assert str(columns.value) == str(model.value)
    assert f":{field}:" in str(model.value).replace(" ", "") or "missing" in str(model.value)


def test_the_column_reader_on_odd_files(tmp_path: Path) -> None:
    """Rows longer or shorter than the header, an unknown column, JSON that is not an object, a
    line that is not JSON after a bad state: the model's answer each time."""
    rows = as_rows([("FR", s) for s in _states(np.random.default_rng(2), 5)])
    path = tmp_path / "s.csv"
    _write(path, rows, blank_every=100, quoted=False)
    text = path.read_text().splitlines()
    for lines, ok in (
        ([text[0] + ",note", *(line + "," for line in text[1:])], True),  # empty unknown column
        ([text[0] + ",note", *(line + ",x" for line in text[1:])], False),  # a value in it
        ([text[0], text[1] + ",1", *text[2:]], False),  # one value too many
        ([text[0], text[1].rsplit(",", 1)[0], *text[2:]], False),  # one too few
    ):
        path.write_text("\n".join(lines) + "\n")
        if ok:
            got = Recording.of([(r.party, r.state) for r in load_tracks(path)])
            same_recording(load_recording(path), got)
        else:
            with pytest.raises(TrackFileError) as model:
                load_tracks(path)
            with pytest.raises(TrackFileError) as columns:
                load_recording(path)
            assert str(columns.value) == str(model.value)
    nd = tmp_path / "s.ndjson"
    good = json.dumps(rows[0])
    for lines in ([good, "[1, 2]"], [good, json.dumps({**rows[1], "lat": 91}), "{not json"]):
        nd.write_text("\n".join(lines) + "\n")
        with pytest.raises(TrackFileError) as model:
            load_tracks(nd)
        with pytest.raises(TrackFileError) as columns:
            load_recording(nd)
        assert str(columns.value) == str(model.value)
    for empty in ("", "\n\n", "id,party,class,time,lon,lat,alt_m,gs_mps,track_deg,vs_mps\n"):
        path.write_text(empty)
        with pytest.raises(TrackFileError) as columns:
            load_recording(path)
        with pytest.raises(TrackFileError) as model:
            load_tracks(path)
        assert str(columns.value) == str(model.value)


def test_the_command_replays_a_file_as_the_plain_replay(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    states = [(str(rng.choice(["FR", "RU"])), s) for s in _states(rng, 400, spread_m=15_000)]
    path = tmp_path / "s.csv"
    _write(path, as_rows(states), blank_every=1000, quoted=False)
    found = replay_recording(load_recording(path))
    assert found and found == plain_replay([(r.party, r.state) for r in load_tracks(path)])


def _states(rng: np.random.Generator, n: int, spread_m: float = 40_000) -> list[TrackState]:
    """``n`` states of a dozen tracks around 2E 48N over a few minutes."""
    out = []
    for k in range(n):
        lon, lat, _ = GEOD.fwd(2.0, 48.0, rng.uniform(0, 360), rng.uniform(0, spread_m))
        out.append(
            TrackState.model_validate(
                {"id": f"T{k % 12}", "class": str(rng.choice(CLASSES[:3])),
                 "time": T0 + timedelta(seconds=int(k // 4)), "lon": round(float(lon), 6),
                 "lat": round(float(lat), 6), "alt_m": float(rng.choice([900, 1000, 1200])),
                 "gs_mps": round(float(rng.uniform(50, 200)), 1),
                 "track_deg": round(float(rng.uniform(0, 360)), 1),
                 "vs_mps": float(rng.choice([0, 0, 5]))}
            )
        )  # fmt: skip
    return out


def _write(path: Path, rows: list[dict[str, Any]], blank_every: int, quoted: bool) -> None:
    if quoted:  # a number spanning two lines (Python's float() takes the line break)
        rows[1] = {**rows[1], "lon": f"{rows[1]['lon']}\n"}
    if path.suffix == ".csv":
        header = [*FIELDS, "intent_id"] if any("intent_id" in r for r in rows) else [*FIELDS]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header, quoting=csv.QUOTE_ALL if quoted else 0)
            w.writeheader()
            for k, r in enumerate(rows):
                w.writerow(r)
                if k % blank_every == blank_every - 1:
                    f.write("\r\n")
    else:
        lines = []
        for k, r in enumerate(rows):
            lines.append(json.dumps(r))
            if k % blank_every == blank_every - 1:
                lines.append("   ")
        path.write_text("\n".join(lines) + "\n")
