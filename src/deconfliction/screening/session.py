"""A screening session between two parties: the messages of ECDH PSI over a ladder of grains.

The session is transport-agnostic: ``receive(messages)`` takes a list of JSON objects and
answers with a list (possibly empty) to deliver to the other side, so the same code runs over
HTTP (``api/screening.py``, ``deconfliction screen``), and later over the federation link.
Points travel as base64 of their concatenated 32-byte encodings.

One round at grain ``k`` (the sender S, the peer P; ``s`` and ``p`` their secret scalars)::

    S -> P  round   S's new items H(x)^s (shuffled), ids of S's items withdrawn
    P -> S  reply   H(x)^(sp) for S's new items (in S's order),
                    P's new items H(y)^p (shuffled), ids of P's items withdrawn
    S -> P  finish  H(y)^(ps) for P's new items (in P's order)

After ``finish`` each side holds, for each of its items, the doubly blinded value, and the
doubly blinded values of all the other side's items: its items in the intersection are those
whose value is among the other's. Each learns that, and the number of the other's items; the
intersection at grain ``k`` selects the tokens of grain ``k + 1`` (``tokens.Cover``), and S
sends the round of the next grain with its ``finish``. Items are numbered by their sender in the
order sent; later rounds carry only changes (new items, withdrawn ids), with the same scalars
and salt, so a changed plan costs a round over its own tokens, not over everything.

A session starts with ``open`` (the initiator's half of the salt and a digest of the parameters
it assumes) and ``accept`` (the responder's half): the salt, SHA-256 over both halves, is mixed
into every token's hash, so tokens of two sessions cannot be linked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import DeconflictionError, FieldError, InvalidInput
from ..exchange.screening_terms import Grain
from ..model import SeparationPolicy, Volume4D
from . import psi
from .tokens import Cover, Growth, Token, token_digest

PROTOCOL = "deconfliction-screening/1"
SALT_BYTES = 32
_rng = secrets.SystemRandom()


class ScreeningRefused(DeconflictionError):
    """A round the terms do not allow: over the budget or over the agreed set size."""

    code = "screening-refused"
    http_status = 429


def _bad(pointer: str, reason: str) -> InvalidInput:
    return InvalidInput([FieldError(pointer, reason)])


class Role(StrEnum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


@dataclass(frozen=True)
class SessionParams:
    """What both sides must agree on before a session: grains, buffers, shares, set size cap."""

    grains: tuple[Grain, ...]
    buffers: SeparationPolicy
    initiator_share: float = 0.5
    max_tokens: int = 50_000

    def as_json(self) -> dict[str, Any]:
        return {
            "grains": [g.model_dump() for g in self.grains],
            "buffers": self.buffers.model_dump(),
            "initiator_share": self.initiator_share,
            "max_tokens": self.max_tokens,
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()

    def growth(self, role: Role) -> Growth:
        share = self.initiator_share if role is Role.INITIATOR else 1.0 - self.initiator_share
        return Growth.share_of(self.buffers, share)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SessionParams:
        return cls(
            grains=tuple(Grain.model_validate(g) for g in d["grains"]),
            buffers=SeparationPolicy.model_validate(d["buffers"]),
            initiator_share=float(d["initiator_share"]),
            max_tokens=int(d["max_tokens"]),
        )


def encode_points(points: Sequence[bytes]) -> str:
    return base64.b64encode(b"".join(points)).decode("ascii")


def decode_points(text: Any, pointer: str) -> list[bytes]:
    if not isinstance(text, str):
        raise _bad(pointer, "must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _bad(pointer, "is not valid base64") from None
    if len(raw) % psi.POINT_BYTES:
        raise _bad(pointer, f"must hold whole {psi.POINT_BYTES}-byte points")
    n = psi.POINT_BYTES
    return [raw[i : i + n] for i in range(0, len(raw), n)]


@dataclass
class _Grain:
    """One side's state at one grain."""

    #: our live items: token -> id
    own: dict[Token, int] = field(default_factory=dict)
    #: our items' doubly blinded values, once the other side has sent them
    own_doubled: dict[int, bytes] = field(default_factory=dict)
    #: the other side's live items: id -> doubly blinded value
    other: dict[int, bytes] = field(default_factory=dict)
    next_id: int = 0
    next_other_id: int = 0


@dataclass
class RoundStats:
    """What one side sent and learned, for benchmarks and notices."""

    rounds: int = 0
    tokens_sent: int = 0
    points_sent: int = 0


