"""Tactical detection against BlueSky's, on the same random scenes, in one run.

    python bench/tactical.py                     # ours only, and BlueSky's if it is importable
    BLUESKY_PYTHON=/path/to/venv/bin/python python bench/tactical.py [--repeat 3]

BlueSky (PyPI ``bluesky-simulator``, not a dependency of ours) runs in its own interpreter
(``BLUESKY_PYTHON``, e.g. a venv made with ``python -m venv bs && bs/bin/pip install
bluesky-simulator``): this script sends it each scene and times its C++ state-based detection
(``CStateBased``, all pairs) there. (Its numpy ``StateBased`` builds N x N matrices: out of
memory at these sizes, so it is not run.) Both are timed alike: one call to warm up, then
``--repeat`` timed calls, each measured in wall time and in CPU time of the process (all its
threads); the medians are printed, and the ratios of medians: wall against wall, and CPU
seconds against CPU seconds (ours may use every core, BlueSky's uses one).

Scenes: N aircraft uniformly in a square around 34E 34N, altitudes 1,500 to 12,000 m, ground
speeds 100 to 260 m/s, random tracks, one in five climbing or descending (up to 15 m/s), every
aircraft its own party; minima 5 NM and 1,000 ft, look-ahead 300 s. Dense: 1,000 to 20,000 in a
500 km square (0.08 aircraft per km2), and 100,000 (ours alone) in a 1,118 km square, the same
density; sparse: 100,000 in a 2,000 km square (0.025 per km2), ours alone. Prints times, ratios,
and how the conflict sets compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deconfliction.engine.tactical import FT, NM, Scene, detect

BLUESKY_SNIPPET = r"""
import json, sys, time, types
import numpy as np
import bluesky as bs
from bluesky import settings
settings.prefer_compiled = False
from bluesky.traffic.asas import cstatebased
path, repeat = sys.argv[1], int(sys.argv[2])
d = np.load(path)
n = len(d["lat"])
own = types.SimpleNamespace(
    lat=d["lat"], lon=d["lon"], trk=d["trk"], gs=d["gs"], alt=d["alt"], vs=d["vs"],
    id=[str(i) for i in range(n)], ntraf=n)
