"""What the store's modules share: keys, rows, hooks, the record cache, index rows."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from ..engine import Finding, Record
from ..errors import NotFound, VersionConflict
from ..geo import (
    CellQuery,
    cap_covering,
    cell_query,
    record_coverings,
    to_sql,
)
from ..model import (
    Area,
    AreaDraft,
    Conflict,
    Gaps,
    IntentDraft,
    OperationalIntent,
    RecordExtent,
    RecordKind,
    SeparationPolicy,
    Volume4D,
)

if TYPE_CHECKING:
    from .base import Tx

StoredRecord = OperationalIntent | Area
Draft = IntentDraft | AreaDraft


def now_utc() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=256)
def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_ovn() -> str:
    return secrets.token_urlsafe(24)


def record_key(owner: str, record_id: str) -> str:
    """Record ids are per owner: a record is stored, indexed and referred to by ``OWNER/ID``
    (an id has no ``/``), so one party's id tells nothing of, and takes nothing from, another's."""
    return f"{owner}/{record_id}"


def split_key(key: str) -> tuple[str, str]:
    """(owner, id) of a record key."""
    owner, _, rid = key.partition("/")
    return owner, rid


def conflict_id(secret: bytes, a_key: str, b_key: str) -> str:
    """A conflict's id: keyed by the store's secret, so that nobody can confirm a guess of the
    other side's record id from it."""
    msg = f"{a_key}\x00{b_key}".encode()
    return hmac.digest(secret, msg, "sha256").hex()[:32]


@dataclass(frozen=True)
class WriteResult:
    """A record as written, and the conflicts it is in after the write (open ones), exact: what
    a party is shown of them goes through the release rule (``exchange.release``). ``made``:
    what builds each conflict, called when ``conflicts`` is first read (a DSS write's native
    view never reads them)."""

    record: StoredRecord
    made: Sequence[Callable[[], Conflict]] = field(repr=False)

    @cached_property
    def conflicts(self) -> list[Conflict]:
        return [make() for make in self.made]


@dataclass(frozen=True)
class ConflictRow:
    """A conflict as stored: exact, between two record keys (``a_key < b_key``)."""

    id: str
    a_key: str
    b_key: str
    a_kind: RecordKind
    b_kind: RecordKind
    a_owner: str
    b_owner: str
    state: str
    time_start: datetime
    time_end: datetime
    gaps: Gaps
    policy: SeparationPolicy
    detected_at: datetime

    def side_of(self, party: str) -> tuple[list[str], list[str]]:
        """(keys of ``party``'s records, keys of the other records) in this conflict."""
        own = [k for k, o in ((self.a_key, self.a_owner), (self.b_key, self.b_owner)) if o == party]
        other = [k for k in (self.a_key, self.b_key) if k not in own]
        return own, other

    def other_owner(self, party: str) -> str:
        return self.b_owner if self.a_owner == party else self.a_owner


#: What a conflict change tells one of its parties: the event payload, or None for nothing at
#: all. Called in the transaction of the change with (tx, conflict, party, change), where change
#: is ``opened``, ``updated`` or ``resolved``.
ConflictNote = Callable[["Tx", ConflictRow, str, str], "dict[str, Any] | None"]
#: Called inside the transaction after a record is written (old, new) or deleted (old, None),
#: except for writes the DSS makes itself (``Tx.from_dss``).
RecordHook = Callable[
    ["Tx", "RecordKind", "StoredRecord | None", "StoredRecord | None", datetime], None
]
#: Called inside the transaction after an outbox event is written: (tx, party, type, payload, at).
EventHook = Callable[["Tx", str, str, "dict[str, Any]", datetime], None]
#: Reciprocity with plans held elsewhere (another node's): whether ``viewer`` has released to
#: ``owner`` an intent of its own within the buffers of these volumes: (tx, owner, viewer,
#: volumes, buffers).
PlansNear = Callable[["Tx", str, str, "Sequence[Volume4D]", SeparationPolicy], bool]


