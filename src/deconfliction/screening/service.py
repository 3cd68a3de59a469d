"""Blind screening in the service: pairs screened within it, and sessions with a remote side.

**Within one service.** For every pair whose active agreement turns screening on, the service
keeps each side's coarse tokens (``screening_tokens``) and, as either side's intents change,
screens again only where the changed intent's tokens were or are: the coarse tokens there that
both sides hold are refined down the ladder (``tokens.Cover``), and each token of the finest
grain that both sides reach is a *finding*: a notice to each party naming its own records there,
the other party and the place and time on the grain (never the other's records), and a hotline
thread between the two. A finding that no longer holds is resolved. The service holds both
sides' plans, so it intersects the tokens in the clear; what each party is shown is exactly
what the private protocol would show it (``session``; the tests compare the two).

Each change is a round charged to the party that made it, against the agreement's screening
budget (rounds and tokens per UTC day); past it, the change is held back (both sides are told,
and it is audited) and screened with that party's next change the budget allows.

**With a remote side.** A party whose plans are not held here (a planner checking a draft with
``deconfliction screen``, and later a peer node) runs a ``session.Session`` against the plans of
the other party held here, message by message (``open_session``, ``exchange``): its plans never
leave its machine, and the service learns only the intersection at the finest grain, which its
owner sees (``sessions_for``), with an event and an audit entry. Rounds and tokens count
against the caller's budget; past it, 429.

Hooks: ``register()`` makes the store call ``on_intent_change`` for every intent written or
deleted, and the agreements ``on_agreement`` when one is put in force.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..audit import digest
from ..errors import FieldError, Forbidden, InvalidInput, NotFound, VersionConflict
from ..exchange import agreements as ag
from ..exchange import hotline
from ..exchange.screening_terms import ScreeningTerms
from ..model import RecordKind, SeparationPolicy, Volume4D
from ..store.base import Store, StoredRecord, StoreHooks, Tx, iso, record_key, split_key
from .session import ScreeningRefused, Session, SessionParams
from .tokens import Cover, Growth, Token, parent, volume_tokens, window

#: How long a session with a remote side may run.
SESSION_TTL = timedelta(minutes=10)
_CHUNK = 400


def register(hooks: StoreHooks) -> None:
    """Screen on every intent change of the store and every agreement put in force
    (idempotent)."""
    if on_record_change not in hooks.record_changed:
        hooks.record_changed.append(on_record_change)
    if on_agreement not in ag.ACCEPT_HOOKS:
        ag.ACCEPT_HOOKS.append(on_agreement)


def buffers_for(terms: ag.Terms, service: SeparationPolicy) -> SeparationPolicy:
    """The buffers screening honours: the screening terms' (or else the agreement's separation),
    and never less than the service's own, so no conflict the service would find is missed."""
    mine = terms.screening.buffers or terms.separation
    return SeparationPolicy(
        lateral_m=max(mine.lateral_m, service.lateral_m),
        vertical_m=max(mine.vertical_m, service.vertical_m),
        time_s=max(mine.time_s, service.time_s),
    )


def params_for(terms: ag.Terms, service: SeparationPolicy) -> SessionParams:
    st = terms.screening
    return SessionParams(
        grains=tuple(st.grains),
        buffers=buffers_for(terms, service),
        initiator_share=st.initiator_share,
        max_tokens=st.budget.tokens_per_round,
    )


def _key(t: Token) -> str:
    return f"{t.cell}:{t.slot}:{t.band}"


def _token(key: str) -> Token:
    c, s, b = key.split(":")
    return Token(int(c), int(s), int(b))


def _day(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def _finding_id(pa: str, pb: str, last: int, t: Token) -> str:
    raw = f"{pa}\x00{pb}\x00{last}\x00{_key(t)}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def _place(st: ScreeningTerms, t: Token) -> dict[str, Any]:
    w = window(st.grains[-1], t)
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in w.items()}


