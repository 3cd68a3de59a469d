"""Screening tokens: the 4D cells (S2 cell, time slot, altitude band) a side's plans may reach.

Each side grows its volumes by its share of the agreed buffers and lists every token of a grain
that the grown volume may meet: the S2 cells of ``geo.cells.covering_at_level`` (which contain
the grown footprint), and every slot and band that the grown time window and altitude band
touch. Two records that conflict under the exact engine (``engine.check_pair``) always share a
token, whatever the grain, when the two shares add up to the whole buffer (the proof is in
docs/screening.md): a point of 4D space lies within both grown volumes, a little room around it
too, and the token around that point is in both sets.

Refinement: the tokens of grain ``k`` kept for a volume are those whose parent (at grain
``k - 1``) is in the intersection found at grain ``k - 1``. The token of the common point above
has its parent in both sets, so it survives every round: refinement never loses a conflict.

Times are handled in whole microseconds (exactly as datetimes hold them), altitudes and
distances with a little slack (``ALT_SLACK_M``, ``TIE_M``) for the engine's rounding.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ..exchange.screening_terms import Grain
from ..geo import DISTANCE_RESOLUTION_M
from ..geo.cells import cell_bounds, cell_parent, cell_token, covering_at_level
from ..model import SeparationPolicy, Volume4D

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
#: Extra growth of each side, metres, beyond its share of the lateral buffer: leaves room
#: around a common point so that it is inside a cell, not on an edge.
TIE_M = 1.0
#: Extra growth of each side in altitude, metres (floating-point rounding of the engine's gaps).
ALT_SLACK_M = 0.01
#: Extra growth of each side in time, microseconds (the engine compares float timestamps).
TIME_SLACK_US = 2


class Token(NamedTuple):
    """A 4D cell at one grain: S2 cell id (unsigned), slot index, band index."""

    cell: int
    slot: int
    band: int


@dataclass(frozen=True)
class Growth:
    """How far one side grows its volumes before covering them."""

    lateral_m: float
    vertical_m: float
    time_us: int

    @classmethod
    def share_of(cls, buffers: SeparationPolicy, share: float) -> Growth:
        """This side's ``share`` (0 to 1) of the buffers, with the slack; two sides whose shares
        add up to 1 grow by at least the whole buffer between them."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share {share} is outside [0, 1]")
        return cls(
            lateral_m=share * (buffers.lateral_m + DISTANCE_RESOLUTION_M) + TIE_M,
            vertical_m=share * buffers.vertical_m + ALT_SLACK_M,
            time_us=math.ceil(share * buffers.time_s * 1e6) + TIME_SLACK_US,
        )


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US


