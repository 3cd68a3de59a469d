# ruff: noqa: RUF001  (real warnings use en dashes; Russian text is Cyrillic)
"""NOTAM and navigational warnings: out in three languages and back, real warnings in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Api
from deconfliction.cli import main
from deconfliction.demo import scenario_path
from deconfliction.formats.airspace import AreaImportError
from deconfliction.formats.notam import navwarning, notams, read_navwarnings, read_notams
from deconfliction.model import AreaKind, Volume4D
from helpers import GEOD

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _area(vols: list[Volume4D], kind: AreaKind, name: str = "ED-R 10A") -> Any:
    return SimpleNamespace(id="A-1", owner="FR", name=name, kind=kind, volumes=vols)


@st.composite
def volumes(draw: Any) -> Volume4D:
    lon = draw(st.floats(-170, 170))
    lat = draw(st.floats(-70, 70))
    if draw(st.booleans()):
        fp: dict[str, Any] = {
            "type": "Circle",
            "center": [lon, lat],
            "radius_m": draw(st.floats(100, 100_000)),
        }
    else:
        w, h = draw(st.floats(0.01, 2)), draw(st.floats(0.01, 2))
        fp = {
            "type": "Polygon",
            "coordinates": [
                [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
            ],
        }
    lo = draw(st.sampled_from([0.0, 152.4, 1000.0, 3047.9]))
    hi = draw(st.sampled_from([3048.0, 12_000.5, 100_000.0]))
    start = T0 + timedelta(seconds=draw(st.integers(0, 10 * 86400)))
    length = timedelta(seconds=draw(st.integers(60, 5 * 86400)))
    return Volume4D.model_validate(
        {
            "footprint": fp,
            "alt_lower_m": lo,
            "alt_upper_m": hi,
            "time_start": start,
            "time_end": start + length,
        }
    )


def _contains(orig: Volume4D, back: Volume4D, slack_m: float) -> None:
    """``back`` is ``orig`` rounded outward: the window and the band contain the original;
    positions moved by the text's resolution at most."""
    assert back.time_start <= orig.time_start < back.time_start + timedelta(minutes=1)
    assert back.time_end - timedelta(minutes=1) < orig.time_end <= back.time_end
    assert back.alt_lower_m <= orig.alt_lower_m + 1e-6
    assert orig.alt_lower_m - back.alt_lower_m < 0.31
    assert back.alt_upper_m >= orig.alt_upper_m - 1e-6
    assert back.alt_upper_m - orig.alt_upper_m < 0.31
    a, b = orig.footprint, back.footprint
    assert a.type == b.type
    if a.type == "Circle":
        moved = GEOD.inv(*a.center, *b.center)[2]
        assert moved < slack_m and b.radius_m >= a.radius_m + moved
    else:
        for (x0, y0), (x1, y1) in zip(a.coordinates[0], b.coordinates[0], strict=True):
            assert GEOD.inv(x0, y0, x1, y1)[2] < slack_m


@settings(max_examples=60, deadline=None)
@given(
    vols=st.lists(volumes(), min_size=1, max_size=3),
    kind=st.sampled_from(list(AreaKind)),
    lang=st.sampled_from(["en", "fr", "ru"]),
)
def test_notams_out_and_back(vols: list[Volume4D], kind: AreaKind, lang: str) -> None:
    texts = notams(_area(vols, kind), lang, fir="LCCC", number=7)
    assert len(texts) == len(vols)
    back = read_notams("\n\n".join(texts), "t")
    assert [a.id for a in back] == [
        f"NOTAM-A{7 + i:04d}-{v.time_start:%y}" for i, v in enumerate(vols)
    ]
    for orig, area in zip(vols, back, strict=True):
        assert len(area.volumes) == 1
        _contains(orig, area.volumes[0], 32.0)  # DDMMSS: a second is about 31 m
        exercise = kind in (AreaKind.EXERCISE, AreaKind.NAVAL_EXERCISE)
        assert area.kind is kind or (
            exercise and area.kind in (AreaKind.EXERCISE, AreaKind.NAVAL_EXERCISE)
        )