def cell_filter(query: CellQuery) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) on a ``cell`` column that a covering's query
    matches: its descendants' ranges, or one of its ancestors."""
    terms = ["cell BETWEEN ? AND ?"] * len(query.ranges)
    params: list[Any] = [x for span in query.ranges for x in span]
    if query.ancestors:
        terms.append(f"cell IN ({', '.join('?' * len(query.ancestors))})")
        params += sorted(query.ancestors)
    return f"({' OR '.join(terms)})", params


def near_filter(query: CellQuery, v: Volume4D, buffers: SeparationPolicy) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) on an index table's ``cell``, ``t_start``,
    ``t_end``, ``alt_lower`` and ``alt_upper`` columns that rows near ``v`` match: one of the
    covering's cells, a window and a band within the buffers of ``v``'s."""
    cell_sql, params = cell_filter(query)
    window = "t_start <= ? AND t_end >= ? AND alt_lower <= ? AND alt_upper >= ?"
    return f"{cell_sql} AND {window}", [
        *params,
        v.t_end_s + buffers.time_s,
        v.t_start_s - buffers.time_s,
        v.alt_upper_m + buffers.vertical_m,
        v.alt_lower_m - buffers.vertical_m,
    ]


def own_records_note(tx: Tx, row: ConflictRow, party: str, change: str) -> dict[str, Any] | None:
    """The default note: the party's own records in the conflict and the other party's name."""
    own, _ = row.side_of(party)
    return {
        "id": row.id,
        "records": [split_key(k)[1] for k in own],
        "with": row.other_owner(party),
    }


@dataclass
class StoreHooks:
    """What the application that uses a store plugs into its transactions (nothing is
    registered by importing a module)."""

    record_changed: list[RecordHook] = field(default_factory=list)
    conflict_note: ConflictNote = own_records_note
    event_written: list[EventHook] = field(default_factory=list)
    viewer_plans_near: list[PlansNear] = field(default_factory=list)


class VolumeCover(NamedTuple):
    """What a write indexes and searches of one volume (``geo.record_coverings``)."""

    #: the volume's covering (``record_cells``)
    cells: list[int]
    #: its cap's covering (the cap search's: the rows of ``record_cells`` marked ``in_cap``, and
    #: those of ``record_caps``): the same list when it is covered through its cap
    caps: list[int]
    #: what its covering matches in stored ones (the candidate search without buffers)
    query: CellQuery
    #: its time and altitude ranges and its cap, as index rows hold them
    bounds: tuple[float, ...]


def coverings_of(volumes: Sequence[Volume4D]) -> list[VolumeCover]:
    """What a write indexes and searches of its volumes: it needs nothing stored, so a caller
    may work it out before it queues its transaction (outside the one writer's turn)."""
    out = []
    for v in volumes:
        cells, caps = record_coverings(v.footprint)
        out.append(VolumeCover(cells, caps, cell_query(cells), _bounds(v)))
    return out


def to_record(kind: RecordKind, rec: StoredRecord) -> Record:
    """The engine's view of a stored record (its id is the record's key)."""
    return Record(kind, record_key(rec.owner, rec.id), rec.owner, rec.volumes)


class RecordCache:
    """Parsed records by (key, version), checked against the stored body's hash (so that a write
    rolled back and redone, or retried, can never serve a stale parse): parsing and preparing
    geometry is the costly part of a read."""

    def __init__(self, size: int = 50_000) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[int, StoredRecord, Record]] = OrderedDict()
        self._size = size
        #: ids of parties seen committed (a party is never removed)
        self.parties: set[str] = set()

    def get(self, kind: str, body: str, key: str, version: int) -> tuple[StoredRecord, Record]:
        hit = self._items.get((key, version))
        if hit is not None and hit[0] == hash(body):
            self._items.move_to_end((key, version))
            return hit[1], hit[2]
        k = RecordKind(kind)
        model: type[StoredRecord] = OperationalIntent if k is RecordKind.INTENT else Area
        rec = model.model_validate_json(body, context={"trusted": True})
        val = (rec, to_record(k, rec))
        self.put(key, version, body, *val)
        return val

    def put(self, key: str, version: int, body: str, rec: StoredRecord, engine_rec: Record) -> None:
        self._items[(key, version)] = (hash(body), rec, engine_rec)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