# --- the budget ------------------------------------------------------------------------------
def usage(tx: Tx, pa: str, pb: str, party: str, at: datetime) -> tuple[int, int]:
    """(rounds, tokens) ``party`` used against this pair today (UTC)."""
    r = tx.x(
        "SELECT rounds, tokens FROM screening_usage WHERE party_a = ? AND party_b = ? "
        "AND party = ? AND day = ?",
        (pa, pb, party, _day(at)),
    ).fetchone()
    return (0, 0) if r is None else (int(r[0]), int(r[1]))


def _within(st: ScreeningTerms, used: tuple[int, int], rounds: int, tokens: int) -> str | None:
    """Why ``rounds`` more rounds with ``tokens`` more tokens are past the budget, or None."""
    b = st.budget
    if used[0] + rounds > b.rounds_per_day:
        return f"{b.rounds_per_day} rounds a day"
    if used[1] + tokens > b.tokens_per_day:
        return f"{b.tokens_per_day} tokens a day"
    return None


def _charge(tx: Tx, pa: str, pb: str, party: str, at: datetime, rounds: int, tokens: int) -> None:
    day = _day(at)
    used = usage(tx, pa, pb, party, at)
    if used == (0, 0):
        tx.x(
            "INSERT INTO screening_usage (party_a, party_b, party, day, rounds, tokens) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (pa, pb, party, day, rounds, tokens),
        )
    else:
        tx.x(
            "UPDATE screening_usage SET rounds = rounds + ?, tokens = tokens + ? "
            "WHERE party_a = ? AND party_b = ? AND party = ? AND day = ?",
            (rounds, tokens, pa, pb, party, day),
        )


# --- within one service ----------------------------------------------------------------------
def _screened(tx: Tx, party: str) -> list[ag.Agreement]:
    """The agreements in force that screen ``party``'s plans. ``screening_pairs`` holds a row
    for each (written when an agreement turns screening on, removed when one turns it off), so
    a write of a party that screens with no one costs one indexed look-up."""
    rows = tx.x(
        "SELECT party_a, party_b FROM screening_pairs WHERE party_a = ? OR party_b = ?",
        (party, party),
    ).fetchall()
    out = []
    for pa, pb in rows:
        found = ag.active(tx, pa, pb)
        if found is not None and found.terms.screening.enabled:
            out.append(found)
    return out


def _terms_digest(terms: ag.Terms, service: SeparationPolicy) -> str:
    return digest(
        {
            "screening": terms.screening.model_dump(mode="json", exclude={"budget"}),
            "buffers": buffers_for(terms, service).model_dump(),
        }
    )


def _pair_row(tx: Tx, pa: str, pb: str) -> tuple[str, list[str]] | None:
    r = tx.x(
        "SELECT terms_digest, deferred FROM screening_pairs WHERE party_a = ? AND party_b = ?",
        (pa, pb),
    ).fetchone()
    return None if r is None else (str(r[0]), list(json.loads(r[1])))


def _set_pair(tx: Tx, pa: str, pb: str, terms_digest: str, deferred: Sequence[str]) -> None:
    body = json.dumps(sorted(set(deferred)))
    if _pair_row(tx, pa, pb) is None:
        tx.x(
            "INSERT INTO screening_pairs (party_a, party_b, terms_digest, deferred) "
            "VALUES (?, ?, ?, ?)",
            (pa, pb, terms_digest, body),
        )
    else:
        tx.x(
            "UPDATE screening_pairs SET terms_digest = ?, deferred = ? "
            "WHERE party_a = ? AND party_b = ?",
            (terms_digest, body, pa, pb),
        )


def on_record_change(
    tx: Tx, kind: RecordKind, old: StoredRecord | None, new: StoredRecord | None, at: datetime
) -> None:
    """Screen the pairs of an intent's owner again where the intent was or is."""
    rec = new or old
    if rec is None or kind is not RecordKind.INTENT:
        return
    for agreement in _screened(tx, rec.owner):
        _on_change(tx, agreement, rec.owner, record_key(rec.owner, rec.id), at)


