"""The Store contract, run on every back end (see ``store_factory`` in conftest)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deconfliction.audit import AuditEntry, digest, first_bad_entry
from deconfliction.errors import NotFound, VersionConflict
from deconfliction.geo import record_coverings, to_sql
from deconfliction.model import IntentDraft, Party, RecordKind, SeparationPolicy, Volume4D
from deconfliction.model.footprint import PolygonFootprint, _polygon_cap
from deconfliction.store import SqliteStore, Store
from deconfliction.store.rows import RecordCache, iso

INTENT = RecordKind.INTENT


def draft(
    lon: float, lat: float, size: float = 0.2, alt: tuple[float, float] = (0, 1000)
) -> IntentDraft:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    vol = Volume4D.model_validate(
        {
            "footprint": {"type": "Polygon", "coordinates": [ring]},
            "alt_lower_m": alt[0],
            "alt_upper_m": alt[1],
            "time_start": "2026-05-01T10:00:00Z",
            "time_end": "2026-05-01T11:00:00Z",
        }
    )
    return IntentDraft(volumes=[vol])


def counts(store: Store) -> tuple[int, int, int]:
    events = sum(len(store.outbox_events(p.id)) for p in store.list_parties())
    return len(store.list_owned(INTENT, "FR")), events, len(store.audit_entries())


def test_versions_and_ownership(store: Store) -> None:
    w = store.create(INTENT, "A", "FR", draft(10, 10), actor="FR")
    assert (w.record.version, w.record.owner) == (1, "FR")
    with pytest.raises(VersionConflict):
        store.create(INTENT, "A", "FR", draft(10, 10), actor="FR")
    with pytest.raises(NotFound):  # ids are per owner: RU has no "A" to replace
        store.replace(INTENT, "A", "RU", draft(11, 11), 1, actor="RU")
    w2 = store.replace(INTENT, "A", "FR", draft(11, 11), 1, actor="FR")
    assert w2.record.version == 2 and w2.record.ovn != w.record.ovn
    with pytest.raises(VersionConflict):
        store.replace(INTENT, "A", "FR", draft(12, 12), 1, actor="FR")
    with pytest.raises(VersionConflict):
        store.delete(INTENT, "A", "FR", 1, actor="FR")
    store.delete(INTENT, "A", "FR", 2, actor="FR")
    with pytest.raises(NotFound):
        store.get(INTENT, "FR", "A")
    with pytest.raises(NotFound):
        store.create(INTENT, "B", "NOBODY", draft(0, 0), actor="x")


def test_ids_are_per_owner(store: Store) -> None:
    """One party's id takes nothing from another: both may hold "X", and neither's create
    tells anything of the other's."""
    fr = store.create(INTENT, "X", "FR", draft(10, 10), actor="FR")
    ru = store.create(INTENT, "X", "RU", draft(40, 40), actor="RU")
    assert (fr.record.owner, ru.record.owner) == ("FR", "RU")
    assert store.get(INTENT, "FR", "X").volumes == fr.record.volumes
    assert store.get(INTENT, "RU", "X").volumes == ru.record.volumes
    with pytest.raises(VersionConflict):
        store.create(INTENT, "X", "RU", draft(40, 40), actor="RU")
    store.delete(INTENT, "X", "RU", 1, actor="RU")
    assert store.get(INTENT, "FR", "X").version == 1


def test_a_refused_write_leaves_nothing_behind(store: Store) -> None:
    store.create(INTENT, "A", "FR", draft(10, 10), actor="FR")
    before = counts(store)
    with pytest.raises(VersionConflict):
        store.create_many(
            INTENT, [("B", "FR", draft(20, 20)), ("A", "FR", draft(30, 30))], actor="FR"
        )
    assert counts(store) == before
    with pytest.raises(NotFound):
        store.get(INTENT, "FR", "B")


def test_a_party_added_by_a_write_that_failed_is_not_taken_for_registered(store: Store) -> None:
    def add_then_fail(tx: Any) -> None:
        tx.put_party(Party(id="XX", name="never"), "t", datetime.now(UTC))
        assert tx.has_party("XX")  # seen by its own transaction
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        store.write_tx(add_then_fail)
    with pytest.raises(NotFound):
        store.create(INTENT, "A", "XX", draft(10, 10), actor="XX")
    store.put_party(Party(id="XX", name="now"), actor="t")
    assert store.create(INTENT, "A", "XX", draft(10, 10), actor="XX").record.version == 1