def cap_rows(
    key: str,
    kind: RecordKind,
    owner: str,
    volumes: Sequence[Volume4D],
    caps: Sequence[list[int]] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of the cap index for a record: per volume, a coarse covering of its cap (``caps``:
    those coverings, when they are known already)."""
    rows: list[tuple[Any, ...]] = []
    for i, v in enumerate(volumes):
        lon, lat, r = v.footprint.cap
        cells = cap_covering(lon, lat, r) if caps is None else caps[i]
        rows += _index_rows(cells, _index_tail(key, i, kind, owner, v))
    return rows


def _index_tail(key: str, i: int, kind: RecordKind, owner: str, v: Volume4D) -> tuple[Any, ...]:
    """What an index row (``record_cells``, ``record_caps``) holds after its cell."""
    return (key, i, kind.value, owner, *_bounds(v))


def _bounds(v: Volume4D) -> tuple[float, ...]:
    """A volume's time and altitude ranges and its cap, as index rows hold them."""
    return (v.t_start_s, v.t_end_s, v.alt_lower_m, v.alt_upper_m, *v.footprint.cap)


def _index_rows(cells: list[int], tail: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Index rows of one volume: each of its cells (stored ids), then ``tail``."""
    return [(to_sql(c), *tail) for c in cells]


_CONFLICT_COLS = (
    "id, a_id, b_id, a_kind, b_kind, a_owner, b_owner, state, time_start, time_end, "
    "horizontal_m, vertical_m, time_s, lateral_buffer_m, vertical_buffer_m, time_buffer_s, "
    "detected_at"
)


def _conflict_row(r: Sequence[Any], state: str | None = None) -> ConflictRow:
    """A conflict's row as ``_CONFLICT_COLS`` reads it (``state``: another state to give it).
    Its gaps and policy were validated on their way in, and are not validated again."""
    return ConflictRow(
        id=r[0],
        a_key=r[1],
        b_key=r[2],
        a_kind=RecordKind(r[3]),
        b_kind=RecordKind(r[4]),
        a_owner=r[5],
        b_owner=r[6],
        state=r[7] if state is None else state,
        time_start=datetime.fromisoformat(r[8]),
        time_end=datetime.fromisoformat(r[9]),
        gaps=Gaps.model_construct(horizontal_m=r[10], vertical_m=r[11], time_s=r[12]),
        policy=SeparationPolicy.model_construct(lateral_m=r[13], vertical_m=r[14], time_s=r[15]),
        detected_at=datetime.fromisoformat(r[16]),
    )


#: The id a draft has in a preview (no real id has a NUL).
PREVIEW_ID = "\x00preview"


def _owned_at_version(
    found: tuple[StoredRecord, Record] | None,
    kind: RecordKind,
    rid: str,
    expected_version: int,
) -> StoredRecord:
    """The stored record, if it is of this kind and at the expected version (it is the
    caller's: keys are per owner)."""
    if found is None or found[1].kind is not kind:
        raise NotFound(f"no {kind.value} {rid!r}")
    old = found[0]
    if old.version != expected_version:
        raise VersionConflict(f"{rid!r} is at version {old.version}, not {expected_version}")
    return old


def scope_for(rec: Record) -> tuple[str, tuple[str, ...]]:
    """The SQL condition for the records that ``rec`` may conflict with (``may_conflict``):
    an intent meets every intent and other parties' areas; an area meets other parties' intents.
    """
    if rec.kind is RecordKind.INTENT:
        return "(kind = 'intent' OR owner <> ?)", (rec.owner,)
    return "kind = 'intent' AND owner <> ?", (rec.owner,)


def make_conflict(
    cid: str, a: Record, b: Record, f: Finding, policy: SeparationPolicy, detected_at: datetime
) -> Conflict:
    """An exact conflict between two engine records (ids are keys), built without validating
    again what the store holds and the engine found."""
    ext = RecordExtent.model_construct
    return Conflict.model_construct(
        id=cid,
        a=ext(kind=a.kind, id=split_key(a.id)[1], owner=a.owner, volumes=list(a.volumes)),
        b=ext(kind=b.kind, id=split_key(b.id)[1], owner=b.owner, volumes=list(b.volumes)),
        time_start=f.time_start,
        time_end=f.time_end,
        gaps=f.gaps,
        policy=policy,
        detected_at=detected_at,
    )