def on_agreement(tx: Tx, now: ag.Agreement, before: ag.Agreement | None, at: datetime) -> None:
    """An agreement put in force: screen the pair from scratch (or stop screening it)."""
    pa, pb = now.parties
    if now.terms.screening.enabled:
        want = _terms_digest(now.terms, tx.policy)
        row = _pair_row(tx, pa, pb)
        if row is None or row[0] != want:
            _rescreen(tx, now, None, at)
            _set_pair(tx, pa, pb, want, [])
    elif _pair_row(tx, pa, pb) is not None:
        _stop(tx, pa, pb, at)


def _on_change(tx: Tx, agreement: ag.Agreement, party: str, rid: str, at: datetime) -> None:
    pa, pb = agreement.parties
    st = agreement.terms.screening
    want = _terms_digest(agreement.terms, tx.policy)
    row = _pair_row(tx, pa, pb)
    if row is None or row[0] != want:  # new terms, or the service's buffers changed
        _rescreen(tx, agreement, None, at)
        _set_pair(tx, pa, pb, want, [])
        return
    deferred = set(row[1])
    used = usage(tx, pa, pb, party, at)
    why = _within(st, used, 1, 0)
    if why is not None:
        if not deferred:
            other = pb if party == pa else pa
            note = {"with": other, "by": party, "budget": why, "day": _day(at)}
            for p in (pa, pb):
                tx.event(p, "screening.deferred", {**note, "with": pb if p == pa else pa}, at)
            tx.audit(at, "service", "screening.deferred", f"{pa}|{pb}|{party}", digest(note))
        _set_pair(tx, pa, pb, want, [*deferred, f"{party}\x00{rid}"])
        return
    mine = {d.split("\x00", 1)[1] for d in deferred if d.startswith(f"{party}\x00")}
    todo = {rid} | mine
    tokens = _rescreen(tx, agreement, todo, at)
    _charge(tx, pa, pb, party, at, 1, tokens)
    _set_pair(tx, pa, pb, want, [d for d in deferred if not d.startswith(f"{party}\x00")])


def _stop(tx: Tx, pa: str, pb: str, at: datetime) -> None:
    for (fid,) in tx.x(
        "SELECT id FROM screening_findings WHERE party_a = ? AND party_b = ? AND state = 'open'",
        (pa, pb),
    ).fetchall():
        _resolve(tx, fid, pa, pb, at)
    tx.x("DELETE FROM screening_tokens WHERE party_a = ? AND party_b = ?", (pa, pb))
    tx.x("DELETE FROM screening_pairs WHERE party_a = ? AND party_b = ?", (pa, pb))


def _intents(tx: Tx, keys: Iterable[str]) -> dict[str, tuple[str, list[Volume4D]]]:
    """Intents by record key: (owner, volumes). Screening keeps keys; a party is shown the ids
    of its own records only (``_ids``)."""
    out = {}
    for rec, eng in tx.load_many(sorted(set(keys))):
        if eng.kind is RecordKind.INTENT:
            out[record_key(rec.owner, rec.id)] = (rec.owner, list(rec.volumes))
    return out


def _ids(keys: Iterable[str]) -> list[str]:
    """The ids of records (its own) a party is shown, from their keys."""
    return sorted(split_key(k)[1] for k in keys)


def _rows_at(tx: Tx, pa: str, pb: str, keys: Sequence[str]) -> list[tuple[str, str, str]]:
    out = []
    for i in range(0, len(keys), _CHUNK):
        chunk = list(keys[i : i + _CHUNK])
        out += tx.x(
            "SELECT token, record_id, owner FROM screening_tokens WHERE party_a = ? AND "
            f"party_b = ? AND token IN ({', '.join('?' * len(chunk))})",
            (pa, pb, *chunk),
        ).fetchall()
    return out


