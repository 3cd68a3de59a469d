"""The map in a real browser (Debian's Chromium driven by Playwright) against `serve --demo`.

Screenshots of each step go to ``build/ui-screenshots/`` (not kept in git).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import free_port, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "build" / "ui-screenshots"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None or not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("the UI tests need Chromium (/usr/bin/chromium) and playwright in CI")
    pytest.skip("Chromium or playwright is not installed here", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("ui-data")
    port = free_port()
    proc = serve(data, port, ["--demo"])
    base = f"http://127.0.0.1:{port}"
    yield base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def _open(browser: Browser, base: str, party: str, lang: str = "en") -> Page:
    ctx = browser.new_context(viewport={"width": 1400, "height": 860}, locale=lang)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/ui/")
    page.click(f"button[data-party={party}]")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    page.select_option("#lang", lang)
    page.wait_for_timeout(200)
    assert errors == [], errors
    return page


def _map(page: Page) -> dict[str, str]:
    data: dict[str, str] = page.eval_on_selector("#map", "c => ({...c.dataset})")
    return data


def _until(page: Page, cond: Any, timeout_s: float) -> None:
    """Wait until ``cond(map data attributes)`` holds (the page's policy forbids eval, so no
    wait_for_function)."""
    deadline = time.monotonic() + timeout_s
    while not cond(_map(page)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; map data: {_map(page)}")
        page.wait_for_timeout(50)


def _colour_share(page: Page, rgb: tuple[int, int, int]) -> float:
    """Share of the map's pixels of one colour (within 3 per channel)."""
    share: float = page.evaluate(
        """([r, g, b]) => {
            const c = document.getElementById('map');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4)
                if (Math.abs(d[i] - r) <= 3 && Math.abs(d[i + 1] - g) <= 3
                    && Math.abs(d[i + 2] - b) <= 3) n++;
            return n / (d.length / 4);
        }""",
        list(rgb),
    )
    return share


def test_the_map_shows_the_basemap_and_the_demo_intents(server: str, browser: Browser) -> None:
    page = _open(browser, server, "FR")
    page.check("#all-times")
    page.wait_for_timeout(200)
    assert int(_map(page)["features"]) >= 8  # FR's own plans and RU's released ones
    assert _colour_share(page, (0xF1, 0xEF, 0xE7)) > 0.02  # land (Natural Earth) is drawn
    assert _colour_share(page, (0xCF, 0xE0, 0xEE)) > 0.02  # and sea
    legend = page.inner_text("#legend")
    assert "FR" in legend and "RU" in legend
    assert len(page.query_selector_all("#conflicts li[data-id]")) == 4
    page.screenshot(path=str(SHOTS / "1-main-view.png"))
    # hovering an intent tells what it is
    box = page.query_selector("#map").bounding_box()
    assert box is not None
    found = False
    for fx in range(1, 10):
        for fy in range(1, 10):
            page.mouse.move(box["x"] + box["width"] * fx / 10, box["y"] + box["height"] * fy / 10)
            if page.is_visible("#tooltip"):
                found = True
                break
        if found:
            break
    assert found and re.search(r"alt \d+\u2013\d+ m", page.inner_text("#tooltip"))
    page.screenshot(path=str(SHOTS / "1b-hover.png"))
    page.context.close()


def test_a_conflict_in_the_list_zooms_the_map(server: str, browser: Browser) -> None:
    page = _open(browser, server, "FR")
    before = _map(page)
    page.click(":nth-match(#conflicts li[data-id] button, 3)")  # a short sortie
    _until(page, lambda m: m["zoom"] != before["zoom"], 3.0)
    after = _map(page)
    assert float(after["zoom"]) > float(before["zoom"])
    assert page.is_visible("#thread-panel")
    page.screenshot(path=str(SHOTS / "2-conflict-zoomed.png"))
    page.context.close()


