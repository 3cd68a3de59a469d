"""``deconfliction tracks check`` on three hours of 1 Hz traffic: wall time and peak memory.

    python bench/replay.py                       # generate the recording, run the check 3 times
    python bench/replay.py --runs 5 --keep traffic.csv
    python bench/replay.py --cli "/path/to/other/checkout/.venv/bin/deconfliction"

The recording is generated (seeded, so every run gets the same file): a terminal area around
Paris for ``--hours`` (default 3) with ``--tracks`` flights (default 233): arrivals descending
from 3,000-4,500 m along four routes towards Charles-de-Gaulle, Orly, Le Bourget and Beauvais
(they stop reporting 3 km from the runway), departures climbing out along four routes to
9,000-11,000 m, overflights at 9,100-11,900 m on the 1,000 ft levels, and a few helicopters at
300-600 m; each reported every second for 8 to 27 minutes as ADS-B would (positions to 6
decimals, one report in 30 missing), in the CSV of ``docs/cli.md``. Two parties by the parity of
the 24-bit address. Then ``tracks check --lookahead-s 300 --lateral-m 9260 --vertical-m 304.8``
runs in a fresh process ``--runs`` times; each run's wall time, CPU time (user and system) and
peak resident memory (``wait4``) are printed, then their medians.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
PARIS = (2.35, 48.86)
AIRPORTS = {  # (lon, lat), share of the traffic
    "LFPG": ((2.5479, 49.0097), 0.55),
    "LFPO": ((2.3794, 48.7233), 0.30),
    "LFPB": ((2.4414, 48.9694), 0.08),
    "LFOB": ((2.1128, 49.4544), 0.07),
}
FIELDS = ("id", "party", "class", "time", "lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps")
FT = 0.3048


def recording(path: Path, tracks: int = 233, hours: float = 3.0, seed: int = 17) -> int:
    """Write the recording; return how many states it holds."""
    rng = np.random.default_rng(seed)
    duration = int(hours * 3600)
    codes = rng.choice(np.arange(0x380000, 0x3C0000), size=tracks, replace=False)
    names = list(AIRPORTS)
    shares = np.array([AIRPORTS[a][1] for a in names])
    # each flight: start, life, where it starts and goes, and how it climbs or descends
    start = rng.integers(-900, duration - 300, tracks)
    life = rng.integers(500, 1600, tracks)
    kind = rng.choice(["arrival", "departure", "overflight", "helicopter"], tracks,
                      p=[0.40, 0.35, 0.20, 0.05])  # fmt: skip
    lon = np.empty(tracks)
    lat = np.empty(tracks)
    alt = np.empty(tracks)
    gs = np.empty(tracks)
    goal_lon = np.empty(tracks)
    goal_lat = np.empty(tracks)
    goal_alt = np.empty(tracks)
    goal_gs = np.empty(tracks)
    climb = np.empty(tracks)
    for k in range(tracks):
        home = AIRPORTS[names[rng.choice(len(names), p=shares)]][0]
        # arrivals and departures on four standard routes each, the rest anywhere
        route = float(rng.choice([20.0, 110.0, 200.0, 290.0]) + rng.uniform(-6, 6))
        out = route if kind[k] in ("arrival", "departure") else float(rng.uniform(0, 360))
        if kind[k] == "arrival":
            lon[k], lat[k], _ = GEOD.fwd(*home, out, rng.uniform(90e3, 160e3))
            goal_lon[k], goal_lat[k] = home
            alt[k] = rng.uniform(3000, 4500)
            gs[k] = rng.uniform(140, 170)
            goal_alt[k], goal_gs[k], climb[k] = 450.0, 75.0, rng.uniform(5, 9)
        elif kind[k] == "departure":
            lon[k], lat[k] = home
            goal_lon[k], goal_lat[k], _ = GEOD.fwd(*home, out, 400e3)
            alt[k] = 150.0
            gs[k] = 80.0
            goal_alt[k] = rng.uniform(9000, 11000)
            goal_gs[k], climb[k] = rng.uniform(210, 240), rng.uniform(8, 15)
        elif kind[k] == "overflight":
            lon[k], lat[k], _ = GEOD.fwd(*PARIS, out, 200e3)
            goal_lon[k], goal_lat[k], _ = GEOD.fwd(*PARIS, out + 180 + rng.uniform(-40, 40), 200e3)
            alt[k] = goal_alt[k] = rng.integers(30, 40) * 1000 * FT
            gs[k] = goal_gs[k] = rng.uniform(200, 250)
            climb[k] = 0.0
        else:
            lon[k], lat[k], _ = GEOD.fwd(*PARIS, out, rng.uniform(0, 20e3))
            goal_lon[k], goal_lat[k], _ = GEOD.fwd(*PARIS, rng.uniform(0, 360), 30e3)
            alt[k] = goal_alt[k] = rng.uniform(300, 600)
            gs[k] = goal_gs[k] = rng.uniform(40, 60)
            climb[k] = 0.0
    hdg = np.asarray(GEOD.inv(lon, lat, goal_lon, goal_lat)[0]) % 360
    landed = np.zeros(tracks, dtype=bool)
    written = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for t in range(-900, duration):
            alive = np.nonzero((start <= t) & (t < start + life) & ~landed)[0]
            if len(alive) == 0:
                continue
            # steer towards the goal (3 degrees a second at most), reach its height and speed;
            # an arrival 3 km from its airport has landed
            want, _, dist = GEOD.inv(lon[alive], lat[alive], goal_lon[alive], goal_lat[alive])
            landed[alive] = (kind[alive] == "arrival") & (np.asarray(dist) < 3000)
            want = np.asarray(want)
            turn = (want - hdg[alive] + 540) % 360 - 180
            hdg[alive] = (hdg[alive] + np.clip(turn, -3, 3)) % 360
            vs = np.clip(goal_alt[alive] - alt[alive], -climb[alive], climb[alive])
            gs[alive] += np.clip(goal_gs[alive] - gs[alive], -1.0, 1.0)
            if t >= 0:
                stamp = (T0 + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
                for n, k in enumerate(alive):
                    if rng.random() < 1 / 30:
                        continue
                    code = int(codes[k])
                    w.writerow((f"{code:06X}", "odd" if code % 2 else "even",
                                "rotary" if kind[k] == "helicopter" else "fixed-wing", stamp,
                                f"{lon[k]:.6f}", f"{lat[k]:.6f}", f"{alt[k]:.1f}", f"{gs[k]:.1f}",
                                f"{hdg[k]:.1f}", f"{vs[n]:.2f}"))  # fmt: skip
                    written += 1
            lon[alive], lat[alive], _ = GEOD.fwd(lon[alive], lat[alive], hdg[alive], gs[alive])
            alt[alive] += vs
    return written


def measure(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user and system), peak resident MB and the last line of output
    of one run of ``cmd``, timed and reaped (``wait4``) by a small helper process, so that
    nothing else counts."""
    p = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True)
    wall, cpu, rss_kb = (float(x) for x in p.stderr.strip().splitlines()[-1].split())
    lines = p.stdout.strip().splitlines()
    return wall, cpu, rss_kb / 1024, lines[-1] if lines else ""


