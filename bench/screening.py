"""Blind screening between two parties: a full round and an incremental round, at two grains.

Two parties with 1,000 operational intents each over a theatre the size of the eastern
Mediterranean (20-36 E, 30-40 N, about 1,500 km x 1,100 km) and one day: air sorties (circles
of 3 to 15 km radius, bands of 300 to 1,500 m between 0 and 12,000 m, 30 min to 2 h), naval
operating areas (boxes of 10 to 40 km, 0 to 300 m, 2 to 8 h) and exercise areas (boxes of 30 to
60 km, 0 to 6,000 m, 2 to 4 h).
Buffers: 5 NM, 1,000 ft, 5 min, split half and half.

For each ladder of grains it runs the private protocol (``screening.Session``, both sides in
this process, one after the other, messages serialized to JSON as they would cross the wire):

- full round: from ``open`` to the finest grain; seconds (wall, and each side's own share),
  bytes on the wire (both directions), tokens per side at each grain;
- incremental round: one plan of one side moved, then ``sync``; the same figures;
- against the exact engine (``engine.check_pair`` on every pair of records that may meet):
  conflicts missed (must be 0) and the share of flagged pairs that are not conflicts.

Within one service (``--service``): the same plans written to a SQLite store, then the time to
put in force an agreement that turns screening on (the pair screened from scratch, in the
accepting transaction), and the time of one intent replaced (moved) with and without screening.

    python bench/screening.py              # both ladders
    python bench/screening.py --n 300      # quicker
    python bench/screening.py --service    # within one service, the first ladder
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from deconfliction.engine import Record, check_pair
from deconfliction.engine.strategic import CellIndex
from deconfliction.model import RecordKind, SeparationPolicy, Volume4D
from deconfliction.screening import Cover, Grain, Role, Session, SessionParams, intersect

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY_S = 86_400
LON0, LON1, LAT0, LAT1 = 20.0, 36.0, 30.0, 40.0
BUFFERS = SeparationPolicy(lateral_m=9260.0, vertical_m=304.8, time_s=300.0)
LADDERS = {
    "S2 level 8 (~35 km) / 1 h / 1,000 m": (
        Grain(s2_level=6, slot_s=7200, band_m=3000),
        Grain(s2_level=7, slot_s=3600, band_m=1000),
        Grain(s2_level=8, slot_s=3600, band_m=1000),
    ),
    "S2 level 10 (~9 km) / 15 min / 250 m": (
        Grain(s2_level=6, slot_s=7200, band_m=3000),
        Grain(s2_level=7, slot_s=3600, band_m=1000),
        Grain(s2_level=9, slot_s=1800, band_m=500),
        Grain(s2_level=10, slot_s=900, band_m=250),
    ),
}


def _box(lon: float, lat: float, w_km: float, h_km: float) -> dict[str, Any]:
    import math

    w = w_km / (111.32 * math.cos(math.radians(lat)))
    h = h_km / 110.57
    ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def random_intent(rng: random.Random) -> list[Volume4D]:
    lon = rng.uniform(LON0, LON1 - 1.0)
    lat = rng.uniform(LAT0, LAT1 - 1.0)
    start = T0 + timedelta(seconds=rng.uniform(0, DAY_S - 3 * 3600))
    kind = rng.random()
    if kind < 0.8:  # air sortie
        fp: dict[str, Any] = {
            "type": "Circle",
            "center": [lon, lat],
            "radius_m": rng.uniform(3_000, 15_000),
        }
        lower = rng.uniform(0, 10_500)
        upper = lower + rng.uniform(300, 1_500)
        end = start + timedelta(hours=rng.uniform(0.5, 2))
    elif kind < 0.95:  # naval operating area
        fp = _box(lon, lat, rng.uniform(10, 40), rng.uniform(10, 40))
        lower, upper = 0.0, 300.0
        end = start + timedelta(hours=rng.uniform(2, 8))
    else:  # exercise area
        fp = _box(lon, lat, rng.uniform(30, 60), rng.uniform(30, 60))
        lower, upper = 0.0, 6_000.0
        end = start + timedelta(hours=rng.uniform(2, 4))
    return [
        Volume4D.model_validate(
            {
                "footprint": fp,
                "alt_lower_m": lower,
                "alt_upper_m": upper,
                "time_start": start,
                "time_end": end,
            }
        )
    ]


class Wire:
    """Delivers messages between the two sides, counting bytes and each side's seconds."""

    def __init__(self) -> None:
        self.bytes = 0
        self.messages = 0
        self.side_s = [0.0, 0.0]
        self.cpu_s = [0.0, 0.0]

    def run(self, first: list[dict[str, Any]], sides: tuple[Session, Session], turn: int) -> None:
        msgs = first
        while msgs:
            text = json.dumps(msgs, separators=(",", ":"))
            self.bytes += len(text)
            self.messages += 1
            t, c = time.perf_counter(), time.process_time()
            msgs = sides[turn].receive(json.loads(text))
            self.side_s[turn] += time.perf_counter() - t
            self.cpu_s[turn] += time.process_time() - c
            turn ^= 1


