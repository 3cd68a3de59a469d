"""The map in a real browser (Debian's Chromium driven by Playwright) against `serve --demo`.

Every request that would leave the machine is aborted and fails the test; so does any error the
page logs (a missing glyph range, a blocked script). WebGL runs on SwiftShader (no GPU needed).
Screenshots of each step go to ``build/ui-screenshots/`` (not kept in git).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from pyproj import Proj

from helpers import free_port, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "build" / "ui-screenshots"
#: What goes untested when this module is skipped (said in the skip, so a run shows it).
NOT_TESTED = (
    "NOT TESTED: the map in a browser (MapLibre rendering of the basemap, plans and tracks, "
    "APP-6 symbols, scale bar, MGRS cursor, range and bearing, layer switches, FR and RU "
    "languages, hotline, alert countdown, offline /docs and /redoc, no request leaving the "
    "machine). Needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium) and "
    "the playwright package (the dev extra)"
)
#: WebGL on the CPU (SwiftShader), as on a machine with no GPU
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PRIME = "\u2032"  # the minutes sign

try:
    from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None or not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(NOT_TESTED)
    pytest.skip(NOT_TESTED, allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("ui-data")
    port = free_port()
    proc = serve(data, port, ["--demo"])
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Offline:
    """A browser context that may talk to this machine only: every other request is aborted
    and remembered; so is every page error and console error."""

    def __init__(self, browser: Browser, locale: str = "en-US") -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context: BrowserContext = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale=locale
        )
        self.context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
            self.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") and "milsymbol" not in m.text
                else None
            ),
        )
        return page

    def close(self) -> None:
        self.context.close()
        assert self.outside == [], f"requests that tried to leave the machine: {self.outside}"
        assert self.errors == [], self.errors


@pytest.fixture
def offline(browser: Browser) -> Iterator[Any]:
    made: list[Offline] = []

    def make(locale: str = "en-US") -> Offline:
        o = Offline(browser, locale)
        made.append(o)
        return o

    yield make
    for o in made:
        o.close()


def _login(page: Page, base: str, party: str) -> None:
    page.goto(f"{base}/ui/")
    page.click(f"button[data-party={party}]")
    page.wait_for_selector("body[data-ready='1']", timeout=90_000)
    _settle(page)


def _settle(page: Page) -> None:
    """Until the map has drawn, twice, with everything it was given loaded (the live tracks
    keep it from ever being idle for long)."""
    page.evaluate(
        """() => new Promise((done) => {
             const m = window.cop.map;
             let n = 0;
             const on = () => {
               if (m.loaded() && ++n >= 2) { m.off('render', on); done(); } else m.triggerRepaint();
             };
             m.on('render', on);
             m.triggerRepaint();
           })"""
    )


def _map(page: Page) -> dict[str, str]:
    data: dict[str, str] = page.eval_on_selector("#map", "e => ({...e.dataset})")
    return data


def _rendered(page: Page, layers: list[str]) -> int:
    n: int = page.evaluate(
        "(layers) => window.cop.map.queryRenderedFeatures({layers}).length", layers
    )
    return n


def _drawn(page: Page) -> dict[str, Any]:
    """What the map's track layer draws in view (tracks.js): tracks alone (key, symbol code,
    screen point), aggregates (count, affiliations, screen point), leaders, trails, labels."""
    drawn: dict[str, Any] = page.evaluate("() => window.cop.view.drawn()")
    return drawn


def _colour_share(
    page: Page, rgb: tuple[int, int, int], around: tuple[float, float] | None = None, half: int = 12
) -> float:
    """Share of the map canvas's pixels of one colour (within 3 per channel): all of it, or
    the square of ``2 * half`` px around a point."""
    share: float = page.evaluate(
        """([[r, g, b], around, half]) => {
            const src = window.cop.map.getCanvas();
            const c = document.createElement('canvas');
            c.width = src.width; c.height = src.height;
            const g2 = c.getContext('2d');
            g2.drawImage(src, 0, 0);
            const k = src.width / src.clientWidth;
            const d = around
                ? g2.getImageData(Math.round((around[0] - half) * k),
                                  Math.round((around[1] - half) * k),
                                  Math.round(2 * half * k), Math.round(2 * half * k)).data
                : g2.getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4)
                if (Math.abs(d[i] - r) <= 3 && Math.abs(d[i + 1] - g) <= 3
                    && Math.abs(d[i + 2] - b) <= 3) n++;
            return n / (d.length / 4);
        }""",
        [list(rgb), list(around) if around else None, half],
    )
    return share


def _deg_min(lon: float, lat: float) -> str:
    def one(v: float, pos: str, neg: str, width: int) -> str:
        a = abs(v)
        d = math.floor(a)
        m = round((a - d) * 60, 3)
        if m >= 60:
            d, m = d + 1, 0.0
        return f"{d:0{width}d}°{m:06.3f}{PRIME}{pos if v >= 0 else neg}"

    return f"{one(lat, 'N', 'S', 2)} {one(lon, 'E', 'W', 3)}"


def _token(server: str, party: str) -> str:
    tok: str = httpx.get(f"{server}/v1/dev/token", params={"party": party}).json()["token"]
    return tok


def test_the_login_page_shows_only_the_login_and_says_the_demo_login_is_on(
    server: str, offline: Any
) -> None:
    page = offline().page()
    page.goto(f"{server}/ui/")
    page.wait_for_selector("button[data-party=FR]")
    assert page.is_visible("#login")
    assert not page.is_visible("#app")  # the app panel no longer shows under the form
    assert page.is_visible("#demo-banner")
    assert "anyone who can reach this service" in page.inner_text("#demo-banner")
    page.screenshot(path=str(SHOTS / "0-login.png"))


def test_the_picture_symbols_scale_cursor_and_layers(server: str, offline: Any) -> None:
    page = offline("en-US").page()
    _login(page, server, "FR")
    # France's agreement gives it French first: the picture opens in French
    assert page.get_attribute("html", "lang") == "fr"
    assert page.inner_text("header h1") == "Situation opérationnelle commune"
    assert page.is_visible("#demo-banner")
    page.check("#all-times")
    _settle(page)
    m = _map(page)
    assert int(m["features"]) >= 8  # France's own plans and Russia's released ones
    assert _rendered(page, ["own-line", "own-line-dash"]) > 0
    assert _rendered(page, ["others-line-dash"]) > 0  # Russia's, as coarsened extents
    assert _colour_share(page, (0xF1, 0xEF, 0xE7)) > 0.02  # land (Natural Earth)
    assert _colour_share(page, (0xCF, 0xE0, 0xEE)) > 0.02  # sea
    assert len(page.query_selector_all("#conflicts li[data-id]")) == 4

    # symbols: France's own tracks as friend, Russia's (an agreement partner) as neutral
    page.wait_for_selector("#tracks li[data-party=RU]", timeout=10_000)
    own = page.eval_on_selector_all("#tracks li[data-party=FR]", "l => l.map(e => e.dataset.sidc)")
    ru = page.eval_on_selector_all("#tracks li[data-party=RU]", "l => l.map(e => e.dataset.sidc)")
    assert own and all(re.fullmatch(r"SF[AS]P.{11}", s) for s in own), own
    assert ru and all(re.fullmatch(r"SN[AS]P.{11}", s) for s in ru), ru
    assert any(s[2] == "S" for s in own) and any(s[2] == "A" for s in own)  # ships and aircraft
    _settle(page)
    # the map draws them with the same codes, each where it is: a friend's light blue around a
    # French track, a neutral's light green around a Russian one
    drawn = _drawn(page)["tracks"]
    listed = dict(
        page.eval_on_selector_all(
            "#tracks li", "l => l.map(e => [`${e.dataset.party}/${e.dataset.id}`, e.dataset.sidc])"
        )
    )
    assert drawn and all(listed[d["key"]] == d["sidc"] for d in drawn), (drawn, listed)
    for party, colour in (("FR", (0x80, 0xE0, 0xFF)), ("RU", (0xAA, 0xFF, 0xAA))):
        one = next(d for d in drawn if d["key"].startswith(f"{party}/"))
        assert _colour_share(page, colour, (one["x"], one["y"])) > 0.1, one
    page.screenshot(path=str(SHOTS / "1-main-view.png"))

    # the scale bars say what a ruler on the screen would
    zoom, lat = float(m["zoom"]), float(m["centerLat"])
    for unit in ("nm", "km"):
        bar = page.eval_on_selector(
            f"#scale [data-unit={unit}]", "e => ({...e.dataset, text: e.innerText})"
        )
        mpp = (
            40075016.686
            * math.cos(math.radians(float(_map(page)["centerLat"])))
            / (512 * 2 ** float(_map(page)["zoom"]))
        )
        assert float(bar["metres"]) == pytest.approx(float(bar["px"]) * mpp, rel=0.01)
        assert bar["text"].endswith(" NM" if unit == "nm" else (" km", " m"))
    assert zoom > 3 and -80 < lat < 80

    # the cursor's position, in degrees and minutes and in MGRS
    box = page.query_selector("#map").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 300, box["y"] + 420)
    lon, lat2 = page.evaluate("() => window.cop.map.unproject([300, 420]).toArray()")
    cur = page.eval_on_selector("#cursor", "e => ({...e.dataset, text: e.innerText})")
    mpp = 40075016.686 * math.cos(math.radians(lat2)) / (512 * 2 ** float(_map(page)["zoom"]))
    deg_per_px = mpp / 111_000
    # where the pointer is (to the pixel: the browser rounds the pointer's position)
    assert float(cur["lon"]) == pytest.approx(lon, abs=deg_per_px)
    assert float(cur["lat"]) == pytest.approx(lat2, abs=deg_per_px)
    lon, lat2 = float(cur["lon"]), float(cur["lat"])
    assert _deg_min(lon, lat2) in cur["text"]
    zone = int((lon + 180) // 6) + 1
    e, n = Proj(proj="utm", zone=zone, ellps="WGS84")(lon, lat2)
    found = re.search(r"MGRS (\d{1,2})([C-X]) ([A-Z]{2}) (\d{5}) (\d{5})", cur["text"])
    assert found, cur["text"]
    assert int(found[1]) == zone and found[2] == "CDEFGHJKLMNPQRSTUVWXX"[int((lat2 + 80) // 8)]
    assert abs(int(found[4]) - int(e) % 100_000) <= 1
    assert abs(int(found[5]) - int(n) % 100_000) <= 1

    # layer switches: tracks off, then labels off, then both on again
    page.uncheck("#layers input[data-group=tracks]")
    _settle(page)
    off = _drawn(page)
    assert off["tracks"] == [] and off["clusters"] == [] and off["leaders"] == 0
    assert _rendered(page, ["track-label"]) == 0
    assert _colour_share(page, (0x80, 0xE0, 0xFF)) == 0  # no friend's symbol left on the map
    assert _map(page)["layers"].split() == ["own", "others", "areas", "conflicts", "labels"]
    page.uncheck("#layers input[data-group=labels]")
    _settle(page)
    assert _rendered(page, ["place-country", "own-label", "others-label"]) == 0
    assert _rendered(page, ["own-line", "own-line-dash"]) > 0  # the plans stay
    page.check("#layers input[data-group=tracks]")
    page.check("#layers input[data-group=labels]")
    _settle(page)
    assert _drawn(page)["tracks"] and _rendered(page, ["own-label"]) > 0
    assert _colour_share(page, (0x80, 0xE0, 0xFF)) > 0
    page.uncheck("#layers input[data-group=own]")
    _settle(page)
    assert _rendered(page, ["own-line", "own-line-dash", "own-fill"]) == 0


def test_hovering_a_track_tells_what_it_is_and_leaving_hides_it(server: str, offline: Any) -> None:
    page = offline().page()
    _login(page, server, "FR")
    page.wait_for_selector("#tracks li[data-party=FR]", timeout=10_000)
    _settle(page)
    tracks = _drawn(page)["tracks"]

    def room(t: dict[str, Any]) -> float:  # how far the nearest other drawn track is, in px
        others = [(o["x"] - t["x"]) ** 2 + (o["y"] - t["y"]) ** 2 for o in tracks if o is not t]
        return min(others, default=1e12)

    track = max(tracks, key=room)  # the demo's ships move: one may pass over another
    box = page.query_selector("#map").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + track["x"], box["y"] + track["y"])
    page.wait_for_selector("#tooltip:not([hidden])")
    assert track["key"].split("/")[1] in page.inner_text("#tooltip")
    page.screenshot(path=str(SHOTS / "1b-hover.png"))
    page.mouse.move(box["x"] + box["width"] + 100, box["y"] + 200)  # over the side panel
    page.wait_for_selector("#tooltip", state="hidden")


def test_tracks_close_together_are_one_aggregate_that_a_click_opens(
    server: str, offline: Any
) -> None:
    page = offline().page()
    _login(page, server, "FR")
    # 60 aircraft about a kilometre apart, half France's, half Russia's, all at the same spot at
    # zoom 6 (the demo's stream set aside), one of them in an alert
    page.evaluate(
        """() => {
          window.cop.onTracks = () => {};
          window.cop.state.picture.tactical = [{tracks: ['RU/AGG-7']}];
          const tracks = Array.from({length: 60}, (_, i) => ({
            party: i % 2 ? 'RU' : 'FR', id: `AGG-${i}`, class: 'fixed-wing', level: 'full',
            time: new Date().toISOString(), lon: 33 + (i % 8) * 0.012,
            lat: 34 + Math.floor(i / 8) * 0.012, alt_m: 5000, gs_mps: 100, track_deg: 90}));
          window.cop.map.jumpTo({center: [33.04, 34.04], zoom: 6});
          window.aggregated = tracks;
          window.cop.applyTracks(tracks);
        }"""
    )
    _settle(page)
    drawn = _drawn(page)
    assert drawn["tracks"] == [] and drawn["leaders"] == 0 and drawn["labelled"] == 0
    [agg] = drawn["clusters"]
    assert (agg["count"], agg["friend"], agg["neutral"], agg["alert"]) == (60, 30, 30, 1)
    # drawn as a circle in the friend's colour (half or more are friends), with its count, and
    # ringed in red (one is in an alert)
    assert _colour_share(page, (0x80, 0xE0, 0xFF), (agg["x"], agg["y"])) > 0.2
    assert _colour_share(page, (0x1B, 0x24, 0x30), (agg["x"], agg["y"])) > 0.02  # "60", in ink
    assert _colour_share(page, (0xD7, 0x19, 0x1C), (agg["x"], agg["y"]), half=20) > 0.05
    box = page.query_selector("#map").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + agg["x"], box["y"] + agg["y"])
    page.wait_for_selector("#tooltip:not([hidden])")
    assert page.inner_text("#tooltip") == "60 pistes"
    page.screenshot(path=str(SHOTS / "1d-aggregate.png"))
    # a click opens it: the map zooms in to where it comes apart
    page.mouse.click(box["x"] + agg["x"], box["y"] + agg["y"])
    page.wait_for_function("() => window.cop.map.getZoom() > 7 && !window.cop.map.isMoving()")
    _settle(page)
    drawn = _drawn(page)
    assert len(drawn["clusters"]) + len(drawn["tracks"]) > 1
    assert sum(c["count"] for c in drawn["clusters"]) + len(drawn["tracks"]) == 60
    # closer still, each on its own, with its leader and its label
    page.evaluate("() => window.cop.map.jumpTo({center: [33.04, 34.04], zoom: 11})")
    page.wait_for_function("() => window.cop.view.drawn().leaders === 60")
    _settle(page)
    drawn = _drawn(page)
    assert drawn["clusters"] == []
    assert sorted(d["key"] for d in drawn["tracks"]) == sorted(
        f"{'RU' if i % 2 else 'FR'}/AGG-{i}" for i in range(60)
    )
    assert {d["sidc"] for d in drawn["tracks"]} == {"SFAPMF---------", "SNAPMF---------"}
    assert drawn["labelled"] == 60 and _rendered(page, ["track-label"]) > 0
    assert drawn["trails"] == 0  # one position each so far
    # a few seconds on, each has a history trail
    page.evaluate(
        """() => window.cop.applyTracks(window.aggregated.map(
             (t) => ({...t, lon: t.lon + 0.002, time: new Date().toISOString()})))"""
    )
    _settle(page)
    assert _drawn(page)["trails"] == 60
    page.screenshot(path=str(SHOTS / "1e-aggregate-opened.png"))


def test_range_and_bearing_between_two_clicks(server: str, offline: Any) -> None:
    page = offline().page()
    _login(page, server, "FR")
    page.click("#rb")
    box = page.query_selector("#map").bounding_box()
    assert box is not None
    a, b = (250.0, 300.0), (650.0, 520.0)
    page.mouse.click(box["x"] + a[0], box["y"] + a[1])
    page.mouse.click(box["x"] + b[0], box["y"] + b[1])
    (lon1, lat1), (lon2, lat2) = page.evaluate(
        "(pts) => pts.map((p) => window.cop.map.unproject(p).toArray())", [a, b]
    )
    out = page.eval_on_selector("#rb-readout", "e => ({...e.dataset, text: e.innerText})")
    from pyproj import Geod

    fwd, _, dist = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    assert float(out["distanceM"]) == pytest.approx(dist, rel=0.005)
    assert float(out["bearingDeg"]) == pytest.approx(fwd % 360, abs=0.5)
    shown_nm = float(out["distanceM"]) / 1852  # the readout says what it measured
    assert f"{shown_nm:.0f}" in out["text"] or f"{shown_nm:.1f}" in out["text"], out
    assert "°" in out["text"]
    _settle(page)
    assert _rendered(page, ["tool-line"]) > 0
    page.screenshot(path=str(SHOTS / "1c-range-bearing.png"))


def test_a_conflict_in_the_list_zooms_and_highlights_its_pair(server: str, offline: Any) -> None:
    page = offline().page()
    _login(page, server, "FR")
    before = _map(page)
    page.click(":nth-match(#conflicts li[data-id] button, 3)")  # a short sortie
    page.wait_for_selector("#thread-panel:not([hidden])")
    _settle(page)
    after = _map(page)
    assert float(after["zoom"]) > float(before["zoom"])
    cid = page.get_attribute("#conflicts li.selected", "data-id")
    fr = {"Authorization": f"Bearer {_token(server, 'FR')}"}
    c = next(
        x
        for x in httpx.get(f"{server}/v1/conflicts", headers=fr).json()["conflicts"]
        if x["id"] == cid
    )
    # records are known by owner and id; a notice names no id of the other side
    named = [f"{s['owner']}/{s['id']}" for s in (c["a"], c["b"]) if s["id"] is not None]
    assert after["selectedPair"].split() == sorted(named)
    assert _rendered(page, ["selected-casing"]) > 0
    page.screenshot(path=str(SHOTS / "2-conflict-selected.png"))


def test_a_new_intent_bad_paste_then_conflicts_before_submit(server: str, offline: Any) -> None:
    page = offline().page()
    _login(page, server, "FR")
    page.select_option("#lang", "en")
    page.check("#all-times")
    n_before = int(_map(page)["features"])
    page.fill("#geojson", '{"type": "Polygon", "coordinates": [[[35.85, 35.35], oops')
    page.click("#check")
    status = page.inner_text("#draft-status")
    assert status.startswith("GeoJSON: not valid JSON") and "SyntaxError" not in status
    page.fill("#geojson", '{"type": "Point", "coordinates": [35.85, 35.35]}')
    page.click("#check")
    assert "expected a Polygon" in page.inner_text("#draft-status")
    assert '"Point"' in page.inner_text("#draft-status")
    # a box over the Russian air base area, all day
    ring = [[35.85, 35.35], [36.05, 35.35], [36.05, 35.5], [35.85, 35.5], [35.85, 35.35]]
    page.fill("#geojson", '{"type": "Polygon", "coordinates": [' + str(ring) + "]}")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    page.fill("#t-start", start.strftime("%Y-%m-%d %H:%M"))
    page.fill("#t-end", (start + timedelta(hours=23)).strftime("%Y-%m-%d %H:%M"))
    page.fill("#alt-hi", "12000")
    page.click("#check")
    page.wait_for_selector("#draft-conflicts li", timeout=5000)
    n = len(page.query_selector_all("#draft-conflicts li"))
    assert "(RU)" in page.inner_text("#draft-conflicts")
    want = f"{n} conflict before submit" if n == 1 else f"{n} conflicts before submit"
    assert page.inner_text("#draft-status") == want
    page.screenshot(path=str(SHOTS / "3-draft-conflicts.png"))
    page.click("#submit")
    for _ in range(100):
        if int(_map(page)["features"]) > n_before:
            break
        page.wait_for_timeout(100)
    assert int(_map(page)["features"]) > n_before


def test_france_and_russia_side_by_side_each_in_its_language(server: str, offline: Any) -> None:
    """Both browsers say en-US; each party reads its agreement's language."""
    fr = offline("en-US").page()
    ru = offline("en-US").page()
    _login(fr, server, "FR")
    _login(ru, server, "RU")
    assert fr.get_attribute("html", "lang") == "fr"
    assert ru.get_attribute("html", "lang") == "ru"
    assert ru.inner_text("header h1") == "Общая оперативная обстановка"
    assert ru.inner_text("#scale [data-unit=nm]").endswith("мор. миль")
    assert "Слои" in ru.inner_text("#panel")
    for page in (fr, ru):
        page.click(":nth-match(#conflicts li[data-id] button, 1)")
        page.wait_for_selector("#thread-panel:not([hidden])")
    fr.select_option("#code", "REQ_ALTER_COURSE")
    fr.fill("#params input[data-param=heading]", "90")
    fr.click("#send-form button[type=submit]")
    fr.wait_for_selector("#send-status:has-text('Envoyé.')")
    # the form is ready for the next message: back to free text, nothing left in it
    assert fr.eval_on_selector("#code", "e => e.value") == ""
    assert fr.query_selector_all("#params input") == []
    assert fr.input_value("#free-text") == ""
    ru.wait_for_selector("#messages li .text", timeout=10_000)
    ru_text = ru.inner_text("#messages")
    assert "090" in ru_text and re.search("[\u0400-\u04ff]", ru_text)  # Cyrillic
    assert "090" in fr.inner_text("#messages")
    ru.screenshot(path=str(SHOTS / "4-hotline-ru.png"))
    fr.screenshot(path=str(SHOTS / "4-hotline-fr.png"))


