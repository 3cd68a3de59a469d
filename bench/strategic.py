"""Strategic deconfliction on the embedded store: checked writes per second and query latency.

Fills a SQLite store with random operational intents (drone-flight-sized volumes over a
1,000 km x 1,000 km region and one week), measuring at each size (default 10^4, 10^5, 10^6):

- writes/s: intents written through ``Store.create`` (S2 cells, candidate search, exact 4D
  check against stored intents, conflicts, outbox event and audit entry, one transaction each,
  acknowledged after commit), with ``--writers`` client threads;
- bulk writes/s: the same checks through ``Store.create_many`` (a plan of 500 intents in one
  transaction, as when a staff publishes a day's air tasking at once);
- CPU ms/write: the process's CPU time (every thread) per write of the writes/s column;
- p50/p99 of a conflict query (``Store.preview`` of a random one-volume draft: candidate search
  plus exact check, no write).

    python bench/strategic.py                  # 10^4, 10^5, 10^6 (about 15 minutes)
    python bench/strategic.py --sizes 10000    # quick
    python bench/strategic.py --sizes 1000000 --dir D   # D kept: measured again as it is

``--dir`` keeps the store; a run on a folder that holds one goes on from what it holds (the
measured writes and queries add about ``2 * --measure-writes`` records each time).

``--warmup-writes N``: N checked writes before the measured ones, not timed. A process just
started reads the store's index pages from the file as it first needs them (through its memory
map), so on a large store its first writes measure a cold process; a service that has run a
while has them. The fill leaves the process warm; a run on a ``--dir`` store starts cold.

The interpreter is set up as ``serve`` sets it (``deconfliction.runtime.tune_for_service``: the
switch interval and the garbage collector's thresholds); ``--interpreter default`` leaves
Python's defaults.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deconfliction.model import IntentDraft, Party, RecordKind, SeparationPolicy, Volume4D
from deconfliction.store import SqliteStore

T0 = datetime(2026, 6, 1, tzinfo=UTC)
LON0, LAT0, SPAN_DEG = 2.0, 44.0, 9.0  # ~1,000 km x 1,000 km over France
WEEK_S = 7 * 86400


def random_volume(rng: random.Random) -> Volume4D:
    lon = LON0 + rng.random() * SPAN_DEG
    lat = LAT0 + rng.random() * SPAN_DEG * 0.7
    start = T0 + timedelta(seconds=rng.random() * WEEK_S)
    end = start + timedelta(minutes=rng.uniform(10, 90))
    lower = rng.uniform(0, 100)
    upper = lower + rng.uniform(20, 120)
    if rng.random() < 0.5:
        r = rng.uniform(200, 3000)
        fp: dict[str, object] = {"type": "Circle", "center": [lon, lat], "radius_m": r}
    else:
        w = rng.uniform(0.003, 0.04)
        h = rng.uniform(0.003, 0.03)
        ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
        fp = {"type": "Polygon", "coordinates": [ring]}
    return Volume4D.model_validate(
        {
            "footprint": fp,
            "alt_lower_m": lower,
            "alt_upper_m": upper,
            "time_start": start,
            "time_end": end,
        }
    )


def add_parties(store: SqliteStore) -> None:
    """The 8 parties the benches' intents belong to: P0 to P7."""
    for i in range(8):
        store.put_party(Party(id=f"P{i}", name=f"party {i}"), actor="bench")


def random_draft(rng: random.Random) -> IntentDraft:
    return IntentDraft(volumes=[random_volume(rng) for _ in range(rng.choice((1, 1, 2, 3)))])


def fill(store: SqliteStore, drafts: list[IntentDraft], first_id: int, writers: int) -> float:
    """Write the drafts with ``writers`` threads; returns the elapsed seconds (wall)."""
    chunks = [drafts[i::writers] for i in range(writers)]
    ids = [list(range(first_id + i, first_id + len(drafts), writers)) for i in range(writers)]

    def work(k: int) -> None:
        for rid, d in zip(ids[k], chunks[k], strict=True):
            store.create(RecordKind.INTENT, f"I{rid}", "P" + str(rid % 8), d, actor="bench")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


