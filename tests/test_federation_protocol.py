"""Federation in process: two nodes whose transport the test controls (it can cut the link,
lose answers, deliver twice), on both back ends; the signature rules; conflicts across nodes
against the exact engine."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import _Client
from deconfliction import exchange
from deconfliction.alerts import leases
from deconfliction.alerts.webhooks import LeaseLost
from deconfliction.api import create_app
from deconfliction.audit.signing import Signer, message, public_pem, verify
from deconfliction.auth import AuthConfig
from deconfliction.cli import main
from deconfliction.engine import check_pair
from deconfliction.errors import ServiceUnavailable
from deconfliction.exchange import agreements as ag
from deconfliction.exchange import hotline
from deconfliction.federation import Federation, NodeKey, conflicts, outbox, peers, relay, views
from deconfliction.federation.dispatcher import LEASE as FED_LEASE
from deconfliction.federation.dispatcher import Dispatcher
from deconfliction.federation.signatures import (
    SignatureError,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from deconfliction.model import IntentDraft, Party, RecordKind, SeparationPolicy
from deconfliction.model.track import Track, TrackState
from deconfliction.store import SqliteStore, Store
from helpers import box, record, volume

NOW = datetime.now(UTC)


class Mesh:
    """Nodes in one process; ``post`` carries requests between them, with faults on demand."""

    def __init__(self, stores: dict[str, tuple[Store, str]]) -> None:
        self.nodes: dict[str, tuple[Store, NodeKey, Federation, str]] = {}
        self.cut: set[str] = set()
        #: requests applied whose answer is then lost (the sender will send them again)
        self.lose_answers = 0
        #: requests delivered twice (the copy is a replay: refused)
        self.twice = 0
        for name, (store, party) in stores.items():
            exchange.install(store.hooks)
            key = NodeKey.of(Ed25519PrivateKey.generate())
            fed = Federation(store, key, ping_s=3600.0)
            fed.install(store.hooks)
            store.put_party(Party(id=party, name=party), actor="test")
            self.nodes[name] = (store, key, fed, party)
        for a, (sa, ka, _, _) in self.nodes.items():
            for b, (_, kb, _, pb) in self.nodes.items():
                if a != b:
                    sa.write_tx(
                        lambda tx, b=b, kb=kb, pb=pb, own=ka.key_id: peers.add(
                            tx, b, f"http://{b}", kb.public_pem, [(pb, pb)], own, "t", NOW
                        )
                    )
        self.dispatchers = {
            n: Dispatcher(s, k, post=self.post, ping_s=3600.0, base_delay_s=0.0, max_delay_s=0.0)
            for n, (s, k, _, _) in self.nodes.items()
        }

    def post(
        self, url: str, path: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, dict[str, str], bytes]:
        name = url.split("//", 1)[1]
        if name in self.cut:
            raise OSError("link cut")
        fed = self.nodes[name][2]
        answer = fed.receive("POST", path, headers, body)
        if self.twice:
            self.twice -= 1
            again = fed.receive("POST", path, headers, body)
            assert again.status == 409
        if self.lose_answers:
            self.lose_answers -= 1
            raise OSError("the answer was lost")
        return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.body

    def pump(self, rounds: int = 6) -> None:
        for _ in range(rounds):
            for d in self.dispatchers.values():
                d.run_once()

    def store(self, name: str) -> Store:
        return self.nodes[name][0]

    def close(self) -> None:
        for d in self.dispatchers.values():
            d._pool.shutdown(wait=False)


def _pg_store(request: pytest.FixtureRequest) -> Store:
    import psycopg

    from deconfliction.store.postgres import PostgresStore

    base = request.getfixturevalue("pg_cluster")
    name = f"f_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return PostgresStore(f"{base}/{name}", pool_size=4)


@pytest.fixture(params=["sqlite", "postgresql"])
def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mesh]:
    made: dict[str, tuple[Store, str]] = {}
    for name, party in (("fr", "FR"), ("ru", "RU")):
        if request.param == "sqlite":
            made[name] = (SqliteStore(tmp_path / f"{name}.db"), party)
        else:
            made[name] = (_pg_store(request), party)
    m = Mesh(made)
    yield m
    m.close()
    for s, _ in made.values():
        s.close()


TERMS = {
    "releases": {"FR": {"default": "extent"}, "RU": {"default": "extent"}},
    "reciprocity": False,
}


def _agree(m: Mesh, terms: dict[str, Any] = TERMS) -> None:
    t = ag.Terms.model_validate(terms)
    m.store("fr").write_tx(lambda tx: ag.propose(tx, "FR", "RU", t, "fr-admin", NOW))
    m.pump()
    m.store("ru").write_tx(lambda tx: ag.accept(tx, "RU", "FR", 1, "ru-admin", NOW))
    m.pump()


def _intent(lon: float, lat: float, size: float = 0.05, t: tuple[float, float] = (0, 3600)) -> Any:
    return IntentDraft(volumes=[volume(box(lon, lat, lon + size, lat + size), (0, 500), t)])


def _inbox(store: Store, peer: str) -> list[tuple[int, str]]:
    return store.read_tx(
        lambda tx: tx.x(
            "SELECT seq, msg_id FROM fed_inbox WHERE peer = ? ORDER BY seq", (peer,)
        ).fetchall()
    )


def test_messages_cross_once_in_order_whatever_the_transport_does(mesh: Mesh) -> None:
    _agree(mesh)
    fr, ru = mesh.store("fr"), mesh.store("ru")
    fr.create(RecordKind.INTENT, "S1", "FR", _intent(30, 30), actor="t")
    ru.create(RecordKind.INTENT, "A1", "RU", _intent(30.02, 30.02), actor="t")
    mesh.pump()
    [c] = fr.read_tx(lambda tx: conflicts.list_for(tx, "FR"))
    assert c["finding"] == "agreed"
    tid = c["thread"]

    def say(text: str) -> None:
        def run(tx: Any) -> None:
            t = hotline.thread_for(tx, tid, "FR")
            hotline.post(tx, t, "FR", "fr-watch", code=None, params=None, text=text,
                         lang="en", ack_within_s=None, at=NOW)  # fmt: skip

        fr.write_tx(run)

    mesh.cut.add("ru")
    for i in range(5):
        say(f"m{i}")
        fr.create(RecordKind.INTENT, f"P{i}", "FR", _intent(30 + i, 31), actor="t")
    mesh.pump()  # nothing gets through
    assert [v.key for v in ru.read_tx(lambda tx: views.views_for(tx, "RU"))] == ["FR/S1"]
    mesh.cut.clear()
    mesh.lose_answers = 2  # applied there, the answer lost: sent again
    mesh.twice = 2  # the same request twice: the copy is refused as a replay
    mesh.pump(10)
    got = ru.read_tx(lambda tx: hotline.view(tx, hotline.thread_for(tx, tid, "RU"), "en"))
    assert [m["text"] for m in got["messages"]] == [f"m{i}" for i in range(5)]
    keys = {v.key for v in ru.read_tx(lambda tx: views.views_for(tx, "RU"))}
    assert keys == {"FR/S1", *(f"FR/P{i}" for i in range(5))}
    inbox = _inbox(ru, "fr")
    assert [s for s, _ in inbox] == list(range(1, len(inbox) + 1))
    sent = fr.read_tx(
        lambda tx: tx.x(
            "SELECT seq, msg_id FROM fed_outbox WHERE peer = 'ru' ORDER BY seq"
        ).fetchall()
    )
    assert [tuple(r) for r in sent] == [tuple(r) for r in inbox]
    replays = ru.read_tx(
        lambda tx: tx.x(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'federation.refused' "
            "AND subject = 'replayed'"
        ).fetchone()
    )
    assert replays[0] == 2


def test_an_escalation_and_an_acknowledgement_cross(mesh: Mesh) -> None:
    _agree(mesh)
    fr, ru = mesh.store("fr"), mesh.store("ru")
    fr.create(RecordKind.INTENT, "S1", "FR", _intent(30, 30), actor="t")
    ru.create(RecordKind.INTENT, "A1", "RU", _intent(30.02, 30.02), actor="t")
    mesh.pump()
    [c] = ru.read_tx(lambda tx: conflicts.list_for(tx, "RU"))

    def ask(tx: Any) -> str:
        t = hotline.thread_for(tx, c["thread"], "FR")
        return hotline.post(tx, t, "FR", "fr-watch", code=None, params=None, text="ack?",
                            lang="en", ack_within_s=60, at=NOW)  # fmt: skip

    mid = fr.write_tx(ask)
    mesh.pump()
    later = NOW + timedelta(seconds=120)
    assert fr.write_tx(lambda tx: hotline.escalate_due(tx, later.timestamp(), later)) == 1
    # the receiving node escalates nothing itself: the sender's node does
    assert ru.write_tx(lambda tx: hotline.escalate_due(tx, 1e12, later)) == 0
    mesh.pump()

    def message(store: Store, party: str) -> dict[str, Any]:
        th = store.read_tx(
            lambda tx: hotline.view(tx, hotline.thread_for(tx, c["thread"], party), "en")
        )
        found: dict[str, Any] = next(m for m in th["messages"] if m["id"] == mid)
        return found

    assert message(ru, "RU")["escalation"]["level"] == 1
    ru.write_tx(
        lambda tx: hotline.acknowledge(
            tx, hotline.thread_for(tx, c["thread"], "RU"), mid, "RU", "ru-watch", later
        )
    )
    mesh.pump()
    at_fr = message(fr, "FR")
    assert "RU" in at_fr["acknowledged_by"] and at_fr["deadline"] is None


def test_crossing_proposals_are_refused_and_audited(mesh: Mesh) -> None:
    fr, ru = mesh.store("fr"), mesh.store("ru")
    t = ag.Terms.model_validate(TERMS)
    fr.write_tx(lambda tx: ag.propose(tx, "FR", "RU", t, "fr-admin", NOW))
    ru.write_tx(lambda tx: ag.propose(tx, "RU", "FR", t, "ru-admin", NOW))
    mesh.pump()
    for store in (fr, ru):
        rows = store.read_tx(
            lambda tx: tx.x(
                "SELECT outcome, detail FROM fed_inbox WHERE type = 'agreement.proposed'"
            ).fetchall()
        )
        assert [r[0] for r in rows] == ["refused"] and "crossed" in rows[0][1]
    # proposing again sets them straight
    fr.write_tx(lambda tx: ag.propose(tx, "FR", "RU", t, "fr-admin", NOW))
    mesh.pump()
    ru.write_tx(lambda tx: ag.accept(tx, "RU", "FR", 2, "ru-admin", NOW))
    mesh.pump()
    for store in (fr, ru):
        assert store.read_tx(lambda tx: ag.active(tx, "FR", "RU")).version == 2


def test_reciprocity_across_nodes_counts_what_the_other_released_here(tmp_path: Path) -> None:
    stores = {n: (SqliteStore(tmp_path / f"{n}.db"), p) for n, p in (("fr", "FR"), ("ru", "RU"))}
    m = Mesh(stores)
    try:
        terms = {
            "releases": {"FR": {"default": "extent"}, "RU": {"default": "full"}},
            "reciprocity": True,
            "separation": {"lateral_m": 1000},
        }
        t = ag.Terms.model_validate(terms)
        fr, ru = m.store("fr"), m.store("ru")
        fr.write_tx(lambda tx: ag.propose(tx, "FR", "RU", t, "fr-admin", NOW))
        m.pump()
        ru.write_tx(lambda tx: ag.accept(tx, "RU", "FR", 1, "ru-admin", NOW))
        fr.create(RecordKind.INTENT, "NEAR", "FR", _intent(30, 30), actor="t")
        fr.create(RecordKind.INTENT, "FAR", "FR", _intent(40, 30), actor="t")
        ru.create(RecordKind.INTENT, "A1", "RU", _intent(30.01, 30.01), actor="t")
        m.pump()
        # each side waits for the other to release first: nothing but notices could cross,
        # and both parties were told so when the agreement came into force
        for store, party in ((fr, "FR"), (ru, "RU")):
            assert store.read_tx(lambda tx, p=party: views.views_for(tx, p)) == []
            warned = [
                e for e in store.outbox_events(party) if e["type"] == "federation.reciprocity"
            ]
            assert warned and "neither side releases first" in warned[0]["payload"]["warning"]
        # a plan Russia's node released here (had it released first) opens France's details
        # near it, and only there
        rec = ru.get(RecordKind.INTENT, "RU", "A1")
        body = {"to": "FR", "owner": "RU", "key": "RU/A1", "kind": "intent", "level": "full",
                "ref": "a" * 32, "version": 1, "view": rec.model_dump(mode="json")}  # fmt: skip

        def release_here(tx: Any) -> None:
            peer = peers.get(tx, "ru")
            assert peer is not None
            view = views.apply_put(tx, peer, body, NOW)
            views.resync_near(tx, "FR", "RU", view.volumes, NOW)

        fr.write_tx(release_here)
        queued = fr.read_tx(
            lambda tx: tx.x(
                "SELECT body FROM fed_outbox WHERE peer = 'ru' AND type = 'view.put'"
            ).fetchall()
        )
        assert [json.loads(b[0])["key"] for b in queued] == ["FR/NEAR"]
    finally:
        m.close()
        for s, _ in stores.values():
            s.close()


def test_checkpoints_are_countersigned_and_a_fork_is_refused_and_audited(mesh: Mesh) -> None:
    fr, ru = mesh.store("fr"), mesh.store("ru")
    fr.signer = Signer(Ed25519PrivateKey.generate())
    seq, h = fr.write_tx(lambda tx: tx.checkpoint(NOW))
    mesh.pump()
    ours = fr.read_tx(relay.checkpoints)["countersigned_by_peers"]
    theirs = ru.read_tx(relay.checkpoints)["countersigned_here"]
    assert [(c["seq"], c["hash"]) for c in ours] == [(seq, h)]
    assert [(c["seq"], c["hash"]) for c in theirs] == [(seq, h)]
    ru_key = mesh.nodes["ru"][1]
    assert verify(ru_key.public, message(seq, h), ours[0]["signature"])
    # the same entry signed again over another hash: a fork
    forged = "f" * 64
    body = {"seq": seq, "hash": forged, "at": "x", "key_id": fr.signer.key_id,
            "signature": fr.signer.sign(message(seq, forged)),
            "public_key_pem": public_pem(fr.signer.public)}  # fmt: skip
    fr.write_tx(lambda tx: outbox.enqueue(tx, "ru", "checkpoint", body, NOW))
    mesh.pump()
    [(outcome, detail)] = ru.read_tx(
        lambda tx: tx.x(
            "SELECT outcome, detail FROM fed_inbox WHERE type = 'checkpoint' AND outcome <> "
            "'applied'"
        ).fetchall()
    )
    assert outcome == "refused" and "fork" in detail
    assert ru.read_tx(relay.checkpoints)["countersigned_here"] == theirs


def test_tracks_cross_as_released(mesh: Mesh) -> None:
    terms = {
        "releases": {"FR": {"track": "extent", "default": "extent"}, "RU": {"default": "extent"}},
        "reciprocity": False,
    }
    _agree(mesh, terms)
    state = TrackState.model_validate(
        {"id": "RAFALE-1", "class": "fixed-wing", "time": NOW, "lon": 33.4173, "lat": 34.5612,
         "alt_m": 7777.0, "gs_mps": 220.0, "track_deg": 45.0}
    )  # fmt: skip
    live = [Track(party="FR", state=state, received_at=NOW)]
    sender = mesh.dispatchers["fr"]  # the lease holder of France's node
    sender.tracks, sender.tracks_s = (lambda: live), 0.0
    mesh.pump()
    [t] = mesh.store("ru").read_tx(lambda tx: relay.tracks_for(tx, "RU", time.time()))
    assert t["id"] == "RAFALE-1" and t["level"] == "extent"
    assert (t["lon"], t["lat"]) != (33.4173, 34.5612) and "gs_mps" not in t
    assert t["alt_m"] == 7500.0  # on the agreed grid (300 m)


def test_signatures_accept_only_what_they_sign() -> None:
    key = Ed25519PrivateKey.generate()
    me, to = NodeKey.of(key), NodeKey.of(Ed25519PrivateKey.generate())
    body = b'{"messages":[]}'
    now = 2_000_000_000.0
    h = sign_request(key, me.key_id, method="POST", path="/federation/v1/inbox", body=body,
                     to_key_id=to.key_id, now=now)  # fmt: skip
    ok = {"method": "POST", "path": "/federation/v1/inbox", "headers": h, "body": body,
          "key_id": me.key_id, "to_key_id": to.key_id, "now": now}  # fmt: skip
    assert verify_request(me.public, **ok).nonce  # type: ignore[arg-type]
    wrong: list[dict[str, Any]] = [
        {"method": "PUT"},
        {"path": "/federation/v1/other"},
        {"body": body + b" "},
        {"to_key_id": me.key_id},
        {"key_id": to.key_id},
        {"now": now + 400},  # too old
        {"now": now - 400},  # from the future
        {"headers": {**h, "signature-input": h["signature-input"].replace("ed25519", "rsa")}},
        {"headers": {**h, "signature-input": h["signature-input"].replace('"@path" ', "")}},
        {"headers": {**h, "signature": h["signature"][:-6] + "AAAA=:"}},
        {"headers": {**h, "deconfliction-to": me.key_id}},
    ]
    for change in wrong:
        with pytest.raises(SignatureError):
            verify_request(me.public, **{**ok, **change})
    with pytest.raises(SignatureError):
        verify_request(to.public, **ok)  # type: ignore[arg-type]
    rh = sign_response(key, me.key_id, status=200, body=body, to_key_id=to.key_id, now=now)
    verify_response(me.public, status=200, headers=rh, body=body, key_id=me.key_id,
                    to_key_id=to.key_id, now=now)  # fmt: skip
    with pytest.raises(SignatureError):
        verify_response(me.public, status=201, headers=rh, body=body, key_id=me.key_id,
                        to_key_id=to.key_id, now=now)  # fmt: skip


_coord = st.floats(min_value=0.0, max_value=0.6, allow_nan=False)
_record = st.tuples(_coord, _coord, st.floats(min_value=0.005, max_value=0.2),
                    st.integers(min_value=0, max_value=6))  # fmt: skip


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_record, min_size=1, max_size=4), st.lists(_record, min_size=1, max_size=4))
def test_conflicts_across_nodes_are_never_missed(
    tmp_path_factory: pytest.TempPathFactory, mine: list[Any], theirs: list[Any]
) -> None:
    """Each node checks its exact records against the other's extents: every conflict the exact
    engine finds between the two parties' records is found by both nodes, under one id."""
    tmp = tmp_path_factory.mktemp("scene")
    policy = SeparationPolicy(lateral_m=500.0)
    stores = {n: (SqliteStore(tmp / f"{n}.db", policy), p) for n, p in (("fr", "FR"), ("ru", "RU"))}
    m = Mesh(stores)
    try:
        _agree(m)
        exact = {}
        for party, node, recs in (("FR", "fr", mine), ("RU", "ru", theirs)):
            for i, (lon, lat, size, hour) in enumerate(recs):
                rid = f"{party}{i}"
                t = (hour * 1800.0, hour * 1800.0 + 2400.0)
                d = _intent(35 + lon, 35 + lat, size, t)
                m.store(node).create(RecordKind.INTENT, rid, party, d, actor="t")
                exact[f"{party}/{rid}"] = record(f"{party}/{rid}", party, *d.volumes)
        m.pump()
        want = {
            (a, b)
            for a in exact
            for b in exact
            if a.startswith("FR/")
            and b.startswith("RU/")
            and check_pair(exact[a], exact[b], policy) is not None
        }
        at_fr = m.store("fr").read_tx(lambda tx: conflicts.list_for(tx, "FR"))
        at_ru = m.store("ru").read_tx(lambda tx: conflicts.list_for(tx, "RU"))
        agreed_fr = {(f"FR/{c['record']}", c["id"]) for c in at_fr if c["finding"] == "agreed"}
        ids_ru = {c["id"] for c in at_ru if c["finding"] == "agreed"}
        found = set()
        for c in at_fr:
            other = next(s for s in (c["conflict"]["a"], c["conflict"]["b"]) if s["owner"] == "RU")
            found.add((f"FR/{c['record']}", f"RU/{other['id']}"))
        assert want <= found
        assert {cid for _, cid in agreed_fr} == ids_ru
        assert len(agreed_fr) >= len(want)
    finally:
        m.close()
        for s, _ in stores.values():
            s.close()


