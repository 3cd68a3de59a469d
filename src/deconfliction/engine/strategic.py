"""Strategic conflict detection: candidates from S2 cells, then the exact 4D test.

Two records conflict when, for some pair of their volumes, the horizontal gap is at most the
lateral buffer AND the vertical gap at most the vertical buffer AND the time gap at most the time
buffer (closed sets: gaps are 0 where volumes overlap or touch).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from ..geo import DISTANCE_RESOLUTION_M, Shape, cover, horizontal_gap_m, query_cells
from ..model import Gaps, RecordKind, SeparationPolicy, Volume4D


@dataclass(frozen=True)
class Record:
    """Anything with volumes that can conflict: an intent or an area."""

    kind: RecordKind
    id: str
    owner: str
    volumes: Sequence[Volume4D]

    @cached_property
    def shapes(self) -> list[Shape]:
        return [Shape(v.footprint) for v in self.volumes]


@dataclass(frozen=True)
class Finding:
    """The result of the exact test between two records that conflict."""

    gaps: Gaps
    time_start: datetime
    time_end: datetime


def _gap(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> float:
    return max(0.0, b_lo - a_hi, a_lo - b_hi)


def check_pair(a: Record, b: Record, policy: SeparationPolicy) -> Finding | None:
    """The exact 4D test between two records; None when they do not conflict.

    Two circles of 5 km whose centres are 9 km apart, one from the ground to 3,000 m, the
    other from 3,500 m up, in the same hour: 500 m apart vertically, so a conflict with a
    vertical buffer of 600 m and none with 300 m.

    >>> from datetime import UTC, datetime
    >>> from deconfliction.model import RecordKind, SeparationPolicy, Volume4D
    >>> def circle(lon, alt_lower_m, alt_upper_m):
    ...     return Volume4D.model_validate({
    ...         "footprint": {"type": "Circle", "center": [lon, 35.0], "radius_m": 5_000},
    ...         "alt_lower_m": alt_lower_m, "alt_upper_m": alt_upper_m,
    ...         "time_start": datetime(2030, 1, 1, 8, tzinfo=UTC),
    ...         "time_end": datetime(2030, 1, 1, 9, tzinfo=UTC)})
    >>> a = Record(RecordKind.INTENT, "FR/A", "FR", [circle(33.0, 0, 3_000)])
    >>> b = Record(RecordKind.INTENT, "RU/B", "RU", [circle(33.1, 3_500, 6_000)])
    >>> check_pair(a, b, SeparationPolicy(lateral_m=0, vertical_m=300, time_s=0)) is None
    True
    >>> found = check_pair(a, b, SeparationPolicy(lateral_m=0, vertical_m=600, time_s=0))
    >>> found.gaps.horizontal_m, found.gaps.vertical_m, found.time_start.hour, found.time_end.hour
    (0.0, 500.0, 8, 9)
    """
    best_h = best_v = best_t = float("inf")
    t0 = t1 = None
    for va, sa in zip(a.volumes, a.shapes, strict=True):
        for vb, sb in zip(b.volumes, b.shapes, strict=True):
            tg = _gap(va.t_start_s, va.t_end_s, vb.t_start_s, vb.t_end_s)
            if tg > policy.time_s:
                continue
            vg = _gap(va.alt_lower_m, va.alt_upper_m, vb.alt_lower_m, vb.alt_upper_m)
            if vg > policy.vertical_m:
                continue
            limit = policy.lateral_m + DISTANCE_RESOLUTION_M
            hg = horizontal_gap_m(sa, sb, within_m=limit)
            if hg > limit:
                continue
            best_h, best_v, best_t = min(best_h, hg), min(best_v, vg), min(best_t, tg)
            lo = min(max(va.time_start, vb.time_start), min(va.time_end, vb.time_end))
            hi = max(max(va.time_start, vb.time_start), min(va.time_end, vb.time_end))
            t0 = lo if t0 is None else min(t0, lo)
            t1 = hi if t1 is None else max(t1, hi)
    if t0 is None or t1 is None:
        return None
    return Finding(Gaps(horizontal_m=best_h, vertical_m=best_v, time_s=best_t), t0, t1)


@dataclass
class CellIndex:
    """An in-memory S2 index of records' volumes, for offline checks (the store keeps its own)."""

    _ids: list[int] = field(default_factory=list)
    _refs: list[int] = field(default_factory=list)
    _exact: dict[int, set[int]] = field(default_factory=dict)
    _records: list[Record] = field(default_factory=list)
    _sorted: bool = True

    def add(self, record: Record) -> None:
        ref = len(self._records)
        self._records.append(record)
        for v in record.volumes:
            for c in cover(v.footprint):
                self._ids.append(c)
                self._refs.append(ref)
                self._exact.setdefault(c, set()).add(ref)
        self._sorted = False

    def _sort(self) -> None:
        if not self._sorted:
            order = sorted(range(len(self._ids)), key=self._ids.__getitem__)
            self._ids = [self._ids[i] for i in order]
            self._refs = [self._refs[i] for i in order]
            self._sorted = True

    def candidates(self, record: Record, policy: SeparationPolicy) -> list[Record]:
        """Records with a volume whose covering meets a volume's covering grown by the buffer."""
        self._sort()
        found: set[int] = set()
        for v in record.volumes:
            q = query_cells(v.footprint, policy.lateral_m)
            for lo_id, hi_id in q.ranges:
                lo = bisect.bisect_left(self._ids, lo_id)
                hi = bisect.bisect_right(self._ids, hi_id)
                found.update(self._refs[lo:hi])
            for a in q.ancestors:
                found.update(self._exact.get(a, ()))
        return [self._records[i] for i in sorted(found)]