#: Runs the command; prints its wall and CPU seconds and peak resident memory (kB) on stderr.
_WRAP = (
    "import os, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, ru = os.wait4(p.pid, 0)\n"
    "print(time.perf_counter() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, file=sys.stderr)\n"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=233)
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the recording here and keep it")
    ap.add_argument(
        "--cli",
        default=f"{sys.executable} -m deconfliction",
        help="the command to run (default: this interpreter's deconfliction)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "traffic.csv"
        t0 = time.perf_counter()
        states = recording(path, args.tracks, args.hours)
        print(
            f"recording: {states:,} states of {args.tracks} tracks over {args.hours:g} h "
            f"({path.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - t0:.1f} s); "
            f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores"
        )
        cmd = [*shlex.split(args.cli), "tracks", "check", str(path), "--lookahead-s", "300",
               "--lateral-m", "9260", "--vertical-m", "304.8"]  # fmt: skip
        walls, cpus, peaks = [], [], []
        for n in range(args.runs):
            wall, cpu, peak, last = measure(cmd)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
            print(f"  run {n + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, {peak:.0f} MB peak "
                  f"resident (load average {os.getloadavg()[0]:.1f}): {last}")  # fmt: skip
        med = statistics.median
        print(f"median of {args.runs}: {med(walls):.2f} s wall, {med(cpus):.2f} s CPU, "
              f"{med(peaks):.0f} MB peak resident")  # fmt: skip


if __name__ == "__main__":
    main()
