"""Cursor on Target both ways: events in and out, a round trip through pytak's own client."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from configparser import ConfigParser
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import takproto
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.formats.cot import (
    CotError,
    CotStreamSplitter,
    import_pytak,
    state_from_message,
    state_from_xml,
    track_event,
)
from deconfliction.model import TrackClass
from helpers import free_port
from scene import Scene, start

pytak = import_pytak()
EVENT = (
    b'<event version="2.0" uid="ANDROID-589520ccfcd20f01" type="a-f-G-U-C" how="h-e" '
    b'time="2026-11-29T10:00:00.000Z" start="2026-11-29T10:00:00.000Z" '
    b'stale="2026-11-29T10:05:00.000Z"><point lat="34.5" lon="33.25" hae="120.5" ce="10" '
    b'le="9999999"/><detail><contact callsign="ALPHA"/><track course="271.5" speed="3.2"/>'
    b"</detail></event>"
)


def test_an_atak_event_is_a_track_state() -> None:
    s = state_from_xml(EVENT)
    assert s is not None
    assert (s.id, s.lat, s.lon, s.alt_m) == ("ANDROID-589520ccfcd20f01", 34.5, 33.25, 120.5)
    assert (s.track_deg, s.gs_mps) == (271.5, 3.2)
    assert s.time == datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert s.accuracy_m == pytest.approx(24.477)  # ce is 1 sigma; ours is 95 %
    assert s.cls is TrackClass.FIXED_WING and s.source == "CoT a-f-G-U-C how h-e"
    # the same event as TAK protocol (mesh and stream) decodes the same
    for ver in (takproto.TAKProtoVer.MESH, takproto.TAKProtoVer.STREAM):
        assert state_from_message(bytes(takproto.xml2proto(EVENT.decode(), ver))) == s
    # types: 2525 function to class
    for t, cls in (
        ("a-n-A-M-H", TrackClass.ROTARY),
        ("a-f-A-M-F-Q", TrackClass.DRONE),
        ("a-h-S-X", TrackClass.SHIP),
        ("a-u-A-C-F", TrackClass.FIXED_WING),
    ):
        ev = EVENT.replace(b"a-f-G-U-C", t.encode())
        got = state_from_xml(ev)
        assert got is not None and got.cls is cls, t


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ((b'lat="34.5"', b'lat="94.5"'), "point/@lat"),
        ((b'lat="34.5" ', b""), "point/@lat: missing"),
        ((b'lon="33.25"', b'lon="east"'), "point/@lon: not a number"),
        ((b'uid="ANDROID-589520ccfcd20f01"', b'uid="has spaces {}"'), "event/@uid"),
        ((b'time="2026-11-29T10:00:00.000Z" ', b'time="yesterday" '), "event/@time"),
        ((b'<track course="271.5"', b'<track course="NaN"'), "detail/track/@course"),
        ((b"</event>", b""), "not XML"),
    ],
)
def test_a_bad_event_names_the_field(edit: tuple[bytes, bytes], message: str) -> None:
    with pytest.raises(CotError, match=message.replace("(", r"\(")):
        state_from_xml(EVENT.replace(*edit))


def test_events_that_are_not_tracks_are_passed_over() -> None:
    assert state_from_xml(EVENT.replace(b"a-f-G-U-C", b"b-t-f")) is None  # chat
    assert state_from_xml(EVENT.replace(b"a-f-G-U-C", b"u-d-f")) is None  # a drawing


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from(["xml", "mesh-in-stream"]), min_size=1, max_size=6),
    st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=20),
)
def test_the_stream_splitter_cuts_any_chunking_into_the_same_messages(
    kinds: list[str], cuts: list[int]
) -> None:
    msgs = [
        EVENT
        if k == "xml"
        else bytes(takproto.xml2proto(EVENT.decode(), takproto.TAKProtoVer.STREAM))
        for k in kinds
    ]
    stream = b"\n".join(msgs)
    split = CotStreamSplitter()
    out, i, n = [], 0, 0
    while i < len(stream):
        step = cuts[n % len(cuts)]
        out += list(split.feed(stream[i : i + step]))
        i += step
        n += 1
    assert [state_from_message(m) for m in out] == [state_from_message(m) for m in msgs]


@settings(max_examples=50, deadline=None)
@given(
    lon=st.floats(-180, 180),
    lat=st.floats(-89.9, 89.9),
    alt=st.floats(-100, 20000),
    course=st.floats(0, 359.9),
    speed=st.floats(0, 900),
)
def test_a_track_out_and_back_keeps_its_state(
    lon: float, lat: float, alt: float, course: float, speed: float
) -> None:
    t = {
        "party": "FR",
        "level": "full",
        "id": "F1",
        "class": "rotary",
        "time": "2026-11-29T10:00:00Z",
        "lon": lon,
        "lat": lat,
        "alt_m": alt,
        "gs_mps": speed,
        "track_deg": course,
        "vs_mps": 0.0,
    }
    now = datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)
    ev = track_event(t, "FR", now, 60)
    assert ET.fromstring(ev).get("type") == "a-f-A-M-H"
    s = state_from_xml(ev)
    assert s is not None and s.id == "deconfliction.FR.F1" and s.cls is TrackClass.ROTARY
    assert abs(s.lon - lon) < 1e-6 and abs(s.lat - lat) < 1e-6 and abs(s.alt_m - alt) < 0.06
    assert abs(s.gs_mps - speed) < 0.006 and abs(s.track_deg - round(course, 1)) < 1e-9
    assert s.time == datetime(2026, 11, 29, 10, tzinfo=UTC)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Scene]:
    yield from start(tmp_path)


def _config(url: str) -> Any:
    cp = ConfigParser(interpolation=None)
    cp["t"] = {"COT_URL": url}
    return cp["t"]


async def _read_all(port: int) -> list[bytes]:
    """Connect with pytak's client and read events until the server closes."""
    cfg = _config(f"tcp://127.0.0.1:{port}")
    for _ in range(100):
        try:
            reader, writer = await pytak.protocol_factory(cfg)
            break
        except OSError:
            await asyncio.sleep(0.1)
    rx = pytak.RXWorker(asyncio.Queue(), cfg, reader)
    out = []
    while (ev := await asyncio.wait_for(rx.readcot(), 60)) is not None:
        out.append(bytes(ev))
    writer.close()
    return out


