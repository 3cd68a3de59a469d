"""The cell indexes of records' volumes (``record_cells``, ``record_caps``): their rows, and
the candidate searches over them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..engine import Record
from ..geo import (
    DISTANCE_RESOLUTION_M,
    cap_gap_lower_bound_m,
    cell_query,
    covering,
    to_sql,
)
from ..model import (
    SeparationPolicy,
    Volume4D,
)
from .record_table import RecordsTx
from .rows import (
    StoredRecord,
    VolumeCover,
    _index_rows,
    cell_filter,
)


class CellIndexTx(RecordsTx):
    """Part of ``Tx`` (``store.base``): see the module."""

    def _add_cells(self, rec: Record, covers: Sequence[VolumeCover]) -> None:
        """Index rows of a record: its volumes' coverings (``record_cells``) and their caps'
        (``record_caps``); the same rows where a volume is covered through its cap."""
        cell_rows: list[tuple[Any, ...]] = []
        cap_rows_: list[tuple[Any, ...]] = []
        kind = rec.kind.value
        for i, cover in enumerate(covers):
            tail = (rec.id, i, kind, rec.owner, *cover.bounds)
            rows = _index_rows(cover.cells, tail)
            cell_rows += rows
            cap_rows_ += rows if cover.caps is cover.cells else _index_rows(cover.caps, tail)
        self.xm(
            "INSERT INTO record_cells (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cell_rows,
        )
        self.xm(
            "INSERT INTO record_caps (cell, record_id, volume, kind, owner, t_start, t_end, "
            "alt_lower, alt_upper, cap_lon, cap_lat, cap_r) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cap_rows_,
        )

    def _drop_cells(self, key: str) -> None:
        row = self.x("SELECT cells, cap_cells FROM records WHERE id = ?", (key,)).fetchone()
        cells: list[list[int]] = json.loads(row[0]) if row else []
        keys = [(to_sql(c), key, i) for i, vcells in enumerate(cells) for c in vcells]
        self.xm("DELETE FROM record_cells WHERE cell = ? AND record_id = ? AND volume = ?", keys)
        if row is None or row[1] is None:  # written before its cap cells were kept
            self.x("DELETE FROM record_caps WHERE record_id = ?", (key,))
            return
        caps: list[list[int]] = json.loads(row[1])
        keys = [(to_sql(c), key, i) for i, vcaps in enumerate(caps) for c in vcaps]
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
        for i, v in enumerate(volumes):
            if covers is not None and policy.lateral_m == 0.0:
                query = covers[i].query
            else:
                query = cell_query(covering(v.footprint, policy.lateral_m))
            cell_sql, params = cell_filter(query)
            sql = (
                "SELECT DISTINCT record_id, volume, cap_lon, cap_lat, cap_r FROM record_cells "
                f"WHERE {cell_sql} "
                f"AND t_start <= ? AND t_end >= ? AND alt_lower <= ? AND alt_upper >= ? "
                f"AND {scope[0]}"
            )
            params += [
                v.t_end_s + policy.time_s,
                v.t_start_s - policy.time_s,
                v.alt_upper_m + policy.vertical_m,
                v.alt_lower_m - policy.vertical_m,
                *scope[1],
            ]
            lon, lat, r = v.footprint.cap
            reach = policy.lateral_m + DISTANCE_RESOLUTION_M
            for rid, _, clon, clat, cr in self.x(sql, params).fetchall():
                if rid not in ids and cap_gap_lower_bound_m(lon, lat, r, clon, clat, cr) <= reach:
                    ids.add(rid)
        ids.discard(exclude_id or "")
        return self.load_many(sorted(ids))

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
        for v in volumes:
            query = cell_query(covering(v.footprint, reach.lateral_m))
            cell_sql, params = cell_filter(query)
            sql = (
                "SELECT DISTINCT record_id, cap_lon, cap_lat, cap_r FROM record_caps "
                f"WHERE {cell_sql} "
                f"AND t_start <= ? AND t_end >= ? AND alt_lower <= ? AND alt_upper >= ? "
                f"AND {scope[0]}"
            )
            params += [
                v.t_end_s + reach.time_s,
                v.t_start_s - reach.time_s,
                v.alt_upper_m + reach.vertical_m,
                v.alt_lower_m - reach.vertical_m,
                *scope[1],
            ]
            lon, lat, r = v.footprint.cap
            limit = reach.lateral_m + DISTANCE_RESOLUTION_M
            for rid, clon, clat, cr in self.x(sql, params).fetchall():
                if rid not in ids and cap_gap_lower_bound_m(lon, lat, r, clon, clat, cr) <= limit:
                    ids.add(rid)
        ids.discard(exclude_id or "")
        return self.load_many(sorted(ids))
