"""ASTERIX recordings through the adapter and into the service.

The recordings are real: ``cat_034_048.pcap`` (monoradar reports of Croatia Control radars) and
``cat062cat065.raw`` (system tracks) ship with asterix-decoder, read from where it installs
them; ``data/asterix-cat021.ast`` is the CAT021 (ADS-B) sample of the same project's
repository (``install/sample_data/cat21_re.ast``, CroatiaControlLtd/asterix, 91 bytes). The
radars' positions are not in the data (CAT034 carries none): the tests place them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import asterix
import httpx
import pytest

from deconfliction.auth import ADMIN_SCOPE, dev_private_key, mint_token
from deconfliction.formats.asterix import (
    FT,
    NM,
    AsterixDecoder,
    AsterixError,
    Radar,
    parse_radar,
    pcap_payloads,
    read_recording,
)
from deconfliction.model import TrackClass
from helpers import GEOD, free_port, serve

DATA = Path(__file__).parent / "data"
PCAP_048 = Path(asterix.get_sample_file("cat_034_048.pcap"))
RAW_062 = Path(asterix.get_sample_file("cat062cat065.raw"))
RADARS = ["25/201=15.9705,45.8150,150", "25/13=16.3700,43.5100,600"]


def _decode(path: Path, decoder: AsterixDecoder) -> list:
    out = []
    for when, block in read_recording(path.read_bytes()):
        if decoder.day is None and when is not None:
            decoder.day = when.date()
        out += decoder.decode(block)
    return out


def test_cat021_adsb_reports() -> None:
    dec = AsterixDecoder(day=date(2020, 1, 1))
    states = _decode(DATA / "asterix-cat021.ast", dec)
    # two reports: an aircraft-less emitter (category 0) and a surface service vehicle (21)
    assert [s.id for s in states] == ["000001"]
    assert dec.reasons == {"CAT021: surface vehicle or obstacle": 1}
    s = states[0]
    assert (round(s.lat, 5), round(s.lon, 5)) == (61.47533, -7.8787)
    assert s.time.isoformat() == "2020-01-01T08:00:02.921875+00:00"  # I073, seconds of day
    assert s.source is not None and "CAT021 SAC/SIC 0/1" in s.source and "NUCp/NIC 0" in s.source


def test_cat062_system_tracks() -> None:
    dec = AsterixDecoder(day=date(2014, 2, 26))
    states = _decode(RAW_062, dec)
    assert dec.reasons == {"CAT065 is not read": 1}  # the service message
    by_id = {s.id: s for s in states}
    assert set(by_id) == {"25-100-4980", "3C0A55"}  # no address: SAC-SIC-track number
    s = by_id["3C0A55"]
    assert (round(s.lat, 4), round(s.lon, 4)) == (45.4008, 15.1332)
    assert s.alt_m == pytest.approx(35312.5 * FT)  # I130 geometric altitude, feet
    # I185: vx 141.5, vy -170.75 m/s -> south-east
    assert s.gs_mps == pytest.approx((141.5**2 + 170.75**2) ** 0.5)
    assert 90 < s.track_deg < 180
    assert s.cls is TrackClass.FIXED_WING and "system track 7977" in (s.source or "")


def test_cat048_plots_are_placed_from_their_radar() -> None:
    radars = dict(parse_radar(r) for r in RADARS)
    dec = AsterixDecoder(radars=radars)
    states = _decode(PCAP_048, dec)
    assert dec.day == date(2016, 5, 5)  # the capture's own date
    assert len(states) == 42
    captured = [when for when, _ in pcap_payloads(PCAP_048.read_bytes())]
    for s in states:  # a time of day on the capture's day, within seconds of its capture
        assert min(abs((s.time - c).total_seconds()) for c in captured) < 5
    assert dec.reasons["CAT048: no --radar for SAC/SIC 25/12"] == 38  # left out, counted
    assert dec.reasons["CAT034 is not read"] == 34
    # every plot lies on its radar's azimuth, at the ground range its slant range leaves
    raw = [
        r
        for _, block in pcap_payloads(PCAP_048.read_bytes())
        for r in asterix.parse(block, verbose=False)
        if r["category"] == 48 and "I040" in r
    ]
    placed = [
        r
        for r in raw
        if (r["I010"]["SAC"]["val"], r["I010"]["SIC"]["val"]) in radars and "I220" in r
    ]
    assert len(placed) == len(states)
    for rec, s in zip(placed, states, strict=True):
        radar: Radar = radars[(rec["I010"]["SAC"]["val"], rec["I010"]["SIC"]["val"])]
        az, _, dist = GEOD.inv(radar.lon, radar.lat, s.lon, s.lat)
        slant = rec["I040"]["RHO"]["val"] * NM
        dh = s.alt_m - radar.height_m
        assert dist == pytest.approx((slant**2 - dh**2) ** 0.5, abs=0.5)
        turn = (az - rec["I040"]["THETA"]["val"] + 180.0) % 360.0 - 180.0
        assert turn == pytest.approx(0, abs=1e-6)
        assert s.id == rec["I220"]["ACAddr"]["val"]
        assert f"radar at {radar.lon:.5f}" in (s.source or "")


def test_bad_input_is_counted_and_the_decoder_goes_on() -> None:
    dec = AsterixDecoder(day=date(2014, 2, 26))
    assert dec.decode(b"\x3e\x00\x09garbage") == []
    assert dec.decode(b"") == []
    assert len(dec.decode(RAW_062.read_bytes())) == 2
    assert dec.skipped >= 1
    with pytest.raises(AsterixError, match="not a pcap file"):
        list(pcap_payloads(b"\xd4\xc3\xb2\xa1"))
    with pytest.raises(AsterixError, match="SAC/SIC=LON,LAT"):
        parse_radar("25/201=15.9")
    with pytest.raises(AsterixError, match="0 to 255"):
        parse_radar("256/1=1,2")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deconfliction", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_recordings_and_a_udp_feed_reach_the_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = dev_private_key(data)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(data, port)
    try:
        admin = {"Authorization": f"Bearer {mint_token(key, 'admin', scopes=[ADMIN_SCOPE])}"}
        for pid in ("FR", "RU"):
            httpx.post(f"{base}/v1/parties", json={"id": pid, "name": pid}, headers=admin)
        fr, ru = mint_token(key, "FR"), mint_token(key, "RU")
        radar_args = [a for r in RADARS for a in ("--radar", r)]
        # CAT048 timestamps are old: the service keeps what arrives; read it back at once
        r = _run(
            "tracks", "feed", "asterix", str(PCAP_048), "--to", base, "--token", fr, *radar_args
        )
        assert r.returncode == 0, r.stderr
        assert "42 states sent; 128 messages skipped" in r.stderr
        assert "38 x CAT048: no --radar for SAC/SIC 25/12" in r.stderr
        got = httpx.get(f"{base}/v1/tracks", headers={"Authorization": f"Bearer {fr}"}).json()
        ids = {t["id"] for t in got["tracks"]}
        assert "3C660C" in ids and len(ids) == len({t["id"] for t in got["tracks"]})
        assert all(t["source"].startswith("ASTERIX CAT048") for t in got["tracks"])

        # live: datagrams to a UDP port, one of them garbage; the feed goes on after it
        udp_port = free_port()
        feed = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deconfliction",
                "tracks",
                "feed",
                "asterix",
                f"udp://127.0.0.1:{udp_port}",
                "--to",
                base,
                "--token",
                ru,
                "--batch-s",
                "0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            seen: set[str] = set()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                while time.monotonic() < deadline and len(seen) < 2:
                    s.sendto(b"\x3e\x00\x09garbage", ("127.0.0.1", udp_port))
                    s.sendto(RAW_062.read_bytes(), ("127.0.0.1", udp_port))
                    time.sleep(0.3)
                    tracks = httpx.get(
                        f"{base}/v1/tracks", headers={"Authorization": f"Bearer {ru}"}
                    ).json()["tracks"]
                    seen = {t["id"] for t in tracks if t["party"] == "RU"}
            assert seen == {"25-100-4980", "3C0A55"}
        finally:
            feed.kill()
            feed.wait()
        bad = _run(
            "tracks",
            "feed",
            "asterix",
            str(PCAP_048),
            "--to",
            base,
            "--token",
            fr,
            "--radar",
            "25/201=east",
        )
        assert bad.returncode == 2 and "--radar: SAC/SIC=LON,LAT" in bad.stderr
        notfile = _run(
            "tracks",
            "feed",
            "asterix",
            str(DATA / "asterix-cat021.ast") + ".nope",
            "--to",
            base,
            "--token",
            fr,
        )
        assert notfile.returncode == 2 and "no such file" in notfile.stderr
    finally:
        proc.kill()
        proc.wait()