def test_a_new_intent_shows_its_conflicts_before_submit(server: str, browser: Browser) -> None:
    page = _open(browser, server, "FR")
    page.check("#all-times")
    n_before = int(_map(page)["features"])
    # a box over the Russian air base area, now until three hours from now
    ring = [[35.85, 35.35], [36.05, 35.35], [36.05, 35.5], [35.85, 35.5], [35.85, 35.35]]
    page.fill("#geojson", '{"type": "Polygon", "coordinates": [' + str(ring) + "]}")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    page.fill("#t-start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#t-end", (start + timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#alt-hi", "12000")
    page.click("#check")
    page.wait_for_selector("#draft-conflicts li", timeout=3000)
    conflicts = page.inner_text("#draft-conflicts")
    assert "(RU)" in conflicts
    assert "conflicts before submit" in page.inner_text("#draft-status")
    page.screenshot(path=str(SHOTS / "3-draft-conflicts.png"))
    page.click("#submit")
    _until(page, lambda m: int(m["features"]) > n_before, 3.0)
    page.context.close()


def test_a_hotline_message_reaches_the_other_party_in_its_language(
    server: str, browser: Browser
) -> None:
    fr = _open(browser, server, "FR", "fr")
    ru = _open(browser, server, "RU", "ru")
    for page in (fr, ru):
        page.click(":nth-match(#conflicts li[data-id] button, 1)")
        page.wait_for_selector("#thread-panel:not([hidden])")
    fr.select_option("#code", "REQ_ALTER_COURSE")
    fr.fill("#params input[data-param=heading]", "90")
    fr.click("#send-form button[type=submit]")
    sent = time.monotonic()
    ru_text = "Прошу вас лечь на истинный курс 090°."  # the reviewed wording (docs/hotline.md)
    ru.wait_for_selector(f"#messages li:has-text('{ru_text}')", timeout=1000)
    assert time.monotonic() - sent < 1.0
    assert "Je vous demande de venir au cap 090° vrai." in fr.inner_text("#messages")
    ru.screenshot(path=str(SHOTS / "4-hotline-ru.png"))
    fr.screenshot(path=str(SHOTS / "4-hotline-fr.png"))
    fr.context.close()
    ru.context.close()


def _token(server: str, party: str) -> str:
    tok: str = httpx.get(f"{server}/v1/dev/token", params={"party": party}).json()["token"]
    return tok


def test_a_track_moved_by_the_api_moves_on_the_map(server: str, browser: Browser) -> None:
    page = _open(browser, server, "FR")
    headers = {"Authorization": f"Bearer {_token(server, 'FR')}"}

    def report(lon: float, lat: float, dt_s: float) -> None:
        at = datetime.now(UTC) + timedelta(seconds=dt_s)
        state: dict[str, Any] = {
            "id": "RAFALE-1",
            "class": "fixed-wing",
            "time": at.isoformat(),
            "lon": lon,
            "lat": lat,
            "alt_m": 7000,
            "gs_mps": 230,
            "track_deg": 45,
            "vs_mps": 0,
        }
        r = httpx.post(f"{server}/v1/tracks", json={"states": [state]}, headers=headers)
        assert r.status_code == 202, r.text

    report(34.5, 34.5, 0)
    page.wait_for_selector("#tracks li[data-id='RAFALE-1']", timeout=2000)
    assert page.get_attribute("#tracks li[data-id='RAFALE-1']", "data-lon") == "34.5"
    assert int(_map(page)["tracks"]) >= 1  # with the demo's own traffic
    page.screenshot(path=str(SHOTS / "5a-track.png"))
    report(34.8, 34.7, 1)
    moved = time.monotonic()
    page.wait_for_selector("#tracks li[data-id='RAFALE-1'][data-lon='34.8']", timeout=1000)
    assert time.monotonic() - moved < 1.0
    page.screenshot(path=str(SHOTS / "5b-track-moved.png"))
    # a Russian aircraft head-on at the same level: the tactical alert appears in the list
    ru = {"Authorization": f"Bearer {_token(server, 'RU')}"}
    at = datetime.now(UTC) + timedelta(seconds=1)
    su = {
        "id": "SU-30",
        "class": "fixed-wing",
        "time": at.isoformat(),
        "lon": 35.0,
        "lat": 34.7,
        "alt_m": 7000,
        "gs_mps": 230,
        "track_deg": 270,
        "vs_mps": 0,
    }
    assert httpx.post(f"{server}/v1/tracks", json={"states": [su]}, headers=ru).status_code == 202
    # (the demo's own traffic may raise other alerts: look for this pair's)
    pair = "FR/RAFALE-1 \u00d7 RU/SU-30"
    page.wait_for_selector(f"#conflicts li.tactical:has-text('{pair}')", timeout=5000)
    page.screenshot(path=str(SHOTS / "5c-tactical-alert.png"))
    page.context.close()