class Session:
    """One side of a screening session. Build it with ``initiate`` or ``respond``."""

    def __init__(
        self,
        role: Role,
        params: SessionParams,
        records: Mapping[str, Sequence[Volume4D]],
        *,
        scalar: bytes | None = None,
    ) -> None:
        self.role = role
        self.params = params
        self.cover = Cover(params.grains, params.growth(role))
        for rid, vols in records.items():
            self.cover.put(rid, vols)
        self._scalar = scalar or psi.new_scalar()
        self._salt: bytes | None = None
        self._my_salt = secrets.token_bytes(SALT_BYTES)
        self._grains = [_Grain() for _ in params.grains]
        self._seq = 0
        #: what we wait for: ("reply" | "finish", seq, grain) or None
        self._waiting: tuple[str, int, int] | None = None
        #: our items sent in the round we wait a reply for, in the order sent
        self._sent: list[int] = []
        #: a sync's first round is over everything; later ones carry changes only
        self._synced = [False for _ in params.grains]
        self.stats = RoundStats()

    # --- starting ------------------------------------------------------------------------
    @classmethod
    def initiate(
        cls, params: SessionParams, records: Mapping[str, Sequence[Volume4D]]
    ) -> tuple[Session, dict[str, Any]]:
        s = cls(Role.INITIATOR, params, records)
        msg = {
            "protocol": PROTOCOL,
            "type": "open",
            "params": params.digest(),
            "salt": base64.b64encode(s._my_salt).decode("ascii"),
        }
        return s, msg

    @classmethod
    def respond(
        cls,
        params: SessionParams,
        records: Mapping[str, Sequence[Volume4D]],
        opening: Mapping[str, Any],
    ) -> tuple[Session, dict[str, Any]]:
        if opening.get("protocol") != PROTOCOL or opening.get("type") != "open":
            raise _bad("/protocol", f"expected an 'open' message of {PROTOCOL}")
        if opening.get("params") != params.digest():
            raise _bad("/params", "the parameters differ from the agreed ones")
        theirs = _salt(opening.get("salt"))
        s = cls(Role.RESPONDER, params, records)
        s._salt = _mix(theirs, s._my_salt)
        msg = {
            "protocol": PROTOCOL,
            "type": "accept",
            "salt": base64.b64encode(s._my_salt).decode("ascii"),
        }
        return s, msg

    # --- what the side knows -------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._waiting is not None

    def other_size(self, k: int) -> int:
        """How many tokens the other side holds at grain ``k`` (it learns ours too)."""
        return len(self._grains[k].other)

    def own_size(self, k: int) -> int:
        return len(self._grains[k].own)

    def found(self, k: int) -> set[Token] | None:
        """Our tokens at grain ``k`` that the other side holds too (None: not yet known)."""
        return self.cover.found(k)

    def intersection(self) -> dict[Token, set[str]]:
        """At the finest grain: each common token, with our records that reach it."""
        last = len(self.params.grains) - 1
        found = self.cover.found(last) or set()
        out: dict[Token, set[str]] = {t: set() for t in found}
        for rid, ts in self.cover.tokens_by_record(last).items():
            for t in ts & found:
                out[t].add(rid)
        return out

    # --- changes -------------------------------------------------------------------------
    def put(self, record_id: str, volumes: Sequence[Volume4D]) -> None:
        self.cover.put(record_id, volumes)

    def drop(self, record_id: str) -> None:
        self.cover.drop(record_id)

    def sync(self) -> list[dict[str, Any]]:
        """Start a round at the coarsest grain with our changes since the last one."""
        if self._salt is None:
            raise _bad("", "the session is not open yet")
        if self._waiting is not None:
            raise _bad("", "a round is already under way")
        return [self._round(0)]

    # --- the messages --------------------------------------------------------------------
    def receive(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Take the other side's messages in order; the answers to send back."""
        if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
            raise _bad("/messages", "must be a list of messages")
        out: list[dict[str, Any]] = []
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping):
                raise _bad(f"/messages/{i}", "must be an object")
            kind = m.get("type")
            if kind == "accept":
                out += self._on_accept(m)
            elif kind == "round":
                out.append(self._on_round(m, f"/messages/{i}"))
            elif kind == "reply":
                out += self._on_reply(m, f"/messages/{i}")
            elif kind == "finish":
                self._on_finish(m, f"/messages/{i}")
            else:
                raise _bad(f"/messages/{i}/type", "must be accept, round, reply or finish")
        return out

    def _delta(self, k: int) -> tuple[list[Token], list[int]]:
        """Our changes at grain ``k``: tokens to add, ids to withdraw."""
        st = self._grains[k]
        now = self.cover.tokens(k)
        if len(now) > self.params.max_tokens:
            raise ScreeningRefused(
                f"{len(now)} tokens at grain {k}: over the agreed {self.params.max_tokens}"
            )
        adds = [t for t in now if t not in st.own]
        removes = sorted(st.own[t] for t in st.own if t not in now)
        _rng.shuffle(adds)
        return adds, removes

    def _withdraw(self, k: int, ids: list[int]) -> None:
        st = self._grains[k]
        gone = set(ids)
        for t in [t for t, i in st.own.items() if i in gone]:
            del st.own[t]
        for i in gone:
            st.own_doubled.pop(i, None)

    def _blind_new(self, k: int, adds: list[Token]) -> tuple[list[int], list[bytes]]:
        st = self._grains[k]
        assert self._salt is not None
        g = self.params.grains[k]
        ids = []
        for t in adds:
            ids.append(st.next_id)
            st.own[t] = st.next_id
            st.next_id += 1
        digests = [token_digest(self._salt, k, g, t) for t in adds]
        points = psi.hash_blind_many(self._scalar, digests)
        self.stats.tokens_sent += len(adds)
        self.stats.points_sent += len(adds)
        return ids, points

    def _round(self, k: int, delta: tuple[list[Token], list[int]] | None = None) -> dict[str, Any]:
        adds, removes = delta if delta is not None else self._delta(k)
        self._withdraw(k, removes)
        ids, points = self._blind_new(k, adds)
        self._seq += 1
        self._sent = ids
        self._waiting = ("reply", self._seq, k)
        self.stats.rounds += 1
        return {
            "type": "round",
            "seq": self._seq,
            "grain": k,
            "adds": encode_points(points),
            "removes": removes,
        }

    def _take_other(self, k: int, points: list[bytes], removes: Any, pointer: str) -> list[bytes]:
        """The other side's new items (blinded once) and withdrawals: our blinding of them."""
        st = self._grains[k]
        if not isinstance(removes, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in removes
        ):
            raise _bad(f"{pointer}/removes", "must be a list of item ids")
        if len(set(removes)) != len(removes) or any(i not in st.other for i in removes):
            raise _bad(f"{pointer}/removes", "names an item that is not live")
        live = len(st.other) - len(removes) + len(points)
        if live > self.params.max_tokens:
            raise ScreeningRefused(
                f"the other side's {live} tokens at grain {k} are over the agreed "
                f"{self.params.max_tokens}"
            )
        try:
            doubled = psi.blind_many(self._scalar, points)
        except psi.InvalidPoint:
            raise _bad(f"{pointer}/adds", "holds a value that is not a valid point") from None
        for i in removes:
            del st.other[i]
        for d in doubled:
            st.other[st.next_other_id] = d
            st.next_other_id += 1
        self.stats.points_sent += len(doubled)
        return doubled

    def _check(self, m: Mapping[str, Any], kind: str, pointer: str) -> int:
        k = m.get("grain")
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(self._grains):
            raise _bad(f"{pointer}/grain", f"must be 0 to {len(self._grains) - 1}")
        seq = m.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise _bad(f"{pointer}/seq", "must be an integer")
        if kind == "round":
            if self._waiting is not None or self._salt is None:
                raise _bad(f"{pointer}/type", "a round is already under way")
            if seq <= self._seq:
                raise _bad(f"{pointer}/seq", f"must be above {self._seq}")
        elif self._waiting != (kind, seq, k):
            raise _bad(f"{pointer}/type", f"no {kind} is expected for round {seq}")
        return int(k)

    def _on_accept(self, m: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.role is not Role.INITIATOR or self._salt is not None:
            raise _bad("/type", "no accept is expected")
        if m.get("protocol") != PROTOCOL:
            raise _bad("/protocol", f"must be {PROTOCOL}")
        self._salt = _mix(self._my_salt, _salt(m.get("salt")))
        return self.sync()

    def _on_round(self, m: Mapping[str, Any], pointer: str) -> dict[str, Any]:
        k = self._check(m, "round", pointer)
        self._seq = int(m["seq"])
        theirs = decode_points(m.get("adds"), f"{pointer}/adds")
        doubled = self._take_other(k, theirs, m.get("removes"), pointer)
        adds, removes = self._delta(k)
        self._withdraw(k, removes)
        ids, points = self._blind_new(k, adds)
        self._sent = ids
        self._waiting = ("finish", self._seq, k)
        return {
            "type": "reply",
            "seq": self._seq,
            "grain": k,
            "doubled": encode_points(doubled),
            "adds": encode_points(points),
            "removes": removes,
        }

    def _own_doubled(self, k: int, values: list[bytes], pointer: str) -> None:
        st = self._grains[k]
        if len(values) != len(self._sent):
            raise _bad(f"{pointer}/doubled", f"must hold {len(self._sent)} points")
        live = set(st.own.values())
        for i, d in zip(self._sent, values, strict=True):
            if i in live:
                st.own_doubled[i] = d
        self._sent = []

    def _settle(self, k: int) -> bool:
        """Work out our tokens in the intersection at grain ``k``; whether they changed."""
        st = self._grains[k]
        theirs = set(st.other.values())
        found = {t for t, i in st.own.items() if st.own_doubled.get(i) in theirs}
        before = self.cover.found(k)
        self.cover.narrow(k, found)
        self._synced[k] = True
        return before is None or before != found

    def _close_finer(self, k: int) -> None:
        """A sync that stops at grain ``k``: finer grains not reached yet hold nothing."""
        for j in range(k + 1, len(self._grains)):
            if self.cover.found(j) is None:
                self.cover.narrow(j, set())
                self._synced[j] = True

    def _on_reply(self, m: Mapping[str, Any], pointer: str) -> list[dict[str, Any]]:
        k = self._check(m, "reply", pointer)
        self._own_doubled(k, decode_points(m.get("doubled"), f"{pointer}/doubled"), pointer)
        theirs = decode_points(m.get("adds"), f"{pointer}/adds")
        doubled = self._take_other(k, theirs, m.get("removes"), pointer)
        self._waiting = None
        changed = self._settle(k)
        out: list[dict[str, Any]] = [
            {"type": "finish", "seq": self._seq, "grain": k, "doubled": encode_points(doubled)}
        ]
        nxt = k + 1
        if nxt < len(self._grains):
            delta = self._delta(nxt)
            needed = changed or bool(delta[0] or delta[1]) or not self._synced[nxt]
            anything = self.cover.found(k) or self._grains[nxt].own or self._grains[nxt].other
            if needed and anything:
                out.append(self._round(nxt, delta))
                return out
        self._close_finer(k)
        return out

    def _on_finish(self, m: Mapping[str, Any], pointer: str) -> None:
        k = self._check(m, "finish", pointer)
        self._own_doubled(k, decode_points(m.get("doubled"), f"{pointer}/doubled"), pointer)
        self._waiting = None
        self._settle(k)
        self._close_finer(k)

    # --- keeping a session between messages ----------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to carry on later (the secret scalar included: keep it safe)."""
        b64 = _b64
        return {
            "role": self.role.value,
            "params": self.params.as_json(),
            "scalar": b64(self._scalar),
            "salt": None if self._salt is None else b64(self._salt),
            "my_salt": b64(self._my_salt),
            "seq": self._seq,
            "waiting": None if self._waiting is None else list(self._waiting),
            "sent": self._sent,
            "synced": self._synced,
            "found": [
                None if (f := self.cover.found(k)) is None else [list(t) for t in sorted(f)]
                for k in range(len(self._grains))
            ],
            "grains": [
                {
                    "own": [[*t, i] for t, i in st.own.items()],
                    "own_doubled": {str(i): b64(d) for i, d in st.own_doubled.items()},
                    "other": {str(i): b64(d) for i, d in st.other.items()},
                    "next_id": st.next_id,
                    "next_other_id": st.next_other_id,
                }
                for st in self._grains
            ],
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], records: Mapping[str, Sequence[Volume4D]]
    ) -> Session:
        """The session as ``to_state`` left it, over the side's records as they are now (any
        change since goes out with the next round)."""
        unb = base64.b64decode
        s = cls(
            Role(state["role"]),
            SessionParams.from_json(state["params"]),
            records,
            scalar=unb(state["scalar"]),
        )
        s._salt = None if state["salt"] is None else unb(state["salt"])
        s._my_salt = unb(state["my_salt"])
        s._seq = int(state["seq"])
        w = state["waiting"]
        s._waiting = None if w is None else (str(w[0]), int(w[1]), int(w[2]))
        s._sent = [int(i) for i in state["sent"]]
        s._synced = [bool(x) for x in state["synced"]]
        for k, found in enumerate(state["found"]):
            if found is not None:
                s.cover.narrow(k, {Token(*t) for t in found})
        for st, d in zip(s._grains, state["grains"], strict=True):
            st.own = {Token(c, sl, b): int(i) for c, sl, b, i in d["own"]}
            st.own_doubled = {int(i): unb(v) for i, v in d["own_doubled"].items()}
            st.other = {int(i): unb(v) for i, v in d["other"].items()}
            st.next_id = int(d["next_id"])
            st.next_other_id = int(d["next_other_id"])
        return s


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _salt(v: Any) -> bytes:
    if not isinstance(v, str):
        raise _bad("/salt", "must be a base64 string")
    try:
        raw = base64.b64decode(v.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _bad("/salt", "is not valid base64") from None
    if len(raw) != SALT_BYTES:
        raise _bad("/salt", f"must be {SALT_BYTES} bytes")
    return raw


def _mix(initiator_salt: bytes, responder_salt: bytes) -> bytes:
    return hashlib.sha256(PROTOCOL.encode() + initiator_salt + responder_salt).digest()
