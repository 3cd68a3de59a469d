"""The hotline: a direct line between the parties of each conflict, or about any record.

Every conflict has a thread between its two parties (``conflict-<conflict id>``, opened on first
use); a party can also open a thread with the owner of any record. A message is a coded phrase
with parameters (``phrasebook``), shown to each reader in its language, or free text, shown as
written and flagged untranslated.

**The ladder.** A message can ask for acknowledgement within a window (``ack_within_s``). It
starts at the unit; while a party of the thread is still silent, it goes one level up the ladder
(unit, operations centre, working group, chiefs of staff) each time the wait for the next level
has passed, counted from the step before (from posting, for the first). The wait for a level is
the step the parties' agreement sets for it (``Terms.escalation``); for a level the agreement
sets no step for (or with no agreement), the message's own window. So the message's window
stands for the unit only where the agreement sets no operations-centre step. Deadlines follow
one another from the agreed times, not from when the check ran, so a late check does not push
the ladder back. Every escalation notifies every party of the thread. Posting, acknowledging
and escalating are outbox events and audit entries, written in the transaction that makes them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

from ..audit import digest
from ..errors import FieldError, Forbidden, InvalidInput, NotFound
from ..store.base import Store, Tx, iso, record_key
from . import phrasebook, release
from .agreements import active

LADDER = ("unit", "operations-centre", "working-group", "chiefs-of-staff")
#: Longest acknowledgement window a message may ask for, and the shortest.
MAX_ACK_WINDOW_S = 7 * 86_400.0
MIN_ACK_WINDOW_S = 10.0
MAX_TEXT = 2000


@dataclass(frozen=True)
class Thread:
    id: str
    subject_kind: str
    subject_id: str
    parties: tuple[str, ...]
    opened_by: str
    created_at: str


def _thread_row(r: Any) -> Thread:
    return Thread(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5])


def _get(tx: Tx, thread_id: str) -> Thread | None:
    r = tx.x(
        "SELECT id, subject_kind, subject_id, parties, opened_by, created_at FROM threads "
        "WHERE id = ?",
        (thread_id,),
    ).fetchone()
    return None if r is None else _thread_row(r)


def _insert(tx: Tx, t: Thread) -> Thread:
    tx.x(
        "INSERT INTO threads (id, subject_kind, subject_id, parties, opened_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            t.id,
            t.subject_kind,
            t.subject_id,
            json.dumps(list(t.parties)),
            t.opened_by,
            t.created_at,
        ),
    )
    for p in t.parties:
        tx.x("INSERT INTO thread_parties (party, thread_id) VALUES (?, ?)", (p, t.id))
    return t


def conflict_thread(tx: Tx, conflict_id: str, party: str, at: datetime) -> Thread:
    """The thread of a conflict (opened now if it was not); only its two parties may use it,
    and only while the release rule shows it the conflict (never at ``none``)."""
    row = tx.conflict(conflict_id)
    if row is None:  # a conflict across nodes (federation) has its thread open already
        shared = _get(tx, f"conflict-{conflict_id}")
        if shared is not None and shared.subject_kind == "conflict" and party in shared.parties:
            return shared
    # not even its existence is disclosed to anyone else
    if row is None or release.view_conflict(tx, row, party, None) is None:
        raise NotFound(f"no conflict {conflict_id!r}")
    parties = tuple(sorted({row.a_owner, row.b_owner}))
    tid = f"conflict-{conflict_id}"
    found = _get(tx, tid)
    if found is not None:
        return found
    return _insert(tx, Thread(tid, "conflict", conflict_id, parties, party, iso(at)))


def open_thread(
    tx: Tx,
    thread_id: str,
    subject_kind: str,
    subject_id: str,
    parties: tuple[str, str],
    opened_by: str,
    at: datetime,
) -> Thread:
    """A thread about anything else than a conflict or a record (a screening finding), between
    two parties; opened now unless it exists."""
    found = _get(tx, thread_id)
    if found is not None:
        return found
    t = Thread(thread_id, subject_kind, subject_id, tuple(sorted(parties)), opened_by, iso(at))
    return _insert(tx, t)


def open_record_thread(
    tx: Tx, owner: str, record_id: str, party: str, with_party: str | None, at: datetime
) -> Thread:
    """A new thread about a record, between ``party`` and the record's owner (or, when the
    caller owns it, ``with_party``). Another party's record must be one the caller may see
    (released in full or as an extent): nothing confirms an id it was not given."""
    key = record_key(owner, record_id)
    found = tx.load(key)
    visible = found is not None and (
        owner == party
        or release.view_record(tx, found[0], party, release.Shown("thread", at)) is not None
    )
    if not visible:
        raise NotFound(f"no record {record_id!r}" + ("" if owner == party else f" of {owner}"))
    other = with_party if party == owner else owner
    if other is None:
        raise InvalidInput([FieldError("/with", "name the party to talk with about your record")])
    if other == party:
        raise InvalidInput([FieldError("/with", "a thread is between two different parties")])
    if not tx.has_party(other):
        raise InvalidInput([FieldError("/with", f"no party {other!r}")])
    t = Thread(str(uuid.uuid4()), "record", key, tuple(sorted({party, other})), party, iso(at))
    _insert(tx, t)
    tx.audit(at, party, "hotline.thread", t.id, digest({"record": key, "parties": t.parties}))
    return t


def thread_for(tx: Tx, thread_id: str, party: str) -> Thread:
    t = _get(tx, thread_id)
    if t is None or party not in t.parties:
        raise NotFound(f"no thread {thread_id!r}")
    return t


def list_threads(tx: Tx, party: str) -> list[Thread]:
    rows = tx.x(
        "SELECT t.id, t.subject_kind, t.subject_id, t.parties, t.opened_by, t.created_at "
        "FROM threads t JOIN thread_parties p ON p.thread_id = t.id WHERE p.party = ? "
        "ORDER BY t.created_at, t.id",
        (party,),
    ).fetchall()
    return [_thread_row(r) for r in rows]


def post(
    tx: Tx,
    thread: Thread,
    party: str,
    author: str,
    *,
    code: str | None,
    params: dict[str, Any] | None,
    text: str | None,
    lang: str | None,
    ack_within_s: float | None,
    at: datetime,
    message_id: str | None = None,
    escalates: bool = True,
) -> str:
    """Add a message; returns its id. A message another node sends on a shared thread
    (federation) keeps its id, and escalates on its sender's node only (``escalates=False``:
    no deadline here; ``escalated_elsewhere`` records each step)."""
    if (code is None) == (text is None):
        raise InvalidInput([FieldError("/code", "give either a code (with params) or a text")])
    clean: dict[str, Any] = {}
    if code is not None:
        clean = phrasebook.check_params(code, params or {})
        if lang is not None:
            raise InvalidInput([FieldError("/lang", "only free text has a language")])
    else:
        assert text is not None
        if params:
            raise InvalidInput([FieldError("/params", "free text takes no parameters")])
        if not 0 < len(text) <= MAX_TEXT:
            raise InvalidInput([FieldError("/text", f"must be 1 to {MAX_TEXT} characters")])
        if lang is not None and lang not in phrasebook.LANGUAGES:
            langs = ", ".join(phrasebook.LANGUAGES)
            raise InvalidInput([FieldError("/lang", f"must be one of {langs}")])
    if ack_within_s is not None and not MIN_ACK_WINDOW_S <= ack_within_s <= MAX_ACK_WINDOW_S:
        raise InvalidInput(
            [
                FieldError(
                    "/ack_within_s",
                    f"must be between {MIN_ACK_WINDOW_S:g} and {MAX_ACK_WINDOW_S:g} seconds",
                )
            ]
        )
    row = tx.x("SELECT MAX(seq) FROM messages WHERE thread_id = ?", (thread.id,)).fetchone()
    seq = int(row[0] or 0) + 1
    mid = message_id or str(uuid.uuid4())
    deadline = None
    if ack_within_s is not None and escalates:
        deadline = at.timestamp() + wait_for(_ladder(tx, thread), 1, ack_within_s)
    tx.x(
        "INSERT INTO messages (id, thread_id, seq, party, author, code, params, text, lang, "
        "ack_window_s, deadline, level, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        (
            mid,
            thread.id,
            seq,
            party,
            author,
            code,
            json.dumps(clean),
            text,
            lang,
            ack_within_s,
            deadline,
            iso(at),
        ),
    )
    note = {
        "thread": thread.id,
        "message": mid,
        "from": party,
        "code": code,
        "requires_ack": ack_within_s is not None,
    }
    for p in thread.parties:
        if p != party:
            tx.event(p, "hotline.message", note, at)
    content = {"code": code, "params": clean, "text": text, "lang": lang, "ack": ack_within_s}
    tx.audit(at, author, "hotline.message", mid, digest(content))
    return mid


def acknowledge(
    tx: Tx, thread: Thread, message_id: str, party: str, author: str, at: datetime
) -> None:
    r = tx.x(
        "SELECT party, ack_window_s FROM messages WHERE id = ? AND thread_id = ?",
        (message_id, thread.id),
    ).fetchone()
    if r is None:
        raise NotFound(f"no message {message_id!r} in this thread")
    sender, window = r
    if window is None:
        raise InvalidInput([FieldError("/message", "this message asks for no acknowledgement")])
    if sender == party:
        raise Forbidden("a party does not acknowledge its own message")
    if _acked(tx, message_id, party):
        return  # already acknowledged: nothing changes
    tx.x(
        "INSERT INTO acks (message_id, party, author, at) VALUES (?, ?, ?, ?)",
        (message_id, party, author, iso(at)),
    )
    waiting = [p for p in thread.parties if p != sender and not _acked(tx, message_id, p)]
    if not waiting:
        tx.x("UPDATE messages SET deadline = NULL WHERE id = ?", (message_id,))
    tx.event(sender, "hotline.ack", {"thread": thread.id, "message": message_id, "by": party}, at)
    tx.audit(at, author, "hotline.ack", message_id, digest({"party": party}))


def _acked(tx: Tx, message_id: str, party: str) -> bool:
    row = tx.x("SELECT 1 FROM acks WHERE message_id = ? AND party = ?", (message_id, party))
    return row.fetchone() is not None


def any_due(tx: Tx, now: float) -> bool:
    """Whether a message's deadline has passed unacknowledged."""
    row = tx.x(
        "SELECT 1 FROM messages WHERE deadline IS NOT NULL AND deadline <= ? LIMIT 1", (now,)
    ).fetchone()
    return row is not None


