"""Nothing finer than the level, across nodes: the twin-scene property of ``test_leakage.py``
played on two federated nodes.

Russia's record is held on Russia's own node; France's plans on France's node, where the UK (a
party with no agreement with Russia) is hosted too. The agreement is proposed at France's node
and accepted at Russia's, over the federation link; Russia's twin records have the same
released extent on every grid anyone is given and meet the same French plans, but their exact
volumes differ. Once the nodes have converged (every message queued by one node applied by the
other, and a further round with nothing to send), everything France's node stores (every row of
every table), everything France and the UK can read there (conflicts, the picture, records,
queries, previews, threads, events, the ledger, the audit export, OGC items, CoT and KML, the
federation's conflicts, views, agreements, peers and checkpoints) and every message Russia's
node sent France's (the bodies that crossed, and France's inbox rows) must be the same in both
twins, once what two runs differ in anyway (times, random keys, OVNs, nonces and hashes) is set
aside.

Russia replaces or deletes its record after the nodes exchanged it, or at once (before they
exchange anything); the agreement comes into force before the records are written or after.

A second test has Russia create, replace and delete records while the nodes exchange and
France reads: every view and notice that crossed, and every answer, stays on the grid.

The nodes run in process: the real app on each side, the deliverer driven by the test, each
request carried to the other node's ``/federation/v1/inbox`` route, signed and checked as on
the wire.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import Api, _Client
from deconfliction.api import create_app
from deconfliction.audit.signing import Signer
from deconfliction.auth import AuthConfig
from deconfliction.exchange.agreements import Coarsening
from deconfliction.exchange.release import coarsen
from deconfliction.federation import Federation, NodeKey, peers
from deconfliction.federation.dispatcher import Dispatcher
from deconfliction.model import Party, RecordKind, Volume4D
from deconfliction.store import SqliteStore, Store
from test_leakage import (
    POLICY,
    _agreement,
    _circle,
    _first_difference,
    _meets,
    _no_times,
    _normal,
    _on_grid,
    scenes,
)

NOW = datetime(2030, 6, 1, 7, 0, tzinfo=UTC)
#: where each node's parties are hosted
HOSTS = {"fr": ("FR", "UK"), "ru": ("RU",)}
#: fields and columns that two runs of one scene fill differently whatever the scene (besides
#: those ``test_leakage`` sets aside): nonces, lease holders, signatures and hashes over times,
#: the deliverer's clock
_RUN_FIELDS = {
    "countersignature",
    "expires_at",
    "hash",
    "holder",
    "last_ok_at",
    "next_attempt_at",
    "nonce",
    "prev_hash",
    "received_at",
    "signature",
}


def _set_aside(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: ("*" if k in _RUN_FIELDS else _set_aside(v)) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_set_aside(v) for v in x]
    return x


@dataclass
class _Node:
    name: str
    store: Store
    api: Api
    dispatcher: Dispatcher


def _private(name: str) -> Ed25519PrivateKey:
    """The same key in every run (signatures over the same text are the same)."""
    return Ed25519PrivateKey.from_private_bytes(name.encode().ljust(32, b"k"))


def _key(name: str) -> NodeKey:
    return NodeKey.of(_private(name))


@contextmanager
def _nodes(tokens: dict[str, str], auth: AuthConfig) -> Iterator[dict[str, _Node]]:
    """France's node (FR, UK) and Russia's (RU), peered; requests between them go through
    the other node's inbox route."""
    with tempfile.TemporaryDirectory() as tmp:
        made: dict[str, _Node] = {}
        stores: list[Store] = []

        def post(
            url: str, path: str, body: bytes, headers: dict[str, str], timeout_s: float
        ) -> tuple[int, dict[str, str], bytes]:
            r = made[url.split("//", 1)[1]].api.client.post(path, content=body, headers=headers)
            return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content

        try:
            for name in HOSTS:
                store = SqliteStore(Path(tmp) / f"{name}.db", POLICY)
                stores.append(store)
                store.signer = Signer(_private(f"audit-{name}"))
                for pid in ("FR", "RU", "UK"):
                    store.put_party(Party(id=pid, name=pid), actor="admin")
                key = _key(name)
                for other, hosted in HOSTS.items():
                    if other != name:
                        store.write_tx(
                            lambda tx, o=other, h=hosted, k=key: peers.add(
                                tx,
                                o,
                                f"http://{o}",
                                _key(o).public_pem,
                                [(p, p) for p in h],
                                k.key_id,
                                "admin",
                                NOW,
                            )
                        )
                node = Federation(store, key, ping_s=3600.0)
                api = Api(_Client(create_app(store, auth, node=node)), tokens)
                d = Dispatcher(store, key, post=post, ping_s=3600.0, base_delay_s=0.0,
                               max_delay_s=0.0)  # fmt: skip
                made[name] = _Node(name, store, api, d)
            yield made
        finally:
            for n in made.values():
                n.dispatcher.stop()
            for s in stores:
                s.close()