def test_an_area_alert_counts_down_on_the_clock(server: str, offline: Any) -> None:
    page = offline().page()
    _login(page, server, "FR")
    page.select_option("#lang", "en")
    headers = {"Authorization": f"Bearer {_token(server, 'FR')}"}
    ru = {"Authorization": f"Bearer {_token(server, 'RU')}"}
    # a Russian firing area active now, off Cyprus, and a French aircraft 20 km west of it
    # flying straight at it at 60 m/s
    now = datetime.now(UTC)
    cx, cy = 33.0, 34.0
    area = {
        "id": "RU-FIRING-UI",
        "name": "firing area for the map test",
        "volumes": [
            {
                "footprint": {"type": "Circle", "center": [cx, cy], "radius_m": 3000},
                "alt_lower_m": 0,
                "alt_upper_m": 10000,
                "time_start": (now - timedelta(hours=1)).isoformat(),
                "time_end": (now + timedelta(hours=2)).isoformat(),
            }
        ],
    }
    r = httpx.post(f"{server}/v1/areas", json=area, headers=ru)
    assert r.status_code == 201, r.text
    state = {
        "id": "RAFALE-X",
        "class": "fixed-wing",
        "time": now.isoformat(),
        "lon": cx - 20_000 / (111_320 * math.cos(math.radians(cy))),
        "lat": cy,
        "alt_m": 5000,
        "gs_mps": 60,
        "track_deg": 90,
    }
    r = httpx.post(f"{server}/v1/tracks", json={"states": [state]}, headers=headers)
    assert r.status_code == 202, r.text
    item = "#alerts li[data-kind=area]:has-text('FR/RAFALE-X'):has-text('RU-FIRING-UI')"
    page.wait_for_selector(item, timeout=15_000)

    def seconds() -> int:
        text = page.inner_text(item)
        found = re.search(r"in (?:(\d+) min )?(\d+) s", text)
        assert found, text
        return int(found[1] or 0) * 60 + int(found[2])

    first = seconds()
    page.wait_for_timeout(2500)
    assert seconds() < first  # counted down on this clock, whatever the server sent since
    page.screenshot(path=str(SHOTS / "5-area-alert.png"))


