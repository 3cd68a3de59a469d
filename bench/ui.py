"""The map with 10,000 live tracks, in headless Chromium: one update, and frames while panning.

    .venv/bin/python bench/ui.py [--tracks 10000] [--updates 15] [--pan-s 4]

Starts ``deconfliction serve --demo`` on a loopback port (a fresh data folder), logs in as France,
takes the track stream over (the demo's own traffic is set aside), and in the page:

- **one update**: a ``tracks`` message as the stream delivers it (JSON text of N tracks, a third
  of them France's, the rest Russia's; each one moved since the last message), from the text to
  the map having drawn it: ``JSON.parse``, the track arrays built, aggregates made, the track
  layer's buffers filled and the next frame drawn with them (the track layer draws symbols,
  aggregates, leaders and trails; tracks.js). Median and 90th percentile over ``--updates``
  messages. Then, apart: until the labels are placed too (MapLibre's worker lays them out,
  for the tracks drawn alone in view), and one frame with nothing new in it (the floor under an
  update: MapLibre's frame, drawn by SwiftShader on the CPU).
- **CPU time an update**: the CPU time (user + system) of every Chromium process (the page's,
  MapLibre's worker threads in it, the GPU process that runs SwiftShader) over ``--updates``
  updates, less that of as many rounds of the bench's own work alone (tracks moved, JSON
  written), a round. Less swayed by other processes on the machine than the wall times.
- **frames while panning**: the map panned by 4 pixels a frame for ``--pan-s`` seconds with every
  track in view; the time between frames (median, 95th percentile) and frames per second.

Tracks: uniform in 30..38 E, 32..37 N (all in view at zoom 6, the worst case: every one
drawn or aggregated), classes mixed, speeds 5..260 m/s. WebGL runs on SwiftShader (the CPU): a
machine with a GPU draws faster. Prints the figures and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
]

#: runs in the page: N tracks, moved a little each call, as the stream's JSON text
MAKE = """(n) => {
  const classes = ['fixed-wing', 'fixed-wing', 'rotary', 'drone', 'ship'];
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  window.benchTracks = Array.from({length: n}, (_, i) => {
    const cls = classes[i % classes.length];
    return {party: i % 3 === 0 ? 'FR' : 'RU', level: 'full', id: `T${i}`, class: cls,
            time: new Date().toISOString(), lon: 30 + 8 * rnd(), lat: 32 + 5 * rnd(),
            alt_m: cls === 'ship' ? 0 : 300 + 11000 * rnd(),
            gs_mps: cls === 'ship' ? 5 + 10 * rnd() : 40 + 220 * rnd(),
            track_deg: 360 * rnd(), vs_mps: 0};
  });
  window.cop.onTracks = () => {};  // the demo's stream no longer draws
  return n;
}"""

UPDATE = """async (apply) => {
  const m = window.cop.map;
  for (const tr of window.benchTracks) {  // each track a few seconds further on
    const r = tr.track_deg * Math.PI / 180;
    tr.lon += Math.sin(r) * tr.gs_mps * 2 / 90000;
    tr.lat += Math.cos(r) * tr.gs_mps * 2 / 111000;
    tr.time = new Date().toISOString();
  }
  const text = JSON.stringify({tracks: window.benchTracks});
  await new Promise((r) => setTimeout(r, 50));  // the page quiet before the message comes
  if (!apply) return {ms: 0, build: 0, labels: 0, bytes: text.length};  // the bench's own work
  const layer = window.cop.view.trackLayer;
  const t0 = performance.now();
  window.cop.applyTracks(JSON.parse(text).tracks);
  const built = performance.now();
  if (!layer) {  // the map before decision 0013 (tracks as MapLibre GeoJSON): as it measured
    const t = await new Promise((done) => {
      const onData = (e) => {
        if (e.sourceId !== 'tracks' || !m.isSourceLoaded('tracks')) return;
        m.off('sourcedata', onData);
        m.once('render', () => done(performance.now()));
        m.triggerRepaint();
      };
      m.on('sourcedata', onData);
    });
    return {ms: t - t0, build: built - t0, labels: t - t0, bytes: text.length};
  }
  const version = layer.version;
  // drawn: the first frame that drew this version (MapLibre's 'render' event, after the frame)
  const t1 = await new Promise((done) => {
    const on = () => {
      if (layer.drawnVersion < version) return;
      m.off('render', on);
      done(performance.now());
    };
    m.on('render', on);
    m.triggerRepaint();
  });
  // labelled: MapLibre's worker done with the labels' source, and a frame drawn with them
  const t2 = m.isSourceLoaded('track-labels') ? t1 : await new Promise((done) => {
    const on = (e) => {
      if (e.sourceId !== 'track-labels' || !m.isSourceLoaded('track-labels')) return;
      m.off('sourcedata', on);
      m.once('render', () => done(performance.now()));
      m.triggerRepaint();
    };
    m.on('sourcedata', on);
  });
  return {ms: t1 - t0, build: built - t0, labels: t2 - t0, bytes: text.length};
}"""

#: runs in the page: what is drawn in view
DRAWN = """() => {
  const v = window.cop.view;
  if (!v.drawn) {  // the map before decision 0013: MapLibre's layers
    const q = (id) => window.cop.map.queryRenderedFeatures({layers: [id]});
    const agg = q('clusters');
    return {alone: q('tracks').length, aggregates: agg.length, labelled: q('track-label').length,
            inAggregates: agg.reduce((s, f) => s + f.properties.point_count, 0)};
  }
  const d = v.drawn();
  return {alone: d.tracks.length, aggregates: d.clusters.length, labelled: d.labelled,
          inAggregates: d.clusters.reduce((s, c) => s + c.count, 0)};
}"""

#: runs in the page: one frame with nothing new in it, from the request to MapLibre's 'render'
#: event (what every update waits for at the end: the floor under "one update")
FRAME = """async (draw) => {
  const m = window.cop.map;
  await new Promise((r) => setTimeout(r, 50));
  if (!draw) return 0;
  const t0 = performance.now();
  const t1 = await new Promise((done) => { m.once('render', () => done(performance.now()));
                                            m.triggerRepaint(); });
  return t1 - t0;
}"""

PAN = """async (seconds) => {
  const m = window.cop.map;
  const stamps = [];
  const onRender = () => stamps.push(performance.now());
  m.on('render', onRender);
  const end = performance.now() + seconds * 1000;
  let dir = 1, steps = 0;
  await new Promise((done) => {
    const step = () => {
      if (performance.now() > end) return done();
      if (++steps % 60 === 0) dir = -dir;
      m.panBy([4 * dir, 2 * dir], {duration: 0});
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  m.off('render', onRender);
  const gaps = stamps.slice(1).map((t, i) => t - stamps[i]).sort((a, b) => a - b);
  const q = (p) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))];
  return {frames: stamps.length, median: q(0.5), p95: q(0.95),
          fps: (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000)};
}"""


def _chromium_cpu_s() -> float:
    """CPU time (user + system) of every Chromium process this one started, so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, str, float]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        procs[int(d)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / ticks)
    mine = {os.getpid()}
    for _ in range(8):  # descendants, a few generations down
        mine |= {pid for pid, (ppid, _, _) in procs.items() if ppid in mine}
    return sum(cpu for pid, (_, name, cpu) in procs.items() if pid in mine and "chrom" in name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=10_000)
    ap.add_argument("--updates", type=int, default=15)
    ap.add_argument("--pan-s", type=float, default=4.0)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deconfliction",
                "serve",
                "--demo",
                "--port",
                str(port),
                "--data-dir",
                data,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 760})
                page.goto(f"{base}/ui/")
                page.click("button[data-party=FR]")
                page.wait_for_selector("body[data-ready='1']", timeout=120_000)
                page.evaluate("() => window.cop.map.jumpTo({center: [34, 34.5], zoom: 6})")
                page.evaluate(MAKE, args.tracks)
                page.evaluate(UPDATE, True)  # the first draws every symbol image once
                cpu0 = _chromium_cpu_s()
                for _ in range(args.updates):
                    page.evaluate(UPDATE, False)
                cpu1 = _chromium_cpu_s()
                runs = [page.evaluate(UPDATE, True) for _ in range(args.updates)]
                cpu2 = _chromium_cpu_s()
                cpu_ms = 1000 * ((cpu2 - cpu1) - (cpu1 - cpu0)) / args.updates
                cpu3 = _chromium_cpu_s()
                for _ in range(args.updates):
                    page.evaluate(FRAME, False)
                cpu4 = _chromium_cpu_s()
                frames = sorted(page.evaluate(FRAME, True) for _ in range(args.updates))
                cpu_frame_ms = 1000 * ((_chromium_cpu_s() - cpu4) - (cpu4 - cpu3)) / args.updates
                pan = page.evaluate(PAN, args.pan_s)
                drawn = page.evaluate(DRAWN)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def q(key: str, p: float) -> float:
        v = sorted(r[key] for r in runs)
        return float(v[min(len(v) - 1, int(p * len(v)))])

    print(
        f"tracks: {args.tracks} ({runs[0]['bytes'] / 1e6:.1f} MB of JSON a message); in view: "
        f"{drawn['alone']} drawn alone ({drawn['labelled']} labelled), "
        f"{drawn['inAggregates']} in {drawn['aggregates']} aggregates"
    )
    print(
        f"one update, text to drawn: median {q('ms', 0.5):.0f} ms, p90 {q('ms', 0.9):.0f} ms "
        f"(of which parse and arrays built: median {q('build', 0.5):.0f} ms; "
        f"{args.updates} updates)"
    )
    print(
        f"CPU time an update, every Chromium process (renderer, its workers, GPU process): "
        f"{cpu_ms:.0f} ms (the bench's own work, moving tracks and writing the JSON, taken off)"
    )
    print(
        f"one frame with nothing new (the floor under an update): median "
        f"{frames[len(frames) // 2]:.0f} ms, p90 {frames[int(0.9 * len(frames))]:.0f} ms; "
        f"CPU time {cpu_frame_ms:.0f} ms"
    )
    print(
        f"labels placed (MapLibre's worker, after the symbols are drawn): median "
        f"{q('labels', 0.5):.0f} ms, p90 {q('labels', 0.9):.0f} ms"
    )
    print(
        f"panning: frame time median {pan['median']:.0f} ms, p95 {pan['p95']:.0f} ms, "
        f"{pan['fps']:.1f} frames/s ({pan['frames']} frames in {args.pan_s:g} s)"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        "WebGL on SwiftShader"
    )


if __name__ == "__main__":
    main()