def escalate_due(tx: Tx, now: float, at: datetime) -> int:
    """Escalate every message whose deadline has passed unacknowledged; returns how many."""
    rows = tx.x(
        "SELECT id, thread_id, level, deadline, ack_window_s FROM messages "
        "WHERE deadline IS NOT NULL AND deadline <= ? ORDER BY deadline, id",
        (now,),
    ).fetchall()
    for mid, tid, level, deadline, window in rows:
        new_level = min(int(level) + 1, len(LADDER) - 1)
        top = new_level == len(LADDER) - 1
        thread = _get(tx, tid)
        assert thread is not None
        wait = 0.0 if top else wait_for(_ladder(tx, thread), new_level + 1, float(window))
        nxt = None if top else float(deadline) + wait
        tx.x("UPDATE messages SET level = ?, deadline = ? WHERE id = ?", (new_level, nxt, mid))
        note = {"thread": tid, "message": mid, "level": new_level, "to": LADDER[new_level]}
        for p in thread.parties:
            tx.event(p, "hotline.escalated", note, at)
        tx.audit(at, "service", "hotline.escalated", mid, digest(note))
    return len(rows)


def escalated_elsewhere(tx: Tx, thread: Thread, message_id: str, level: int, at: datetime) -> None:
    """A message of ``thread`` went up the ladder on the node of its sender (federation):
    record its level here, tell every party of the thread, audit it."""
    if not 0 < level < len(LADDER):
        raise InvalidInput([FieldError("/level", f"a level between 1 and {len(LADDER) - 1}")])
    r = tx.x(
        "SELECT level FROM messages WHERE id = ? AND thread_id = ?", (message_id, thread.id)
    ).fetchone()
    if r is None:
        raise NotFound(f"no message {message_id!r} in this thread")
    if int(r[0]) >= level:
        return
    tx.x("UPDATE messages SET level = ? WHERE id = ?", (level, message_id))
    note = {"thread": thread.id, "message": message_id, "level": level, "to": LADDER[level]}
    for p in thread.parties:
        tx.event(p, "hotline.escalated", note, at)
    tx.audit(at, "service", "hotline.escalated", message_id, digest(note))