def test_the_page_logic_in_the_browser(server: str, offline: Any) -> None:
    """geo.js and i18n.js, run where they run: countdown times, affiliations, plurals."""
    page = offline().page()
    page.goto(f"{server}/ui/")
    out = page.evaluate(
        """async () => {
          const g = await import('/ui/geo.js');
          const i = await import('/ui/i18n.js');
          const ru = i.translator('ru'), en = i.translator('en'), fr = i.translator('fr');
          const at = (a) => { const t = g.alertTimes(a);
            return [t.cpa, t.enter, t.exit].map(
              (v) => v === null ? null : new Date(v).toISOString()); };
          return {
            absolute: at({t_enter: '2026-01-01T10:05:00Z', t_exit: '2026-01-01T10:09:00Z',
                          t_enter_s: 300, updated_at: '2026-01-01T10:00:00Z'}),
            none: at({t_enter: null, t_exit: null, t_enter_s: 300,
                      updated_at: '2026-01-01T10:00:00Z'}),
            relative: at({t_cpa_s: 90, updated_at: '2026-01-01T10:00:00Z'}),
            missing: at({}),
            aff: [g.affiliation('FR', 'FR', ['RU']), g.affiliation('RU', 'FR', ['RU']),
                  g.affiliation('UK', 'FR', ['RU'])],
            sidc: [g.sidc('fixed-wing', 'F'), g.sidc('ship', 'N'), g.sidc('drone', 'U'),
                   g.sidc('rotary', 'F')],
            plural: [en('countTracks', {n: 1}), en('countTracks', {n: 2}),
                     fr('countTracks', {n: 1}), ru('countTracks', {n: 1}),
                     ru('countTracks', {n: 3}), ru('countTracks', {n: 5}),
                     ru('countTracks', {n: 21})],
            lang: [i.pickLanguage(['ru'], ['en-US']), i.pickLanguage([], ['fr-FR', 'en']),
                   i.pickLanguage(['de'], ['de-DE']), i.pickLanguage(['fr', 'en'], ['ru'])],
            dm: [g.degMin(36.5, -35.25), g.degMin(-0.999999, 0.5)],
            alt: [g.altitudeText(7000, 'fixed-wing', en), g.altitudeText(150, 'drone', ru),
                  g.speedText(230, en), g.speedText(230, ru)],
            words: [en, fr, ru].map((t) => Object.keys(i.WORDS.en).filter((k) => !(k in
                    i.WORDS[t === en ? 'en' : t === fr ? 'fr' : 'ru']))),
          };
        }"""
    )
    # the absolute times win over the relative seconds
    assert out["absolute"] == [None, "2026-01-01T10:05:00.000Z", "2026-01-01T10:09:00.000Z"]
    assert out["none"] == [None, None, None]  # no fallback value shown as a time
    assert out["relative"] == ["2026-01-01T10:01:30.000Z", None, None]
    assert out["missing"] == [None, None, None]
    assert out["aff"] == ["F", "N", "U"]
    assert out["sidc"] == [
        "SFAPMF---------",
        "SNSPC----------",
        "SUAPMFQ--------",
        "SFAPMH---------",
    ]
    assert out["plural"] == [
        "1 track",
        "2 tracks",
        "1 piste",
        "1 трек",
        "3 трека",
        "5 треков",
        "21 трек",
    ]
    assert out["lang"] == ["ru", "fr", "en", "fr"]
    assert out["dm"] == [
        f"35°15.000{PRIME}S 036°30.000{PRIME}E",
        f"00°30.000{PRIME}N 001°00.000{PRIME}W",
    ]
    assert out["alt"] == ["FL230", "150 м", "447 kt", "447 уз"]
    assert out["words"] == [[], [], []]  # every string in every language