@settings(max_examples=60, deadline=None)
@given(
    vols=st.lists(volumes(), min_size=1, max_size=3),
    kind=st.sampled_from(list(AreaKind)),
    lang=st.sampled_from(["en", "fr", "ru"]),
    navtex=st.sampled_from([None, "S"]),
)
def test_navwarnings_out_and_back(
    vols: list[Volume4D], kind: AreaKind, lang: str, navtex: str | None
) -> None:
    text = navwarning(
        _area(vols, kind), lang, navarea="III", number=123, region="Eastern Med", navtex=navtex
    )
    (area,), notes = read_navwarnings(text, "t")
    assert notes == [] and area.kind is kind and area.id.startswith("NW-0123-")
    assert len(area.volumes) == len(vols)
    for orig, back in zip(vols, area.volumes, strict=True):
        _contains(orig, back, 19.0)  # DD-MM.MM: a hundredth of a minute is about 18.5 m


def test_the_text_reads_as_its_language() -> None:
    circle = {"type": "Circle", "center": [11.674444, 48.268611], "radius_m": 1481.6}
    v = Volume4D.model_validate(
        {
            "footprint": circle,
            "alt_lower_m": 0,
            "alt_upper_m": 1097.28,
            "time_start": T0,
            "time_end": T0 + timedelta(hours=6),
        }
    )
    en, fr, ru = (
        notams(_area([v], AreaKind.RESTRICTED, "ED-R1"), lang)[0] for lang in ("en", "fr", "ru")
    )
    assert en.splitlines() == [
        "A0001/26 NOTAMN",
        "Q) XXXX/QRTCA/IV/BO/W/000/036/4816N01140E001",
        "A) XXXX B) 2611291200 C) 2611291800",
        "E) TEMPORARY RESTRICTED AREA ED-R1 ACTIVATED WITHIN: RADIUS 0.9NM CENTRED ON "
        "481607N0114028E.",
        "F) SFC G) 3600FT AMSL",
    ]
    assert "E) ZONE REGLEMENTEE TEMPORAIRE ED-R1 ACTIVE DANS LES LIMITES: RAYON 0.9NM" in fr
    assert "E) ВРЕМЕННАЯ ОГРАНИЧЕННАЯ ЗОНА ED-R1 АКТИВИРОВАНА В ГРАНИЦАХ: РАДИУС 0.9NM" in ru
    w = navwarning(_area([v], AreaKind.DANGER, "ED-D1"), "ru", navtex="S", now=T0)
    assert w.splitlines()[:4] == [
        "ZCZC SA01",
        "291200 UTC НОЯ 26",
        "NAVAREA III 0001/26",
        "1. ОПАСНАЯ ЗОНА ED-D1:",
    ]
    assert w.endswith("NNNN")


# Turkish navigational warnings of 2020-2022 as the Greek press published them
REAL = """TURNHOS N/W : 1134/20
MEDITERRANEAN SEA
 1. GUNNERY EXERCISE, BETWEEN 12-14 SEP 20 FROM 0500Z TO 1400Z IN AREA BOUNDED BY SADRAZAMKÖY AREA:
  35 36.55 N – 032 29.80 E
  35 11.82 N – 033 00.85 E
  35 26.50 N – 033 18.23 E
  35 50.73 N – 032 46.80 E
  CAUTION ADVISED.
 2. CANCEL THIS MESSAGE 141500Z SEP 20.

TURNHOS N/W : 0341/21
AEGEAN SEA
1. SEARCH AND RESCUE (SAR) EXERCISES, ON 20,25 AND 26 MAY 21
FROM 0300Z TO 1500Z IN AREAS BOUNDED BY:
AREA-1
39 04.00 N – 025 43.00 E
38 44.00 N – 025 43.00 E
38 44.00 N – 024 55.00 E
38 53.00 N – 024 55.00 E
39 04.00 N – 025 21.00 E
AREA-2
38 55.00 N – 026 00.00 E
38 51.00 N – 026 20.00 E
38 43.00 N – 026 12.00 E
38 44.00 N – 025 53.00 E
CAUTION ADVISED.
2. CANCEL THIS MESSAGE 261600Z MAY 21
"""