def wait_for(steps: dict[str, float], level: int, window_s: float) -> float:
    """Seconds a message waits at ``level - 1`` before it goes up to ``level`` (the ladder's
    rule, in the module's docstring)."""
    return steps.get(LADDER[level], window_s)


def _ladder(tx: Tx, thread: Thread) -> dict[str, float]:
    """Seconds to wait before escalating to each level, where the parties' agreement says."""
    if len(thread.parties) != 2:
        return {}
    ag = active(tx, *thread.parties)
    return {s.level: s.after_s for s in ag.terms.escalation} if ag else {}


def reading_language(
    tx: Tx | None,
    thread: Thread | None,
    party: str,
    lang: str | None,
    accept_language: str | None,
) -> str:
    """The language ``party``'s reader is shown coded messages in, the one rule: ``lang``
    (``?lang=``) if it is one of ours; else, in a thread, the first language the agreement with
    the other party says ``party`` reads; else the first of ``Accept-Language`` that is one of
    ours; else English. (The phrasebook on its own has no other party: it skips the agreement.)
    """
    if lang in phrasebook.LANGUAGES:
        return str(lang)
    agreed = None
    if tx is not None and thread is not None:
        agreed = reader_language(tx, thread, party)
    return agreed or phrasebook.pick_language(None, accept_language)