def slot_range(v: Volume4D, grain: Grain, growth: Growth) -> range:
    """Slots the grown time window touches (closed window, half-open slots)."""
    step = grain.slot_s * 1_000_000
    lo = _us(v.time_start) - growth.time_us
    hi = _us(v.time_end) + growth.time_us
    return range(lo // step, hi // step + 1)


def band_range(v: Volume4D, grain: Grain, growth: Growth) -> range:
    """Bands the grown altitude band touches (closed band, half-open bands)."""
    lo = math.floor((v.alt_lower_m - growth.vertical_m) / grain.band_m)
    hi = math.floor((v.alt_upper_m + growth.vertical_m) / grain.band_m)
    return range(lo, hi + 1)


def parent(token: Token, fine: Grain, coarse: Grain) -> Token:
    """The token at the coarser grain that contains ``token``."""
    return Token(
        cell_parent(token.cell, coarse.s2_level),
        token.slot * fine.slot_s // coarse.slot_s,
        token.band * fine.band_m // coarse.band_m,
    )


def volume_tokens(
    v: Volume4D,
    grains: Sequence[Grain],
    k: int,
    growth: Growth,
    parents: Iterable[Token] | None = None,
) -> set[Token]:
    """The tokens of grain ``k`` that the grown volume may meet; for ``k > 0``, only those whose
    parent at grain ``k - 1`` is one of ``parents`` (None: all of them)."""
    g = grains[k]
    slots = slot_range(v, g, growth)
    bands = band_range(v, g, growth)
    if parents is None:
        cells = covering_at_level(v.footprint, growth.lateral_m, g.s2_level)
        return {Token(c, s, b) for c in cells for s in slots for b in bands}
    if k == 0:
        raise ValueError("grain 0 has no parents")
    up = grains[k - 1]
    ps = set(parents)
    if not ps:
        return set()
    cells = covering_at_level(
        v.footprint, growth.lateral_m, g.s2_level, within={p.cell for p in ps}
    )
    by_cell: dict[int, list[int]] = {}
    for c in cells:
        by_cell.setdefault(cell_parent(c, up.s2_level), []).append(c)
    by_slot: dict[int, list[int]] = {}
    for s in slots:
        by_slot.setdefault(s * g.slot_s // up.slot_s, []).append(s)
    by_band: dict[int, list[int]] = {}
    for b in bands:
        by_band.setdefault(b * g.band_m // up.band_m, []).append(b)
    out: set[Token] = set()
    for p in ps:
        for c in by_cell.get(p.cell, ()):
            for s in by_slot.get(p.slot, ()):
                out.update(Token(c, s, b) for b in by_band.get(p.band, ()))
    return out


class Cover:
    """One side's records covered on a ladder of grains, kept as rounds narrow it.

    ``tokens(k)`` is the side's token set at grain ``k`` given the intersections of the rounds
    before (``narrow(k, found)`` records the intersection found at grain ``k``). Records can be
    put or dropped at any time; the sets follow, and ``tokens`` recomputes only what changed.
    """

    def __init__(self, grains: Sequence[Grain], growth: Growth) -> None:
        self.grains = list(grains)
        self.growth = growth
        self._volumes: dict[str, list[Volume4D]] = {}
        #: per grain: record id -> its tokens at that grain (given the intersection before)
        self._by_record: list[dict[str, set[Token]]] = [{} for _ in self.grains]
        #: per grain: the intersection found there (None: no round at that grain yet)
        self._found: list[set[Token] | None] = [None for _ in self.grains]
        #: per grain: records whose tokens must be computed again
        self._dirty: list[set[str]] = [set() for _ in self.grains]

    @property
    def records(self) -> Mapping[str, Sequence[Volume4D]]:
        return self._volumes

    def put(self, record_id: str, volumes: Sequence[Volume4D]) -> None:
        self._volumes[record_id] = list(volumes)
        for d in self._dirty:
            d.add(record_id)

    def drop(self, record_id: str) -> None:
        if self._volumes.pop(record_id, None) is not None:
            for d in self._dirty:
                d.add(record_id)

    def _record_tokens(self, rid: str, k: int) -> set[Token]:
        vols = self._volumes.get(rid)
        if vols is None:
            return set()
        if k == 0:
            out: set[Token] = set()
            for v in vols:
                out |= volume_tokens(v, self.grains, 0, self.growth)
            return out
        found = self._found[k - 1]
        above = self._by_record[k - 1].get(rid, set())
        if found is None:
            return set()
        parents = above & found
        if not parents:
            return set()
        out = set()
        for v in vols:
            out |= volume_tokens(v, self.grains, k, self.growth, parents)
        return out

    def tokens_by_record(self, k: int) -> Mapping[str, set[Token]]:
        """Each record's tokens at grain ``k`` (given the intersections found before)."""
        self._refresh(k)
        return self._by_record[k]

    def tokens(self, k: int) -> set[Token]:
        """The side's token set at grain ``k``."""
        out: set[Token] = set()
        for ts in self.tokens_by_record(k).values():
            out |= ts
        return out

    def _refresh(self, k: int) -> None:
        if k > 0:
            self._refresh(k - 1)
        table = self._by_record[k]
        for rid in self._dirty[k]:
            ts = self._record_tokens(rid, k)
            if ts != table.get(rid, set()):
                if ts:
                    table[rid] = ts
                else:
                    table.pop(rid, None)
                if k + 1 < len(self.grains):
                    self._dirty[k + 1].add(rid)
        self._dirty[k].clear()

    def narrow(self, k: int, found: Iterable[Token]) -> None:
        """Record the intersection found at grain ``k``: the finer grains follow it."""
        new = set(found)
        old = self._found[k]
        self._found[k] = new
        if k + 1 >= len(self.grains):
            return
        changed = new if old is None else new ^ old
        if not changed:
            return
        self._refresh(k)
        for rid, ts in self._by_record[k].items():
            if not ts.isdisjoint(changed):
                self._dirty[k + 1].add(rid)

    def found(self, k: int) -> set[Token] | None:
        return self._found[k]


def intersect(
    a: Cover, b: Cover
) -> tuple[list[set[Token]], dict[Token, tuple[set[str], set[str]]]]:
    """The intersections at every grain of two sides held in the clear (within one service,
    which holds both, and as the reference for the private protocol), and, at the finest grain,
    each common token with the records of each side that reach it."""
    out: list[set[Token]] = []
    for k in range(len(a.grains)):
        common = a.tokens(k) & b.tokens(k)
        a.narrow(k, common)
        b.narrow(k, common)
        out.append(common)
    last = len(a.grains) - 1
    hits: dict[Token, tuple[set[str], set[str]]] = {t: (set(), set()) for t in out[last]}
    for side, cover in ((0, a), (1, b)):
        for rid, ts in cover.tokens_by_record(last).items():
            for t in ts & out[last]:
                hits[t][side].add(rid)
    return out, hits


#: Domain separation of the token encoding (version 1).
TOKEN_DOMAIN = b"deconfliction/screening/v1/token"


def token_bytes(k: int, grain: Grain, t: Token) -> bytes:
    """A token's canonical encoding: grain index and size, cell, slot, band (fixed widths)."""
    return struct.pack(
        ">BBIIQqq", k, grain.s2_level, grain.slot_s, grain.band_m, t.cell, t.slot, t.band
    )


def token_digest(salt: bytes, k: int, grain: Grain, t: Token) -> bytes:
    """64 bytes to map to the group: SHA-512 over the domain, the session's salt, the token."""
    return hashlib.sha512(
        TOKEN_DOMAIN + struct.pack(">H", len(salt)) + salt + token_bytes(k, grain, t)
    ).digest()


def window(grain: Grain, t: Token) -> dict[str, object]:
    """Where and when a token is, for a notice: the cell (S2 token and its lon/lat bounds), the
    slot and the band."""
    start = _EPOCH + timedelta(seconds=t.slot * grain.slot_s)
    return {
        "cell": cell_token(t.cell),
        "s2_level": grain.s2_level,
        "bounds": [round(x, 6) for x in cell_bounds(t.cell)],
        "time_start": start,
        "time_end": start + timedelta(seconds=grain.slot_s),
        "alt_lower_m": float(t.band * grain.band_m),
        "alt_upper_m": float((t.band + 1) * grain.band_m),
    }
