# ruff: noqa: RUF001  (Russian text: Cyrillic letters that look Latin are meant)
"""The hotline: coded messages read in each party's language, acknowledgement and escalation."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deconfliction.exchange import hotline, phrasebook
from deconfliction.exchange.agreements import Terms, accept, propose
from deconfliction.exchange.hotline import LADDER, Escalator, Thread
from deconfliction.model import IntentDraft, RecordKind
from deconfliction.store import Store
from deconfliction.store.base import iso
from helpers import agree, volume
from helpers import box as footprint_box
from test_api import box  # a native volume as JSON

SAMPLE = {
    "altitude": 3000,
    "heading": 90,
    "time": "2026-11-22T16:40:00Z",
    "position": [33.2, 34.5],
    "distance": 9260,
    "track": "RU-SU24-07",
}
#: Each code's reviewed wording (en, fr, ru) with the sample parameters; the review's reasons,
#: code by code, are in docs/hotline.md. \u202f and \xa0 are the no-break spaces French and
#: Russian typography put in numbers, dates and before "?".
WORDING = {
    "INT_CLIMB": (
        "I intend to climb to 3,000 m (9,843 ft).",
        "J'ai l'intention de monter à 3\u202f000 m (9\u202f843 ft).",
        "Намерен набрать высоту 3\xa0000 м (9\xa0843 фут.).",
    ),
    "INT_DESCEND": (
        "I intend to descend to 3,000 m (9,843 ft).",
        "J'ai l'intention de descendre à 3\u202f000 m (9\u202f843 ft).",
        "Намерен снизиться до высоты 3\xa0000 м (9\xa0843 фут.).",
    ),
    "INT_ALTER_COURSE": (
        "I intend to alter course to 090° true.",
        "J'ai l'intention de venir au cap 090° vrai.",
        "Намерен лечь на истинный курс 090°.",
    ),
    "INT_TURN_LEFT": (
        "I intend to turn left onto course 090° true.",
        "J'ai l'intention de virer à gauche pour venir au cap 090° vrai.",
        "Намерен повернуть влево и лечь на истинный курс 090°.",
    ),
    "INT_TURN_RIGHT": (
        "I intend to turn right onto course 090° true.",
        "J'ai l'intention de virer à droite pour venir au cap 090° vrai.",
        "Намерен повернуть вправо и лечь на истинный курс 090°.",
    ),
    "INT_HOLD": (
        "I intend to hold at 34°30.0′N 033°12.0′E until 16:40 UTC, 22 Nov 2026.",
        "J'ai l'intention de rester en attente à la position 34°30,0′ N 033°12,0′ E jusqu'au "
        "22\xa0novembre 2026 à 16\xa0h\xa040 UTC.",
        "Намерен оставаться в районе точки 34°30,0′ с. ш., 033°12,0′ в. д. до 16:40 UTC "
        "22\xa0ноября 2026\xa0г.",
    ),
    "INT_LEAVE_AREA": (
        "I intend to leave the area no later than 16:40 UTC, 22 Nov 2026.",
        "J'ai l'intention de quitter la zone au plus tard le 22\xa0novembre 2026 à "
        "16\xa0h\xa040 UTC.",
        "Намерен покинуть район не позднее 16:40 UTC 22\xa0ноября 2026\xa0г.",
    ),
    "REQ_CHANGE_ALTITUDE": (
        "Request you change altitude to 3,000 m (9,843 ft).",
        "Je vous demande de rejoindre l'altitude 3\u202f000 m (9\u202f843 ft).",
        "Прошу вас занять высоту 3\xa0000 м (9\xa0843 фут.).",
    ),
    "REQ_ALTER_COURSE": (
        "Request you alter course to 090° true.",
        "Je vous demande de venir au cap 090° vrai.",
        "Прошу вас лечь на истинный курс 090°.",
    ),
    "REQ_TURN_LEFT": (
        "Request you turn left onto course 090° true.",
        "Je vous demande de virer à gauche pour venir au cap 090° vrai.",
        "Прошу вас повернуть влево и лечь на истинный курс 090°.",
    ),
    "REQ_TURN_RIGHT": (
        "Request you turn right onto course 090° true.",
        "Je vous demande de virer à droite pour venir au cap 090° vrai.",
        "Прошу вас повернуть вправо и лечь на истинный курс 090°.",
    ),
    "REQ_DELAY": (
        "Request you delay your activity until 16:40 UTC, 22 Nov 2026.",
        "Je vous demande de différer votre activité jusqu'au 22\xa0novembre 2026 à "
        "16\xa0h\xa040 UTC.",
        "Прошу вас отложить свою деятельность до 16:40 UTC 22\xa0ноября 2026\xa0г.",
    ),
    "REQ_KEEP_CLEAR": (
        "Request you keep at least 9,260 m (5.0 NM) clear of 34°30.0′N 033°12.0′E.",
        "Je vous demande de vous tenir à une distance d'au moins 9\u202f260 m (5,0 NM) de la "
        "position 34°30,0′ N 033°12,0′ E.",
        "Прошу вас держаться на удалении не менее 9\xa0260 м (5,0 мор. мили) от точки "
        "34°30,0′ с. ш., 033°12,0′ в. д.",
    ),
    "REQ_CONFIRM_INTENTIONS": (
        "Request you confirm your intentions.",
        "Je vous demande de confirmer vos intentions.",
        "Прошу вас подтвердить свои намерения.",
    ),
    "WRN_TRAFFIC": (
        "Traffic RU-SU24-07 at 34°30.0′N 033°12.0′E, altitude 3,000 m (9,843 ft), course 090° "
        "true.",
        "Trafic RU-SU24-07 à la position 34°30,0′ N 033°12,0′ E, altitude 3\u202f000 m "
        "(9\u202f843 ft), cap 090° vrai.",
        "Борт RU-SU24-07 в точке 34°30,0′ с. ш., 033°12,0′ в. д., высота 3\xa0000 м (9\xa0843 "
        "фут.), истинный курс 090°.",
    ),
    "WRN_SEPARATION": (
        "Separation with RU-SU24-07 will be lost at 16:40 UTC, 22 Nov 2026.",
        "La séparation avec RU-SU24-07 sera perdue le 22\xa0novembre 2026 à 16\xa0h\xa040 UTC.",
        "Безопасный интервал с RU-SU24-07 будет нарушен в 16:40 UTC 22\xa0ноября 2026\xa0г.",
    ),
    "WRN_AREA_ACTIVE": (
        "Restricted area at 34°30.0′N 033°12.0′E is active until 16:40 UTC, 22 Nov 2026.",
        "La zone réglementée située à la position 34°30,0′ N 033°12,0′ E est active jusqu'au "
        "22\xa0novembre 2026 à 16\xa0h\xa040 UTC.",
        "Зона ограничения в районе точки 34°30,0′ с. ш., 033°12,0′ в. д. действует до 16:40 "
        "UTC 22\xa0ноября 2026\xa0г.",
    ),
    "ADV_AVOID_AREA": (
        "Advise you avoid the area within 9,260 m (5.0 NM) of 34°30.0′N 033°12.0′E.",
        "Je vous conseille d'éviter la zone située à moins de 9\u202f260 m (5,0 NM) de la "
        "position 34°30,0′ N 033°12,0′ E.",
        "Рекомендую вам избегать района в радиусе 9\xa0260 м (5,0 мор. мили) от точки "
        "34°30,0′ с. ш., 033°12,0′ в. д.",
    ),
    "ADV_MAINTAIN": (
        "Advise you maintain your present altitude and course.",
        "Je vous conseille de maintenir votre altitude et votre cap actuels.",
        "Рекомендую вам сохранять прежние высоту и курс.",
    ),
    "INF_ACTIVITY": (
        "Activity at 34°30.0′N 033°12.0′E from 16:40 UTC, 22 Nov 2026.",
        "Activité à la position 34°30,0′ N 033°12,0′ E à partir du 22\xa0novembre 2026 à "
        "16\xa0h\xa040 UTC.",
        "Деятельность в районе точки 34°30,0′ с. ш., 033°12,0′ в. д. с 16:40 UTC 22\xa0ноября "
        "2026\xa0г.",
    ),
    "INF_COMPLIED": (
        "I have complied.",
        "Exécuté.",
        "Выполнено.",
    ),
    "QST_INTENTIONS": (
        "What are your intentions?",
        "Quelles sont vos intentions\u202f?",
        "Каковы ваши намерения?",
    ),
    "QST_ALTITUDE": (
        "What is the altitude of RU-SU24-07?",
        "Quelle est l'altitude de RU-SU24-07\u202f?",
        "Какова высота борта RU-SU24-07?",
    ),
    "ANS_AFFIRMATIVE": (
        "Affirmative.",
        "Affirmatif.",
        "Подтверждаю.",
    ),
    "ANS_NEGATIVE": (
        "Negative.",
        "Négatif.",
        "Отрицательно.",
    ),
    "ANS_WILL_COMPLY": (
        "Will comply.",
        "Je vais m'y conformer.",
        "Выполню.",
    ),
    "ANS_UNABLE": (
        "Unable to comply.",
        "Impossible de me conformer.",
        "Выполнить не могу.",
    ),
}


def test_every_code_reads_as_reviewed_in_every_language() -> None:
    assert set(WORDING) == set(phrasebook.PHRASES)
    assert {p.category for p in phrasebook.PHRASES.values()} == set(phrasebook.Category)
    for code, phrase in phrasebook.PHRASES.items():
        params = phrasebook.check_params(code, {k: SAMPLE[k] for k in phrase.params})
        got = tuple(phrasebook.render(code, params, lang) for lang in phrasebook.LANGUAGES)
        assert got == WORDING[code], code
        for lang, text in zip(phrasebook.LANGUAGES, got, strict=True):
            assert ".." not in text and "{" not in text, (code, lang)
            slots = set(re.findall(r"{(\w+)", phrase.text[lang]))
            assert slots == set(phrase.params), (code, lang)
            assert phrasebook.LABELS[phrase.category.value][lang]
    for level in LADDER:
        assert all(phrasebook.LABELS[level][lang] for lang in phrasebook.LANGUAGES)


@pytest.mark.parametrize(
    ("code", "params", "lang", "text"),
    [
        # the first of the month is "1er" in French; a date after "jusqu'au" takes no article
        ("REQ_DELAY", {"time": "2027-01-01T07:05:00+01:00"}, "fr",
         "Je vous demande de différer votre activité jusqu'au 1er\xa0janvier 2027 à "
         "6\xa0h\xa005 UTC."),
        ("REQ_DELAY", {"time": "2027-01-01T07:05:00+01:00"}, "en",
         "Request you delay your activity until 06:05 UTC, 1 Jan 2027."),
        # south and west, minutes that round up to the next degree; French writes W, not O
        ("INF_ACTIVITY", {"position": [-5.999999, -0.5], "time": "2026-03-08T00:00:00Z"}, "fr",
         "Activité à la position 00°30,0′ S 006°00,0′ W à partir du 8\xa0mars 2026 à "
         "0\xa0h\xa000 UTC."),
        ("INF_ACTIVITY", {"position": [-5.999999, -0.5], "time": "2026-03-08T00:00:00Z"}, "ru",
         "Деятельность в районе точки 00°30,0′ ю. ш., 006°00,0′ з. д. с 00:00 UTC "
         "8\xa0марта 2026\xa0г."),
        # a heading of 360 is north, 000; large numbers keep their separators
        ("REQ_ALTER_COURSE", {"heading": 360}, "ru", "Прошу вас лечь на истинный курс 000°."),
        ("REQ_CHANGE_ALTITUDE", {"altitude": 10668.0}, "fr",
         "Je vous demande de rejoindre l'altitude 10\u202f668 m (35\u202f000 ft)."),
    ],
)  # fmt: skip
def test_dates_times_and_positions_follow_each_language(
    code: str, params: dict[str, Any], lang: str, text: str
) -> None:
    assert phrasebook.render(code, phrasebook.check_params(code, params), lang) == text


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
    assert ru[0]["text"] == "Прошу вас лечь на истинный курс 090°."
    assert ru[0]["category_label"] == "Просьба" and ru[0]["untranslated"] is False
    fr = api.get(f"/v1/threads/{tid}", "FR", headers={"Accept-Language": "fr"}).json()
    assert fr["messages"][0]["text"] == "Je vous demande de venir au cap 090° vrai."
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


def _agreed_thread(store: Store, escalation: list[dict[str, Any]], at: datetime) -> Thread:
    """FR and RU agree ``escalation``; RU opens a thread with FR about an FR intent."""

    def run(tx: Any) -> Thread:
        terms = Terms.model_validate(
            {
                "releases": {"FR": {"default": "extent"}},
                "reciprocity": False,
                "escalation": escalation,
            }
        )
        done = propose(tx, "FR", "RU", terms, "FR", at)
        accept(tx, "RU", "FR", done.version, "RU", at)
        return hotline.open_record_thread(tx, "FR", "FR-PLAN", "RU", None, at)

    window = (at, at + timedelta(hours=1))
    plan = IntentDraft(volumes=[volume(footprint_box(10, 10, 10.1, 10.1), t=window)])
    store.create(RecordKind.INTENT, "FR-PLAN", "FR", plan, actor="FR")
    thread: Thread = store.write_tx(run)
    return thread


@pytest.mark.parametrize(
    ("steps", "window_s", "expected"),
    [
        # every step its own time after the one before; the message's 10 s is not the first
        (
            [("operations-centre", 45), ("working-group", 20), ("chiefs-of-staff", 25)],
            10,
            [(45.0, "operations-centre"), (65.0, "working-group"), (90.0, "chiefs-of-staff")],
        ),
        # levels the agreement sets no step for wait the message's window
        ([("working-group", 30)], 15, [(15.0, "operations-centre"), (45.0, "working-group"),
                                       (60.0, "chiefs-of-staff")]),
        ([], 20, [(20.0, "operations-centre"), (40.0, "working-group"),
                  (60.0, "chiefs-of-staff")]),
    ],
)  # fmt: skip
def test_every_step_of_the_agreed_ladder_on_its_own_deadline(
    store: Store,
    steps: list[tuple[str, float]],
    window_s: float,
    expected: list[tuple[float, str]],
) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    thread = _agreed_thread(store, [{"level": lv, "after_s": s} for lv, s in steps], t0)
    mid = store.write_tx(
        lambda tx: hotline.post(
            tx, thread, "RU", "ru-officer", code="QST_INTENTIONS", params={}, text=None,
            lang=None, ack_within_s=window_s, at=t0,
        )
    )  # fmt: skip
    clock = [t0.timestamp()]
    esc = Escalator(store, lambda: clock[0])
    seen = []
    for half in range(2 * 150):  # a check every half second, for 150 s
        clock[0] = t0.timestamp() + half / 2
        if esc.run_once():
            view = store.read_tx(lambda tx: hotline.view(tx, thread, "en"))
            seen.append((half / 2, view["messages"][0]["escalation"]["to"]))
    assert seen == expected
    notes = [e["payload"] for e in store.outbox_events("FR") if e["type"] == "hotline.escalated"]
    assert [n["to"] for n in notes] == [to for _, to in expected]
    assert all(n["message"] == mid for n in notes)
    m = store.read_tx(lambda tx: hotline.view(tx, thread, "en"))["messages"][0]
    assert m["deadline"] is None and m["ack_due"] == iso(t0 + timedelta(seconds=window_s))


def test_a_late_check_does_not_push_the_ladder_back(store: Store) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    steps = [
        {"level": "operations-centre", "after_s": 45},
        {"level": "working-group", "after_s": 20},
    ]
    thread = _agreed_thread(store, steps, t0)
    store.write_tx(
        lambda tx: hotline.post(
            tx, thread, "FR", "fr-officer", code="ANS_NEGATIVE", params={}, text=None,
            lang=None, ack_within_s=10, at=t0,
        )
    )  # fmt: skip
    # the service was away until +70 s: one level per check, deadlines from the agreed times
    assert Escalator(store, lambda: t0.timestamp() + 70).run_once() == 1
    m = store.read_tx(lambda tx: hotline.view(tx, thread, "en"))["messages"][0]
    assert m["escalation"]["to"] == "operations-centre"
    assert m["deadline"] == iso(t0 + timedelta(seconds=65))  # not 70 + 20