def _rescreen(tx: Tx, agreement: ag.Agreement, records: set[str] | None, at: datetime) -> int:
    """Screen the pair again where ``records`` (None: every intent of both) reach, before and
    after their change; the number of coarse tokens computed."""
    pa, pb = agreement.parties
    st = agreement.terms.screening
    ladder = st.grains
    growth = Growth.share_of(buffers_for(agreement.terms, tx.policy), 0.5)
    if records is None:
        old_keys = {
            r[0]
            for r in tx.x(
                "SELECT token FROM screening_tokens WHERE party_a = ? AND party_b = ?", (pa, pb)
            ).fetchall()
        }
        tx.x("DELETE FROM screening_tokens WHERE party_a = ? AND party_b = ?", (pa, pb))
        ids = tx.owned_keys([pa, pb], RecordKind.INTENT)
        current = _intents(tx, ids)
    else:
        old_keys = set()
        for rid in records:
            old_keys |= {
                r[0]
                for r in tx.x(
                    "SELECT token FROM screening_tokens WHERE party_a = ? AND party_b = ? "
                    "AND record_id = ?",
                    (pa, pb, rid),
                ).fetchall()
            }
            tx.x(
                "DELETE FROM screening_tokens WHERE party_a = ? AND party_b = ? AND record_id = ?",
                (pa, pb, rid),
            )
        current = {rid: v for rid, v in _intents(tx, records).items() if v[0] in (pa, pb)}
    rows = []
    new_keys: set[str] = set()
    for rid, (owner, vols) in current.items():
        toks: set[Token] = set()
        for v in vols:
            toks |= volume_tokens(v, ladder, 0, growth)
        keys = {_key(t) for t in toks}
        new_keys |= keys
        rows += [(pa, pb, k, rid, owner) for k in keys]
    tx.xm(
        "INSERT INTO screening_tokens (party_a, party_b, token, record_id, owner) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    affected = sorted(old_keys | new_keys)
    if records is None:
        affected = sorted(
            set(affected)
            | {
                r[0]
                for r in tx.x(
                    "SELECT coarse FROM screening_findings WHERE party_a = ? AND party_b = ?",
                    (pa, pb),
                ).fetchall()
            }
        )
    hits = _refine(tx, pa, pb, st, growth, affected)
    _settle(tx, pa, pb, st, affected, hits, at)
    return len(rows)


def _refine(
    tx: Tx,
    pa: str,
    pb: str,
    st: ScreeningTerms,
    growth: Growth,
    affected: Sequence[str],
) -> dict[Token, tuple[set[str], set[str]]]:
    """The findings under these coarse tokens: each common token of the finest grain, with
    the records of each side that reach it."""
    sides: dict[str, dict[str, set[str]]] = {pa: {}, pb: {}}  # owner -> token -> records
    for key, rid, owner in _rows_at(tx, pa, pb, affected):
        sides[owner].setdefault(key, set()).add(rid)
    common = sorted(set(sides[pa]) & set(sides[pb]))
    if not common:
        return {}
    if len(st.grains) == 1:
        return {_token(k): (sides[pa][k], sides[pb][k]) for k in common}
    ids = {rid for side in sides.values() for k in common for rid in side.get(k, ())}
    loaded = _intents(tx, ids)
    covers = {pa: Cover(st.grains, growth), pb: Cover(st.grains, growth)}
    for rid, (owner, vols) in loaded.items():
        covers[owner].put(rid, vols)
    coarse = {_token(k) for k in common}
    for c in covers.values():
        c.narrow(0, coarse)
    for k in range(1, len(st.grains)):
        found = covers[pa].tokens(k) & covers[pb].tokens(k)
        for c in covers.values():
            c.narrow(k, found)
    last = len(st.grains) - 1
    final = covers[pa].found(last) or set()
    out: dict[Token, tuple[set[str], set[str]]] = {t: (set(), set()) for t in final}
    for i, owner in enumerate((pa, pb)):
        for rid, ts in covers[owner].tokens_by_record(last).items():
            for t in ts & final:
                out[t][i].add(rid)
    return out


def _coarse_of(st: ScreeningTerms, t: Token) -> Token:
    for k in range(len(st.grains) - 1, 0, -1):
        t = parent(t, st.grains[k], st.grains[k - 1])
    return t


def _settle(
    tx: Tx,
    pa: str,
    pb: str,
    st: ScreeningTerms,
    affected: Sequence[str],
    hits: dict[Token, tuple[set[str], set[str]]],
    at: datetime,
) -> None:
    """Open, update and resolve the pair's findings under the affected coarse tokens."""
    last = len(st.grains) - 1
    before: dict[str, tuple[str, list[str], list[str]]] = {}
    for i in range(0, len(affected), _CHUNK):
        chunk = list(affected[i : i + _CHUNK])
        for fid, state, ra, rb in tx.x(
            "SELECT id, state, records_a, records_b FROM screening_findings WHERE party_a = ? "
            f"AND party_b = ? AND coarse IN ({', '.join('?' * len(chunk))})",
            (pa, pb, *chunk),
        ).fetchall():
            before[fid] = (state, json.loads(ra), json.loads(rb))
    now: set[str] = set()
    for t, (ra, rb) in sorted(hits.items()):
        fid = _finding_id(pa, pb, last, t)
        now.add(fid)
        recs = (sorted(ra), sorted(rb))
        old = before.get(fid)
        if old is not None and old[0] == "open" and (old[1], old[2]) == recs:
            continue
        place = _place(st, t)
        if old is None:
            tx.x(
                "INSERT INTO screening_findings (id, party_a, party_b, coarse, token, state, "
                "place, records_a, records_b, opened_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)",
                (
                    fid,
                    pa,
                    pb,
                    _key(_coarse_of(st, t)),
                    _key(t),
                    json.dumps(place),
                    json.dumps(recs[0]),
                    json.dumps(recs[1]),
                    iso(at),
                    iso(at),
                ),
            )
        else:
            tx.x(
                "UPDATE screening_findings SET state = 'open', records_a = ?, records_b = ?, "
                "updated_at = ? WHERE id = ?",
                (json.dumps(recs[0]), json.dumps(recs[1]), iso(at), fid),
            )
        kind = "screening.opened" if old is None or old[0] != "open" else "screening.updated"
        thread = hotline.open_thread(
            tx, f"screening-{fid}", "screening", fid, (pa, pb), "service", at
        )
        for p, mine, other in ((pa, recs[0], pb), (pb, recs[1], pa)):
            unchanged = old is not None and (old[1] if p == pa else old[2]) == mine
            if kind == "screening.updated" and unchanged:
                continue
            note = {"id": fid, "with": other, "records": _ids(mine), "place": place}
            tx.event(p, kind, {**note, "thread": thread.id}, at)
        if kind == "screening.opened":
            tx.audit(at, "service", kind, fid, digest({"pair": [pa, pb], "place": place}))
    for fid, (state, _, _) in before.items():
        if state == "open" and fid not in now:
            _resolve(tx, fid, pa, pb, at)


def _resolve(tx: Tx, fid: str, pa: str, pb: str, at: datetime) -> None:
    tx.x(
        "UPDATE screening_findings SET state = 'resolved', updated_at = ? WHERE id = ?",
        (iso(at), fid),
    )
    for p, other in ((pa, pb), (pb, pa)):
        tx.event(p, "screening.resolved", {"id": fid, "with": other}, at)
    tx.audit(at, "service", "screening.resolved", fid, digest({"pair": [pa, pb]}))


@dataclass(frozen=True)
class Finding:
    """A screening notice as one party sees it: its own records, the other party, the place."""

    id: str
    with_party: str
    state: str
    records: list[str]
    place: dict[str, Any]
    thread: str
    opened_at: str
    updated_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "with": self.with_party,
            "state": self.state,
            "records": self.records,
            "place": self.place,
            "thread": self.thread,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
        }


