"""``deconfliction tracks check``: recorded states replayed through tactical detection."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deconfliction.cli import main

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FIELDS = ["id", "party", "class", "time", "lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps"]


def states() -> list[dict[str, Any]]:
    """Two aircraft of FR and RU converging head-on 1 NM apart laterally, 100 m vertically;
    two ships of the same party close together (never reported); reported every 10 s."""
    rows = []
    for k in range(0, 61, 10):
        t = (T0 + timedelta(seconds=k)).isoformat().replace("+00:00", "Z")
        base = {"time": t, "gs_mps": 220, "vs_mps": 0, "class": "fixed-wing"}
        rows.append(
            {
                **base,
                "id": "FR-RAF1",
                "party": "FR",
                "lon": 33.0 + k * 0.0024,
                "lat": 34.0,
                "alt_m": 6000,
                "track_deg": 90,
            }
        )
        rows.append(
            {
                **base,
                "id": "RU-SU30",
                "party": "RU",
                "lon": 33.6 - k * 0.0024,
                "lat": 34.0167,
                "alt_m": 6100,
                "track_deg": 270,
            }
        )
        for sid, lon in (("FR-SHIP1", 32.0), ("FR-SHIP2", 32.001)):
            rows.append(
                {
                    **base,
                    "class": "ship",
                    "id": sid,
                    "party": "FR",
                    "lon": lon,
                    "lat": 33.5,
                    "alt_m": 0,
                    "gs_mps": 5,
                    "track_deg": 0,
                }
            )
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    return path


def test_csv_and_ndjson_give_the_same_encounter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = states()
    a = write_csv(tmp_path / "s.csv", rows)
    b = tmp_path / "s.ndjson"
    b.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = []
    for path in (a, b):
        assert main(["tracks", "check", str(path), "--json"]) == 1
        out.append(json.loads(capsys.readouterr().out))
    assert out[0] == out[1]
    (enc,) = out[0]["conflicts"]
    assert enc["tracks"] == ["FR-RAF1", "RU-SU30"] and enc["parties"] == ["FR", "RU"]
    assert enc["first_detected"] == "2026-11-22T12:00:00Z"
    assert 1800 < enc["min_horizontal_m"] < 1900  # 1 NM (0.0167 degree of latitude)
    assert enc["vertical_at_cpa_m"] == pytest.approx(100, abs=0.01)
    lon, lat = enc["cpa_position"]
    assert 33.25 < lon < 33.35 and 34.0 < lat < 34.02
    assert main(["tracks", "check", str(a)]) == 1
    text = capsys.readouterr().out
    assert "FR-RAF1 (FR) x RU-SU30 (RU): first detected 2026-11-22T12:00:00Z" in text
    # minima and look-ahead from the command line: 0.9 NM apart is enough; so is 60 s ahead
    assert main(["tracks", "check", str(a), "--lateral-m", "1600"]) == 0
    assert main(["tracks", "check", str(a), "--vertical-m", "90"]) == 0
    assert main(["tracks", "check", str(a), "--lookahead-s", "20"]) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"class": "jet"}, "s.csv:2: class: Input should be"),
        ({"time": "noon"}, "s.csv:2: time:"),
        ({"lat": "91"}, "s.csv:2: lat: Input should be less than or equal to 90"),
        ({"lon": "east"}, "s.csv:2: lon: Input should be a valid number"),
        ({"party": ""}, "s.csv:2: party: missing"),
        ({"gs_mps": "nan"}, "s.csv:2: gs_mps:"),
    ],
)
def test_bad_states_are_named_by_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], message: str
) -> None:
    rows = states()
    rows[0] = {**rows[0], **change}
    path = write_csv(tmp_path / "s.csv", rows)
    assert main(["tracks", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_files_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nd = tmp_path / "s.ndjson"
    nd.write_text('{"id": "A"}\nnot json\n')
    assert main(["tracks", "check", str(nd)]) == 2
    assert "s.ndjson:1: party: missing" in capsys.readouterr().err
    empty = tmp_path / "e.csv"
    empty.write_text("id,party\n")
    assert main(["tracks", "check", str(empty)]) == 2
    assert "the header lacks the field 'class'" in capsys.readouterr().err
    assert main(["tracks", "check", str(tmp_path / "none.csv")]) == 2
    assert main(["tracks", "check", str(nd), "--lookahead-s", "-1"]) == 2
    assert "--lookahead-s" in capsys.readouterr().err
