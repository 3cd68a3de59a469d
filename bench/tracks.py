"""Live track states written to the table that several API processes share (``SharedTrackTable``):
the time of one batch, as a feed posts it to ``/v1/tracks``.

    python bench/tracks.py                          # SQLite, in a temporary folder
    python bench/tracks.py --pg postgresql://USER@HOST:PORT/postgres   # and PostgreSQL

Each run writes ``--batches`` batches of ``--states`` tracks of one party (every state newer than
the last, so each batch changes every track): the first batch inserts them, the others update
them. Prints the first batch's time and the median, fastest and slowest of the others. With
``--pg``, a database is made for the run on that server and dropped after it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deconfliction.model import TrackState
from deconfliction.store import SqliteStore, Store
from deconfliction.store.tracks import SharedTrackTable


def states(n: int, t0: datetime, k: int) -> list[TrackState]:
    return [
        TrackState.model_validate(
            {
                "id": f"T{i}",
                "class": "fixed-wing",
                "time": (t0 + timedelta(seconds=k)).isoformat(),
                "lon": 2.0 + i * 1e-3,
                "lat": 48.0,
                "alt_m": 6000,
                "gs_mps": 220,
                "track_deg": 90,
                "vs_mps": 0,
            }
        )
        for i in range(n)
    ]


def measure(label: str, store: Store, n: int, batches: int) -> None:
    table = SharedTrackTable(store)
    t0 = datetime.now(UTC)
    todo = [states(n, t0, k) for k in range(batches + 1)]
    took = []
    for batch in todo:
        t = time.perf_counter()
        changed = table.upsert("FR", batch)
        took.append((time.perf_counter() - t) * 1000)
        assert changed == n, changed
    rest = took[1:]
    print(
        f"{label:<11} {n:>6} {took[0]:>10.1f} {statistics.median(rest):>10.1f} "
        f"{min(rest):>10.1f} {max(rest):>10.1f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--states", type=int, default=500)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--pg", metavar="URL", help="a PostgreSQL server's maintenance database")
    args = ap.parse_args()
    print(
        f"{'store':<11} {'states':>6} {'first ms':>10} {'median ms':>10} "
        f"{'min ms':>10} {'max ms':>10}"
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-tracks-"))
    try:
        sqlite = SqliteStore(folder / "tracks.db")
        measure("SQLite", sqlite, args.states, args.batches)
        sqlite.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.pg:
        import psycopg

        from deconfliction.store.postgres import PostgresStore

        name = f"bench_tracks_{uuid.uuid4().hex[:10]}"
        base = args.pg.rsplit("/", 1)[0]
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            pg = PostgresStore(f"{base}/{name}")
            measure("PostgreSQL", pg, args.states, args.batches)
            pg.close()
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