@dataclass(frozen=True)
class PairConflict:
    a: Record
    b: Record
    finding: Finding


def may_conflict(a: Record, b: Record) -> bool:
    """Which pairs are checked: intents with any other intent (the same party's too), and an
    area with the intents of other parties; never a record with itself, never two areas.

    >>> from deconfliction.model import RecordKind
    >>> intent = Record(RecordKind.INTENT, "FR/A", "FR", [])
    >>> own_area = Record(RecordKind.AREA, "FR/Z", "FR", [])
    >>> other_area = Record(RecordKind.AREA, "RU/Z", "RU", [])
    >>> may_conflict(intent, other_area), may_conflict(intent, own_area)
    (True, False)
    >>> may_conflict(own_area, other_area), may_conflict(intent, intent)
    (False, False)
    """
    if a.id == b.id:
        return False
    if a.kind is RecordKind.AREA or b.kind is RecordKind.AREA:
        return a.kind is not b.kind and a.owner != b.owner
    return True


def _ordered(a: Record, b: Record) -> tuple[Record, Record]:
    return (a, b) if a.id <= b.id else (b, a)


def conflicts_among(
    records: Iterable[Record], policy: SeparationPolicy, *, indexed: bool = True
) -> list[PairConflict]:
    """Every conflicting pair of distinct records, each once, ordered by ids.

    With ``indexed=False`` every pair is tested (brute force): the reference for the index.
    """
    recs = list(records)
    out: dict[tuple[str, str], PairConflict] = {}
    if indexed:
        index = CellIndex()
        for r in recs:
            index.add(r)
        pairs: Iterable[tuple[Record, Record]] = (
            (r, c) for r in recs for c in index.candidates(r, policy)
        )
    else:
        pairs = ((r, c) for i, r in enumerate(recs) for c in recs[i + 1 :])
    for r, c in pairs:
        if not may_conflict(r, c):
            continue
        a, b = _ordered(r, c)
        key = (a.id, b.id)
        if key in out:
            continue
        finding = check_pair(a, b, policy)
        if finding is not None:
            out[key] = PairConflict(a, b, finding)
    return [out[k] for k in sorted(out)]
