"""Writes into different places run side by side on PostgreSQL, and the outcome is still a
serial one: two stores on one database (as two API processes), the service's hooks installed."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from deconfliction import dss, exchange
from deconfliction.alerts import leases
from deconfliction.audit import first_bad_entry
from deconfliction.auth import dev_private_key, mint_token
from deconfliction.errors import NotFound, VersionConflict
from deconfliction.model import IntentDraft, Party, RecordKind, SeparationPolicy, Volume4D
from deconfliction.store import SqliteStore, Store
from deconfliction.store.conflict_table import ConflictsTx
from deconfliction.store.places import places_of
from deconfliction.store.postgres import WRITE_LOCK, PostgresStore
from helpers import free_port, serve

INTENT = RecordKind.INTENT
POLICY = SeparationPolicy(lateral_m=2000, vertical_m=50, time_s=60)
PARTIES = ("FR", "RU", "UK")


def circle(lon: float, lat: float, radius_m: float = 5000, alt: float = 0) -> IntentDraft:
    vol = Volume4D.model_validate(
        {
            "footprint": {"type": "Circle", "center": [lon, lat], "radius_m": radius_m},
            "alt_lower_m": alt,
            "alt_upper_m": alt + 300,
            "time_start": "2026-05-01T10:00:00Z",
            "time_end": "2026-05-01T11:00:00Z",
        }
    )
    return IntentDraft(volumes=[vol])


def box(lon: float, lat: float, size_deg: float) -> IntentDraft:
    ring = [
        [lon, lat],
        [lon + size_deg, lat],
        [lon + size_deg, lat + size_deg],
        [lon, lat + size_deg],
        [lon, lat],
    ]
    vol = Volume4D.model_validate(
        {
            "footprint": {"type": "Polygon", "coordinates": [ring]},
            "alt_lower_m": 0,
            "alt_upper_m": 300,
            "time_start": "2026-05-01T10:00:00Z",
            "time_end": "2026-05-01T11:00:00Z",
        }
    )
    return IntentDraft(volumes=[vol])


@pytest.fixture
def two_stores(pg_cluster: str) -> Iterator[tuple[Store, Store, str]]:
    name = f"places_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{pg_cluster}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"{pg_cluster}/{name}"
    stores: list[Store] = []
    for _ in range(2):
        s = PostgresStore(url, POLICY, pool_size=8)
        exchange.install(s.hooks)
        dss.install(s.hooks)
        stores.append(s)
    for pid in PARTIES:
        stores[0].put_party(Party(id=pid, name=pid), actor="admin")
    yield stores[0], stores[1], url
    for s in stores:
        s.close()


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _waiting_on_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_write_elsewhere_goes_on_while_one_holds_its_place_and_a_near_one_waits(
    two_stores: tuple[Store, Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, url = two_stores
    inside, gate = threading.Event(), threading.Event()
    search = ConflictsTx.findings

    def held_search(self: ConflictsTx, rec: Any, policy: Any, covers: Any = None) -> Any:
        if rec.id == "FR/slow":  # stop inside the write, holding its record and places
            inside.set()
            assert gate.wait(60)
        return search(self, rec, policy, covers)

    monkeypatch.setattr(ConflictsTx, "findings", held_search)
    try:
        slow, slow_out = _in_thread(
            lambda: a.create(INTENT, "slow", "FR", circle(30, 34), actor="FR")
        )
        assert inside.wait(30)
        # 1,000 km away: other places, so it is written and committed meanwhile
        far, far_out = _in_thread(lambda: b.create(INTENT, "far", "RU", circle(40, 40), actor="RU"))
        far.join(30)
        assert not far.is_alive() and "error" not in far_out, far_out
        assert b.get(INTENT, "RU", "far").version == 1
        # a lease's row (background work) is written meanwhile too
        lease, lease_out = _in_thread(
            lambda: b.write_tx(
                lambda tx: leases.take(tx, "ticker", "p1", time.time(), 30),
                lock=leases.lock("ticker"),
            )
        )
        lease.join(30)
        assert not lease.is_alive() and lease_out.get("value") == 1, lease_out
        # overlapping the held one: it waits for its place; so does a write spanning too many
        # places (a box of 12 degrees), which runs alone
        near, near_out = _in_thread(
            lambda: b.create(INTENT, "near", "UK", circle(30.05, 34.02), actor="UK")
        )
        huge = box(28.0, 30.0, 12.0)
        assert places_of(huge.volumes, POLICY) is None  # more than MAX_PLACES
        wide, wide_out = _in_thread(lambda: b.create(INTENT, "wide", "RU", huge, actor="RU"))
        deadline = time.monotonic() + 30
        while _waiting_on_locks(url) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_locks(url) == 2
        assert near.is_alive() and wide.is_alive()
    finally:
        gate.set()
    for t in (slow, near, wide):
        t.join(60)
    for out in (slow_out, near_out, wide_out):
        assert "error" not in out, out
    # each saw what was committed before it: the near one and the wide one found the slow one
    near_with = {c.a.id for c in near_out["value"].conflicts} | {
        c.b.id for c in near_out["value"].conflicts
    }
    assert "slow" in near_with
    wide_with = {c.a.id for c in wide_out["value"].conflicts} | {
        c.b.id for c in wide_out["value"].conflicts
    }
    assert {"slow", "near"} <= wide_with
    assert first_bad_entry(a.audit_entries()) is None


def _open_pairs(store: Store) -> set[tuple[str, str]]:
    rows = store.read_tx(lambda tx: [r for p in PARTIES for r in tx.conflict_rows(p, False)])
    return {(r.a_key, r.b_key) for r in rows}


def test_writes_side_by_side_leave_what_one_writer_would(
    two_stores: tuple[Store, Store, str], tmp_path: Path
) -> None:
    """Six writers on two stores create, move and delete intents in three crowded areas, each
    about on the edge of places; a reader follows the outbox by sequence number meanwhile. The
    conflicts kept are those a store given the final records finds, the audit chain holds, and
    the reader missed no event."""
    a, b, _ = two_stores
    areas = [(30.0, 34.0), (32.5, 34.0), (30.0, 36.5)]  # about 250 km apart
    errors: list[BaseException] = []
    done = threading.Event()
    seen: dict[str, list[int]] = {p: [] for p in PARTIES}

    def follow() -> None:
        after = dict.fromkeys(PARTIES, 0)
        while True:
            last = done.is_set()
            for p in PARTIES:
                for e in a.outbox_events(p, after[p]):
                    seen[p].append(e["seq"])
                    after[p] = e["seq"]
            if last:
                return
            time.sleep(0.002)

    def writer(n: int) -> None:
        rng = random.Random(n)
        store = a if n % 2 else b
        try:
            for _ in range(30):
                owner = rng.choice(PARTIES)
                rid = f"r{rng.randrange(12)}"  # shared among writers: records are contended
                lon0, lat0 = rng.choice(areas)
                d = circle(
                    lon0 + rng.uniform(-0.6, 0.6),
                    lat0 + rng.uniform(-0.6, 0.6),
                    rng.uniform(2000, 30000),
                    rng.choice((0, 200, 1000)),
                )
                try:
                    cur = store.get(INTENT, owner, rid)
                except NotFound:
                    cur = None
                try:
                    if cur is None:
                        store.create(INTENT, rid, owner, d, actor=owner)
                    elif rng.random() < 0.25:
                        store.delete(INTENT, rid, owner, cur.version, actor=owner)
                    else:
                        store.replace(INTENT, rid, owner, d, cur.version, actor=owner)
                except (VersionConflict, NotFound):
                    pass  # another writer changed it first
        except BaseException as exc:
            errors.append(exc)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    writers = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(6)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(300)
    done.set()
    follower.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in writers)

    # the outbox grew in commit order: following it by sequence number missed nothing
    for p in PARTIES:
        assert seen[p] == [e["seq"] for e in a.outbox_events(p)]
    entries = a.audit_entries()
    assert first_bad_entry(entries) is None
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))

    # the conflicts kept are exactly those of the final records, found by one writer
    oracle = SqliteStore(tmp_path / "oracle.db", POLICY)
    try:
        for p in PARTIES:
            oracle.put_party(Party(id=p, name=p), actor="admin")
        final = {p: a.list_owned(INTENT, p) for p in PARTIES}
        assert sum(len(v) for v in final.values()) > 10
        for p, recs in final.items():
            for r in recs:
                oracle.create(INTENT, r.id, p, IntentDraft(volumes=r.volumes), actor=p)
        assert _open_pairs(a) == _open_pairs(oracle)
        assert len(_open_pairs(a)) > 5
    finally:
        oracle.close()


def _dss_volume(lon: float, lat: float) -> dict[str, Any]:
    def at(minutes: float) -> dict[str, str]:
        t = datetime.now(UTC) + timedelta(minutes=minutes)
        return {"value": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "format": "RFC3339"}

    return {
        "volume": {
            "outline_circle": {
                "center": {"lat": lat, "lng": lon},
                "radius": {"value": 50, "units": "M"},
            },
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 100, "reference": "W84", "units": "M"},
        },
        "time_start": at(5),
        "time_end": at(30),
    }


def test_a_dss_intent_is_written_beside_a_held_place_and_waits_for_its_own(
    pg_cluster: str, tmp_path: Path
) -> None:
    """Over HTTP, against ``serve`` on PostgreSQL: a transaction holds what a write at one
    place holds; a DSS intent elsewhere is written meanwhile, one there waits for it."""
    name = f"dssplaces_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{pg_cluster}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"{pg_cluster}/{name}"
    data = tmp_path / "data"
    key = dev_private_key(data)
    port = free_port()
    proc = serve(data, port, ["--db", url, "--rate-limit", "100000"])
    token = mint_token(key, "uss1", audience="deconfliction", scopes=["utm.strategic_coordination"])
    base = f"http://127.0.0.1:{port}/dss/v1"

    def put(lon: float, lat: float) -> int:
        body = {
            "extents": [_dss_volume(lon, lat)],
            "key": [],
            "state": "Accepted",
            "uss_base_url": "https://uss1.example",
        }
        r = httpx.put(
            f"{base}/operational_intent_references/{uuid.uuid4()}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        return r.status_code

    try:
        assert put(20.0, 20.0) == 201  # the manager and the schema exist before the hold
        here = circle(30.0, 34.0, 50).volumes
        held = places_of(here, SeparationPolicy()) or []
        assert held
        with psycopg.connect(url) as holder:  # one transaction, as a write at that place
            holder.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRITE_LOCK,))
            for p in held:
                holder.execute("SELECT pg_advisory_xact_lock(%s)", (p,))
            assert put(40.0, 40.0) == 201  # elsewhere: written meanwhile
            near, near_out = _in_thread(lambda: put(30.0, 34.0))
            deadline = time.monotonic() + 30
            while _waiting_on_locks(url) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _waiting_on_locks(url) == 1 and near.is_alive()
            holder.rollback()
        near.join(60)
        assert near_out.get("value") == 201, near_out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