def test_real_warnings_in() -> None:
    areas, notes = read_navwarnings(REAL, "press.txt")
    assert [a.id for a in areas] == ["NW-1134-20", "NW-0341-21"]
    gunnery, sar = areas
    assert [(v.time_start, v.time_end) for v in gunnery.volumes] == [
        (datetime(2020, 9, d, 5, tzinfo=UTC), datetime(2020, 9, d, 14, tzinfo=UTC))
        for d in (12, 13, 14)
    ]
    ring = gunnery.volumes[0].footprint.coordinates[0]
    assert ring[0] == pytest.approx([32 + 29.80 / 60, 35 + 36.55 / 60]) and len(ring) == 5
    assert (gunnery.volumes[0].alt_lower_m, gunnery.volumes[0].alt_upper_m) == (0, 100_000)
    assert len(sar.volumes) == 6  # two areas on three days
    assert {len(v.footprint.coordinates[0]) for v in sar.volumes} == {6, 5}
    assert notes == [
        "press.txt: warning 1134/20: no heights given: SFC to UNL taken",
        "press.txt: warning 0341/21: no heights given: SFC to UNL taken",
    ]


CIRCLE_E = "AREA 481607N0114028E RADIUS 1NM."


def _notam(
    b: str = "B) 2611291200",
    c: str = "C) 2611291800",
    e: str = CIRCLE_E,
    fg: str = "F) SFC G) FL100",
) -> str:
    return f"A0001/26 NOTAMN\nA) X {b} {c}\nE) {e}\n{fg}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_notam(b=""), "NOTAM A0001/26: item B\\) missing"),
        (_notam(b="B) 2613291200"), "B\\): 2613291200 is not a date"),
        (_notam(c="C) PERM"), "C\\) PERM"),
        (_notam(e="ED-R 10A ACTIVE."), "E\\): no coordinates"),
        (_notam(fg="F) SFC G) HIGH"), "G\\): 'HIGH'"),
        (_notam(c="C) 2701011800"), "longer than 31 days"),
        (_notam(fg=""), "F\\) and G\\) missing"),
        ("nothing here", "no NOTAM"),
    ],
)
def test_notam_errors_name_the_message_and_item(text: str, message: str) -> None:
    with pytest.raises(AreaImportError, match=message):
        read_notams(text, "f")


def test_warning_errors() -> None:
    with pytest.raises(AreaImportError, match="warning 0001/26: no time window"):
        read_navwarnings("NAVAREA III 0001/26\n1. FIRING IN AREA 35-00.00N 033-00.00E.", "f")
    with pytest.raises(AreaImportError, match="an area needs 3 points or a radius"):
        read_navwarnings(
            "NAVAREA III 0001/26\n1. ON 18 MAY 22 FROM 0500Z TO 0900Z 35-00.00N 033-00.00E, "
            "35-01.00N 033-00.00E.",
            "f",
        )


def test_commands_and_the_import_route(api: Api, capsys: Any) -> None:
    assert main(["notam", "RU-LIVEFIRE-1", "--plan", str(scenario_path()), "--lang", "fr"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("A0001/15 NOTAMN") and "E) ZONE REGLEMENTEE TEMPORAIRE" in text
    assert (
        main(["navwarning", "RU-LIVEFIRE-1", "--plan", str(scenario_path()), "--navtex", "S"]) == 0
    )
    warning = capsys.readouterr().out
    assert warning.startswith("ZCZC SA01")
    assert main(["notam", "NOPE", "--plan", str(scenario_path())]) == 2
    assert "no record 'NOPE'" in capsys.readouterr().err
    # the NOTAM back in as France's area; the warning as Russia's
    r = api.post("/v1/areas/import?format=notam", "FR", content=text)
    assert r.status_code == 201 and r.json()["created"] == ["NOTAM-A0001-15"]
    area = api.get("/v1/areas/NOTAM-A0001-15", "FR").json()
    assert area["kind"] == "restricted" and area["volumes"][0]["alt_upper_m"] >= 10000
    r = api.post("/v1/areas/import?format=navwarning", "RU", content=REAL)
    assert r.status_code == 201 and r.json()["created"] == ["NW-1134-20", "NW-0341-21"]
    assert len(r.json()["notes"]) == 2
    bad = api.post("/v1/areas/import?format=notam", "FR", content=text.replace("C) ", "C) PERM "))
    assert bad.status_code == 422 and "C) PERM" in bad.json()["detail"]
