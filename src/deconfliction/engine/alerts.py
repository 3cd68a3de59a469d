"""The life of a tactical alert: raised once, updated while it lasts, cleared with hysteresis.

A detection cycle gives the conflicts found now, by key. An alert is **raised** the first cycle
its key is found; **updated** when its geometry changes notably (closest distance by more than
``update_m``, or separation newly lost), at most every ``update_every_s``; **cleared** only once
its key has been absent for ``clear_after_s`` (a pair that flickers at the edge of the minima
does not raise and clear every second). Pure: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Alert:
    key: tuple[str, ...]
    parties: tuple[str, ...]
    raised_at: datetime
    updated_at: datetime
    seen_at: datetime
    geometry: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "parties": list(self.parties),
            "raised_at": self.raised_at.isoformat().replace("+00:00", "Z"),
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
            **self.geometry,
        }


@dataclass(frozen=True)
class Change:
    kind: str  # raised, updated, cleared
    alert: Alert


@dataclass
class AlertBook:
    clear_after_s: float = 5.0
    update_every_s: float = 5.0
    update_m: float = 185.2  # 0.1 NM
    alerts: dict[tuple[str, ...], Alert] = field(default_factory=dict)

    def cycle(
        self,
        now: datetime,
        found: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]],
    ) -> list[Change]:
        """``found``: key -> (parties, geometry) of what the cycle detected."""
        out: list[Change] = []
        for key, (parties, geo) in sorted(found.items()):
            old = self.alerts.get(key)
            if old is None:
                a = Alert(key, parties, now, now, now, geo)
                self.alerts[key] = a
                out.append(Change("raised", a))
                continue
            notable = abs(
                float(geo.get("d_cpa_m", 0.0)) - float(old.geometry.get("d_cpa_m", 0.0))
            ) > (self.update_m) or (bool(geo.get("lost")) and not old.geometry.get("lost"))
            due = now - old.updated_at >= timedelta(seconds=self.update_every_s)
            if notable and due:
                a = replace(old, updated_at=now, seen_at=now, geometry=geo)
                out.append(Change("updated", a))
            else:
                a = replace(old, seen_at=now)
            self.alerts[key] = a
        for key in sorted(set(self.alerts) - set(found)):
            a = self.alerts[key]
            if now - a.seen_at >= timedelta(seconds=self.clear_after_s):
                del self.alerts[key]
                out.append(Change("cleared", a))
        return out
