"""``deconfliction check``: exact pairs on hard cases, exit codes, one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod

from deconfliction.cli import main

GEOD = Geod(ellps="WGS84")
T = ("2026-01-10T08:00:00Z", "2026-01-10T09:00:00Z")


def feature(
    iid: str,
    party: str,
    geometry: dict[str, Any],
    alt: tuple[float, float] = (0, 1000),
    t: tuple[str, str] = T,
    **extra: Any,
) -> dict[str, Any]:
    props = {
        "intent_id": iid,
        "party": party,
        "alt_lower_m": alt[0],
        "alt_upper_m": alt[1],
        "time_start": t[0],
        "time_end": t[1],
        **extra,
    }
    return {"type": "Feature", "geometry": geometry, "properties": props}


def poly(*pts: tuple[float, float]) -> dict[str, Any]:
    ring = [list(p) for p in pts] + [list(pts[0])]
    return {"type": "Polygon", "coordinates": [ring]}


def rect(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    return poly((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1))


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["check", "--json", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def pairs(doc: Any) -> set[tuple[str, str]]:
    return {tuple(c["intents"]) for c in doc["conflicts"]}  # type: ignore[misc]


def meridian_gap(lat0: float, lat1: float, lon: float = 10.0) -> float:
    return float(GEOD.inv(lon, lat0, lon, lat1)[2])


def test_exact_pairs_on_hard_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(
        tmp_path / "a.geojson",
        [
            # crosses the antimeridian; meets B (east side) and not C (far north)
            feature("A", "FR", rect(179.5, 10, -179.5, 11)),
            feature("B", "RU", rect(-179.8, 10.5, -179, 12)),
            feature("C", "RU", rect(-179.8, 30, -179, 31)),
            # circle on the North pole vs a box ending 1 km short of it in latitude terms
            feature("POLE", "FR", point(0, 90), radius_m=50_000),
            feature("NEAR-POLE", "RU", rect(100, 89.5, 120, 89.6)),
            feature("FAR-POLE", "RU", rect(100, 88.0, 120, 88.1)),
            # concave U: a box inside the notch does not touch it
            feature(
                "U",
                "FR",
                poly((20, 0), (23, 0), (23, 3), (22, 3), (22, 1), (21, 1), (21, 3), (20, 3)),
            ),
            feature("IN-NOTCH", "RU", rect(21.2, 1.5, 21.8, 2.5)),
            # containment
            feature("BIG", "FR", rect(30, 30, 32, 32)),
            feature("SMALL", "RU", rect(30.5, 30.5, 30.6, 30.6)),
        ],
    )
    b = write(
        tmp_path / "b.geojson",
        [
            # multi-volume intent: first volume is elsewhere, the second meets M2 later in the day
            feature("M1", "FR", rect(40, 40, 41, 41)),
            feature(
                "M1", "FR", rect(50, 50, 51, 51), t=("2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z")
            ),
            feature(
                "M2",
                "RU",
                rect(50.5, 50.5, 52, 52),
                t=("2026-01-10T10:30:00Z", "2026-01-10T12:00:00Z"),
            ),
            # same place as M1's first volume but a later time: no conflict
            feature(
                "M3", "RU", rect(40, 40, 41, 41), t=("2026-01-10T12:00:00Z", "2026-01-10T13:00:00Z")
            ),
        ],
    )
    code, doc, err = run(capsys, str(a), str(b))
    assert code == 1, err
    assert pairs(doc) == {("A", "B"), ("NEAR-POLE", "POLE"), ("BIG", "SMALL"), ("M1", "M2")}
    m = next(c for c in doc["conflicts"] if c["intents"] == ["M1", "M2"])
    assert (m["time_start"], m["time_end"]) == ("2026-01-10T10:30:00Z", "2026-01-10T11:00:00Z")


def test_buffers_exactly_at_the_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(
        tmp_path / "gap.geojson",
        [
            feature("S", "FR", rect(10, 40, 10.5, 40.5), alt=(1000, 2000)),
            feature(
                "N",
                "RU",
                rect(10, 40.6, 10.5, 41),
                alt=(2500, 3000),
                t=("2026-01-10T09:10:00Z", "2026-01-10T10:00:00Z"),
            ),
        ],
    )
    gap_m = meridian_gap(40.5, 40.6)
    exact = ["--lateral-m", repr(gap_m), "--vertical-m", "500", "--time-s", "600"]
    code, doc, _ = run(capsys, str(f), *exact)
    assert code == 1 and pairs(doc) == {("N", "S")}
    assert doc["conflicts"][0]["gaps"]["horizontal_m"] == pytest.approx(gap_m, abs=1e-3)
    for i, shrink in ((1, 0.01), (3, 0.01), (5, 0.01)):
        args = list(exact)
        args[i] = repr(float(args[i]) - shrink)
        code, doc, _ = run(capsys, str(f), *args)
        assert (code, doc["conflicts"]) == (0, []), args


def test_same_intent_volumes_never_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(
        tmp_path / "self.geojson",
        [feature("X", "FR", rect(0, 0, 1, 1)), feature("X", "FR", rect(0.5, 0.5, 2, 2))],
    )
    code, doc, _ = run(capsys, str(f))
    assert (code, doc["conflicts"]) == (0, [])


BAD = [
    (
        "unclosed",
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}},
        "not closed",
    ),
    ("self-crossing", {"geometry": poly((0, 0), (1, 1), (1, 0), (0, 1))}, "not simple"),
    ("two vertices", {"geometry": poly((0, 0), (1, 1), (0, 0))}, "3 distinct"),
    ("lon range", {"geometry": rect(0, 0, 181, 1)}, "outside [-180, 180]"),
    ("lat range", {"geometry": point(0, -91), "radius_m": 10}, "outside [-90, 90]"),
    ("radius", {"geometry": point(0, 0), "radius_m": 0}, "radius_m"),
    ("negative radius", {"geometry": point(0, 0), "radius_m": -5}, "radius_m"),
    ("time order", {"time_start": T[1], "time_end": T[0]}, "time_end is before time_start"),
    ("alt order", {"alt_lower_m": 100, "alt_upper_m": 50}, "alt_upper_m"),
    ("no zone", {"time_start": "2026-01-10T08:00:00"}, "time_start"),
    ("missing", {"drop": "party"}, "missing party"),
]


@pytest.mark.parametrize(("name", "patch", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, patch: dict[str, Any], words: str
) -> None:
    feat = feature("BAD-1", "FR", rect(0, 0, 1, 1))
    for k, v in patch.items():
        if k == "geometry":
            feat["geometry"] = v
        elif k == "drop":
            del feat["properties"][v]
        else:
            feat["properties"][k] = v
    f = write(tmp_path / "bad.geojson", [feature("OK", "RU", rect(5, 5, 6, 6)), feat])
    code, doc, err = run(capsys, str(f))
    assert code == 2 and doc is None
    line = err.strip()
    assert "\n" not in line
    assert str(f) in line and "feature 1" in line and words in line, line


@pytest.mark.parametrize(
    "text", ['{"type": "FeatureCollection", "features": [', '{"type": "Feature"}']
)
def test_unreadable_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    f = tmp_path / "broken.geojson"
    f.write_text(text)
    code, _, err = run(capsys, str(f))
    assert code == 2 and str(f) in err and len(err.strip().splitlines()) == 1


def test_nan_in_file_and_bad_buffer_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "nan.geojson"
    f.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [feature("N", "FR", rect(0, 0, 1, 1))]}
        ).replace('"alt_lower_m": 0', '"alt_lower_m": NaN')
    )
    assert run(capsys, str(f))[0] == 2
    ok = write(tmp_path / "ok.geojson", [feature("N", "FR", rect(0, 0, 1, 1))])
    for bad in (["--lateral-m", "-1"], ["--time-s", "nan"], ["--vertical-m", "inf"]):
        code, _, err = run(capsys, str(ok), *bad)
        assert code == 2 and err.count("\n") == 1, (bad, err)
    assert run(capsys, str(tmp_path / "missing.geojson"))[0] == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["serve", "--db", "mysql://x"], "unsupported database URL"),
        (["serve", "--port", "0"], "--port"),
        (["serve", "--auth-public-key", "{bad}"], "is not a PEM public key"),
        (["serve", "--auth-public-key", "{missing}"], "no such file"),
        (["serve", "--lateral-m", "-3"], "--lateral-m"),
        (["token", "--party", "a b"], "--party"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    args = [a.format(bad=bad, missing=tmp_path / "none.pem") for a in args]
    assert main([*args, "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and words in err, err
