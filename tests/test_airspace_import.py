"""Airspace imports: real OpenAir and AIXM 5.1 data become a party's areas, all or nothing.

``data/openair-germany-excerpt.txt``: whole airspace blocks of the German OpenAir file (German
AIP data, 2021) kept in the openaip-openair-parser test fixtures. ``data/aixm51-germany-enr51.xml``:
three of those areas and a CTR, written as an AIXM 5.1 basic message (the file says how).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from deconfliction.cli import main
from deconfliction.formats.airspace import FT, NM, AreaImportError, Window, altitude_m
from deconfliction.formats.aixm import read_aixm
from deconfliction.formats.openair import coordinate, read_openair
from deconfliction.model import AreaKind
from helpers import GEOD

DATA = Path(__file__).parent / "data"
OPENAIR = DATA / "openair-germany-excerpt.txt"
AIXM = DATA / "aixm51-germany-enr51.xml"
WINDOW = Window(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 29, tzinfo=UTC))


def test_openair_real_areas() -> None:
    with pytest.raises(AreaImportError, match=r"excerpt.txt:7 AH: '2500ft AGL' is above the"):
        read_openair(OPENAIR.read_text(), OPENAIR, WINDOW)  # SkySails: AGL needs the ground
    res = read_openair(OPENAIR.read_text(), OPENAIR, WINDOW, agl_m=50)
    assert res.left_out == {"C": 1}  # Berlin class C: not a restricted area
    by_name = {a.name: a for a in res.areas}
    assert len(by_name) == 8
    kinds = {a.name.split()[0]: a.kind for a in res.areas}
    assert kinds["ED-R1"] is AreaKind.RESTRICTED and kinds["ED-D19A"] is AreaKind.DANGER
    assert kinds["Korridor"] is AreaKind.DANGER  # AC Q
    garching = by_name["ED-R1 Garching H24"].volumes[0]
    assert garching.footprint.type == "Circle"
    assert garching.footprint.radius_m == pytest.approx(0.8 * NM)
    assert garching.footprint.center == pytest.approx(
        [11 + 40 / 60 + 28 / 3600, 48 + 16 / 60 + 7 / 3600]
    )
    assert garching.alt_upper_m == pytest.approx(3600 * FT) and garching.alt_lower_m == 0
    skysails = by_name["ED-R SkySails HX 125.100"].volumes[0]
    assert skysails.alt_upper_m == pytest.approx(2500 * FT + 50)  # AGL over 50 m of ground
    todendorf = by_name["ED-R10A Todendorf-Putlos MON-SAT+"].volumes[0]
    assert todendorf.footprint.coordinates[0][0] == [10 + 25 / 60, 54.5]
    assert len(todendorf.footprint.coordinates[0]) == 11  # the file's 10 points, closed
    assert todendorf.alt_upper_m == pytest.approx(40000 * FT)
    assert (todendorf.time_start, todendorf.time_end) == (WINDOW.start, WINDOW.end)
    # arcs (DB): every point drawn between the arc's ends lies on the circle round V X=
    wannsee = by_name["ED-R4 Wannsee H24"].volumes[0].footprint.coordinates[0]
    cx, cy = coordinate("52:24:38 N 013:07:46 E", "t")
    p0 = coordinate("52:22:39 N 013:08:15 E", "t")
    r0 = GEOD.inv(cx, cy, *p0)[2]
    arc = wannsee[1:-4]
    assert len(arc) > 100
    for lon, lat in arc:
        assert GEOD.inv(cx, cy, lon, lat)[2] == pytest.approx(r0, abs=0.01)
    # V D=- (counter-clockwise) in ED-R37B: the arc turns the other way round its centre
    nordhorn = by_name["ED-R37B Nordhorn MON-FRI"].volumes[0].footprint.coordinates[0]
    cx, cy = coordinate("52:26:00 N 007:12:00 E", "t")
    az = [GEOD.inv(cx, cy, lon, lat)[0] for lon, lat in nordhorn[3:10]]
    assert all((b - a) % 360 > 180 for a, b in itertools.pairwise(az))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "AC R\nAN X\nAL GND\nAH 1000ft\nDP 54:30:00 N 010:25:00 E\nDP 54:30 N\n",
            ":6: '54:30 N' is not a coordinate",
        ),
        ("AC R\nAN X\nAL GND\nAH 1000ft\nDC 2\n", ":5: DC without a centre"),
        ("AC R\nAN X\nAL GND\nAH lots\nV X=54:30:00 N 010:25:00 E\nDC 2\n", ":4 AH: 'lots'"),
        ("AC R\nAN X\nAL GND\nV X=54:30:00 N 010:25:00 E\nDC 2\n", ":1 (X): AH missing"),
        ("AC R\nAN X\nAL FL100\nAH FL50\nV X=54:30:00 N 010:25:00 E\nDC 2\n", "alt_upper_m"),
        (
            "AC R\nAN X\nAL GND\nAH FL50\nDP 54:30:00 N 010:25:00 E\nDP 54:31:00 N 010:25:00 E\n",
            "fewer than 3",
        ),
        ("AC R\nAN X\nAL GND\nAH FL50\nDY 54:30:00 N 010:25:00 E\n", ":5: DY (airway segments)"),
        ("AN X\n", ":1: AN before any AC"),
        ("AC R\nAN X\nZZ what\n", ":3: 'ZZ' is not an OpenAir command"),
        ("AC R\nAN X\nAL GND\nAH FL50\nDP 91:00:00 N 010:25:00 E\n", "out of range"),
    ],
)
def test_openair_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(AreaImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_openair(text, "f.txt", WINDOW)


def test_openair_arcs_by_angles() -> None:
    text = (
        "AC Q\nAN ARC\nAL GND\nAH FL100\nV X=50:00:00 N 010:00:00 E\nV D=+\nDA 5,0,90\n"
        "DP 50:00:00 N 010:00:00 E\n"
    )
    area = read_openair(text, "f", WINDOW).areas[0]
    ring = area.volumes[0].footprint.coordinates[0]
    for lon, lat in ring[:-2]:  # the quarter circle, then the centre
        assert GEOD.inv(10, 50, lon, lat)[2] == pytest.approx(5 * NM, abs=0.01)
    assert GEOD.inv(10, 50, *ring[0])[0] == pytest.approx(0, abs=1e-6)
    assert GEOD.inv(10, 50, *ring[-3])[0] == pytest.approx(90, abs=1e-6)


def test_limits() -> None:
    up, lo = True, False
    assert altitude_m("GND", upper=lo, agl_m=None, where="w") == 0
    assert altitude_m("FL 95", upper=up, agl_m=None, where="w") == pytest.approx(9500 * FT)
    assert altitude_m("1500 m", upper=up, agl_m=None, where="w") == 1500
    assert altitude_m("1000ft AGL", upper=lo, agl_m=None, where="w") == pytest.approx(1000 * FT)
    assert altitude_m("UNL", upper=up, agl_m=None, where="w") == 100_000
    with pytest.raises(AreaImportError, match="--agl-m"):
        altitude_m("1000ft AGL", upper=up, agl_m=None, where="w")


def test_aixm_real_areas() -> None:
    res = read_aixm(AIXM.read_bytes(), AIXM, WINDOW)
    assert res.left_out == {"CTR": 1}
    by_id = {a.id: a for a in res.areas}
    assert set(by_id) == {"EDR10A", "EDR1", "EDD19A"}
    assert by_id["EDD19A"].kind is AreaKind.DANGER
    assert by_id["EDD19A"].volumes[0].alt_upper_m == pytest.approx(40000 * FT)  # FL400
    circle = by_id["EDR1"].volumes[0].footprint
    assert circle.type == "Circle" and circle.radius_m == pytest.approx(0.8 * NM)
    assert circle.center == pytest.approx([11.674444, 48.268611])  # lat, lon in the file
    # the same area as the OpenAir file's ED-R10A, point for point (to the file's 6 decimals)
    oa = read_openair(OPENAIR.read_text(), OPENAIR, WINDOW, agl_m=0).areas
    ring_oa = next(a for a in oa if a.name.startswith("ED-R10A")).volumes[0].footprint
    ring_ax = by_id["EDR10A"].volumes[0].footprint
    for (a, b), (c, d) in zip(ring_oa.coordinates[0], ring_ax.coordinates[0], strict=True):
        assert (a, b) == pytest.approx((c, d), abs=1e-6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('<aixm:upperLimit uom="FL">400</aixm:upperLimit>', ""),
            "Airspace EDD19A (EDD19A) volume 1: aixm:upperLimit: missing",
        ),
        (
            ('<gml:radius uom="NM">0.8</gml:radius>', '<gml:radius uom="parsec">0.8</gml:radius>'),
            "Airspace EDR1 (EDR1) volume 1: gml:radius/@uom",
        ),
        (
            ("54.5 10.416667 54.544167", "54.5 10.416667 54.544167 7"),
            "EDR10A) volume 1: gml:posList",
        ),
        (("<message:AIXMBasicMessage", "<message:AIXMBasic"), "not XML"),
    ],
)
def test_aixm_errors_name_the_feature(edit: tuple[str, str], message: str) -> None:
    data = AIXM.read_text().replace(*edit, 1).encode()
    with pytest.raises(AreaImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_aixm(data, "f.xml", WINDOW)


def test_import_is_all_or_nothing_through_the_api(api: Api) -> None:
    text = OPENAIR.read_text()
    r = api.post("/v1/areas/import?format=openair", "FR", content=text.encode())
    assert r.status_code == 422 and "body:7 AH: '2500ft AGL'" in r.json()["detail"]
    assert api.get("/v1/areas", "FR").json()["areas"] == []  # nothing half imported
    r = api.post("/v1/areas/import?format=openair&agl_m=50&prefix=A2612.", "FR", content=text)
    assert r.status_code == 201, r.text
    got = r.json()
    assert len(got["created"]) == 8 and got["left_out"] == {"C": 1}
    assert got["created"][0].startswith("A2612.")
    assert len(api.get("/v1/areas", "FR").json()["areas"]) == 8
    # the same ids again: refused, and still 8
    r = api.post("/v1/areas/import?format=openair&agl_m=50&prefix=A2612.", "FR", content=text)
    assert r.status_code == 409
    assert len(api.get("/v1/areas", "FR").json()["areas"]) == 8
    # AIXM, as another party
    r = api.post("/v1/areas/import?format=aixm", "RU", content=AIXM.read_bytes())
    assert r.status_code == 201 and sorted(r.json()["created"]) == ["EDD19A", "EDR1", "EDR10A"]
    assert api.post("/v1/areas/import?format=aixm", "RU", content=b"").status_code == 422
    assert api.post("/v1/areas/import?format=kml", "RU", content=b"x").status_code == 422


def test_the_import_command(tmp_path: Path, capsys: Any) -> None:
    assert main(["airspace", "import", str(AIXM), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "EDR10A: restricted, 1 volume(s), 0 m to 12192 m" in out.out
    assert "left out (not restricted, danger or prohibited): CTR x1" in out.err
    assert main(["airspace", "import", str(OPENAIR), "--dry-run"]) == 2
    assert "openair-germany-excerpt.txt:7 AH" in capsys.readouterr().err
    assert main(["airspace", "import", str(OPENAIR), "--dry-run", "--agl-m", "0"]) == 0
    assert main(["airspace", "import", str(OPENAIR)]) == 2
    assert "--to URL and --token are needed" in capsys.readouterr().err
    assert main(["airspace", "import", str(tmp_path / "none.txt"), "--dry-run"]) == 2