def test_records_found_near_a_draft_carry_the_caps_their_index_rows_hold(store: Store) -> None:
    """A candidate read back takes its polygons' caps from the index rows that found it (no
    need to work them out again): each the cap its own volume has, for every volume found."""
    for i, lon in enumerate((10.0, 10.1, 10.05)):
        two = draft(lon, 10).volumes + draft(lon + 0.5 * i, 11, size=0.1 + 0.05 * i).volumes
        store.create(INTENT, f"R{i}", "FR", IntentDraft(volumes=two), actor="FR")
    store.cache = RecordCache()  # read back, not as written
    probe = IntentDraft(volumes=draft(10.02, 10.02).volumes + draft(10.6, 11.02).volumes)
    found = store.read_tx(
        lambda tx: tx.candidates(probe.volumes, SeparationPolicy(), ("1 = 1", ()))
    )
    assert sorted(rec.id for rec, _ in found) == ["R0", "R1", "R2"]
    taken = 0
    for rec, _ in found:
        for v in rec.volumes:
            fp = v.footprint
            assert isinstance(fp, PolygonFootprint)
            taken += "cap" in fp.__dict__
            assert fp.cap == _polygon_cap(*fp.dense)
    assert taken >= 4  # every first volume, and the second ones near the probe's second


def test_every_write_has_its_outbox_events_and_audit_entry(store: Store) -> None:
    store.create(INTENT, "FR-1", "FR", draft(35, 35), actor="FR")
    w = store.create(INTENT, "RU-1", "RU", draft(35.1, 35.1), actor="RU")
    assert [c.id for c in w.conflicts] == [c.id for c in store.list_conflicts("FR")]
    types = {p: [e["type"] for e in store.outbox_events(p)] for p in ("FR", "RU")}
    assert types == {
        "FR": ["intent.created", "conflict.opened"],
        "RU": ["intent.created", "conflict.opened"],
    }
    store.replace(INTENT, "RU-1", "RU", draft(50, 50), 1, actor="RU")
    assert store.outbox_events("FR")[-1]["type"] == "conflict.resolved"
    entries = store.audit_entries()
    actions = [e.action for e in entries if e.action.startswith("intent")]
    assert actions == ["intent.created", "intent.created", "intent.updated"]
    assert first_bad_entry(entries) is None


def test_each_change_of_a_conflict_is_told_from_the_row_as_stored(store: Store) -> None:
    """A conflict opened, updated, resolved and opened again: each party's note is made from
    the conflict as it then stands in the store (the row is built in memory, not read back),
    a change that leaves a note as it was tells nothing, and a party told nothing of a
    conflict is not even asked about its resolution."""
    asked: list[tuple[str, str]] = []

    def note(tx: Any, row: Any, party: str, change: str) -> dict[str, Any] | None:
        stored = tx.conflict(row.id)
        if stored is not None:  # an update or a resolution: written before its notes
            assert stored == row
        asked.append((party, change))
        if party == "RU":
            return None
        window = [iso(row.time_start), iso(row.time_end)]
        gap_m = round(row.gaps.horizontal_m)
        return {
            "state": row.state,
            "window": window,
            "gap_m": gap_m,
            "detected": iso(row.detected_at),
        }

    store.hooks.conflict_note = note
    store.create(INTENT, "FR-1", "FR", draft(35, 35), actor="FR")
    first = store.create(INTENT, "RU-1", "RU", draft(35.1, 35.1), actor="RU").conflicts[0]
    later = (
        draft(35.1, 35.1)
        .volumes[0]
        .model_copy(
            update={
                "time_start": datetime(2026, 5, 1, 10, 30, tzinfo=UTC),
                "time_end": datetime(2026, 5, 1, 11, 30, tzinfo=UTC),
            }
        )
    )
    steps = [IntentDraft(volumes=[later]), draft(50, 50), draft(35.1, 35.1), draft(35.1, 35.1)]
    for version, d in enumerate(steps, start=1):
        store.replace(INTENT, "RU-1", "RU", d, version, actor="RU")
    fr = [e for e in store.outbox_events("FR") if e["type"].startswith("conflict.")]
    assert [e["type"] for e in fr] == [
        "conflict.opened",
        "conflict.updated",
        "conflict.resolved",
        "conflict.opened",
    ]
    assert fr[1]["payload"]["window"][0].startswith("2026-05-01T10:30:00")
    assert fr[3]["payload"]["window"][0].startswith("2026-05-01T10:00:00")
    assert {e["payload"]["detected"] for e in fr} == {iso(first.detected_at)}
    assert not [e for e in store.outbox_events("RU") if e["type"].startswith("conflict.")]
    assert ("RU", "resolved") not in asked
    assert asked.count(("FR", "resolved")) == 1