def reader_language(tx: Tx, thread: Thread, party: str) -> str | None:
    """The first language the agreement says ``party`` reads, if it says."""
    others = [p for p in thread.parties if p != party]
    for other in others:
        ag = active(tx, party, other)
        if ag is not None and ag.terms.languages.get(party):
            return ag.terms.languages[party][0]
    return None


class Subject(TypedDict):
    """What a thread is about: a ``conflict`` or a ``record`` (``OWNER/ID``), and its id."""

    kind: str
    id: str


class Escalation(TypedDict):
    """How far an unanswered message has climbed the ladder, and the rung's name as read."""

    level: int
    to: str
    label: str


#: One message as a reader sees it (``from`` is a keyword, hence the functional form).
MessageView = TypedDict(
    "MessageView",
    {
        "id": str,
        "seq": int,
        "from": str,
        "author": str,
        "at": str,
        "code": str | None,
        "category": str | None,
        "category_label": str | None,
        "params": dict[str, Any],
        "text": str,
        "lang": str | None,
        "untranslated": bool,
        "requires_ack": bool,
        "ack_within_s": float | None,
        "acknowledged_by": dict[str, str],
        "ack_due": str | None,
        "deadline": str | None,
        "escalation": Escalation,
    },
)


class ThreadView(TypedDict):
    """A hotline thread as one reader sees it: coded messages rendered in ``lang``."""

    id: str
    subject: Subject
    parties: list[str]
    opened_by: str
    created_at: str
    lang: str
    messages: list[MessageView]


