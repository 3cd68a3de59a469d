# ruff: noqa: RUF001  (Russian text: Cyrillic letters that look Latin are meant)
"""The hotline: coded messages read in each party's language, acknowledgement and escalation."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from deconfliction.exchange import phrasebook
from deconfliction.exchange.hotline import LADDER, Escalator
from helpers import agree
from test_api import box  # a native volume as JSON

SAMPLE = {
    "altitude": 3000,
    "heading": 90,
    "time": "2026-11-22T16:40:00Z",
    "position": [33.2, 34.5],
    "distance": 9260,
    "track": "RU-SU24-07",
}
SHOWN = {  # how each sample parameter must appear, per language
    "en": {"altitude": "3,000 m (9,843 ft)", "heading": "090°", "time": "16:40 UTC, 22 Nov 2026",
           "position": "34.50°N 033.20°E", "distance": "9,260 m (5.0 NM)", "track": "RU-SU24-07"},
    "fr": {"altitude": "3\u202f000 m (9\u202f843 ft)", "heading": "090°",
           "time": "22 nov. 2026 16:40 UTC", "position": "34,50° N 033,20° E",
           "distance": "9\u202f260 m (5,0 NM)", "track": "RU-SU24-07"},
    "ru": {"altitude": "3\u00a0000 м (9\u00a0843 фут.)", "heading": "090°",
           "time": "22 нояб. 2026 16:40 UTC", "position": "34,50° с. ш. 033,20° в. д.",
           "distance": "9\u00a0260 м (5,0 мор. миль)", "track": "RU-SU24-07"},
}  # fmt: skip


@pytest.mark.parametrize("lang", phrasebook.LANGUAGES)
def test_every_code_renders_in_every_language_with_its_parameters(lang: str) -> None:
    assert {p.category for p in phrasebook.PHRASES.values()} == set(phrasebook.Category)
    for code, phrase in phrasebook.PHRASES.items():
        assert set(phrase.text) == set(phrasebook.LANGUAGES), code
        slots = set(re.findall(r"{(\w+)}", phrase.text[lang]))
        assert slots == set(phrase.params), (code, lang)
        params = phrasebook.check_params(code, {k: SAMPLE[k] for k in phrase.params})
        text = phrasebook.render(code, params, lang)
        assert "{" not in text and text.strip(), (code, lang)
        for name in phrase.params:
            assert SHOWN[lang][name] in text, (code, lang, name, text)
        assert phrase.category.value in phrasebook.LABELS
        assert phrasebook.LABELS[phrase.category.value][lang]
    for level in LADDER:
        assert phrasebook.LABELS[level][lang]


def test_reading_language_comes_from_the_query_then_accept_language() -> None:
    assert phrasebook.pick_language("ru", "fr-FR,fr;q=0.9") == "ru"
    assert phrasebook.pick_language(None, "de-DE, fr-FR;q=0.8, en;q=0.5") == "fr"
    assert phrasebook.pick_language("xx", None) == "en"


def _conflict(api: Any) -> str:
    a = api.post("/v1/intents", "FR", json={"volumes": [box(33, 34, 33.5, 34.5)]})
    b = api.post("/v1/intents", "RU", json={"volumes": [box(33.2, 34.2, 33.7, 34.7)]})
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    conflicts = b.json()["conflicts"]
    assert len(conflicts) == 1
    return str(conflicts[0]["id"])


def test_a_conflict_thread_in_each_readers_language(api: Any) -> None:
    cid = _conflict(api)
    url = f"/v1/conflicts/{cid}/thread"
    thread = api.get(url, "FR").json()
    assert thread["parties"] == ["FR", "RU"] and thread["messages"] == []
    assert api.get(url, "UK").status_code == 404  # not its conflict: not even shown to exist
    tid = thread["id"]
    sent = api.post(
        f"/v1/threads/{tid}/messages",
        "FR",
        json={"code": "REQ_ALTER_COURSE", "params": {"heading": 90}, "ack_within_s": 300},
    )
    assert sent.status_code == 201, sent.text
    api.post(
        f"/v1/threads/{tid}/messages",
        "RU",
        json={"text": "Понял, меняем курс.", "lang": "ru"},
    )
    ru = api.get(f"/v1/threads/{tid}?lang=ru", "RU").json()["messages"]
    assert ru[0]["text"] == "Прошу вас изменить курс на 090°."
    assert ru[0]["category_label"] == "Просьба" and ru[0]["untranslated"] is False
    fr = api.get(f"/v1/threads/{tid}", "FR", headers={"Accept-Language": "fr"}).json()
    assert fr["messages"][0]["text"] == "Je vous demande de changer de cap au 090°."
    assert fr["messages"][1]["text"] == "Понял, меняем курс." and fr["messages"][1]["untranslated"]
    assert fr["messages"][0]["escalation"] == {"level": 0, "to": "unit", "label": "unité"}
    store = api.client.app.state.store
    assert [e["type"] for e in store.outbox_events("RU")][-1] == "hotline.message"
    assert api.get("/v1/threads", "RU").json()["threads"][0]["id"] == tid
    assert api.get(f"/v1/threads/{tid}", "UK").status_code == 404


def test_an_unacknowledged_message_escalates_on_time(api: Any) -> None:
    cid = _conflict(api)
    tid = api.get(f"/v1/conflicts/{cid}/thread", "FR").json()["id"]
    t0 = time.time()
    sent = api.post(
        f"/v1/threads/{tid}/messages",
        "FR",
        json={"code": "WRN_SEPARATION", "params": {"track": "FR-RAFALE-2",
              "time": "2026-11-22T17:00:00Z"}, "ack_within_s": 60},
    )  # fmt: skip
    mid = sent.json()["id"]
    store = api.client.app.state.store
    clock = [t0 + 59.0]
    esc = Escalator(store, lambda: clock[0])

    def level() -> tuple[int, str]:
        m = api.get(f"/v1/threads/{tid}", "RU").json()["messages"][0]
        return m["escalation"]["level"], m["escalation"]["to"]

    assert esc.run_once() == 0 and level() == (0, "unit")  # not yet due
    clock[0] = t0 + 61.0
    assert esc.run_once() == 1 and level() == (1, "operations-centre")
    assert esc.run_once() == 0  # once per deadline
    for party in ("FR", "RU"):
        last = store.outbox_events(party)[-1]
        assert last["type"] == "hotline.escalated"
        assert last["payload"] == {"thread": tid, "message": mid, "level": 1,
                                   "to": "operations-centre"}  # fmt: skip
    clock[0] = t0 + 121.0
    assert esc.run_once() == 1 and level() == (2, "working-group")
    # the sender cannot acknowledge for the other side; the other side can, once
    ack = f"/v1/threads/{tid}/messages/{mid}/ack"
    assert api.post(ack, "FR").status_code == 403
    r = api.post(ack, "RU")
    assert r.status_code == 200 and list(r.json()["messages"][0]["acknowledged_by"]) == ["RU"]
    assert api.post(ack, "RU").status_code == 200
    clock[0] = t0 + 10_000.0
    assert esc.run_once() == 0 and level() == (2, "working-group")
    assert store.outbox_events("FR")[-1]["type"] == "hotline.ack"
    actions = [e.action for e in store.audit_entries()]
    assert actions.count("hotline.escalated") == 2 and actions.count("hotline.ack") == 1


def test_the_ladder_ends_at_the_chiefs_of_staff(api: Any) -> None:
    cid = _conflict(api)
    tid = api.get(f"/v1/conflicts/{cid}/thread", "RU").json()["id"]
    t0 = time.time()
    api.post(
        f"/v1/threads/{tid}/messages",
        "RU",
        json={"code": "QST_INTENTIONS", "params": {}, "ack_within_s": 10},
    )
    store = api.client.app.state.store
    assert Escalator(store, lambda: t0 + 1000.0).run_once() == 1
    m = api.get(f"/v1/threads/{tid}", "FR").json()["messages"][0]
    # a late tick escalates one level per missed deadline, in turn
    assert m["escalation"]["level"] == 1
    for _ in range(5):
        Escalator(store, lambda: t0 + 1000.0).run_once()
    m = api.get(f"/v1/threads/{tid}", "FR").json()["messages"][0]
    assert m["escalation"]["to"] == "chiefs-of-staff" and m["deadline"] is None


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"code": "NOPE"}, "/code"),
        ({"code": "REQ_ALTER_COURSE", "params": {}}, "/params/heading"),
        ({"code": "REQ_ALTER_COURSE", "params": {"heading": 400}}, "/params/heading"),
        ({"code": "REQ_ALTER_COURSE", "params": {"heading": 90, "speed": 3}}, "/params/speed"),
        ({"code": "INT_HOLD", "params": {"position": [200, 0], "time": "2026-01-01T00:00:00Z"}},
         "/params/position"),
        ({"code": "REQ_DELAY", "params": {"time": "tomorrow"}}, "/params/time"),
        ({"code": "ANS_AFFIRMATIVE", "text": "yes"}, "/code"),
        ({"text": "hello", "lang": "de"}, "/lang"),
        ({"text": ""}, "/text"),
        ({"text": "hello", "ack_within_s": 1}, "/ack_within_s"),
    ],
)  # fmt: skip
def test_bad_messages_are_refused_naming_the_field(
    api: Any, body: dict[str, Any], pointer: str
) -> None:
    cid = _conflict(api)
    tid = api.get(f"/v1/conflicts/{cid}/thread", "FR").json()["id"]
    r = api.post(f"/v1/threads/{tid}/messages", "FR", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["pointer"] == pointer


def test_threads_on_records(api: Any) -> None:
    rid = api.post("/v1/intents", "FR", json={"volumes": [box(10, 10, 10.1, 10.1)]}).json()
    rid = rid["intent"]["id"]
    # RU is not shown FR's record (no agreement): it cannot open a thread on it, and the
    # answer is the one for an id that does not exist
    shut = api.post("/v1/threads", "RU", json={"record_id": rid, "owner": "FR"})
    none = api.post("/v1/threads", "RU", json={"record_id": "nope", "owner": "FR"})
    assert (shut.status_code, none.status_code) == (404, 404)
    assert shut.json()["detail"].replace(rid, "X") == none.json()["detail"].replace("nope", "X")
    agree(api, "FR", "RU", {"releases": {"FR": {"default": "extent"}}, "reciprocity": False})
    r = api.post("/v1/threads", "RU", json={"record_id": rid, "owner": "FR"})
    assert r.status_code == 201 and r.json()["parties"] == ["FR", "RU"]
    mine = api.post("/v1/threads", "FR", json={"record_id": rid})
    assert mine.status_code == 422 and mine.json()["errors"][0]["pointer"] == "/with"
    assert api.post("/v1/threads", "FR", json={"record_id": rid, "with": "UK"}).status_code == 201
    assert api.post("/v1/threads", "RU", json={"record_id": "nope"}).status_code == 404
