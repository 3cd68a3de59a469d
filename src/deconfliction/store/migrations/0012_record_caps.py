"""The cap index: for each volume of each record, a coarse S2 covering of its cap (the smallest
circle that holds its footprint). What another party is shown of a record below ``full`` is an
extent built on that cap (``exchange.release.coarsen``), so a search against released views
(previews, queries) finds every candidate here, whatever the footprint's shape."""

from __future__ import annotations

import json
from typing import Any

from deconfliction.store.base import cap_rows

_TABLE = """
CREATE TABLE record_caps (
    cell BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    volume INTEGER NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    t_start DOUBLE PRECISION NOT NULL,
    t_end DOUBLE PRECISION NOT NULL,
    alt_lower DOUBLE PRECISION NOT NULL,
    alt_upper DOUBLE PRECISION NOT NULL,
    cap_lon DOUBLE PRECISION NOT NULL,
    cap_lat DOUBLE PRECISION NOT NULL,
    cap_r DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (cell, record_id, volume)
)
"""


def migrate(cur: Any, dialect: str) -> None:
    from deconfliction.model import Area, OperationalIntent, RecordKind

    cur.execute(_TABLE + (" WITHOUT ROWID" if dialect == "sqlite" else ""))
    mark = "?" if dialect == "sqlite" else "%s"
    cur.execute("SELECT id, kind, body FROM records")
    rows = cur.fetchall()
    insert = (
        "INSERT INTO record_caps (cell, record_id, volume, kind, owner, t_start, t_end, "
        f"alt_lower, alt_upper, cap_lon, cap_lat, cap_r) VALUES ({', '.join([mark] * 12)})"
    )
    for key, kind, body in rows:
        model = OperationalIntent if kind == RecordKind.INTENT.value else Area
        rec = model.model_validate(json.loads(body), context={"trusted": True})
        data = cap_rows(key, RecordKind(kind), rec.owner, rec.volumes)
        if data:
            cur.executemany(insert, data)