def findings_for(tx: Tx, party: str, *, include_resolved: bool = False) -> list[Finding]:
    """The screening notices of ``party``: never the other side's records."""
    states = ("open", "resolved") if include_resolved else ("open", "open")
    rows = tx.x(
        "SELECT id, party_a, party_b, state, place, records_a, records_b, opened_at, "
        "updated_at FROM screening_findings WHERE (party_a = ? OR party_b = ?) "
        "AND state IN (?, ?) ORDER BY opened_at, id",
        (party, party, *states),
    ).fetchall()
    out = []
    for fid, pa, pb, state, place, ra, rb, opened, updated in rows:
        mine = ra if party == pa else rb
        out.append(
            Finding(
                fid,
                pb if party == pa else pa,
                state,
                _ids(json.loads(mine)),
                json.loads(place),
                f"screening-{fid}",
                opened,
                updated,
            )
        )
    return out


# --- sessions with a remote side -------------------------------------------------------------
def _agreement_for(tx: Tx, caller: str, other: str) -> ag.Agreement:
    if other == caller:
        raise InvalidInput([FieldError("/with", "screening is between two different parties")])
    if not tx.has_party(other):
        raise NotFound(f"no party {other!r}")
    found = ag.active(tx, caller, other)
    if found is None or not found.terms.screening.enabled:
        raise Forbidden(f"no agreement in force with {other} turns screening on")
    return found