def view(tx: Tx, thread: Thread, lang: str) -> ThreadView:
    """The thread as ``lang``'s reader sees it."""
    rows = tx.x(
        "SELECT id, seq, party, author, code, params, text, lang, ack_window_s, deadline, level, "
        "created_at FROM messages WHERE thread_id = ? ORDER BY seq",
        (thread.id,),
    ).fetchall()
    messages: list[MessageView] = []
    for r in rows:
        mid, seq, party, author, code, params, text, mlang, window, deadline, level, at = r
        acks = tx.x(
            "SELECT party, at FROM acks WHERE message_id = ? ORDER BY party", (mid,)
        ).fetchall()
        p = json.loads(params)
        if code is not None:
            shown = phrasebook.render(code, p, lang)
            category = phrasebook.PHRASES[code].category.value
            untranslated = False
        else:
            shown, category, untranslated = text, None, mlang != lang
        messages.append(
            {
                "id": mid,
                "seq": int(seq),
                "from": party,
                "author": author,
                "at": at,
                "code": code,
                "category": category,
                "category_label": phrasebook.LABELS[category][lang] if category else None,
                "params": p,
                "text": shown,
                "lang": lang if code is not None else mlang,
                "untranslated": untranslated,
                "requires_ack": window is not None,
                "ack_within_s": window,
                "acknowledged_by": {a[0]: a[1] for a in acks},
                "ack_due": None if window is None else _plus(at, float(window)),
                "deadline": _epoch_iso(deadline),
                "escalation": {
                    "level": int(level),
                    "to": LADDER[int(level)],
                    "label": phrasebook.LABELS[LADDER[int(level)]][lang],
                },
            }
        )
    return {
        "id": thread.id,
        "subject": {"kind": thread.subject_kind, "id": thread.subject_id},
        "parties": list(thread.parties),
        "opened_by": thread.opened_by,
        "created_at": thread.created_at,
        "lang": lang,
        "messages": messages,
    }


def ack_times(tx: Tx, sender: str, acker: str) -> list[float]:
    """Seconds from ``sender``'s messages to ``acker``'s acknowledgements."""
    rows = tx.x(
        "SELECT m.created_at, a.at FROM acks a JOIN messages m ON m.id = a.message_id "
        "WHERE m.party = ? AND a.party = ?",
        (sender, acker),
    ).fetchall()
    return [
        (datetime.fromisoformat(r[1]) - datetime.fromisoformat(r[0])).total_seconds() for r in rows
    ]


def unanswered(tx: Tx, sender: str, reader: str, at: datetime) -> list[tuple[datetime, float]]:
    """(posted, window) of ``sender``'s messages to ``reader`` that ask for acknowledgement,
    past their window at ``at``, that ``reader`` has not acknowledged; oldest first."""
    rows = tx.x(
        "SELECT m.created_at, m.ack_window_s FROM messages m "
        "JOIN thread_parties p ON p.thread_id = m.thread_id AND p.party = ? "
        "WHERE m.party = ? AND m.ack_window_s IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM acks a WHERE a.message_id = m.id AND a.party = ?)",
        (reader, sender, reader),
    ).fetchall()
    out = [(datetime.fromisoformat(r[0]), float(r[1])) for r in rows]
    return sorted((t, w) for t, w in out if t + timedelta(seconds=w) <= at)


def _plus(at: str, seconds: float) -> str:
    return iso(datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=seconds))


def _epoch_iso(t: float | None) -> str | None:
    return None if t is None else iso(datetime.fromtimestamp(float(t), UTC))


class Escalator:
    """Escalates overdue messages, one cycle per ``run_once``; the clock is injectable."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def run_once(self) -> int:
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        # looked for on a snapshot first: a write every second would make every other write
        # wait for it on a server database (the write looks again under its lock)
        if not self.store.read_tx(lambda tx: any_due(tx, now)):
            return 0
        n: int = self.store.write_tx(lambda tx: escalate_due(tx, now, at))
        return n