async def _send(port: int, messages: list[bytes]) -> None:
    """Send with pytak's client (until the feed listens, the port refuses: try again)."""
    cfg = _config(f"udp+wo://127.0.0.1:{port}")
    _, writer = await pytak.protocol_factory(cfg)
    tx = pytak.TXWorker(asyncio.Queue(), cfg, writer)
    try:
        for m in messages:
            await tx.send_data(m)
            await asyncio.sleep(0.01)
    except ConnectionRefusedError:
        pass
    finally:
        writer.close()


def test_the_released_picture_round_trips_through_pytak(live: Scene) -> None:
    port = free_port()
    out = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconfliction",
            "cot",
            "out",
            "--from",
            live.base,
            "--token",
            live.tokens["FR"],
            "--listen",
            f"tcp://127.0.0.1:{port}",
            "--once",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        events = asyncio.run(_read_all(port))
        assert out.wait(timeout=60) == 0
    finally:
        out.kill()
    by_uid = {ET.fromstring(e).get("uid"): ET.fromstring(e) for e in events}
    # France sees its own track (friendly), Russia's (neutral, released in full), not the UK's
    assert by_uid["deconfliction.FR.F1"].get("type") == "a-f-A-M-F"
    assert by_uid["deconfliction.RU.R1"].get("type") == "a-n-A-M-H"
    assert by_uid["deconfliction.RU.R1"].find("detail/track") is not None
    assert not any("UK" in (u or "") for u in by_uid), sorted(by_uid)
    # its intent and area as shapes; Russia's intent as its released extent (a circle)
    assert by_uid["deconfliction.FR.intent.FR-1.0"].get("type") == "u-d-f"
    assert len(by_uid["deconfliction.FR.intent.FR-1.0"].findall("detail/link")) == 5
    assert by_uid["deconfliction.FR.area.FR-A.0"].get("type") == "u-d-c-c"
    ru = by_uid["deconfliction.RU.intent.RU-1.0"]
    assert ru.get("type") == "u-d-c-c" and "(extent)" in (ru.findtext("detail/remarks") or "")
    # the conflicts of FR-1 (with RU-1 and with UK-1) as alerts, exactly as released to France
    released = live.get("/v1/conflicts", "FR").json()["conflicts"]
    assert len(released) == 2
    label = lambda side: side["id"] or "(withheld)"  # noqa: E731
    conflicts = [e for u, e in by_uid.items() if u.startswith("deconfliction.conflict.")]
    assert sorted(e.find("detail/contact").get("callsign") for e in conflicts) == sorted(  # type: ignore[union-attr]
        f"Conflict {label(c['a'])} x {label(c['b'])}" for c in released
    )
    # of the UK (no agreement): no shape, no track, only the notice of its conflict with FR-1,
    # placed on France's own intent
    uk = [ET.fromstring(e) for e in events if b"(UK)" in e or b".UK." in e]
    assert [e.get("type") for e in uk] == ["b-a-g"]
    assert 33 <= float(uk[0].find("point").get("lon")) <= 33.5  # type: ignore[union-attr]
    assert not any(b"K1" in e for e in events)
    if not any("UK-1" in (c["a"]["id"], c["b"]["id"]) for c in released):
        assert not any(b"UK-1" in e for e in events)  # the notice names no UK record

    # back in, through pytak's client, as the UK's own feed over UDP; with a broken message
    # and a TAK protocol message among them: the feed goes on
    udp = free_port()
    feed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconfliction",
            "tracks",
            "feed",
            "cot",
            f"udp://127.0.0.1:{udp}",
            "--to",
            live.base,
            "--token",
            live.tokens["UK"],
            "--batch-s",
            "0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tracks = [e for e in events if ET.fromstring(e).get("type", "").startswith("a-")]
    proto = bytes(
        takproto.xml2proto(
            tracks[0].replace(b"deconfliction.FR.F1", b"via-protobuf").decode(),
            takproto.TAKProtoVer.MESH,
        )
    )
    try:
        deadline = time.monotonic() + 60
        got: dict[str, Any] = {}
        while time.monotonic() < deadline and len(got) < 3:
            asyncio.run(_send(udp, [b"<event uid='x'><broken", *tracks, proto]))
            time.sleep(0.3)
            r = live.get("/v1/tracks", "UK").json()["tracks"]
            got = {t["id"]: t for t in r if t["party"] == "UK" and t["id"] != "K1"}
    finally:
        feed.kill()
        feed.wait()
    assert set(got) == {"deconfliction.FR.F1", "deconfliction.RU.R1", "via-protobuf"}
    fr = live.get("/v1/tracks", "FR").json()["tracks"]
    orig = {f"deconfliction.{t['party']}.{t['id']}": t for t in fr}
    for uid in ("deconfliction.FR.F1", "deconfliction.RU.R1"):
        a, b = orig[uid], got[uid]
        assert (round(a["lon"], 6), round(a["lat"], 6)) == (round(b["lon"], 6), round(b["lat"], 6))
        assert abs(a["alt_m"] - b["alt_m"]) < 0.06 and a["class"] == b["class"]
        assert abs(a["gs_mps"] - b["gs_mps"]) < 0.006 and a["track_deg"] == b["track_deg"]
        assert a["time"][:19] == b["time"][:19]


