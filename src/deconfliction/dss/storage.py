"""The DSS's own tables: entities (operational intent references, constraint references,
subscriptions) kept as JSON, with the level-13 cells each covers in ``scd_cells``. Every module
of the DSS reads and writes them through here."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, cast, overload

from ..geo.cells import to_sql
from ..store.base import Tx
from .entities import Kind, Reference, RefKind, StoredSubscription

#: An entity as kept: a reference (``oir``, ``constraint``) or a subscription (``sub``).
Entity = Reference | StoredSubscription

_TIMES = ("time_start", "time_end")


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def _dt(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


def dump(ent: Entity) -> str:
    doc = cast("dict[str, Any]", ent)
    return json.dumps({k: (_iso(v) if k in _TIMES else v) for k, v in doc.items()})


def load(body: str) -> Entity:
    ent: dict[str, Any] = json.loads(body)  # as dump wrote it
    for k in _TIMES:
        ent[k] = _dt(ent.get(k))
    return cast("Entity", ent)


@overload
def get(tx: Tx, kind: RefKind, eid: str) -> Reference | None: ...
@overload
def get(tx: Tx, kind: Literal["sub"], eid: str) -> StoredSubscription | None: ...
@overload
def get(tx: Tx, kind: Kind, eid: str) -> Entity | None: ...
def get(tx: Tx, kind: Kind, eid: str) -> Entity | None:
    row = tx.x("SELECT body FROM scd_entities WHERE kind = ? AND id = ?", (kind, eid)).fetchone()
    return None if row is None else load(row[0])


def in_cells(tx: Tx, kind: Kind, cells: Iterable[int]) -> list[Entity]:
    """Entities of a kind with at least one of these cells, by id (one statement per 500
    cells: the ids and their bodies together)."""
    bodies: dict[str, str] = {}
    cl = [to_sql(c) for c in cells]
    for k in range(0, len(cl), 500):
        chunk = cl[k : k + 500]
        marks = ", ".join("?" * len(chunk))
        rows = tx.x(
            "SELECT id, body FROM scd_entities WHERE kind = ? AND id IN "
            f"(SELECT id FROM scd_cells WHERE kind = ? AND cell IN ({marks}))",
            (kind, kind, *chunk),
        ).fetchall()
        bodies.update((r[0], r[1]) for r in rows)
    return [load(bodies[i]) for i in sorted(bodies)]


def save(tx: Tx, kind: Kind, ent: Entity, old: Entity | None) -> None:
    if old is not None:
        drop_cells(tx, kind, ent["id"], old["cells"])
    ref = ent.get("subscription_id") if kind == "oir" else None
    tx.x(
        "INSERT INTO scd_entities (kind, id, manager, ref, body) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, id) DO UPDATE SET manager = excluded.manager, "
        "ref = excluded.ref, body = excluded.body",
        (kind, ent["id"], ent["manager"], ref, dump(ent)),
    )
    tx.xm(
        "INSERT INTO scd_cells (kind, cell, id) VALUES (?, ?, ?)",
        [(kind, to_sql(c), ent["id"]) for c in ent["cells"]],
    )


def delete(tx: Tx, kind: Kind, ent: Entity) -> None:
    drop_cells(tx, kind, ent["id"], ent["cells"])
    tx.x("DELETE FROM scd_entities WHERE kind = ? AND id = ?", (kind, ent["id"]))


def drop_cells(tx: Tx, kind: Kind, eid: str, cells: Iterable[int]) -> None:
    tx.xm(
        "DELETE FROM scd_cells WHERE kind = ? AND cell = ? AND id = ?",
        [(kind, to_sql(c), eid) for c in cells],
    )


def is_managed_oir(tx: Tx, eid: str, manager: str) -> bool:
    """Whether ``manager`` manages the operational intent reference ``eid``."""
    row = tx.x(
        "SELECT 1 FROM scd_entities WHERE kind = 'oir' AND id = ? AND manager = ?",
        (eid, manager),
    ).fetchone()
    return row is not None


def oirs_of_subscription(tx: Tx, sub_id: str) -> list[str]:
    """The operational intent references that depend on a subscription, by id."""
    rows = tx.x(
        "SELECT id FROM scd_entities WHERE kind = 'oir' AND ref = ? ORDER BY id", (sub_id,)
    ).fetchall()
    return [r[0] for r in rows]


# --- the cell index alone (for what the DSS indexes without an entity: ``native``) ----------
def ids_in_cells(tx: Tx, kind: str, cells: list[int]) -> list[str]:
    """Ids of a kind indexed in any of these cells (``to_sql`` values; one statement)."""
    rows = tx.x(
        f"SELECT DISTINCT id FROM scd_cells WHERE kind = ? AND cell IN "
        f"({', '.join('?' * len(cells))})",
        [kind, *cells],
    ).fetchall()
    return [r[0] for r in rows]


def ids_in_ranges(
    tx: Tx, kind: str, ranges: list[tuple[int, int]], cells: list[int] | None = None
) -> list[str]:
    """Ids of a kind indexed in any of these cell ranges (inclusive), or in ``cells``
    (``to_sql`` values; one statement)."""
    terms = ["cell BETWEEN ? AND ?"] * len(ranges)
    params: list[Any] = [x for span in ranges for x in span]
    if cells:
        terms.append(f"cell IN ({', '.join('?' * len(cells))})")
        params += cells
    rows = tx.x(
        f"SELECT DISTINCT id FROM scd_cells WHERE kind = ? AND ({' OR '.join(terms)})",
        [kind, *params],
    ).fetchall()
    return [r[0] for r in rows]


def any_of_kind(tx: Tx, kind: str) -> bool:
    """Whether anything of a kind is indexed at all."""
    return tx.x("SELECT 1 FROM scd_cells WHERE kind = ? LIMIT 1", (kind,)).fetchone() is not None


def index_cells(tx: Tx, kind: str, eid: str, cells: list[int]) -> None:
    """Index ``eid`` of a kind in these cells (``to_sql`` values)."""
    tx.xm(
        "INSERT INTO scd_cells (kind, cell, id) VALUES (?, ?, ?)", [(kind, c, eid) for c in cells]
    )


def unindex(tx: Tx, kind: str, eid: str) -> None:
    """Remove every cell of ``eid`` of a kind from the index."""
    tx.x("DELETE FROM scd_cells WHERE kind = ? AND id = ?", (kind, eid))