def test_the_peer_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "node"
    pem = tmp_path / "peer.pem"
    assert main(["peer", "key", "--data-dir", str(data)]) == 0
    own = capsys.readouterr().out
    pem.write_text(NodeKey.of(Ed25519PrivateKey.generate()).public_pem)
    add = ["peer", "add", "ru", "--key", str(pem), "--party", "RU=Russia", "--data-dir", str(data)]
    assert main([*add, "--url", "ftp://ru.example"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "http://HOST:PORT" in err
    (tmp_path / "own.pem").write_text(own)
    mine = ["peer", "add", "me", "--url", "http://x", "--key", str(tmp_path / "own.pem"),
            "--party", "XX", "--data-dir", str(data)]  # fmt: skip
    assert main(mine) == 2
    assert "own key" in capsys.readouterr().err
    assert main([*add, "--url", "https://ru.example:8443"]) == 0
    assert main([*add, "--url", "https://ru.example:8443"]) == 2  # exists already
    capsys.readouterr()
    assert main(["peer", "list", "--json", "--data-dir", str(data)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["name"], row["url"], row["parties"]) == ("ru", "https://ru.example:8443", ["RU"])
    assert main(["peer", "remove", "ru", "--data-dir", str(data)]) == 0
    assert main(["peer", "remove", "ru", "--data-dir", str(data)]) == 2


# --- the lease, the database away, strings at the door -------------------------------------
def _delivered(store: Store, peer: str) -> int:
    found = store.read_tx(lambda tx: peers.get(tx, peer))
    assert found is not None
    return found.delivered_seq


def test_a_deliverer_that_lost_its_lease_queues_nothing_posts_nothing_moves_no_cursor(
    mesh: Mesh,
) -> None:
    """Two processes of France's node share one deliverer through the fenced lease: one that
    stalled past its lease and lost it neither posts, nor queues, nor moves a cursor; it
    delivers again once it holds the lease; a clean stop releases it at once."""
    _agree(mesh)
    fr = mesh.store("fr")
    first = mesh.dispatchers["fr"]
    fr.write_tx(lambda tx: leases.release(tx, FED_LEASE, first.holder))
    now = [time.time()]
    posted: list[bytes] = []

    def post(url: str, path: str, body: bytes, headers: dict[str, str], t: float) -> Any:
        posted.append(body)
        return mesh.post(url, path, body, headers, t)

    key = mesh.nodes["fr"][1]
    a = Dispatcher(fr, key, post=post, clock=lambda: now[0], lease_s=10, timeout_s=5,
                   ping_s=3600.0, base_delay_s=0.0, max_delay_s=0.0)  # fmt: skip
    fr.create(RecordKind.INTENT, "S1", "FR", _intent(30, 30), actor="t")
    assert a.run_once() > 0 and posted
    fr.create(RecordKind.INTENT, "S2", "FR", _intent(31, 30), actor="t")
    cursor = _delivered(fr, "ru")
    queued = fr.read_tx(lambda tx: tx.x("SELECT COUNT(*) FROM fed_outbox").fetchone()[0])
    now[0] += 11  # a stalls past its lease; another process takes it
    assert fr.write_tx(lambda tx: leases.take(tx, FED_LEASE, "other", now[0], 10)) is not None
    posted.clear()
    ru_peer = fr.read_tx(lambda tx: peers.get(tx, "ru"))
    assert ru_peer is not None and ru_peer.next_seq > cursor
    assert a._deliver_fenced(ru_peer) == 0 and posted == []  # it stops before posting
    with pytest.raises(LeaseLost):  # and a write under the lost lease is rolled back
        a._write(lambda tx: a._advance(tx, "ru", 10**6))
    with pytest.raises(LeaseLost):
        a._write(a._queue_pings)
    assert _delivered(fr, "ru") == cursor
    assert a.run_once() == 0 and posted == []  # until the other's lease runs out
    assert fr.read_tx(lambda tx: tx.x("SELECT COUNT(*) FROM fed_outbox").fetchone()[0]) == queued
    now[0] += 11
    assert a.run_once() > 0 and _delivered(fr, "ru") > cursor  # its turn again
    a.stop()  # a clean stop releases the lease: another takes it at once
    assert fr.write_tx(lambda tx: leases.take(tx, FED_LEASE, "next", now[0], 10)) is not None


class _Node:
    """A node served by the real app (in process), and a peer's key to sign requests with."""

    def __init__(self, tmp_path: Path, auth: AuthConfig) -> None:
        self.peer_key = NodeKey.of(Ed25519PrivateKey.generate())
        self.key = NodeKey.of(Ed25519PrivateKey.generate())
        self.store = SqliteStore(tmp_path / "ru.db")
        self.client = _Client(create_app(self.store, auth, node=Federation(self.store, self.key)))
        self.store.put_party(Party(id="RU", name="RU"), actor="test")
        self.store.write_tx(
            lambda tx: peers.add(
                tx,
                "fr",
                "http://fr",
                self.peer_key.public_pem,
                [("FR", "FR")],
                self.key.key_id,
                "t",
                NOW,
            )
        )

    def post(self, body: bytes, now: float | None = None) -> Any:
        headers = sign_request(
            self.peer_key.private, self.peer_key.key_id, method="POST",
            path="/federation/v1/inbox", body=body, to_key_id=self.key.key_id,
            now=time.time() if now is None else now,
        )  # fmt: skip
        return self.client.post("/federation/v1/inbox", content=body, headers=headers)


def _batch(node: _Node, text: str, ensure_ascii: bool = True) -> bytes:
    message = {
        "thread": {"id": "t1", "subject_kind": "conflict", "subject_id": "c1",
                   "parties": ["FR", "RU"], "opened_by": "FR", "created_at": NOW.isoformat()},
        "message": {"id": str(uuid.uuid4()), "from": "FR", "author": "fr-watch", "code": None,
                    "params": None, "text": text, "lang": "en", "ack_within_s": None,
                    "at": NOW.isoformat()},
    }  # fmt: skip
    doc = {
        "from": node.peer_key.key_id,
        "to": node.key.key_id,
        "messages": [{"seq": 1, "id": str(uuid.uuid4()), "type": "hotline.message",
                      "created_at": NOW.isoformat(), "body": message}],
    }  # fmt: skip
    return json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def test_the_inbox_refuses_unstorable_strings_naming_the_field(
    tmp_path: Path, auth: AuthConfig
) -> None:
    """A signed batch from a peer is held to the rules of every route at the door: a string
    with NUL or a lone surrogate is refused with 422 naming it, and nothing is applied."""
    node = _Node(tmp_path, auth)
    try:
        for text, ascii_ in (("a\x00b", True), ("a\ud800b", True), ("a\ud800b", False)):
            r = node.post(_batch(node, text, ascii_))
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
            [err] = r.json()["errors"]
            assert err["pointer"] == "/messages/0/body/message/text", err
            assert "NUL" in err["reason"] or "surrogate" in err["reason"]
        assert _inbox(node.store, "fr") == []
        assert _delivered_here(node.store) == 0
        r = node.post(_batch(node, "a\u202eb"))  # storable (bidi controls are writing)
        assert r.status_code == 200, r.text
        assert _delivered_here(node.store) == 1
    finally:
        node.store.close()


def _delivered_here(store: Store) -> int:
    found = store.read_tx(lambda tx: peers.get(tx, "fr"))
    assert found is not None
    return found.received_seq


def test_a_node_whose_database_is_away_answers_503_and_is_waited_for(
    tmp_path: Path, auth: AuthConfig
) -> None:
    """The inbox answers 503 with Retry-After at once while the database is away (never a 500,
    never a refusal as if the peer were unknown); the sender waits that long, then delivers."""
    node = _Node(tmp_path, auth)
    sender = SqliteStore(tmp_path / "fr.db")
    try:
        exchange.install(sender.hooks)
        Federation(sender, node.peer_key).install(sender.hooks)
        sender.put_party(Party(id="FR", name="FR"), actor="test")
        sender.write_tx(
            lambda tx: peers.add(
                tx,
                "ru",
                "http://ru",
                node.key.public_pem,
                [("RU", "RU")],
                node.peer_key.key_id,
                "t",
                NOW,
            )
        )
        answers: list[Any] = []

        def post(url: str, path: str, body: bytes, headers: dict[str, str], t: float) -> Any:
            r = node.client.post(path, content=body, headers=headers)
            answers.append(r)
            return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content

        now = [time.time()]
        d = Dispatcher(sender, node.peer_key, post=post, clock=lambda: now[0], ping_s=3600.0,
                       base_delay_s=0.0, max_delay_s=0.0)  # fmt: skip

        def away(fn: Any, **_: Any) -> Any:
            raise ServiceUnavailable("the database cannot be reached now; try again", 7)

        real = node.store.read_tx, node.store.write_tx
        node.store.read_tx = node.store.write_tx = away  # type: ignore[method-assign]
        try:
            assert d.run_once() == 0
        finally:
            node.store.read_tx, node.store.write_tx = real  # type: ignore[method-assign]
        [r] = answers
        assert r.status_code == 503 and r.headers["retry-after"] == "7", r.text
        assert r.headers["content-type"] == "application/problem+json"
        ru = sender.read_tx(lambda tx: peers.get(tx, "ru"))
        assert ru is not None and ru.delivered_seq == 0 and "HTTP 503" in (ru.last_error or "")
        assert ru.next_attempt_at == pytest.approx(now[0] + 7)
        now[0] += 6
        assert d.run_once() == 0 and len(answers) == 1  # not before the time it asked for
        now[0] += 1.5
        assert d.run_once() > 0 and answers[-1].status_code == 200
        assert _delivered(sender, "ru") == _delivered_here(node.store) > 0
        d.stop()
    finally:
        sender.close()
        node.store.close()