def test_the_api_docs_work_offline(server: str, offline: Any) -> None:
    o = offline()
    page = o.page()
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert len(page.query_selector_all(".opblock")) > 20
    page.screenshot(path=str(SHOTS / "6-docs.png"))
    page.goto(f"{server}/redoc")
    page.wait_for_selector("h1", timeout=20_000)
    page.wait_for_selector("text=deconfliction", timeout=20_000)


def test_the_map_countersigns_what_extends_and_raises_the_alarm_otherwise(
    tmp_path: Path, offline: Any
) -> None:
    """The map is a witness of the audit log: it checks the newest checkpoint extends the one it
    kept (from the start of the log on first use) and countersigns it with this browser's key;
    after an operator who holds the database, the data folder and the service's key rewrites
    an early entry and has the service sign the new chain, it signs nothing and says ALARM."""
    import sqlite3

    from test_audit import _rehash

    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(data, port, ["--demo"])
    browsing = offline()  # one browser profile: what the map kept survives the restart
    try:
        page = browsing.page()
        _login(page, base, "FR")
        first = page.evaluate("() => window.cop.witness()")
        assert first["state"] == "ok", first
        fr = {"Authorization": f"Bearer {_token(base, 'FR')}"}
        signed = httpx.get(f"{base}/v1/audit/checkpoints", headers=fr).json()["checkpoints"]
        assert any(c["seq"] == first["seq"] and "FR" in c["countersigned_by"] for c in signed)
        # more entries, a later checkpoint (an export signs the head): it extends, signed again
        httpx.get(f"{base}/v1/audit/export", headers=fr).raise_for_status()
        second = page.evaluate("() => window.cop.witness()")
        assert second["state"] == "ok" and second["seq"] > first["seq"], second
        assert str(second["seq"]) in page.inner_text("#witness")  # FR's map speaks French
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # the operator: an early entry changed, every hash after it recomputed, the checkpoints
    # dropped, and the service's memory of what it signed removed from the data folder
    conn = sqlite3.connect(data / "deconfliction.db", isolation_level=None)
    conn.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
    _rehash(conn, 2)
    conn.execute("DELETE FROM audit_checkpoints")
    conn.close()
    (data / "audit-head.json").unlink()
    proc = serve(data, port, ["--demo"])  # signs the rewritten head on start
    try:
        page = browsing.page()
        _login(page, base, "FR")
        third = page.evaluate("() => window.cop.witness()")
        assert third["state"] == "alarm" and "history was rewritten" in third["why"], third
        assert "ALERTE" in page.inner_text("#witness")
        assert page.get_attribute("#witness", "class") == "alarm"
        assert page.get_attribute("#witness", "role") == "alert"
        fr = {"Authorization": f"Bearer {_token(base, 'FR')}"}
        signed = httpx.get(f"{base}/v1/audit/checkpoints", headers=fr).json()["checkpoints"]
        assert signed and all("FR" not in c["countersigned_by"] for c in signed)
        page.screenshot(path=str(SHOTS / "9-witness-alarm.png"))
        page.close()  # before the service stops: its streams would say so
    finally:
        proc.terminate()
        proc.wait(timeout=30)