def _sent_and_applied(nodes: dict[str, _Node]) -> bool:
    """Every message a node queued for a peer was delivered and applied there."""
    for a in nodes.values():
        for b in nodes.values():
            if a is b:
                continue
            there = a.store.read_tx(lambda tx, b=b: peers.get(tx, b.name))
            here = b.store.read_tx(lambda tx, a=a: peers.get(tx, a.name))
            assert there is not None and here is not None
            if not (there.synced and there.next_seq == there.delivered_seq == here.received_seq):
                return False
    return True


def _converge(nodes: dict[str, _Node]) -> None:
    """Drive the deliverers until a whole round moves nothing and nothing is queued."""
    for _ in range(30):
        moved = sum(n.dispatcher.run_once() for n in nodes.values())
        if not moved and _sent_and_applied(nodes):
            return
    raise AssertionError("the nodes did not converge in 30 rounds")


def _rows(store: Store) -> dict[str, Any]:
    """Every row of every table of a node's database, JSON in text columns read as JSON."""

    def read(tx: Any) -> dict[str, Any]:
        tables = [
            r[0]
            for r in tx.x(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            cur = tx.x(f'SELECT * FROM "{t}"')
            cols = [c[0] for c in cur.description]
            out[t] = [
                {c: _json(v) for c, v in zip(cols, row, strict=True)} for row in cur.fetchall()
            ]
        return out

    return store.read_tx(read)


def _json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _play(
    tokens: dict[str, str],
    auth: AuthConfig,
    fr: list[Volume4D],
    ru: Volume4D,
    ru_kind: RecordKind,
    terms: dict[str, Any] | None,
    after: str,
    agreement_first: bool,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Play the scene on two nodes: everything France's node holds and shows (set aside what
    two runs differ in anyway), and how many of Russia's views and conflicts with Russia's
    records France holds there."""
    with _nodes(tokens, auth) as nodes:
        at_fr, at_ru = nodes["fr"].api, nodes["ru"].api
        plural = "intents" if ru_kind is RecordKind.INTENT else "areas"

        def agree() -> None:
            if terms is None:
                return
            r = at_fr.put("/v1/agreements/RU", "FR-admin", json=terms)
            assert r.status_code == 201, r.text
            _converge(nodes)
            r = at_ru.post(f"/v1/agreements/FR/versions/{r.json()['version']}/accept", "RU-admin")
            assert r.status_code == 200, r.text
            _converge(nodes)

        def write() -> None:
            for i, v in enumerate(fr):
                body = {"id": f"F{i}", "category": "air-sortie",
                        "volumes": [v.model_dump(mode="json")]}  # fmt: skip
                w = at_fr.post("/v1/intents", "FR", json=body)
                assert w.status_code == 201, w.text
            body = {"id": "R1", "volumes": [ru.model_dump(mode="json")]}
            w = at_ru.post(f"/v1/{plural}", "RU", json=body)
            assert w.status_code == 201, w.text

        def change() -> None:
            if after.startswith("replace"):
                again = {"version": 1, "volumes": [ru.model_dump(mode="json")]}
                assert at_ru.put(f"/v1/{plural}/R1", "RU", json=again).status_code == 200
            elif after.startswith("delete"):
                assert at_ru.delete(f"/v1/{plural}/R1?version=1", "RU").status_code == 200

        at_once = after.endswith("at once")  # before the nodes exchange the write
        if agreement_first:
            agree()
        write()
        if at_once:
            change()
        _converge(nodes)
        if not agreement_first:
            agree()
        if not at_once:
            change()
        # each node signs a checkpoint of its audit (the cadence's would need 100 entries)
        for n in nodes.values():
            n.store.write_tx(lambda tx: tx.checkpoint(NOW))
        _converge(nodes)

        api, store = at_fr, nodes["fr"].store
        seen: dict[str, Any] = {}
        for who in ("FR", "UK"):
            conflicts = api.get("/v1/conflicts?include_resolved=true", who).json()
            seen[f"{who} conflicts"] = conflicts
            seen[f"{who} picture"] = api.get("/v1/picture", who).json()
            wide = _circle(30.5, 34.5, 150_000, (0, 10_000), (0, 20_000)).model_dump(mode="json")
            for p in ("intents", "areas"):
                r = api.get(f"/v1/{p}/R1?owner=RU", who)
                seen[f"{who} get {p}"] = (r.status_code, r.json())
                q = api.post(f"/v1/{p}/query", who, json={"volume": wide})
                seen[f"{who} query {p}"] = (q.status_code, q.json())
            for i, v in enumerate(fr):
                p = api.post(
                    "/v1/intents/preview", who, json={"volumes": [v.model_dump(mode="json")]}
                )
                seen[f"{who} preview {i}"] = (p.status_code, p.json())
            fed = api.get("/v1/federation/conflicts", who)
            seen[f"{who} federation conflicts"] = (fed.status_code, fed.json())
            threads = []
            ids = [c["id"] for c in conflicts["conflicts"]]
            ids += [c["id"] for c in fed.json().get("conflicts", [])]
            for cid in ids:
                t = api.get(f"/v1/conflicts/{cid}/thread", who)
                threads.append((t.status_code, t.json()))
            seen[f"{who} conflict threads"] = threads
            seen[f"{who} threads"] = api.get("/v1/threads", who).json()
            seen[f"{who} events"] = store.outbox_events(who)
            seen[f"{who} ledger"] = api.get("/v1/ledger", who).json()
            seen[f"{who} tactical"] = api.get("/v1/tactical", who).json()
            seen[f"{who} links"] = api.get("/v1/links", who).json()
            for what in ("views", "agreements", "peers", "checkpoints", "tracks"):
                r = api.get(f"/v1/federation/{what}", who)
                seen[f"{who} federation {what}"] = (r.status_code, r.json())
            for coll in ("intents", "areas", "conflicts"):
                items = api.get(f"/ogc/collections/{coll}/items", who)
                seen[f"{who} ogc {coll}"] = (items.status_code, items.json())
            for fmt in ("cot", "kml"):
                r = api.get(f"/v1/picture/{fmt}", who)
                seen[f"{who} {fmt}"] = (r.status_code, _no_times(r.text))
            doc = api.get("/v1/audit/export", who).json()
            seen[f"{who} export"] = [e for e in doc["entries"] if "actor" in e]
            # whether an id exists on another node is no one's to tell
            r = api.post("/v1/threads", who, json={"record_id": "R1", "owner": "RU"})
            seen[f"{who} thread on R1"] = (r.status_code, r.json())
        # what crossed from Russia's node to France's, and what France's node made of it
        seen["messages to fr"] = nodes["ru"].store.read_tx(
            lambda tx: [
                {"seq": r[0], "type": r[1], "body": json.loads(r[2])}
                for r in tx.x(
                    "SELECT seq, type, body FROM fed_outbox WHERE peer = 'fr' ORDER BY seq"
                ).fetchall()
            ]
        )
        seen["fr inbox"] = store.read_tx(
            lambda tx: [
                {"seq": r[0], "type": r[1], "outcome": r[2], "detail": r[3]}
                for r in tx.x(
                    "SELECT seq, type, outcome, detail FROM fed_inbox WHERE peer = 'ru' "
                    "ORDER BY seq"
                ).fetchall()
            ]
        )
        for table, rows in _rows(store).items():
            seen[f"fr table {table}"] = rows
        facts = {
            "views": len(seen["FR federation views"][1]["views"]),
            "conflicts": len(seen["FR federation conflicts"][1]["conflicts"]),
        }
        normal: dict[str, Any] = _normal(_set_aside(seen))
        return normal, facts


#: Twins that differ in every bound (radius, both altitudes, both times) and meet both French
#: plans, one of them only within the buffers (so its gaps would tell the twins apart): the
#: examples below play them at each level, whatever the random ones draw.
_TWINS = (
    [
        _circle(30.6, 34.5, 5_000, (500, 1_500), (0, 3_600)),
        _circle(30.75, 34.48, 5_000, (500, 1_500), (0, 3_600)),
    ],
    _circle(30.52, 34.48, 7_000, (120, 880), (700, 4_000)),
    _circle(30.52, 34.48, 7_050, (150, 850), (800, 3_900)),
    Coarsening(position_step_deg=0.05, radius_step_m=2000.0, alt_step_m=100.0, time_step_s=600.0),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    scene=scenes(),
    level=st.sampled_from(["extent", "conflict", "none", "no agreement"]),
    reciprocity=st.booleans(),
    kind=st.sampled_from([RecordKind.INTENT, RecordKind.AREA]),
    after=st.sampled_from(["nothing", "replace", "delete", "replace at once", "delete at once"]),
    agreement_first=st.booleans(),
)
@example(_TWINS, "extent", False, RecordKind.INTENT, "nothing", True)
@example(_TWINS, "conflict", False, RecordKind.AREA, "replace", False)
@example(_TWINS, "extent", True, RecordKind.INTENT, "nothing", False)
@example(_TWINS, "none", False, RecordKind.INTENT, "delete", True)
def test_what_the_level_hides_changes_nothing_another_node_holds_or_shows(
    tokens: dict[str, str],
    auth: AuthConfig,
    scene: tuple[list[Volume4D], Volume4D, Volume4D, Coarsening],
    level: str,
    reciprocity: bool,
    kind: RecordKind,
    after: str,
    agreement_first: bool,
) -> None:
    fr, a, b, grid = scene
    for g in (grid, Coarsening()):
        assert coarsen(a, g) == coarsen(b, g)
    assume(_meets(fr, a) == _meets(fr, b))  # a notice tells whether they meet, no more
    terms = None if level == "no agreement" else _agreement(level, reciprocity, grid)
    seen_a, facts = _play(tokens, auth, fr, a, kind, terms, after, agreement_first)
    seen_b, _ = _play(tokens, auth, fr, b, kind, terms, after, agreement_first)
    # the scene crossed as agreed (else the property would hold of nothing)
    if level in ("none", "no agreement"):
        assert facts == {"views": 0, "conflicts": 0}, facts
    elif not reciprocity and not after.startswith("delete"):
        assert facts["views"] == (level == "extent"), facts
        assert facts["conflicts"] >= any(_meets(fr, a)), facts
    assert seen_a.keys() == seen_b.keys()
    for path in seen_a:
        assert seen_a[path] == seen_b[path], (path, _first_difference(seen_a[path], seen_b[path]))


def test_what_crosses_while_the_owner_replaces_and_deletes_stays_within_the_level(
    tokens: dict[str, str], auth: AuthConfig
) -> None:
    """Russia creates, replaces and deletes records on its node as fast as it can while the
    nodes exchange and France reads its picture and its conflicts across nodes: every view and
    notice that crossed, and everything France read, holds Russia's records as extents on the
    grid; once the nodes converge, France holds nothing of them."""
    grid = Coarsening()
    with _nodes(tokens, auth) as nodes:
        at_fr, at_ru = nodes["fr"].api, nodes["ru"].api
        r = at_fr.put("/v1/agreements/RU", "FR-admin", json=_agreement("extent", False, grid))
        assert r.status_code == 201, r.text
        _converge(nodes)
        r = at_ru.post(f"/v1/agreements/FR/versions/{r.json()['version']}/accept", "RU-admin")
        assert r.status_code == 200, r.text
        f = _circle(30.5, 34.5, 20_000, (0, 3_000), (0, 7_200)).model_dump(mode="json")
        assert at_fr.post("/v1/intents", "FR", json={"id": "F", "volumes": [f]}).status_code == 201
        errors: list[str] = []

        def churn() -> None:
            for k in range(25):
                v = _circle(30.5 + 0.001 * k, 34.5, 5_000 + k, (100, 200), (60, 3_000))
                body = {"id": f"R{k}", "volumes": [v.model_dump(mode="json")]}
                if at_ru.post("/v1/intents", "RU", json=body).status_code != 201:
                    errors.append(f"create R{k}")
                again = {"version": 1, "volumes": body["volumes"]}
                if at_ru.put(f"/v1/intents/R{k}", "RU", json=again).status_code != 200:
                    errors.append(f"replace R{k}")
                if at_ru.delete(f"/v1/intents/R{k}?version=2", "RU").status_code != 200:
                    errors.append(f"delete R{k}")

        worker = threading.Thread(target=churn)
        worker.start()
        reads = 0
        try:
            while worker.is_alive() or reads < 5:
                for n in nodes.values():
                    n.dispatcher.run_once()
                for rec in at_fr.get("/v1/picture", "FR").json()["records"]:
                    if rec["record"]["owner"] == "RU":
                        assert rec["level"] == "extent", rec
                        _on_grid(rec["record"]["volumes"], grid)
                for c in at_fr.get("/v1/federation/conflicts", "FR").json()["conflicts"]:
                    for side in ("conflict", "ours", "theirs"):
                        for x in ("a", "b") if c.get(side) else ():
                            if c[side][x]["owner"] == "RU":
                                _on_grid(c[side][x]["volumes"], grid)
                reads += 1
        finally:
            worker.join()
        assert not errors, errors
        _converge(nodes)
        crossed = nodes["ru"].store.read_tx(
            lambda tx: tx.x("SELECT type, body FROM fed_outbox WHERE peer = 'fr'").fetchall()
        )
        puts = notices = 0
        for type_, body in crossed:
            doc = json.loads(body)
            if type_ == "view.put":
                puts += 1
                assert doc["level"] == "extent", doc
                _on_grid(doc["view"]["volumes"], grid)
            elif type_ == "conflict.notice" and doc.get("conflict") is not None:
                notices += 1
                for x in ("a", "b"):
                    if doc["conflict"][x]["owner"] == "RU":
                        _on_grid(doc["conflict"][x]["volumes"], grid)
        assert puts >= 25 and notices >= 1, (puts, notices)
        assert at_fr.get("/v1/federation/views", "FR").json()["views"] == []
        still = at_fr.get("/v1/federation/conflicts", "FR").json()["conflicts"]
        assert all(c["finding"] == "resolved" for c in still), still
