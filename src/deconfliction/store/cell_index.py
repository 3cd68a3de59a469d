"""The cell indexes of records' volumes (``record_cells``, ``record_caps``): their rows, and
the candidate searches over them.

A volume's cells (its covering) are rows of ``record_cells``; its cap's cells (the covering of
the smallest circle holding its footprint, which the cap search matches) are the rows of
``record_cells`` marked ``in_cap`` and those of ``record_caps``, which holds only the cap cells
that are not in the covering. Most volumes (circles, compact polygons) are covered through their
cap: all their rows are marked and they have none in ``record_caps``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..engine import Record
from ..geo import (
    DISTANCE_RESOLUTION_M,
    CellQuery,
    cap_gap_lower_bound_m,
    cell_query,
    covering,
    to_sql,
)
from ..model import (
    SeparationPolicy,
    Volume4D,
)
from ..model.footprint import PolygonFootprint
from .record_table import RecordsTx
from .rows import (
    StoredRecord,
    VolumeCover,
    _index_rows,
    near_filter,
)

#: Caps (lon, lat, radius_m) by (record key, volume), as the index rows hold them.
Caps = dict[tuple[str, int], tuple[float, float, float]]


class CellIndexTx(RecordsTx):
    """Part of ``Tx`` (``store.base``): see the module."""

    def _add_cells(self, rec: Record, covers: Sequence[VolumeCover]) -> None:
        """Index rows of a record: its volumes' coverings (``record_cells``, a row marked
        ``in_cap`` where its cell is also one of the volume's cap cells) and the cap cells
        that are not (``record_caps``): none where a volume is covered through its cap."""
        cell_rows: list[tuple[Any, ...]] = []
        cap_rows_: list[tuple[Any, ...]] = []
        kind = rec.kind.value
        for i, cover in enumerate(covers):
            tail = (rec.id, i, kind, rec.owner, *cover.bounds)
            if cover.caps is cover.cells:
                cell_rows += _index_rows(cover.cells, (*tail, 1))
                continue
            caps, cells = set(cover.caps), set(cover.cells)
            cell_rows += [(to_sql(c), *tail, int(c in caps)) for c in cover.cells]
            cap_rows_ += _index_rows([c for c in cover.caps if c not in cells], tail)
        self.xm(
            "INSERT INTO record_cells (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r, in_cap) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cell_rows,
        )
        self.xm(
            "INSERT INTO record_caps (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cap_rows_,
        )

    def _drop_cells(self, key: str) -> None:
        row = self.stored_coverings(key)
        cells: list[list[int]] = json.loads(row[0]) if row else []
        keys = [(to_sql(c), key, i) for i, vcells in enumerate(cells) for c in vcells]
        self.xm("DELETE FROM record_cells WHERE cell = ? AND record_id = ? AND volume = ?", keys)
        if row is None or row[1] is None:  # written before its cap cells were kept
            self.x("DELETE FROM record_caps WHERE record_id = ?", (key,))
            return
        caps: list[list[int]] = json.loads(row[1])
        keys = [
            (to_sql(c), key, i)
            for i, (vcaps, vcells) in enumerate(zip(caps, cells, strict=True))
            if vcaps != vcells
            for c in set(vcaps).difference(vcells)
        ]
        self.xm("DELETE FROM record_caps WHERE cell = ? AND record_id = ? AND volume = ?", keys)

    # --- candidate search ----------------------------------------------------------------
    def candidates(
        self,
        volumes: Sequence[Volume4D],
        policy: SeparationPolicy,
        scope: tuple[str, Sequence[Any]],
        *,
        exclude_id: str | None = None,
        covers: Sequence[VolumeCover] | None = None,
    ) -> list[tuple[StoredRecord, Record]]:
        """Records with a volume near (cells, time and altitude ranges grown by the buffers).

        ``scope`` is an SQL condition on ``kind`` and ``owner`` with its parameters (see
        ``scope_for``); ``exclude_id``: a record key to leave out; ``covers``: the volumes' own
        (``coverings_of``), whose cell queries serve when the lateral buffer is 0.
        """
        ids: set[str] = set()
        caps: Caps = {}
        for i, v in enumerate(volumes):
            if covers is not None and policy.lateral_m == 0.0:
                query = covers[i].query
            else:
                query = cell_query(covering(v.footprint, policy.lateral_m))
            self._near_ids("record_cells", query, v, policy, scope, ids, caps)
        ids.discard(exclude_id or "")
        return _with_caps(self.load_many(sorted(ids)), caps)

    def cap_candidates(
        self,
        volumes: Sequence[Volume4D],
        reach: SeparationPolicy,
        scope: tuple[str, Sequence[Any]],
        *,
        exclude_id: str | None = None,
    ) -> list[tuple[StoredRecord, Record]]:
        """Records whose cap (the circle holding a volume's footprint) comes within ``reach``
        of a volume: every record whose exact volumes or extents (``reach.lateral_m`` covering
        the extent's growth beyond the cap) may meet them."""
        ids: set[str] = set()
        caps: Caps = {}
        marked = (f"in_cap = 1 AND ({scope[0]})", scope[1])
        for v in volumes:
            query = cell_query(covering(v.footprint, reach.lateral_m))
            self._near_ids("record_cells", query, v, reach, marked, ids, caps)
            self._near_ids("record_caps", query, v, reach, scope, ids, caps)
        ids.discard(exclude_id or "")
        return _with_caps(self.load_many(sorted(ids)), caps)

    def _near_ids(
        self,
        table: str,
        query: CellQuery,
        v: Volume4D,
        buffers: SeparationPolicy,
        scope: tuple[str, Sequence[Any]],
        ids: set[str],
        caps: Caps,
    ) -> None:
        """Add to ``ids`` the records of an index table (``record_cells`` or ``record_caps``)
        with a row near ``v`` (and in ``scope``) whose cap comes within the lateral buffer of
        ``v``'s; and to ``caps`` the caps of the volumes those rows index."""
        near_sql, params = near_filter(query, v, buffers)
        sql = (
            f"SELECT DISTINCT record_id, volume, cap_lon, cap_lat, cap_r FROM {table} "
            f"WHERE {near_sql} AND {scope[0]}"
        )
        lon, lat, r = v.footprint.cap
        reach = buffers.lateral_m + DISTANCE_RESOLUTION_M
        for rid, vol, clon, clat, cr in self.x(sql, [*params, *scope[1]]).fetchall():
            caps[(rid, int(vol))] = (clon, clat, cr)
            if rid not in ids and cap_gap_lower_bound_m(lon, lat, r, clon, clat, cr) <= reach:
                ids.add(rid)


def _with_caps(
    found: list[tuple[StoredRecord, Record]], caps: Caps
) -> list[tuple[StoredRecord, Record]]:
    """The records found, their polygons given the caps their index rows hold (those of the very
    version read: a write replaces a record's rows in its own transaction, and a record found
    here cannot change before this transaction ends, its place being held or the store's
    snapshot read), so that the exact test need not work them out again."""
    for rec, eng in found:
        for i, v in enumerate(rec.volumes):
            cap = caps.get((eng.id, i))
            if cap is not None and isinstance(v.footprint, PolygonFootprint):
                v.footprint.take_cap(cap)
    return found
