"""The demo scenario: France and Russia in the eastern Mediterranean (late 2015).

``scenario.geojson`` is a plan file (see ``deconfliction.formats.plans``) dated 2015-11-25; the
loader moves it to the current UTC day, keeping clock times.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from ..errors import VersionConflict
from ..formats.plans import PlanRecord, load_plans
from ..model import Party, RecordKind, Volume4D
from ..store import Store

SCENARIO_DAY = datetime(2015, 11, 25, tzinfo=UTC)
PARTIES = [Party(id="FR", name="France"), Party(id="RU", name="Russia")]


def scenario_path() -> Path:
    return Path(str(resources.files("deconfliction.demo").joinpath("scenario.geojson")))


def scenario(today: datetime | None = None) -> list[PlanRecord]:
    """The demo records, moved to ``today`` (UTC; default now)."""
    day = (
        (today or datetime.now(UTC))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    shift = day - SCENARIO_DAY
    out = []
    for rec in load_plans([scenario_path()]):
        vols = [_shifted(v, shift) for v in rec.volumes]
        out.append(replace(rec, volumes=vols))
    return out


def _shifted(v: Volume4D, shift: timedelta) -> Volume4D:
    return v.model_copy(update={"time_start": v.time_start + shift, "time_end": v.time_end + shift})


def load_demo(store: Store, today: datetime | None = None) -> int:
    """Write the demo parties and records; records already there are left alone."""
    for p in PARTIES:
        store.put_party(p, actor="demo")
    written = 0
    for rec in scenario(today):
        kind = RecordKind(rec.kind)
        try:
            store.create(kind, rec.id, rec.party, rec.draft(), actor="demo")
            written += 1
        except VersionConflict:
            pass
    return written
