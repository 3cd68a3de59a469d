"""What a conflict costs a checked write: writes into a crowded place, each meeting every record
written before it.

Creates ``--writes`` intents (default 400) one after another through ``Store.create`` on a fresh
embedded store: 500 m circles whose centres lie within about 1 km of each other, all in the
same hour and band, owned by 8 parties in turn. The n-th write finds n - 1 conflicts, so nearly
all the time goes to conflicts: the exact test, the conflict's row, the note each party is told
and its outbox event. Prints the conflicts found and the wall and CPU time per conflict, best of
``--rounds`` (each on a store of its own). The stores are small: this measures the work of a
conflict, not the pages of a large store (``bench/strategic.py`` measures those).

    python bench/conflicts.py
    python bench/conflicts.py --writes 600 --rounds 5
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from strategic import add_parties

from deconfliction.model import IntentDraft, RecordKind, Volume4D
from deconfliction.runtime import tune_for_service
from deconfliction.store import SqliteStore

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def crowded_draft(rng: random.Random) -> IntentDraft:
    volume = {
        "footprint": {
            "type": "Circle",
            "center": [2.0 + rng.random() * 0.01, 44.0 + rng.random() * 0.01],
            "radius_m": 500.0,
        },
        "alt_lower_m": 0.0,
        "alt_upper_m": 100.0,
        "time_start": T0,
        "time_end": T0 + timedelta(hours=1),
    }
    return IntentDraft(volumes=[Volume4D.model_validate(volume)])


def one_round(writes: int, seed: int) -> tuple[int, float, float]:
    """(conflicts found, wall seconds, CPU seconds) of ``writes`` creates on a fresh store."""
    rng = random.Random(seed)
    drafts = [crowded_draft(rng) for _ in range(writes)]
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(str(Path(folder) / "conflicts.db"))
        try:
            add_parties(store)
            found = 0
            t, cpu = time.perf_counter(), time.process_time()
            for i, d in enumerate(drafts):
                w = store.create(RecordKind.INTENT, f"I{i}", f"P{i % 8}", d, actor="bench")
                found += len(w.conflicts)
            return found, time.perf_counter() - t, time.process_time() - cpu
        finally:
            store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tune_for_service()
    results = [one_round(args.writes, args.seed) for _ in range(args.rounds)]
    found, wall_s, cpu_s = min(results, key=lambda r: r[1])
    print(f"{args.writes} writes, {found:,} conflicts (best of {args.rounds} rounds)")
    print(f"  wall us per conflict: {wall_s / found * 1e6:.1f}")
    print(f"  CPU us per conflict:  {cpu_s / found * 1e6:.1f}")
    print(f"  writes/s:             {args.writes / wall_s:,.0f}")


if __name__ == "__main__":
    main()