def _certs(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as TAK servers use."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def make(
        cn: str, issuer: Any = None, issuer_key: Any = None, ca: bool = False, ip: bool = False
    ) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            b = b.add_extension(san, critical=False)
        return b.sign(issuer_key or key, hashes.SHA256()), key

    ca, ca_key = make("test CA", ca=True)
    out = {}
    for label, (cert, key) in {
        "ca": (ca, ca_key),
        "server": make("127.0.0.1", ca, ca_key, ip=True),
        "client": make("FR-feed", ca, ca_key),
    }.items():
        out[f"{label}.pem"] = tmp / f"{label}.pem"
        out[f"{label}.pem"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{label}.key"] = tmp / f"{label}.key"
        out[f"{label}.key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return out


def _wait_for(live: Scene, who: str, ids: set[str]) -> set[str]:
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while time.monotonic() < deadline and not ids <= seen:
        time.sleep(0.3)
        seen = {t["id"] for t in live.get("/v1/tracks", who).json()["tracks"] if t["party"] == who}
    return seen


def test_tcp_and_tls_feeds_in(live: Scene, tmp_path: Path) -> None:
    import ssl
    import threading

    # TCP: the UK's feed subscribes to France's CoT output (a TAK client's view of a server)
    port = free_port()
    out = subprocess.Popen(
        [sys.executable, "-m", "deconfliction", "cot", "out", "--from", live.base,
         "--token", live.tokens["FR"], "--listen", f"tcp://127.0.0.1:{port}", "--every-s", "0.5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    feed = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        feed = subprocess.Popen(
            [sys.executable, "-m", "deconfliction", "tracks", "feed", "cot",
             f"tcp://127.0.0.1:{port}", "--to", live.base, "--token", live.tokens["UK"],
             "--batch-s", "0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        seen = _wait_for(live, "UK", {"deconfliction.FR.F1", "deconfliction.RU.R1"})
    finally:
        for p in (out, feed):
            if p is not None:
                p.kill()
                p.wait()
    assert {"deconfliction.FR.F1", "deconfliction.RU.R1"} <= seen

    # TLS: a server that wants a client certificate, as TAK servers do; pytak's TLS client
    certs = _certs(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs["ca.pem"]))
    ctx.load_cert_chain(certs["server.pem"], certs["server.key"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    tls_port = free_port()
    listener = socket.create_server(("127.0.0.1", tls_port))
    peers: list[str] = []

    def serve_once() -> None:
        conn, _ = listener.accept()
        with ctx.wrap_socket(conn, server_side=True) as tls:
            peers.append(dict(x[0] for x in tls.getpeercert()["subject"])["commonName"])
            tls.sendall(
                EVENT.replace(b"ANDROID-589520ccfcd20f01", b"TLS-1").replace(
                    b"2026-11-29T10:00:00.000Z", datetime.now(UTC).isoformat().encode()
                )
            )
            tls.sendall(b"<event><broken/>")  # cut short: the splitter waits, drops nothing else
            time.sleep(30)

    threading.Thread(target=serve_once, daemon=True).start()
    env = {
        **os.environ,
        "PYTAK_TLS_CLIENT_CERT": str(certs["client.pem"]),
        "PYTAK_TLS_CLIENT_KEY": str(certs["client.key"]),
        "PYTAK_TLS_CLIENT_CAFILE": str(certs["ca.pem"]),
    }
    feed = subprocess.Popen(
        [sys.executable, "-m", "deconfliction", "tracks", "feed", "cot",
         f"tls://127.0.0.1:{tls_port}", "--to", live.base, "--token", live.tokens["RU"],
         "--batch-s", "0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        seen = _wait_for(live, "RU", {"TLS-1"})
    finally:
        feed.kill()
        feed.wait()
        listener.close()
    assert "TLS-1" in seen and peers == ["FR-feed"]
    # without a client certificate pytak refuses, and the command says so in one line
    bad = subprocess.run(
        [sys.executable, "-m", "deconfliction", "tracks", "feed", "cot",
         f"tls://127.0.0.1:{free_port()}", "--to", live.base, "--token", live.tokens["RU"]],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTAK_")},
    )  # fmt: skip
    assert bad.returncode == 2 and "PYTAK_TLS_CLIENT_CERT" in bad.stderr, bad.stderr
