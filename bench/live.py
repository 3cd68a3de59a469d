"""One cycle of the live tactical picture (``TacticalMonitor.run_once``) on the demo scenario.

    python bench/live.py                 # 10, 100 and 1,000 tracks
    python bench/live.py 10 100          # those sizes

The demo's records (France and Russia, the eastern Mediterranean; Russia's released to France as
coarsened extents) in a SQLite store in a temporary folder, and N tracks of the two parties
spread uniformly over a 400 km square around 34E 34N (the demo's areas lie in it), altitudes 0
to 12,000 m, ground speeds 100 to 260 m/s, random tracks. Each size runs 20 cycles one second
apart on an injected clock (the first, which raises everything, is left out) and prints the
median and the slowest cycle, and how many alerts are in force. A cycle must end well within
the second it has.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from deconfliction.demo import load_demo
from deconfliction.model import TrackState
from deconfliction.store import SqliteStore
from deconfliction.store.tracks import TrackTable
from deconfliction.tactical import TacticalMonitor


def run(n: int, folder: Path) -> tuple[float, float, int]:
    store = SqliteStore(folder / f"live-{n}.db")
    try:
        load_demo(store)
        t0 = datetime.now(UTC).replace(microsecond=0)
        now = [t0]
        table = TrackTable(stale_after=timedelta(hours=1), clock=lambda: now[0])
        rng = np.random.default_rng(n)
        for party in ("FR", "RU"):
            states = [
                TrackState.model_validate(
                    {
                        "id": f"{party}-{k}",
                        "class": "fixed-wing",
                        "time": t0,
                        "lon": 34.0 + rng.uniform(-2.2, 2.2),
                        "lat": 34.0 + rng.uniform(-1.8, 1.8),
                        "alt_m": rng.uniform(0, 12_000),
                        "gs_mps": rng.uniform(100, 260),
                        "track_deg": rng.uniform(0, 360),
                    }
                )
                for k in range(n // 2)
            ]
            table.upsert(party, states)
        mon = TacticalMonitor(store, table, clock=lambda: now[0].timestamp())
        times = []
        for s in range(20):
            now[0] = t0 + timedelta(seconds=s)
            start = time.perf_counter()
            mon.run_once()
            times.append(time.perf_counter() - start)
        alerts = len(mon.active("FR")) + len(mon.active("RU"))
        return statistics.median(times[1:]), max(times[1:]), alerts
    finally:
        store.close()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10, 100, 1000]
    print("tracks  median cycle  slowest cycle  alerts in force (FR + RU views)")
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            med, worst, alerts = run(n, Path(d))
            print(f"{n:6d}  {med * 1000:9.1f} ms  {worst * 1000:10.1f} ms  {alerts:6d}")


if __name__ == "__main__":
    main()
