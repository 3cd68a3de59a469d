"""Make the screenshots in the README and docs/ui.md from the demo, in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/img]

Starts ``deconfliction serve --demo`` on a free loopback port with a fresh data folder, logs in
as France and as Russia (each browser set to en-US: each party reads its agreement's language),
and saves:

- ``ui-main.png``: France's picture (French): plans, Russia's released extents, tracks as APP-6
  symbols with their leaders and labels, the legend, scale, cursor position;
- ``ui-conflict.png``: a conflict selected (its pair highlighted) and its hotline;
- ``ui-ru.png``: the same service as Russia sees it, in Russian, with the range-and-bearing tool.

No request leaves the machine (the same guard as the tests). With ``pngquant`` installed
(Debian: ``apt-get install pngquant``) the images are quantized to 256 colours, about a third of
the size; without it they are kept as Chromium wrote them.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
from playwright.sync_api import Page, Route, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _guard(route: Route) -> None:
    host = urlparse(route.request.url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"the page tried to reach {route.request.url}")
    route.continue_()


def _settle(page: Page, extra_ms: int = 800) -> None:
    page.evaluate(
        """() => new Promise((done) => {
             const m = window.cop.map; let n = 0;
             const on = () => { if (m.loaded() && ++n >= 3) { m.off('render', on); done(); }
                                else m.triggerRepaint(); };
             m.on('render', on); m.triggerRepaint(); })"""
    )
    page.wait_for_timeout(extra_ms)


def _shrink(path: Path) -> None:
    if shutil.which("pngquant"):
        subprocess.run(
            ["pngquant", "--force", "--skip-if-larger", "--output", str(path), "256", str(path)],
            check=False,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        cmd = [sys.executable, "-m", "deconfliction", "serve", "--demo", "--port", str(port)]
        proc = subprocess.Popen(
            [*cmd, "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/v1/health", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            time.sleep(4)  # a few seconds of the demo's traffic: the tracks have trails
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                shots(browser, base, out)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for name in ("ui-main.png", "ui-conflict.png", "ui-ru.png"):
        _shrink(out / name)
        print(f"{out / name}: {(out / name).stat().st_size // 1024} KB")


def _open(browser: object, base: str, party: str) -> Page:
    ctx = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 760}, locale="en-US"
    )
    ctx.route("**/*", _guard)
    page: Page = ctx.new_page()
    page.goto(f"{base}/ui/")
    page.click(f"button[data-party={party}]")
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    page.wait_for_selector(f"#tracks li[data-party={party}]", timeout=120_000)
    return page


def shots(browser: object, base: str, out: Path) -> None:
    fr = _open(browser, base, "FR")
    fr.click("#legend-box summary")
    fr.click("#layers-box summary")  # the layer switches folded: the legend in view
    fr.evaluate("() => window.cop.map.jumpTo({center: [34.9, 35.0], zoom: 7.3})")
    _settle(fr)
    box = fr.query_selector("#map").bounding_box()
    assert box is not None
    fr.mouse.move(box["x"] + 640, box["y"] + 520)
    _settle(fr, 300)
    fr.screenshot(path=str(out / "ui-main.png"))

    fr.click(":nth-match(#conflicts li[data-id] button, 1)")
    fr.wait_for_selector("#thread-panel:not([hidden])")
    fr.select_option("#code", "REQ_ALTER_COURSE")
    fr.fill("#params input[data-param=heading]", "90")
    fr.click("#send-form button[type=submit]")
    fr.wait_for_selector("#messages li")
    fr.click("#legend-box summary")
    _settle(fr)
    fr.screenshot(path=str(out / "ui-conflict.png"))

    ru = _open(browser, base, "RU")
    ru.evaluate("() => window.cop.map.jumpTo({center: [35.4, 35.1], zoom: 7.6})")
    _settle(ru)
    ru.click("#rb")
    rbox = ru.query_selector("#map").bounding_box()
    assert rbox is not None
    ru.mouse.click(rbox["x"] + 420, rbox["y"] + 330)
    ru.mouse.click(rbox["x"] + 700, rbox["y"] + 470)
    ru.mouse.move(rbox["x"] + 720, rbox["y"] + 560)
    _settle(ru)
    ru.screenshot(path=str(out / "ui-ru.png"))


if __name__ == "__main__":
    main()
