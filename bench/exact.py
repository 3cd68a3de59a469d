"""The exact 4D test of one candidate pair, by the shapes of its footprints.

Draws pairs of the strategic bench's volumes (``bench/strategic.py``), the second moved near
the first (its centre within about 5 km, in the same band and window), as the cell index hands
them to the exact test, and prints the mean time of ``engine.check_pair`` per pair, for two
circles, a circle and a polygon, and two polygons, with how many of them conflict. Each round
validates the volumes again, untimed (a polygon's cap is then known, as a candidate read from
the store takes it from its index rows), so that every timed call prepares its shapes as it
would for a record just read.

    python bench/exact.py               # 3,000 pairs, best of 5 rounds
    python bench/exact.py --pairs 10000
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

from strategic import random_volume

from deconfliction.engine import Record, check_pair
from deconfliction.model import RecordKind, SeparationPolicy, Volume4D


def near_pair(rng: random.Random) -> tuple[Volume4D, Volume4D]:
    a, b = random_volume(rng), random_volume(rng)
    fa, fb = a.model_dump(mode="json"), b.model_dump(mode="json")
    (la, pa, _), (lb, pb, _) = a.footprint.cap, b.footprint.cap
    dlon, dlat = la - lb + rng.uniform(-0.05, 0.05), pa - pb + rng.uniform(-0.04, 0.04)
    fp = fb["footprint"]
    if fp["type"] == "Circle":
        fp["center"] = [fp["center"][0] + dlon, fp["center"][1] + dlat]
    else:
        fp["coordinates"] = [[[x + dlon, y + dlat] for x, y in fp["coordinates"][0]]]
    for k in ("time_start", "time_end", "alt_lower_m", "alt_upper_m"):
        fb[k] = fa[k]
    return a, Volume4D.model_validate(fb)


def kind(a: Volume4D, b: Volume4D) -> str:
    names = sorted(v.footprint.type for v in (a, b))
    return {("Circle", "Circle"): "two circles", ("Polygon", "Polygon"): "two polygons"}.get(
        (names[0], names[1]), "circle and polygon"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    dumped = [
        (a.model_dump(mode="json"), b.model_dump(mode="json"))
        for a, b in (near_pair(rng) for _ in range(args.pairs))
    ]
    policy = SeparationPolicy()
    best: dict[str, float] = {}
    count: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for r in range(args.rounds):
        spent: Counter[str] = Counter()
        pairs = [(Volume4D.model_validate(a), Volume4D.model_validate(b)) for a, b in dumped]
        for a, b in pairs:
            ra = Record(RecordKind.INTENT, "A/a", "A", [a])
            rb = Record(RecordKind.INTENT, "B/b", "B", [b])
            k = kind(a, b)
            t = time.perf_counter()
            found = check_pair(ra, rb, policy)
            spent[k] += time.perf_counter() - t
            if r == 0:
                count[k] += 1
                hits[k] += found is not None
        for k, s in spent.items():
            best[k] = min(best.get(k, s), s)
    print(f"{'pair':<20} {'pairs':>6} {'conflicts':>10} {'us/pair':>8}")
    for k in ("two circles", "circle and polygon", "two polygons"):
        print(f"{k:<20} {count[k]:>6} {hits[k]:>10} {best[k] / count[k] * 1e6:>8.1f}")


if __name__ == "__main__":
    main()
