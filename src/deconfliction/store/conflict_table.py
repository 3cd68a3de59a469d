"""Conflicts as stored (``conflicts``): found again when a record changes, resolved, told to
their parties (through the conflict note), listed; previews and queries over the records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from ..audit import digest
from ..engine import Finding, Record, check_pair
from ..model import (
    Conflict,
    RecordExtent,
    RecordKind,
    SeparationPolicy,
    Volume4D,
)
from .cell_index import CellIndexTx
from .rows import (
    _CONFLICT_COLS,
    PREVIEW_ID,
    ConflictRow,
    Draft,
    StoredRecord,
    VolumeCover,
    _conflict_row,
    conflict_id,
    iso,
    make_conflict,
    record_key,
    scope_for,
    split_key,
)

if TYPE_CHECKING:
    from .base import Tx

#: A conflict's columns as ``_conflict_row`` reads them, then the digests of what each side
#: was told (``a_note``, ``b_note``): the row read once serves a change and its notes.
_NOTED = f"{_CONFLICT_COLS}, a_note, b_note"


class ConflictsTx(CellIndexTx):
    """Part of ``Tx`` (``store.base``): see the module."""

    def findings(
        self, rec: Record, policy: SeparationPolicy, covers: Sequence[VolumeCover] | None = None
    ) -> list[tuple[Record, Finding]]:
        """Exact conflicts of a record with stored ones (see ``engine.may_conflict``)."""
        out = []
        for _, other in self.candidates(
            rec.volumes, policy, scope_for(rec), exclude_id=rec.id, covers=covers
        ):
            finding = check_pair(rec, other, policy)
            if finding is not None:
                out.append((other, finding))
        return out

    # --- conflicts -----------------------------------------------------------------------
    def _redetect(
        self,
        rec: Record,
        at: datetime,
        covers: Sequence[VolumeCover],
        findings: list[tuple[Record, Finding]] | None = None,
        *,
        new: bool = False,
    ) -> list[Callable[[], Conflict]]:
        """Open, update and resolve ``rec``'s conflicts (``findings``: found already, or None;
        ``new``: a record just created, which has no open conflict: a delete resolves them all).
        Returns what builds each open conflict (``WriteResult.made``)."""
        if findings is None:
            findings = self.findings(rec, self.policy, covers)
        found = {o.id: (o, f) for o, f in findings}
        if not new:
            for r in self._open_rows(rec.id):
                if (r[2] if r[1] == rec.id else r[1]) not in found:
                    self._set_resolved(r, at)
        stored = self._pair_rows(rec.id, list(found))
        out = []
        for other, finding in found.values():
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(self._upsert_conflict(a, b, finding, at, stored.get((a.id, b.id))))
        return out

    def _open_rows(self, key: str) -> list[Any]:
        """The open conflicts of a record, as stored with their notes' digests (``_NOTED``)."""
        return cast(
            "list[Any]",
            self.x(
                f"SELECT {_NOTED} FROM conflicts WHERE (a_id = ? OR b_id = ?) AND state = 'open'",
                (key, key),
            ).fetchall(),
        )

    def _pair_rows(self, key: str, others: Sequence[str]) -> dict[tuple[str, str], Any]:
        """The stored conflicts, in any state, between a record and each of ``others`` (keys),
        by (a key, b key), as ``_NOTED`` reads them: one statement for up to 500 on each side."""
        after = [o for o in others if o > key]  # the record is the conflict's a side
        before = [o for o in others if o < key]  # its b side
        out: dict[tuple[str, str], Any] = {}
        for k in range(0, max(len(after), len(before)), 500):
            terms, params = [], []
            for chunk, col, other_col in ((after, "a_id", "b_id"), (before, "b_id", "a_id")):
                part = chunk[k : k + 500]
                if part:
                    terms.append(f"({col} = ? AND {other_col} IN ({', '.join('?' * len(part))}))")
                    params += [key, *part]
            sql = f"SELECT {_NOTED} FROM conflicts WHERE {' OR '.join(terms)}"
            for r in self.x(sql, params).fetchall():
                out[(r[1], r[2])] = r
        return out

    def _upsert_conflict(
        self, a: Record, b: Record, f: Finding, at: datetime, stored: Any | None
    ) -> Callable[[], Conflict]:
        """Open a conflict, or open again or update the one stored between ``a`` and ``b``
        (``stored``: its row as ``_NOTED`` reads it, or None); returns what builds it."""
        p = self.policy
        vals = (
            iso(f.time_start),
            iso(f.time_end),
            f.gaps.horizontal_m,
            f.gaps.vertical_m,
            f.gaps.time_s,
            p.lateral_m,
            p.vertical_m,
            p.time_s,
            iso(at),
        )
        if stored is None:
            cid = conflict_id(self.secret, a.id, b.id)
            # the row as it will read back: its parties' notes are worked out first, so that
            # the insert stores their digests and no update follows
            written = ConflictRow(
                cid, a.id, b.id, a.kind, b.kind, a.owner, b.owner, "open",
                datetime.fromisoformat(vals[0]), datetime.fromisoformat(vals[1]), f.gaps, p,
                datetime.fromisoformat(vals[8]),
            )  # fmt: skip
            events, kept = self._notes(written, "opened", [None, None])
            self.x(
                "INSERT INTO conflicts (id, a_id, b_id, a_kind, b_kind, a_owner, b_owner, state, "
                "time_start, time_end, horizontal_m, vertical_m, time_s, lateral_buffer_m, "
                "vertical_buffer_m, time_buffer_s, updated_at, detected_at, a_note, b_note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, a.id, b.id, a.kind.value, b.kind.value, a.owner, b.owner, *vals, iso(at),
                 *kept),
            )  # fmt: skip
            for party, type_, note in events:
                self.event(party, type_, note, at)
            return partial(make_conflict, cid, a, b, f, p, at)
        before = _conflict_row(stored)
        self.x(
            "UPDATE conflicts SET state = 'open', time_start = ?, time_end = ?, "
            "horizontal_m = ?, vertical_m = ?, time_s = ?, lateral_buffer_m = ?, "
            "vertical_buffer_m = ?, time_buffer_s = ?, updated_at = ? WHERE id = ?",
            (*vals, before.id),
        )
        # the row as it now reads back: what the update set, on the stored row
        row = replace(
            before,
            state="open",
            time_start=datetime.fromisoformat(vals[0]),
            time_end=datetime.fromisoformat(vals[1]),
            gaps=f.gaps,
            policy=p,
        )
        self._tell(row, "updated" if before.state == "open" else "opened", stored, at)
        return partial(make_conflict, row.id, a, b, f, p, row.detected_at)

    def conflict(self, cid: str) -> ConflictRow | None:
        r = self.x(f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE id = ?", (cid,)).fetchone()
        return None if r is None else _conflict_row(r)

    def _tell(self, row: ConflictRow, change: str, stored: Any, at: datetime) -> None:
        """Tell each party of the conflict ``row`` (as it now stands) what changed, as far as
        the conflict note allows (``_notes``), and keep the digests of what each was told
        (``stored``: the row as ``_NOTED`` read it before the change, digests last)."""
        told = [stored[-2], stored[-1]]
        events, kept = self._notes(row, change, told)
        for party, type_, note in events:
            self.event(party, type_, note, at)
        if kept != told:
            self.x("UPDATE conflicts SET a_note = ?, b_note = ? WHERE id = ?", (*kept, row.id))

    def _notes(
        self, row: ConflictRow, change: str, told: list[str | None]
    ) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str | None]]:
        """What each party of a conflict is told of a change, as (party, event type, note), and
        the digests of the notes its parties were told as they are to be kept (``told``: as
        kept before it, a side's None where it was told nothing). A party is told of an update
        only when what it is told changes, and of a resolution only if it was told of the
        conflict (its note is not even worked out otherwise). Nothing is written here."""
        kept = list(told)
        events: list[tuple[str, str, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, party in enumerate((row.a_owner, row.b_owner)):
            if party in seen:
                continue
            seen.add(party)
            before = told[i]
            if change == "resolved" and before is None:
                continue
            note = self.hooks.conflict_note(cast("Tx", self), row, party, change)
            now = None if note is None else digest(note)
            if change == "resolved":
                if note is not None:
                    events.append((party, "conflict.resolved", note))
                continue
            kept[i] = now
            if note is None or now == before:
                continue
            kind = (
                "conflict.updated"
                if before is not None and change == "updated"
                else "conflict.opened"
            )
            events.append((party, kind, note))
        if row.a_owner == row.b_owner:
            kept[1] = kept[0]
        return events, kept

    def query(self, volume: Volume4D, kinds: Sequence[RecordKind]) -> list[StoredRecord]:
        """Stored records of these kinds that meet the volume (no buffers)."""
        probe = Record(RecordKind.INTENT, "\x00query", "\x00query", [volume])
        zero = SeparationPolicy()
        kind_list = ", ".join(f"'{RecordKind(k).value}'" for k in kinds)
        return [
            rec
            for rec, eng in self.candidates([volume], zero, (f"kind IN ({kind_list})", ()))
            if check_pair(probe, eng, zero) is not None
        ]

    def preview(
        self, owner: str, draft: Draft, kind: RecordKind, exclude_id: str | None, at: datetime
    ) -> list[Conflict]:
        """The conflicts a draft would be in if written now; nothing is written."""
        key = record_key(owner, exclude_id or PREVIEW_ID)
        rec = Record(kind, key, owner, draft.volumes)
        out = []
        for other, f in self.findings(rec, self.policy):
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(
                make_conflict(conflict_id(self.secret, a.id, b.id), a, b, f, self.policy, at)
            )
        return out

    def _set_resolved(self, stored: Any, at: datetime) -> None:
        """Resolve an open conflict (``stored``: its row as ``_NOTED`` reads it)."""
        row = _conflict_row(stored, state="resolved")
        self.x(
            "UPDATE conflicts SET state = 'resolved', updated_at = ? WHERE id = ?",
            (iso(at), row.id),
        )
        self._tell(row, "resolved", stored, at)

    def _resolve_all(self, key: str, at: datetime) -> None:
        rows = self._open_rows(key)
        if len(rows) > 1 and self.locks is None:  # their notes read the other sides: at once
            self.load_many([r[2] if r[1] == key else r[1] for r in rows])
        for r in rows:
            self._set_resolved(r, at)

    def conflict_rows(self, party: str, include_resolved: bool) -> list[ConflictRow]:
        """The conflicts ``party`` has a record in, exact (what it is shown goes through the
        release rule)."""
        states = ("open", "resolved") if include_resolved else ("open", "open")
        rows = self.x(
            f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE (a_owner = ? OR b_owner = ?) "
            "AND state IN (?, ?) ORDER BY time_start, id",
            (party, party, *states),
        ).fetchall()
        return [_conflict_row(r) for r in rows]

    def list_conflicts(self, party: str, include_resolved: bool) -> list[Conflict]:
        """The conflicts ``party`` has a record in, with both sides exact: for the service's
        own use only, never to be shown to a party as is."""
        out = []
        for r in self.conflict_rows(party, include_resolved):
            extents = []
            for key, kind in ((r.a_key, r.a_kind), (r.b_key, r.b_kind)):
                found = self.load(key)
                owner, rid = split_key(key)
                vols = list(found[0].volumes) if found else []
                extents.append(RecordExtent(kind=kind, id=rid, owner=owner, volumes=vols))
            out.append(
                Conflict(
                    id=r.id,
                    a=extents[0],
                    b=extents[1],
                    time_start=r.time_start,
                    time_end=r.time_end,
                    gaps=r.gaps,
                    policy=r.policy,
                    detected_at=r.detected_at,
                )
            )
        return out
