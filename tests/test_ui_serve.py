"""What the map and the API docs stand on, without a browser: the demo login's loopback rule,
``serve`` on a busy port, ``token`` for unregistered parties, the offline API docs, the vendored
libraries and shipped glyphs, and the languages ``/v1/me`` gives the map."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import _Client
from deconfliction.cli.serve import build_service, is_loopback
from deconfliction.demo import load_demo
from deconfliction.model import SeparationPolicy
from deconfliction.store import open_store
from deconfliction.ui import static_dir
from helpers import agree

STATIC = static_dir()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deconfliction", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- serve ------------------------------------------------------------------------------------
def test_serve_on_a_busy_port_says_so_in_one_line_before_anything_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _cli("serve", "--demo", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 3
    assert done.stdout == ""  # no "serving", no token printed
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]
    assert "--port" in lines[0]
    assert not (tmp_path / "d" / "deconfliction.db").exists()  # nothing was started


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.0.2.10", "2001:db8::1", "no-such-host.invalid"):
        assert not is_loopback(host), host


def _config(tmp_path: Path, demo_login: bool) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    store = open_store(db, SeparationPolicy())
    try:
        load_demo(store)
    finally:
        store.close()
    return {
        "db": db,
        "data_dir": str(tmp_path),
        "public_keys": [],
        "jwks_urls": [],
        "audiences": ["deconfliction"],
        "public_url": "http://127.0.0.1:1",
        "rate_limit": 1000.0,
        "policy": SeparationPolicy().model_dump(),
        "demo": True,
        "demo_login": demo_login,
        "workers": 1,
    }


@pytest.mark.parametrize("demo_login", [True, False])
def test_the_demo_login_is_on_only_where_serve_allows_it(tmp_path: Path, demo_login: bool) -> None:
    service = build_service(_config(tmp_path, demo_login))
    try:
        client = _Client(service.app)
        parties = client.get("/v1/dev/parties")
        token = client.get("/v1/dev/token", params={"party": "FR"})
        if demo_login:
            assert parties.status_code == 200
            assert {p["id"] for p in parties.json()["parties"]} == {"FR", "RU"}
            assert token.status_code == 200 and token.json()["token"].count(".") == 2
        else:
            assert parties.status_code == 404
            assert token.status_code == 404
    finally:
        service.stop()


def test_serve_help_documents_port_and_the_demo_login_flag() -> None:
    out = _cli("serve", "--help").stdout
    assert "--port" in out and "exit 3" in out
    assert "--demo-login-anywhere" in out and "loopback" in out


# --- token ------------------------------------------------------------------------------------
def test_token_refuses_a_party_the_service_does_not_know(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    no_db = _cli("token", "--party", "FR", "--data-dir", str(data))
    assert no_db.returncode == 2 and no_db.stdout == ""
    assert "no database" in no_db.stderr and len(no_db.stderr.strip().splitlines()) == 1
    store = open_store(f"sqlite:///{data / 'deconfliction.db'}", SeparationPolicy())
    try:
        load_demo(store)
    finally:
        store.close()
    unknown = _cli("token", "--party", "XX", "--data-dir", str(data))
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "not a registered party" in unknown.stderr and "FR, RU" in unknown.stderr
    known = _cli("token", "--party", "FR", "--data-dir", str(data))
    assert known.returncode == 0, known.stderr
    assert known.stdout.strip().count(".") == 2
    admin = _cli("token", "--party", "ops", "--admin", "--data-dir", str(data))
    assert admin.returncode == 0, admin.stderr  # the service's admin acts for no party


# --- the languages the map opens in -----------------------------------------------------------
def test_me_gives_the_languages_and_partners_of_the_agreements_in_force(api: Any) -> None:
    assert api.get("/v1/me", "FR").json()["languages"] == []
    agree(
        api,
        "FR",
        "RU",
        {"releases": {"FR": {"default": "full"}}, "languages": {"FR": ["fr", "en"], "RU": ["ru"]}},
    )
    agree(api, "FR", "UK", {"releases": {}, "languages": {"FR": ["en"], "UK": ["en"]}})
    fr = api.get("/v1/me", "FR").json()
    assert fr["languages"] == ["fr", "en"] and fr["partners"] == ["RU", "UK"]
    ru = api.get("/v1/me", "RU").json()
    assert ru["languages"] == ["ru"] and ru["partners"] == ["FR"]


# --- the API docs and the page load nothing from elsewhere -----------------------------------
@pytest.fixture
def app_client(api: Any) -> Any:
    return api.client


def test_the_api_docs_are_served_from_local_files(app_client: Any) -> None:
    for path in ("/docs", "/redoc"):
        r = app_client.get(path)
        assert r.status_code == 200
        assert "script-src 'self'" in r.headers["content-security-policy"]
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert urls and all(u.startswith("/") or u == "data:," for u in urls), urls
        for u in urls:
            if u.startswith("/"):
                assert app_client.get(u).status_code == 200, u
    assert "/ui/vendor/swagger-ui-dist/swagger-ui-bundle.js" in app_client.get("/docs").text
    assert "/ui/vendor/redoc/redoc.standalone.js" in app_client.get("/redoc").text


def test_the_map_page_names_no_other_host() -> None:
    for name in (
        "index.html",
        "app.js",
        "map.js",
        "tracks.js",
        "geo.js",
        "i18n.js",
        "witness.js",
        "style.css",
    ):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), name


def test_the_vendored_libraries_are_as_fetched_with_their_licences() -> None:
    vendor = STATIC / "vendor"
    sums = (vendor / "SHA256SUMS").read_text().splitlines()
    assert len(sums) >= 15
    for line in sums:
        digest, name = line.split(maxsplit=1)
        data = (vendor / name.removeprefix("./")).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    for lib in ("maplibre-gl", "milsymbol", "mgrs", "swagger-ui-dist", "redoc"):
        files = {p.name for p in (vendor / lib).iterdir()}
        assert any(f.lower().startswith("licen") for f in files), lib
        assert re.match(rf"{lib}@\d+\.\d+\.\d+$", (vendor / lib / "VERSION").read_text().split()[0])
    readme = (vendor / "README.md").read_text()
    assert "scripts/vendor" in readme


def _glyph_ids(pbf: bytes) -> set[int]:
    """The code points in a glyph range file (glyphs.proto: stacks -> glyphs -> id)."""

    def fields(buf: bytes) -> list[tuple[int, int, Any]]:
        out, i = [], 0
        while i < len(buf):
            key, i = _varint(buf, i)
            num, wire = key >> 3, key & 7
            if wire == 0:
                val, i = _varint(buf, i)
                out.append((num, wire, val))
            else:
                n, i = _varint(buf, i)
                out.append((num, wire, buf[i : i + n]))
                i += n
        return out

    ids = set()
    for num, _, stack in fields(pbf):
        assert num == 1
        for gnum, _, glyph in fields(stack):
            if gnum == 3:
                ids |= {v for f, _, v in fields(glyph) if f == 1}
    return ids


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = val = 0
    while True:
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return val, i


def test_every_character_the_map_writes_has_a_glyph() -> None:
    """Place names in three languages, the page's words, the amplifiers' symbols."""
    folder = STATIC / "glyphs" / "DejaVuSans"
    have: set[int] = set()
    for f in folder.glob("*.pbf"):
        have |= _glyph_ids(f.read_bytes())
    places = json.loads((STATIC / "basemap" / "places.json").read_text(encoding="utf-8"))
    text = "".join(
        f["properties"][k] for f in places["features"] for k in ("name_en", "name_fr", "name_ru")
    )
    words = (STATIC / "i18n.js").read_text(encoding="utf-8")
    text += "".join(re.findall(r'"([^"]*)"', words)) + "0123456789°\u2032\u00b7\u00d7\u2192NSEW"
    missing = {c for c in text if ord(c) >= 32 and ord(c) not in have}
    assert missing == set(), sorted(missing)
    assert len(places["features"]) > 400  # countries and capitals
    assert (STATIC / "glyphs" / "LICENSE-DejaVu.txt").read_text().count("Bitstream") >= 1


# --- the README's promises --------------------------------------------------------------------
def test_the_readme_buffers_example_shows_the_four_near_misses_it_promises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from deconfliction.cli import main

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(
        r"deconfliction check (src/deconfliction/demo/scenario\.geojson[^`]+)`", readme
    )
    assert found, "the README's buffers example"
    args = found.group(1).split()
    assert main(["check", *args, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    gaps = [c["gaps"] for c in out["conflicts"]]
    real = [g for g in gaps if g == {"horizontal_m": 0, "vertical_m": 0, "time_s": 0}]
    near = [g for g in gaps if g not in real]
    assert len(real) == 4 and len(near) == 4, gaps
    assert sorted(round(g["vertical_m"]) for g in near if g["vertical_m"]) == [300, 600]
    assert [round(g["time_s"]) for g in near if g["time_s"]] == [1800]
    assert [round(g["horizontal_m"] / 100) for g in near if g["horizontal_m"]] == [64]
