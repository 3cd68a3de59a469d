"""``deconfliction check``: offline conflict check of plan files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..engine import PairConflict, conflicts_among
from ..formats.plans import PlanError, load_plans
from ..model import SeparationPolicy


def _iso(t: Any) -> str:
    return str(t.isoformat().replace("+00:00", "Z"))


def conflict_json(c: PairConflict) -> dict[str, Any]:
    g = c.finding.gaps
    return {
        "intents": [c.a.id, c.b.id],
        "parties": [c.a.owner, c.b.owner],
        "kinds": [c.a.kind.value, c.b.kind.value],
        "time_start": _iso(c.finding.time_start),
        "time_end": _iso(c.finding.time_end),
        "gaps": {
            "horizontal_m": round(g.horizontal_m, 3),
            "vertical_m": g.vertical_m,
            "time_s": g.time_s,
        },
    }


def run_check(files: list[Path], policy: SeparationPolicy, *, as_json: bool) -> int:
    try:
        records = load_plans(files)
    except PlanError as exc:
        print(f"deconfliction check: {exc}", file=sys.stderr)
        return 2
    found = conflicts_among([r.engine_record() for r in records], policy)
    if as_json:
        print(
            json.dumps(
                {
                    "conflicts": [conflict_json(c) for c in found],
                    "records": len(records),
                    "buffers": policy.model_dump(),
                },
                indent=2,
            )
        )
    else:
        print(
            f"{len(found)} conflict(s) among {len(records)} record(s) "
            f"(buffers: lateral {policy.lateral_m:g} m, vertical {policy.vertical_m:g} m, "
            f"time {policy.time_s:g} s)"
        )
        for c in found:
            j = conflict_json(c)
            g = j["gaps"]
            print(
                f"  {c.a.id} ({c.a.owner}) x {c.b.id} ({c.b.owner}): "
                f"{j['time_start']} .. {j['time_end']}; closest: horizontal "
                f"{g['horizontal_m']:g} m, vertical {g['vertical_m']:g} m, time {g['time_s']:g} s"
            )
    return 1 if found else 0
