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
from ..exchange.agreements import Terms, accept, active, propose
from ..formats.plans import PlanRecord, load_plans
from ..model import Party, RecordKind, Volume4D
from ..store import Store
from ..store.base import Tx

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


#: What France and Russia release to each other in the demo (the working group's agreement).
DEMO_TERMS = Terms.model_validate(
    {
        "releases": {
            "FR": {"air-sortie": "full", "naval-operating-area": "extent", "default": "extent"},
            "RU": {"default": "extent"},
        },
        "reciprocity": False,
        "languages": {"FR": ["fr", "en"], "RU": ["ru"]},
        "escalation": [
            {"level": "operations-centre", "after_s": 300},
            {"level": "working-group", "after_s": 1800},
            {"level": "chiefs-of-staff", "after_s": 7200},
        ],
    }
)


def load_demo(store: Store, today: datetime | None = None, parties: list[str] | None = None) -> int:
    """Write the demo parties, their agreement and records; what is there already stays.
    ``parties``: a federation node's share only (those parties and their records; the
    agreement is then made across nodes, not here)."""
    if parties is not None:
        for p in PARTIES:
            if p.id in parties:
                store.put_party(p, actor="demo")
        written = 0
        for rec in scenario(today):
            if rec.party not in parties:
                continue
            try:
                store.create(RecordKind(rec.kind), rec.id, rec.party, rec.draft(), actor="demo")
                written += 1
            except VersionConflict:
                pass
        return written
    for p in PARTIES:
        store.put_party(p, actor="demo")

    def agreement(tx: Tx) -> None:
        if active(tx, "FR", "RU") is None:
            now = datetime.now(UTC)
            done = propose(tx, "FR", "RU", DEMO_TERMS, "demo", now)
            accept(tx, "RU", "FR", done.version, "demo", now)

    store.write_tx(agreement)
    written = 0
    for rec in scenario(today):
        kind = RecordKind(rec.kind)
        try:
            store.create(kind, rec.id, rec.party, rec.draft(), actor="demo")
            written += 1
        except VersionConflict:
            pass
    return written