def open_session(tx: Tx, caller: str, other: str, at: datetime) -> dict[str, Any]:
    """A session for ``caller`` to screen its plans (kept on its side) against ``other``'s
    plans held here; the parameters its side must use."""
    agreement = _agreement_for(tx, caller, other)
    pa, pb = agreement.parties
    st = agreement.terms.screening
    why = _within(st, usage(tx, pa, pb, caller, at), 1, 0)
    if why is not None:
        raise ScreeningRefused(f"the screening budget with {other} is spent for today ({why})")
    sid = str(uuid.uuid4())
    expires = at + SESSION_TTL
    tx.x(
        "INSERT INTO screening_sessions (id, party, with_party, created_at, updated_at, "
        "expires_at, rev, state, result) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, NULL)",
        (sid, caller, other, iso(at), iso(at), iso(expires)),
    )
    params = params_for(agreement.terms, tx.policy)
    return {"id": sid, "with": other, "params": params.as_json(), "expires_at": iso(expires)}


@dataclass(frozen=True)
class _Loaded:
    agreement: ag.Agreement
    rev: int
    state: dict[str, Any] | None
    records: dict[str, list[Volume4D]]
    used: tuple[int, int]


def _load(tx: Tx, sid: str, caller: str, at: datetime) -> _Loaded:
    r = tx.x(
        "SELECT party, with_party, expires_at, rev, state FROM screening_sessions WHERE id = ?",
        (sid,),
    ).fetchone()
    if r is None or r[0] != caller:
        raise NotFound(f"no screening session {sid!r}")
    if datetime.fromisoformat(r[2]) < at:
        raise NotFound(f"screening session {sid!r} has expired")
    agreement = _agreement_for(tx, caller, r[1])
    ids = tx.owned_keys([r[1]], RecordKind.INTENT)
    records = {rid: vols for rid, (_, vols) in _intents(tx, ids).items()}
    pa, pb = agreement.parties
    state = None if r[4] is None else json.loads(r[4])
    return _Loaded(agreement, int(r[3]), state, records, usage(tx, pa, pb, caller, at))


def _asked(messages: Sequence[Any]) -> tuple[int, int]:
    """Rounds a batch of the caller's messages starts, and the tokens it puts in them."""
    rounds = tokens = 0
    for m in messages:
        if isinstance(m, dict) and m.get("type") == "round":
            rounds += 1
            adds = m.get("adds")
            if isinstance(adds, str):
                tokens += len(adds) * 3 // 4 // 32
    return rounds, tokens