def fill_bulk(store: SqliteStore, drafts: list[IntentDraft], first_id: int) -> float:
    t = time.perf_counter()
    for k in range(0, len(drafts), 500):
        items = [
            (f"I{first_id + k + j}", f"P{(k + j) % 8}", d)
            for j, d in enumerate(drafts[k : k + 500])
        ]
        store.create_many(RecordKind.INTENT, items, actor="bench")
    return time.perf_counter() - t


def progress(done: int, total: int, t0: float, since: int) -> None:
    rate = (done - since) / max(1e-9, time.perf_counter() - t0)
    print(f"\r  filling {done:>9,}/{total:,} ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument(
        "--measure-writes",
        type=int,
        default=5000,
        help="writes timed at each size (on top of the fill)",
    )
    ap.add_argument("--lateral-m", type=float, default=0.0)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interpreter", choices=("service", "default"), default="service")
    ap.add_argument(
        "--warmup-writes", type=int, default=0, help="checked writes before the timed ones"
    )
    args = ap.parse_args()
    if args.interpreter == "service":
        from deconfliction.runtime import tune_for_service

        tune_for_service()
    rng = random.Random(args.seed)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-strategic-"))
    store = SqliteStore(folder / "bench.db", SeparationPolicy(lateral_m=args.lateral_m))
    add_parties(store)
    print(
        f"strategic bench: store {folder / 'bench.db'}, writers={args.writers}, "
        f"buffer={args.lateral_m:g} m, interpreter as {args.interpreter}"
    )
    print(
        f"{'stored':>10} {'writes/s':>10} {'bulk writes/s':>14} {'query p50 ms':>13} "
        f"{'query p99 ms':>13} {'conflicts/query':>16} {'CPU ms/write':>13}"
    )
    # a store from an earlier run (``--dir``) is measured as it is, and filled on from there
    stored = store.read_tx(lambda tx: int(tx.x("SELECT COUNT(*) FROM records").fetchone()[0]))
    if stored:
        print(f"continuing a store of {stored:,} records")
        # other drafts than those already written (the same seed would draw them again)
        rng = random.Random(args.seed * 1_000_003 + stored)
    for size in sorted(args.sizes):
        t0, since = time.perf_counter(), stored
        while stored < size - 2 * args.measure_writes:
            n = min(20_000, size - 2 * args.measure_writes - stored)
            fill_bulk(store, [random_draft(rng) for _ in range(n)], stored)
            stored += n
            progress(stored, size, t0, since)
        print(file=sys.stderr)
        if args.warmup_writes:
            warm = [random_draft(rng) for _ in range(args.warmup_writes)]
            fill(store, warm, stored, args.writers)
            stored += len(warm)
        drafts = [random_draft(rng) for _ in range(args.measure_writes)]
        cpu0 = time.process_time()
        elapsed = fill(store, drafts, stored, args.writers)
        cpu_ms = (time.process_time() - cpu0) * 1000 / len(drafts)
        stored += len(drafts)
        bulk = [random_draft(rng) for _ in range(args.measure_writes)]
        bulk_elapsed = fill_bulk(store, bulk, stored)
        stored += len(bulk)
        lat: list[float] = []
        hits = 0
        for _ in range(args.queries):
            d = IntentDraft(volumes=[random_volume(rng)])
            t = time.perf_counter()
            hits += len(store.preview("P0", d, RecordKind.INTENT))
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        p99 = lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)]
        print(
            f"{stored:>10,} {len(drafts) / elapsed:>10,.0f} {len(bulk) / bulk_elapsed:>14,.0f} "
            f"{statistics.median(lat):>13.2f} {p99:>13.2f} {hits / len(lat):>16.3f} "
            f"{cpu_ms:>13.3f}",
            flush=True,
        )
    store.close()
    if args.dir is None:  # a folder of its own: nothing in it is wanted after the run
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