def test_a_transaction_reads_back_the_records_it_writes_and_deletes(store: Store) -> None:
    """A record read once in a transaction is not fetched again, yet every read after a write
    or a delete of it in the same transaction finds it as it now is."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    store.create(INTENT, "A", "FR", draft(10, 10), actor="FR")

    def steps(tx: Any) -> list[int | None]:
        seen = []
        for change in ("none", "replace", "delete", "create"):
            if change == "replace":
                tx.write(INTENT, "A", "FR", draft(11, 11), 1, "FR", at)
            elif change == "delete":
                tx.delete(INTENT, "A", "FR", 2, "FR", at)
            elif change == "create":
                tx.write(INTENT, "A", "FR", draft(12, 12), None, "FR", at)
            found = tx.load("FR/A")
            seen.append(None if found is None else found[0].version)
            many = tx.load_many(["FR/A"])
            seen.append(many[0][0].version if many else None)
        return seen

    assert store.write_tx(steps) == [1, 1, 2, 2, None, None, 1, 1]
    assert store.get(INTENT, "FR", "A").volumes[0].footprint.cap[0] > 12


def test_audit_chain_detects_tampering(store: Store) -> None:
    for i in range(3):
        store.create(INTENT, f"I{i}", "FR", draft(i, 0), actor="FR")
    entries = store.audit_entries()
    assert first_bad_entry(entries) is None
    forged = list(entries)
    e = forged[4]
    forged[4] = AuditEntry(**{**e.__dict__, "actor": "RU"})
    assert first_bad_entry(forged) == e.seq
    assert first_bad_entry(entries[:2] + entries[3:]) == entries[3].seq
    assert first_bad_entry([entries[1], entries[0], *entries[2:]]) == entries[1].seq


def test_a_writes_audit_digest_is_the_digest_of_the_record_as_read_back(store: Store) -> None:
    created = store.create(INTENT, "A", "FR", draft(10, 10), actor="FR").record
    replaced = store.replace(INTENT, "A", "FR", draft(11, 11), 1, actor="FR").record
    entries = [e for e in store.audit_entries() if e.subject == "FR/A"]
    assert [e.digest for e in entries] == [
        digest(created.model_dump(mode="json")),
        digest(replaced.model_dump(mode="json")),
    ]
    assert entries[-1].digest == digest(store.get(INTENT, "FR", "A").model_dump(mode="json"))


def test_replaces_and_deletes_leave_the_indexes_holding_only_current_records(
    store: Store,
) -> None:
    """The cell index and the cap index hold the rows of the records as they are now, after
    replaces and deletes, also for a polygon whose cap is covered apart (not compact) and for
    a record written before its cap cells were kept."""
    thin = [[5.0, 5.0], [7.0, 5.0], [7.0, 5.02], [5.0, 5.02], [5.0, 5.0]]  # 220 km x 2 km
    long_draft = IntentDraft(
        volumes=[
            draft(5, 5)
            .volumes[0]
            .model_copy(update={"footprint": PolygonFootprint(type="Polygon", coordinates=[thin])}),
            draft(6, 6).volumes[0],
        ]
    )
    cells, caps = record_coverings(long_draft.volumes[0].footprint)
    assert cells != caps  # its cap is covered apart
    store.create(INTENT, "A", "FR", long_draft, actor="FR")
    store.create(INTENT, "B", "FR", draft(20, 20), actor="FR")
    store.create(INTENT, "C", "RU", long_draft, actor="RU")
    store.write_tx(lambda tx: tx.x("UPDATE records SET cap_cells = NULL WHERE id = 'RU/C'"))
    store.replace(INTENT, "A", "FR", draft(30, 30), 1, actor="FR")
    store.replace(INTENT, "B", "FR", long_draft, 1, actor="FR")
    store.replace(INTENT, "C", "RU", draft(40, 40), 1, actor="RU")
    store.delete(INTENT, "A", "FR", 2, actor="FR")

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(store.read_tx(lambda tx: tx.x(sql).fetchall()))

    cells: list[tuple[Any, ...]] = []
    caps: list[tuple[Any, ...]] = []
    for owner, rid in (("FR", "B"), ("RU", "C")):
        rec = store.get(INTENT, owner, rid)
        for i, v in enumerate(rec.volumes):
            own, cap = record_coverings(v.footprint)
            cells += [(f"{owner}/{rid}", i, to_sql(c)) for c in own]
            caps += [(f"{owner}/{rid}", i, to_sql(c)) for c in cap]
    assert rows("SELECT record_id, volume, cell FROM record_cells") == sorted(cells)
    # a volume's cap cells: its rows of record_cells marked in_cap, and the others in
    # record_caps (none for a volume covered through its cap, as B's second volume is)
    marked = rows("SELECT record_id, volume, cell FROM record_cells WHERE in_cap = 1")
    apart = rows("SELECT record_id, volume, cell FROM record_caps")
    assert sorted(marked + apart) == sorted(caps)
    assert not set(apart) & set(cells)
    assert {(k, i) for k, i, _ in apart} == {("FR/B", 0)}


def test_data_survives_reopening(store_factory: Any) -> None:
    s1 = store_factory()
    s1.put_party(Party(id="FR", name="France"), actor="t")
    s1.create(INTENT, "A", "FR", draft(1, 1), actor="FR")
    s1.close()
    s2 = store_factory()
    assert s2.get(INTENT, "FR", "A").version == 1
    assert first_bad_entry(s2.audit_entries()) is None


def test_sqlite_commits_leave_the_checkpoints_to_another_thread(tmp_path: Path) -> None:
    """The writer's commits do not copy the WAL into the database file (SQLite would, in a
    commit, once the WAL holds 1,000 pages): a connection of its own does, soon after each
    commit, while the WAL holds far fewer; and what it copied reads back after reopening."""
    path = tmp_path / "s.db"
    s = SqliteStore(path)
    s.put_party(Party(id="FR", name="France"), actor="t")

    def settled_size() -> int:
        sizes = [-1]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            sizes.append(path.stat().st_size)
            if sizes[-1] == sizes[-2]:
                break
        return sizes[-1]

    before = settled_size()
    for i in range(30):
        s.create(INTENT, f"A{i}", "FR", draft(1 + i, 1), actor="FR")
    wal_pages = (tmp_path / "s.db-wal").stat().st_size // 4096
    assert wal_pages < 1000  # SQLite's own threshold: not reached, so it checkpointed nothing
    assert settled_size() > before  # the 30 records' pages were copied into the database
    s.close()
    s2 = SqliteStore(path)
    assert len(s2.list_owned(INTENT, "FR")) == 30
    assert first_bad_entry(s2.audit_entries()) is None
    s2.close()


def test_sqlite_writes_queued_while_a_batch_runs_share_its_commit(tmp_path: Path) -> None:
    """Writes that reach the writer's queue while a batch runs join that batch's transaction
    (each in its own savepoint, as before) and its one commit, instead of waiting for a commit
    of their own; a refused one among them rolls back alone."""
    s = SqliteStore(tmp_path / "s.db")
    s.put_party(Party(id="FR", name="France"), actor="t")
    commits: list[int] = []
    woken = s._dirty.set  # the checkpointer is woken once after each commit
    s._dirty.set = lambda: (commits.append(1), woken())[1]  # type: ignore[method-assign]
    started, release = threading.Event(), threading.Event()

    def first(tx: Any) -> str:
        started.set()
        assert release.wait(10)
        return tx.write(INTENT, "A", "FR", draft(1, 1), None, "FR", datetime.now(UTC)).record.id

    with ThreadPoolExecutor(4) as pool:
        a = pool.submit(s.write_tx, first)
        assert started.wait(10)
        later = [
            pool.submit(s.create, INTENT, f"B{i}", "FR", draft(2 + i, 1), actor="FR")
            for i in range(2)
        ]
        refused = pool.submit(s.create, INTENT, "A", "FR", draft(9, 9), actor="FR")
        deadline = time.monotonic() + 10
        while s._queue.qsize() < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        release.set()
        assert a.result(10) == "A"
        assert [f.result(10).record.id for f in later] == ["B0", "B1"]
        with pytest.raises(VersionConflict):
            refused.result(10)
    assert commits == [1]
    assert sorted(r.id for r in s.list_owned(INTENT, "FR")) == ["A", "B0", "B1"]
    assert first_bad_entry(s.audit_entries()) is None
    s.close()


def test_buffers_of_the_store_policy_apply(store_factory: Any) -> None:
    s = store_factory(SeparationPolicy(lateral_m=20_000))
    for p in ("FR", "RU"):
        s.put_party(Party(id=p, name=p), actor="t")
    s.create(INTENT, "A", "FR", draft(10, 10, size=0.1), actor="FR")
    # 0.1 degree of latitude (about 11 km) north of A: within 20 km
    w = s.create(INTENT, "B", "RU", draft(10, 10.2, size=0.1), actor="RU")
    assert len(w.conflicts) == 1
    assert 11_000 < w.conflicts[0].gaps.horizontal_m < 11_200
    w = s.create(INTENT, "C", "RU", draft(10, 10.5, size=0.1), actor="RU")
    assert w.conflicts == []
    q = s.query(draft(10.05, 10.05, size=0.01).volumes[0], [INTENT])
    assert [r.id for r in q] == ["A"]


def test_every_migration_applies_in_order_and_none_may_change(
    store_factory: Any, tmp_path: Any
) -> None:
    """On both stores: a new database gets every shipped migration, each recorded with its
    checksum; opening it again applies nothing; a migration changed after it was applied stops
    the store from opening, naming it."""
    from deconfliction.store import migrate

    s = store_factory()
    shipped = migrate.migrations()

    def recorded(tx: Any) -> dict[int, str]:
        return {int(r[0]): r[1] for r in tx.x("SELECT version, checksum FROM schema_version")}

    assert s.read_tx(recorded) == {m.number: m.checksum for m in shipped}
    s.close()
    s = store_factory()  # again: nothing to do
    assert s.read_tx(recorded) == {m.number: m.checksum for m in shipped}
    victim = shipped[3]
    s.write_tx(
        lambda tx: tx.x(
            "UPDATE schema_version SET checksum = ? WHERE version = ?", ("0" * 64, victim.number)
        )
    )
    s.close()
    with pytest.raises(migrate.MigrationError, match=victim.name):
        store_factory()


def test_statements_split_outside_quotes_and_comments() -> None:
    from deconfliction.store.migrate import split

    sql = (
        "CREATE TABLE a (x TEXT DEFAULT ';'); -- a comment; with a semicolon\n"
        "INSERT INTO a VALUES ('it''s; here');"
    )
    assert split(sql) == [
        "CREATE TABLE a (x TEXT DEFAULT ';')",
        "INSERT INTO a VALUES ('it''s; here')",
    ]


def test_a_migration_merged_later_with_a_lower_number_is_applied(
    tmp_path: Any, monkeypatch: Any
) -> None:
    import sqlite3

    from deconfliction.store import migrate

    def ship(*numbers: int) -> None:
        ms = [
            migrate.Migration(n, f"{n:04d}_t.sql", f"CREATE TABLE t{n} (x INTEGER);", f"{n}")
            for n in numbers
        ]
        monkeypatch.setattr(migrate, "migrations", lambda: ms)

    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    ship(1, 3)
    assert migrate.apply(conn, "sqlite") == 3
    ship(1, 2, 3)  # 2 arrived later (another branch)
    assert migrate.apply(conn, "sqlite") == 3
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"t1", "t2", "t3"} <= names
    ship(1, 3)  # an older version does not know 2: it refuses to run on this database
    with pytest.raises(migrate.MigrationError, match="newer version"):
        migrate.apply(conn, "sqlite")


def test_a_store_opens_a_new_database_while_another_connection_writes_it(
    tmp_path: Path,
) -> None:
    """Another process holding a new database's write lock (migrating it, say) makes turning
    on WAL answer "locked" at once, without SQLite's busy timeout: the store waits for the lock
    instead of dying (the code before failed here at once, and one in a few dozen starts of
    four stores at once under load)."""
    import sqlite3

    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE elsewhere (a)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = SqliteStore(path)
    finally:
        release.join()
        other.close()
    try:
        store.put_party(Party(id="FR", name="France"), actor="t")
        assert store.get_party("FR").name == "France"
    finally:
        store.close()


def test_processes_starting_together_on_a_new_database_all_open_it(store_factory: Any) -> None:
    """``serve --workers N`` starts N processes on one database: on a new one they all migrate
    it at once. Each must open the store (none may die on a half-made schema), and all must
    share one schema version and one secret."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from deconfliction.store import migrate

    n = 4
    barrier = Barrier(n)

    def open_one(_: int) -> Store:
        barrier.wait()
        return store_factory()

    with ThreadPoolExecutor(n) as pool:
        stores = list(pool.map(open_one, range(n)))
    assert len({s.secret for s in stores}) == 1  # type: ignore[attr-defined]
    stores[0].put_party(Party(id="FR", name="France"), actor="t")
    stores[1].create(INTENT, "A", "FR", draft(1, 1), actor="FR")
    assert stores[3].get(INTENT, "FR", "A").version == 1
    # each migration ran once
    rows = stores[2].read_tx(lambda tx: tx.x("SELECT version FROM schema_version").fetchall())
    assert sorted(r[0] for r in rows) == [m.number for m in migrate.migrations()]
