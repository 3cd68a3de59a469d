"""Parties and records as stored (``parties``, ``records``): reading them, and the hooks a
record's change calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

from ..audit import digest
from ..engine import Record
from ..errors import NotFound
from ..model import (
    Party,
    RecordKind,
)
from .journal import JournalTx
from .rows import (
    StoredRecord,
    iso,
    record_key,
)

if TYPE_CHECKING:
    from .base import Tx


class RecordsTx(JournalTx):
    """Part of ``Tx`` (``store.base``): see the module."""

    # --- parties -------------------------------------------------------------------------
    def put_party(self, party: Party, actor: str, at: datetime) -> Party:
        row = self.x("SELECT name FROM parties WHERE id = ?", (party.id,)).fetchone()
        if row is None:
            self.x(
                "INSERT INTO parties (id, name, created_at) VALUES (?, ?, ?)",
                (party.id, party.name, iso(at)),
            )
        else:
            self.x("UPDATE parties SET name = ? WHERE id = ?", (party.name, party.id))
        self.audit(at, actor, "party.put", party.id, digest(party.model_dump(mode="json")))
        return party

    def _party_exists(self, party_id: str) -> None:
        if not self.has_party(party_id):
            raise NotFound(f"no party {party_id!r}")

    def has_party(self, party_id: str) -> bool:
        """Whether the party is registered (a party is never removed: one seen committed is
        remembered, and not looked up again)."""
        known = self.cache.parties
        if party_id in known:
            return True
        if self.x("SELECT 1 FROM parties WHERE id = ?", (party_id,)).fetchone() is None:
            return False
        # this transaction may have added it: remembered once it commits
        self.after_commit.append(lambda: known.add(party_id))
        return True

    def party_ids(self) -> list[str]:
        """Every registered party's id, in order."""
        return [r[0] for r in self.x("SELECT id FROM parties ORDER BY id").fetchall()]

    def list_parties(self) -> list[Party]:
        """Every registered party, by id."""
        rows = self.x("SELECT id, name FROM parties ORDER BY id").fetchall()
        return [Party(id=r[0], name=r[1]) for r in rows]

    def get_party(self, party_id: str) -> Party:
        row = self.x("SELECT id, name FROM parties WHERE id = ?", (party_id,)).fetchone()
        if row is None:
            raise NotFound(f"no party {party_id!r}")
        return Party(id=row[0], name=row[1])

    # --- records -------------------------------------------------------------------------
    def put_row(
        self,
        key: str,
        kind: RecordKind,
        rec: StoredRecord,
        body: str,
        cells_json: str,
        caps_json: str,
        *,
        new: bool,
    ) -> None:
        """Store a record's version: its canonical body and its volumes' coverings (JSON)."""
        self.loaded.pop(key, None)
        at = iso(rec.updated_at)
        if new:
            self.x(
                "INSERT INTO records (id, kind, owner, version, ovn, body, cells, cap_cells, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, kind.value, rec.owner, rec.version, rec.ovn, body, cells_json, caps_json, at),
            )
        else:
            self.x(
                "UPDATE records SET version = ?, ovn = ?, body = ?, cells = ?, cap_cells = ?, "
                "updated_at = ? WHERE id = ?",
                (rec.version, rec.ovn, body, cells_json, caps_json, at, key),
            )

    def delete_row(self, key: str) -> None:
        self.x("DELETE FROM records WHERE id = ?", (key,))
        self.loaded[key] = None

    def stored_coverings(self, key: str) -> tuple[str, str | None] | None:
        """A stored record's coverings as kept with it (JSON: the cells, the cap cells, None
        for a record written before they were kept), or None if there is no such record."""
        row = self.x("SELECT cells, cap_cells FROM records WHERE id = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), row[1])

    def load(self, key: str) -> tuple[StoredRecord, Record] | None:
        """The record with this key (``record_key(owner, id)``), if there is one: read once per
        transaction (``loaded``), except in a write beside others (``locks`` set: each
        statement then reads what is committed when it runs, and a read made after taking a
        lock must see what the lock's last holder wrote)."""
        if self.locks is None and key in self.loaded:
            return self.loaded[key]
        row = self.x("SELECT kind, body, version FROM records WHERE id = ?", (key,)).fetchone()
        found = None if row is None else self.cache.get(row[0], row[1], key, int(row[2]))
        self.loaded[key] = found
        return found

    def get(self, kind: RecordKind, owner: str, record_id: str) -> StoredRecord:
        found = self.load(record_key(owner, record_id))
        if found is None or RecordKind(found[1].kind) is not kind:
            raise NotFound(f"no {kind.value} {record_id!r}")
        return found[0]

    def load_many(self, keys: Sequence[str]) -> list[tuple[StoredRecord, Record]]:
        """Records by key (those that exist), in the order given."""
        rows = self.rows_in("SELECT id, kind, body, version FROM records WHERE id", keys)
        by_key = {r[0]: self.cache.get(r[1], r[2], r[0], int(r[3])) for r in rows}
        self.loaded.update(by_key)
        return [by_key[i] for i in keys if i in by_key]

    def all_records(self) -> list[StoredRecord]:
        """Every record stored, by owner, kind and id."""
        rows = self.x(
            "SELECT id, kind, body, version FROM records ORDER BY owner, kind, id"
        ).fetchall()
        return [self.cache.get(r[1], r[2], r[0], int(r[3]))[0] for r in rows]

    def owned(
        self,
        owner: str,
        kind: RecordKind | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[tuple[StoredRecord, Record]]:
        """A party's records (of one kind, if given), by id: those whose id comes after
        ``after`` if given, at most ``limit``."""
        sql = "SELECT id, kind, body, version FROM records WHERE owner = ?"
        params: list[object] = [owner]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind.value)
        if after is not None:
            sql += " AND id > ?"
            params.append(after)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self.x(sql, params).fetchall()
        return [self.cache.get(r[1], r[2], r[0], int(r[3])) for r in rows]

    def owned_keys(self, owners: Sequence[str], kind: RecordKind) -> list[str]:
        """The keys of the records of one kind that these parties own (in no order)."""
        if not owners:
            return []
        marks = ", ".join("?" * len(owners))
        rows = self.x(
            f"SELECT id FROM records WHERE kind = ? AND owner IN ({marks})", [kind.value, *owners]
        ).fetchall()
        return [r[0] for r in rows]

    def owns_records(self, owner: str) -> bool:
        """Whether the party owns any record here."""
        row = self.x("SELECT 1 FROM records WHERE owner = ? LIMIT 1", (owner,)).fetchone()
        return row is not None

    def _record_changed(
        self, kind: RecordKind, old: StoredRecord | None, new: StoredRecord | None, at: datetime
    ) -> None:
        if self.from_dss:
            return
        for hook in self.hooks.record_changed:
            hook(cast("Tx", self), kind, old, new, at)