def exact_pairs(a: dict[str, list[Volume4D]], b: dict[str, list[Volume4D]]) -> set[tuple[str, str]]:
    index = CellIndex()
    for rid, vols in b.items():
        index.add(Record(RecordKind.INTENT, rid, "B", vols))
    out = set()
    for rid, vols in a.items():
        rec = Record(RecordKind.INTENT, rid, "A", vols)
        for other in index.candidates(rec, BUFFERS):
            if check_pair(rec, other, BUFFERS) is not None:
                out.add((rid, other.id))
    return out


def within_service(plans: list[dict[str, list[Volume4D]]], ladder: tuple[Grain, ...]) -> None:
    import statistics
    import tempfile
    from pathlib import Path

    from deconfliction.exchange import agreements as ag
    from deconfliction.model import IntentDraft, Party
    from deconfliction.screening import service
    from deconfliction.store import SqliteStore

    service.register()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        for p in ("A", "B", "C"):
            store.put_party(Party(id=p, name=p), actor="bench")
        for party, side in (("A", plans[0]), ("B", plans[1])):
            items = [(rid, party, IntentDraft(volumes=v)) for rid, v in side.items()]
            for i in range(0, len(items), 500):
                store.create_many(RecordKind.INTENT, items[i : i + 500], actor="bench")
        terms = ag.Terms.model_validate(
            {
                "releases": {"A": {"default": "none"}, "B": {"default": "none"}},
                "separation": BUFFERS.model_dump(),
                "screening": {"enabled": True, "grains": [g.model_dump() for g in ladder]},
            }
        )
        now = datetime.now(UTC)
        store.write_tx(lambda tx: ag.propose(tx, "A", "B", terms, "bench", now))
        t = time.perf_counter()
        store.write_tx(lambda tx: ag.accept(tx, "B", "A", 1, "bench", now))
        full = time.perf_counter() - t
        opened = store.read_tx(lambda tx: len(service.findings_for(tx, "A")))
        print(
            f"\nwithin one service ({len(plans[0])} + {len(plans[1])} intents, grain "
            f"{ladder[-1].s2_level} / {ladder[-1].slot_s} s / {ladder[-1].band_m} m): screening "
            f"turned on: {full:.2f} s, {opened:,} findings opened"
        )
        for label, rid in (("screened (A-B)", "a1"), ("not screened (C)", None)):
            if rid is None:
                store.create(
                    RecordKind.INTENT,
                    "c1",
                    "C",
                    IntentDraft(volumes=random_intent(rng)),
                    actor="bench",
                )
                rid, owner = "c1", "C"
            else:
                owner = "A"
            times = []
            for _ in range(15):
                rec = store.get(RecordKind.INTENT, rid)
                draft = IntentDraft(volumes=random_intent(rng))
                t = time.perf_counter()
                store.replace(RecordKind.INTENT, rid, owner, draft, rec.version, actor="bench")
                times.append(time.perf_counter() - t)
            print(
                f"  one intent moved, {label}: p50 {1000 * statistics.median(times):.0f} ms, "
                f"max {1000 * max(times):.0f} ms"
            )
        store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="intents per side (default 1,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--service", action="store_true", help="within one service instead")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    plans = [{f"{side}{i}": random_intent(rng) for i in range(args.n)} for side in ("a", "b")]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.service:
        within_service(plans, next(iter(LADDERS.values())))
        return 0
    t = time.perf_counter()
    exact = exact_pairs(plans[0], plans[1])
    print(
        f"{args.n} intents per side; {len(exact)} pairs in conflict under the exact engine "
        f"({time.perf_counter() - t:.1f} s to find them)"
    )
    for name, ladder in LADDERS.items():
        params = SessionParams(ladder, BUFFERS, 0.5, max_tokens=500_000)
        # full round
        wire = Wire()
        t, c = time.perf_counter(), time.process_time()
        ini, opening = Session.initiate(params, plans[0])
        wire.side_s[0] += time.perf_counter() - t
        wire.cpu_s[0] += time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        res, accept = Session.respond(params, plans[1], json.loads(json.dumps(opening)))
        wire.side_s[1] += time.perf_counter() - t
        wire.cpu_s[1] += time.process_time() - c
        wire.bytes += len(json.dumps(opening)) + len(json.dumps(accept))
        wire.run([accept], (ini, res), 0)
        full_s = sum(wire.side_s)
        sizes = [(ini.own_size(k), res.own_size(k)) for k in range(len(ladder))]
        print(f"\ngrain {name} ({len(ladder)} rounds)")
        print(
            f"  full round: {full_s:.2f} s wall (side A {wire.side_s[0]:.2f} s, side B "
            f"{wire.side_s[1]:.2f} s; CPU {wire.cpu_s[0]:.2f} s + {wire.cpu_s[1]:.2f} s), "
            f"{wire.bytes / 1e6:.2f} MB on the wire in {wire.messages + 2} messages"
        )
        print(
            "  tokens per side (A, B) at each grain: "
            + ", ".join(f"{a:,} / {b:,}" for a, b in sizes)
        )
        found = ini.intersection()
        # against the exact engine
        covers = [Cover(ladder, params.growth(r)) for r in (Role.INITIATOR, Role.RESPONDER)]
        for c, p in zip(covers, plans, strict=True):
            for rid, vols in p.items():
                c.put(rid, vols)
        _, hits = intersect(*covers)
        assert set(hits) == set(found), "the private intersection differs from the clear one"
        flagged = {(x, y) for xs, ys in hits.values() for x in xs for y in ys}
        missed = exact - flagged
        false = flagged - exact
        print(
            f"  common tokens at the finest grain: {len(found):,}; pairs flagged: "
            f"{len(flagged):,}; conflicts missed: {len(missed)}; false alarms: "
            f"{len(false):,} ({100 * len(false) / max(1, len(flagged)):.0f} % of flagged pairs)"
        )
        # incremental: one plan of A moved
        rid = "a0"
        moved = random_intent(rng)
        wire2 = Wire()
        t, c = time.perf_counter(), time.process_time()
        ini.put(rid, moved)
        first = ini.sync()
        wire2.side_s[0] += time.perf_counter() - t
        wire2.cpu_s[0] += time.process_time() - c
        wire2.run(first, (ini, res), 1)
        inc_s = sum(wire2.side_s)
        print(
            f"  incremental round (one plan moved): {inc_s:.3f} s wall (CPU "
            f"{sum(wire2.cpu_s):.3f} s), {wire2.bytes / 1e3:.1f} kB "
            f"on the wire in {wire2.messages} messages, {ini.stats.tokens_sent:,} tokens sent "
            f"by A over the session"
        )
        plans[0][rid] = moved
        covers[0].put(rid, moved)
        _, hits = intersect(*covers)
        assert set(hits) == set(ini.intersection()) == set(res.intersection())
    return 0


if __name__ == "__main__":
    sys.exit(main())
