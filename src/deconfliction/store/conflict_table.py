"""Conflicts as stored (``conflicts``): found again when a record changes, resolved, told to
their parties (through the conflict note), listed; previews and queries over the records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
    ) -> list[Conflict]:
        """Open, update and resolve ``rec``'s conflicts (``findings``: found already, or None;
        ``new``: a record just created, which has no open conflict: a delete resolves them all)."""
        if findings is None:
            findings = self.findings(rec, self.policy, covers)
        found = {o.id: (o, f) for o, f in findings}
        open_rows = (
            []
            if new
            else self.x(
                "SELECT id, a_id, b_id FROM conflicts "
                "WHERE (a_id = ? OR b_id = ?) AND state = 'open'",
                (rec.id, rec.id),
            ).fetchall()
        )
        for cid, a_id, b_id in open_rows:
            other = b_id if a_id == rec.id else a_id
            if other not in found:
                self._set_resolved(cid, at)
        out = []
        for other, finding in found.values():
            a, b = (rec, other) if rec.id < other.id else (other, rec)
            out.append(self._upsert_conflict(a, b, finding, at))
        return out

    def _upsert_conflict(self, a: Record, b: Record, f: Finding, at: datetime) -> Conflict:
        p = self.policy
        row = self.x(
            "SELECT id, state, detected_at FROM conflicts WHERE a_id = ? AND b_id = ?",
            (a.id, b.id),
        ).fetchone()
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
        if row is None:
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
            return make_conflict(cid, a, b, f, p, at)
        else:
            cid = row[0]
            self.x(
                "UPDATE conflicts SET state = 'open', time_start = ?, time_end = ?, "
                "horizontal_m = ?, vertical_m = ?, time_s = ?, lateral_buffer_m = ?, "
                "vertical_buffer_m = ?, time_buffer_s = ?, updated_at = ? WHERE id = ?",
                (*vals, cid),
            )
            change = "updated" if row[1] == "open" else "opened"
            detected = datetime.fromisoformat(row[2])
        self._notify(cid, change, at)
        return make_conflict(cid, a, b, f, p, detected)

    def conflict(self, cid: str) -> ConflictRow | None:
        r = self.x(f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE id = ?", (cid,)).fetchone()
        return None if r is None else _conflict_row(r)

    def _notify(self, cid: str, change: str, at: datetime) -> None:
        """Tell each party of the conflict what changed, as far as the conflict note allows
        (``_notes``), and keep the digests of what each was told."""
        r = self.x(
            f"SELECT {_CONFLICT_COLS}, a_note, b_note FROM conflicts WHERE id = ?", (cid,)
        ).fetchone()
        assert r is not None
        told = [r[-2], r[-1]]
        events, kept = self._notes(_conflict_row(r), change, told)
        for party, type_, note in events:
            self.event(party, type_, note, at)
        if kept != told:
            self.x("UPDATE conflicts SET a_note = ?, b_note = ? WHERE id = ?", (*kept, cid))

    def _notes(
        self, row: ConflictRow, change: str, told: list[str | None]
    ) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str | None]]:
        """What each party of a conflict is told of a change, as (party, event type, note), and
        the digests of the notes its parties were told as they are to be kept (``told``: as
        kept before it, a side's None where it was told nothing). A party is told of an update
        only when what it is told changes, and of a resolution only if it was told of the
        conflict. Nothing is written here."""
        kept = list(told)
        events: list[tuple[str, str, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, party in enumerate((row.a_owner, row.b_owner)):
            if party in seen:
                continue
            seen.add(party)
            before = told[i]
            note = self.hooks.conflict_note(cast("Tx", self), row, party, change)
            now = None if note is None else digest(note)
            if change == "resolved":
                if before is not None and note is not None:
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

    def _set_resolved(self, cid: str, at: datetime) -> None:
        self.x(
            "UPDATE conflicts SET state = 'resolved', updated_at = ? WHERE id = ?", (iso(at), cid)
        )
        self._notify(cid, "resolved", at)

    def _resolve_all(self, key: str, at: datetime) -> None:
        for (cid,) in self.x(
            "SELECT id FROM conflicts WHERE (a_id = ? OR b_id = ?) AND state = 'open'", (key, key)
        ).fetchall():
            self._set_resolved(cid, at)

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
