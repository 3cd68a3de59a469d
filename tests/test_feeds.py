"""Real recorded traffic through the adapters, end to end.

``data/adsb-cdg-extract.sbs``: four minutes of real ADS-B tracks around Paris-CDG (OpenSky data
from the ``traffic`` package's quickstart sample), as BaseStation text. ``data/ais-samples.nmea``:
real AIS position reports (from the pyais test suite), with reception times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from deconfliction.cli import main
from deconfliction.engine.replay import replay
from deconfliction.engine.tactical import FT, NM
from deconfliction.formats.feeds import AisDecoder, SbsDecoder
from deconfliction.model import TrackClass
from test_crash import _start

DATA = Path(__file__).parent / "data"


def _decode(decoder: Any, path: Path) -> list[Any]:
    out = []
    for line in path.read_text().splitlines():
        s = decoder.feed(line)
        if s is not None:
            out.append(s)
    return out


def test_adsb_around_cdg_through_the_sbs_adapter(tmp_path: Path, capsys: Any) -> None:
    dec = SbsDecoder()
    states = _decode(dec, DATA / "adsb-cdg-extract.sbs")
    assert len(states) == 200 and dec.skipped == 2  # the two comment lines
    assert len({s.id for s in states}) == 12
    first = states[0]
    assert first.id == "392AE7" and abs(first.gs_mps - 214 * 1852 / 3600) < 1e-9
    assert abs(first.alt_m - 2975 * FT) < 1e-9 and abs(first.vs_mps - -960 * FT / 60) < 1e-9
    # every aircraft its own party: every close pair counts
    found = replay([(s.id, s) for s in states])
    assert found, "approaches into CDG come within 5 NM and 1,000 ft of each other"
    for e in found:  # within both minima at some moment; horizontally closest at the CPA
        assert e.min_horizontal_m < 5 * NM and e.first_detected <= e.cpa_time
    # the command line finds the same encounters from the same states written as NDJSON
    nd = tmp_path / "cdg.ndjson"
    nd.write_text(
        "\n".join(
            json.dumps({**s.model_dump(mode="json", by_alias=True), "party": s.id}) for s in states
        )
    )
    assert main(["tracks", "check", str(nd), "--json"]) == 1
    cli = json.loads(capsys.readouterr().out)["conflicts"]
    assert [tuple(c["tracks"]) for c in cli] == [e.tracks for e in found]


def test_ais_reports_through_the_nmea_adapter() -> None:
    dec = AisDecoder()
    states = _decode(dec, DATA / "ais-samples.nmea")
    assert len(states) == 34 and all(s.cls is TrackClass.SHIP for s in states)
    assert states[0].time.isoformat() == "2026-11-22T12:00:00+00:00"
    assert all(-180 <= s.lon <= 180 and 0 <= s.track_deg < 360 for s in states)
    # a multi-sentence message is joined, and a sentence that is not AIS is skipped
    assert dec.feed("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47") is None
    replay([("AIS", s) for s in states])  # one party: runs, nothing to report


def test_a_feed_reaches_the_service(tmp_path: Path) -> None:
    from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
    from helpers import free_port

    data = tmp_path / "data"
    key = dev_private_key(data)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data, port)
    try:
        admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
        httpx.post(f"{base}/v1/parties", json={"id": "FR", "name": "France"}, headers=admin)
        token = mint_token(key, "FR")
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "deconfliction",
                "tracks",
                "feed",
                "sbs",
                str(DATA / "adsb-cdg-extract.sbs"),
                "--to",
                base,
                "--token",
                token,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert "200 states sent; 2 lines skipped" in r.stderr
        tracks = httpx.get(f"{base}/v1/tracks", headers={"Authorization": f"Bearer {token}"})
        assert len(tracks.json()["tracks"]) == 12
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "deconfliction",
                "tracks",
                "feed",
                "ais",
                "nowhere.nmea",
                "--to",
                base,
                "--token",
                token,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2 and "no such file" in bad.stderr
    finally:
        proc.kill()
        proc.wait()