def exchange(
    store: Store, sid: str, caller: str, messages: Sequence[Any], at: datetime
) -> dict[str, Any]:
    """Take the caller's messages, answer with the service side's. The cryptography runs
    outside any write transaction; the session's state is saved only if no other call
    changed it meanwhile (409 otherwise)."""
    if not isinstance(messages, list) or not messages:
        raise InvalidInput([FieldError("/messages", "must be a non-empty list of messages")])
    got = store.read_tx(lambda tx: _load(tx, sid, caller, at))
    st = got.agreement.terms.screening
    rounds, tokens = _asked(messages)
    why = _within(st, got.used, rounds, tokens)
    if why is not None:
        raise ScreeningRefused(f"the screening budget for this pair is spent for today ({why})")
    params = params_for(got.agreement.terms, store.policy)
    out: list[dict[str, Any]] = []
    if got.state is None:
        first = messages[0]
        if not isinstance(first, dict):
            raise InvalidInput([FieldError("/messages/0", "must be the 'open' message")])
        session, accept = Session.respond(params, got.records, first)
        out.append(accept)
        out += session.receive(messages[1:])
    else:
        if SessionParams.from_json(got.state["params"]) != params:
            raise VersionConflict("the screening terms changed: open a new session")
        session = Session.from_state(got.state, got.records)
        out += session.receive(messages)
    last = len(params.grains) - 1
    done = not session.busy and session.found(last) is not None
    result: dict[str, Any] | None = None
    places: list[dict[str, Any]] = []
    if done:
        places = [
            {"place": _place(st, t), "records": _ids(r)}
            for t, r in sorted(session.intersection().items())
        ]
        result = {
            "places": places,
            "their_tokens": [session.other_size(k) for k in range(len(params.grains))],
        }
    state = json.dumps(session.to_state())
    pa, pb = got.agreement.parties
    other = pb if caller == pa else pa

    def save(tx: Tx) -> None:
        row = tx.x("SELECT rev FROM screening_sessions WHERE id = ?", (sid,)).fetchone()
        if row is None or int(row[0]) != got.rev:
            raise VersionConflict("the session moved on meanwhile: send the messages again")
        why = _within(st, usage(tx, pa, pb, caller, at), rounds, tokens)
        if why is not None:
            raise ScreeningRefused(f"the screening budget for this pair is spent ({why})")
        if rounds or tokens:
            _charge(tx, pa, pb, caller, at, rounds, tokens)
        tx.x(
            "UPDATE screening_sessions SET rev = rev + 1, state = ?, updated_at = ?, "
            "result = ? WHERE id = ?",
            (state, iso(at), None if result is None else json.dumps(result), sid),
        )
        if result is not None:
            note = {"session": sid, "with": caller, "common": len(places)}
            tx.event(other, "screening.session", note, at)
            tx.audit(at, caller, "screening.session", sid, digest({"result": result}))

    store.write_tx(save)
    return {
        "messages": out,
        "done": done,
        "sizes": [session.other_size(k) for k in range(len(params.grains))],
    }


def sessions_for(tx: Tx, party: str) -> list[dict[str, Any]]:
    """Sessions ``party`` ran, and sessions run against its plans with what they found there
    (its own records at each common place; the other side's plans were never here) and how
    many tokens the other side put in at each grain (a set far larger than plans need is a
    probe)."""
    rows = tx.x(
        "SELECT id, party, with_party, created_at, updated_at, result FROM screening_sessions "
        "WHERE party = ? OR with_party = ? ORDER BY created_at, id",
        (party, party),
    ).fetchall()
    out = []
    for sid, by, with_party, created, updated, result in rows:
        item: dict[str, Any] = {
            "id": sid,
            "by": by,
            "with": with_party,
            "created_at": created,
            "updated_at": updated,
            "done": result is not None,
        }
        if with_party == party and result is not None:
            got = json.loads(result)
            item["found"] = got["places"]
            item["their_tokens"] = got["their_tokens"]
        out.append(item)
    return out
