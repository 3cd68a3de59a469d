"""The format adapters' speed: ASTERIX decoding, and a party's released picture as CoT, KML and
an OGC API items page, on the embedded store.

    python bench/formats.py --records 500 --tracks 1000

ASTERIX: the CAT034/048 recording that asterix-decoder ships, decoded again and again (radars
placed for every SAC/SIC), in records and states a second. The rest: ``--records`` intents
(two parties, half released to the other as extents) and ``--tracks`` live tracks in the
store, then the median and 95th percentile of building France's picture as CoT events, as
KML, and of one ``GET /ogc/collections/intents/items`` (in-process, no socket).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asterix
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from deconfliction.api import create_app
from deconfliction.auth import AuthConfig, mint_token, public_pem
from deconfliction.exchange.agreements import Terms, accept, propose
from deconfliction.exchange.picture import released_picture
from deconfliction.formats.asterix import AsterixDecoder, Radar, read_recording
from deconfliction.formats.cot import picture_events
from deconfliction.formats.kml import picture_kml
from deconfliction.model import IntentDraft, Party, RecordKind, TrackState
from deconfliction.store import SqliteStore


def _timed(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


def bench_asterix(rounds: int) -> None:
    data = Path(asterix.get_sample_file("cat_034_048.pcap")).read_bytes()
    blocks = [b for _, b in read_recording(data)]
    radars = {(25, sic): Radar(16.0, 45.0, 100.0) for sic in range(256)}
    dec = AsterixDecoder(radars=radars, day=datetime(2016, 5, 5, tzinfo=UTC).date())
    t0 = time.perf_counter()
    states = 0
    for _ in range(rounds):
        for b in blocks:
            states += len(dec.decode(b))
    dt = time.perf_counter() - t0
    records = rounds * 170
    print(
        f"ASTERIX CAT034/048 recording x{rounds}: {records / dt:,.0f} records/s, "
        f"{states / dt:,.0f} states/s"
    )


def bench_picture(n_records: int, n_tracks: int, reps: int) -> None:
    rng = random.Random(1)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "b.db")
        for p in ("FR", "RU"):
            store.put_party(Party(id=p, name=p), actor="bench")
        terms = Terms.model_validate(
            {"releases": {"RU": {"default": "extent", "track": "full"}}, "reciprocity": False}
        )

        def agree(tx: Any) -> None:
            done = propose(tx, "RU", "FR", terms, "bench", now)
            accept(tx, "FR", "RU", done.version, "bench", now)

        store.write_tx(agree)
        items = []
        for i in range(n_records):
            lon, lat = rng.uniform(30, 36), rng.uniform(32, 36)
            vol = {
                "footprint": {
                    "type": "Polygon",
                    "coordinates": [
                        [[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat]]
                    ],
                },
                "alt_lower_m": 1000,
                "alt_upper_m": 3000,
                "time_start": (now + timedelta(hours=1)).isoformat(),
                "time_end": (now + timedelta(hours=3)).isoformat(),
            }
            items.append(
                (f"R{i}", "FR" if i % 2 else "RU", IntentDraft.model_validate({"volumes": [vol]}))
            )
        for k in range(0, len(items), 200):
            store.create_many(RecordKind.INTENT, items[k : k + 200], actor="bench")
        key = ec.generate_private_key(ec.SECP256R1())
        app = create_app(store, AuthConfig([public_pem(key)], ["deconfliction"]))
        states = [
            TrackState.model_validate(
                {
                    "id": f"T{i}",
                    "class": "fixed-wing",
                    "time": now.isoformat(),
                    "lon": rng.uniform(30, 36),
                    "lat": rng.uniform(32, 36),
                    "alt_m": 5000,
                    "gs_mps": 200,
                    "track_deg": 90,
                }
            )
            for i in range(n_tracks)
        ]
        app.state.tracks.upsert("FR", states[::2])
        app.state.tracks.upsert("RU", states[1::2])
        tracks = app.state.tracks.snapshot()

        def pic() -> Any:
            return released_picture(store, "FR", datetime.now(UTC), tracks=tracks)

        picture = pic()
        label = f"{n_records} intents, {n_tracks} tracks"
        shown = f"{len(picture.records)} records, {len(picture.tracks)} tracks"
        print(f"picture of FR ({label}): {shown}")
        p50, p95 = _timed(pic, reps)
        print(f"  released_picture:            p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        p50, p95 = _timed(lambda: picture_events(picture, datetime.now(UTC)), reps)
        print(f"  as CoT events (given it):    p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        p50, p95 = _timed(lambda: picture_kml(picture), reps)
        print(f"  as KML (given it):           p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        token = mint_token(key, "FR")

        def items_page() -> None:
            async def go() -> None:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
                    r = await c.get(
                        "/ogc/collections/intents/items?limit=1000",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert r.status_code == 200, r.text

            anyio.run(go)

        p50, p95 = _timed(items_page, reps)
        print(f"  OGC intents items (1,000):   p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--records", type=int, default=500)
    ap.add_argument("--tracks", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--asterix-rounds", type=int, default=200)
    args = ap.parse_args()
    bench_asterix(args.asterix_rounds)
    bench_picture(args.records, args.tracks, args.reps)


if __name__ == "__main__":
    main()