rpz = np.full(n, d["rpz"][0]); hpz = np.full(n, d["hpz"][0]); look = np.full(n, d["look"][0])
cstatebased.detect(own, own, rpz, hpz, look)  # warm
walls, cpus = [], []
for _ in range(repeat):
    t0, c0 = time.perf_counter(), time.process_time()
    res = cstatebased.detect(own, own, rpz, hpz, look)
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
pairs = sorted({tuple(sorted((int(a), int(b)))) for a, b in res[0]})
print(json.dumps({"walls": walls, "cpus": cpus, "pairs": pairs}))
"""


def scene(n: int, half_km: float, seed: int = 7) -> Scene:
    rng = np.random.default_rng(seed)
    lat0, lon0 = 34.0, 34.0
    lat = lat0 + rng.uniform(-half_km, half_km, n) / 111.32
    lon = lon0 + rng.uniform(-half_km, half_km, n) / (111.32 * np.cos(np.radians(lat0)))
    return Scene(
        lon=lon,
        lat=lat,
        alt_m=rng.uniform(1500, 12000, n),
        gs_mps=rng.uniform(100, 260, n),
        track_deg=rng.uniform(0, 360, n),
        vs_mps=np.where(rng.random(n) < 0.2, rng.uniform(-15, 15, n), 0.0),
        party=np.arange(n, dtype=np.int64),
        cls=np.zeros(n, dtype=np.int64),
    )


def ours(s: Scene, repeat: int) -> tuple[list[float], list[float], set[tuple[int, int]]]:
    """Wall and CPU seconds of ``repeat`` calls after one to warm up, and the conflicts."""
    found = detect(s).pairs()  # warm (compiled kernel, caches)
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        detect(s)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, found


def bluesky(s: Scene, python: str, repeat: int) -> dict[str, object] | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.npz"
        np.savez(
            path,
            lat=s.lat,
            lon=s.lon,
            trk=s.track_deg,
            gs=s.gs_mps,
            alt=s.alt_m,
            vs=s.vs_mps,
            rpz=[5 * NM],
            hpz=[1000 * FT],
            look=[300.0],
        )
        r = subprocess.run(
            [python, "-c", BLUESKY_SNIPPET, str(path), str(repeat)],
            capture_output=True,
            text=True,
            cwd=tmp,
            timeout=3600,
        )
        if r.returncode != 0:
            print("  bluesky failed:", r.stderr.strip().splitlines()[-1:], file=sys.stderr)
            return None
        out: dict[str, object] = json.loads(r.stdout.strip().splitlines()[-1])
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed calls after the warm-up")
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000, 5_000, 20_000])
    args = ap.parse_args()
    python = os.environ.get("BLUESKY_PYTHON", "")
    med = statistics.median
    print(f"load average {os.getloadavg()}; cores {os.cpu_count()}; median of {args.repeat} "
          "after a warm-up, both")  # fmt: skip
    print(
        f"{'N':>7} {'ours s':>7} {'ours CPU s':>10} {'BlueSky s':>10} {'its CPU s':>9} "
        f"{'ratio':>6} {'per CPU s':>9} {'ours':>7} {'theirs':>7} {'both':>7}"
    )
    for n in args.sizes:
        s = scene(n, 250.0)
        walls, cpus, mine = ours(s, args.repeat)
        bs = bluesky(s, python, args.repeat) if python else None
        if bs is None:
            print(f"{n:>7} {med(walls):>7.3f} {med(cpus):>10.3f}")
            continue
        theirs = {tuple(p) for p in bs["pairs"]}  # type: ignore[attr-defined]
        t_w, t_c = med(bs["walls"]), med(bs["cpus"])  # type: ignore[arg-type]
        print(
            f"{n:>7} {med(walls):>7.3f} {med(cpus):>10.3f} {t_w:>10.2f} {t_c:>9.2f} "
            f"{t_w / med(walls):>6.0f} {t_c / med(cpus):>9.0f} "
            f"{len(mine):>7} {len(theirs):>7} {len(mine & theirs):>7}"
        )
        _explain(s, mine, theirs)
    for n, half_km, what in ((100_000, 559.0, "1,118 km square, the density above"),
                             (100_000, 1000.0, "2,000 km square, a third of it")):  # fmt: skip
        walls, cpus, mine = ours(scene(n, half_km), args.repeat)
        print(f"{n:>7} {med(walls):>7.3f} {med(cpus):>10.3f}   (ours alone, {what}; "
              f"{len(mine):,} conflicts)")  # fmt: skip


def _explain(s: Scene, mine: set[tuple[int, int]], theirs: set[tuple[int, int]]) -> None:
    """Where the sets differ, is it at a boundary? Measured with ours, minima loosened by 2%."""
    from deconfliction.engine.tactical import Minima, brute_force

    diff = sorted((mine - theirs) | (theirs - mine))
    if not diff:
        return
    idx = sorted({i for p in diff for i in p})
    cols = ("lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps", "party", "cls")
    sub = Scene(*(getattr(s, f)[idx] for f in cols))
    local = {v: k for k, v in enumerate(idx)}
    loose = Minima.of((5 * NM * 1.02, 1000 * FT * 1.02), 2 * NM, (2 * NM, 1000 * FT))
    c = brute_force(sub, 300.0 * 1.02, loose)
    got = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(c.i, c.j, strict=True))}
    kinds = {"lateral": 0, "vertical": 0, "look-ahead": 0, "other": 0}
    for a, b in diff:
        k = got.get((min(local[a], local[b]), max(local[a], local[b])))
        if k is None:
            kinds["other"] += 1
        elif abs(c.d_cpa_m[k] - 5 * NM) < 0.02 * 5 * NM or c.d_cpa_m[k] > 5 * NM:
            kinds["lateral"] += 1
        elif c.t_in[k] > 300.0 * 0.98:
            kinds["look-ahead"] += 1
        else:
            kinds["vertical"] += 1
    print(
        f"          differ on {len(diff)} pairs, at the boundary of: "
        + ", ".join(f"{k} {v}" for k, v in kinds.items() if v)
    )


if __name__ == "__main__":
    main()
