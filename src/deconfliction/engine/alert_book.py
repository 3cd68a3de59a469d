"""The life of a tactical alert: raised once, recomputed every cycle, cleared with hysteresis.

A detection cycle gives, by key, what meets the alert's condition now (``found``) and, for alerts
in force whose condition no longer holds, their geometry recomputed all the same (``current``):
an alert never shows numbers older than the last cycle. An alert is

- **raised** the first cycle its key is found;
- **refreshed** every cycle after that: its numbers are those of this cycle (``updated_at`` says
  when they were computed); nobody is told;
- **updated** (an event) when, since the numbers last sent, a time has moved by more than
  ``TIME_STEP_S``, a distance by more than its step in ``DISTANCE_STEPS_M``, or anything else
  has changed at all (separation lost or regained, inside or not, a time appearing or going);
- **cleared** once its key has not been found for ``clear_after_s`` (a pair that flickers at the
  edge of the minima does not raise and clear every second).

Pure: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..units import FT_M, NM_M

#: An absolute time in an alert moving by more than this is news (seconds).
TIME_STEP_S = 2.0
#: A distance in an alert moving by more than its step is news (metres): the closest distance by
#: 0.1 NM, the vertical distance then by 100 ft, the distance now by 1 NM.
DISTANCE_STEPS_M = {"d_cpa_m": NM_M / 10, "dz_cpa_m": 100 * FT_M, "d_now_m": NM_M}
#: The fields that hold absolute times (ISO 8601, UTC, ``Z``), or null.
TIME_FIELDS = ("t_cpa", "t_los_start", "t_los_end", "t_enter", "t_exit")


def iso_ms(t: datetime) -> str:
    """``t`` as ISO 8601 in UTC to the millisecond, with ``Z``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(v: str) -> float:
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def moved(sent: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether ``now`` differs from ``sent`` by more than the stated steps. Fields ending in
    ``_s`` are seconds relative to when they were computed and say nothing new by themselves."""
    for name in sorted(set(sent) | set(now)):
        if name.endswith("_s"):
            continue
        a, b = sent.get(name), now.get(name)
        if a is None or b is None or (name not in TIME_FIELDS and name not in DISTANCE_STEPS_M):
            if a != b:
                return True
        elif name in TIME_FIELDS:
            if abs(_epoch(b) - _epoch(a)) > TIME_STEP_S:
                return True
        elif abs(float(b) - float(a)) > DISTANCE_STEPS_M[name]:
            return True
    return False


@dataclass(frozen=True)
class Alert:
    kind: str
    key: tuple[str, ...]
    parties: tuple[str, ...]
    raised_at: datetime
    #: when ``geometry`` was computed
    updated_at: datetime
    #: the last cycle the key was found
    seen_at: datetime
    geometry: dict[str, Any]
    #: the geometry as last sent in an event
    sent: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": list(self.key),
            "parties": list(self.parties),
            "raised_at": iso_ms(self.raised_at),
            "updated_at": iso_ms(self.updated_at),
            **self.geometry,
        }


@dataclass(frozen=True)
class Change:
    kind: str  # raised, updated, refreshed (no event), cleared
    alert: Alert

    @property
    def is_event(self) -> bool:
        return self.kind != "refreshed"


Found = dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]]


@dataclass
class AlertBook:
    kind: str = "tactical"
    clear_after_s: float = 5.0
    alerts: dict[tuple[str, ...], Alert] = field(default_factory=dict)

    def cycle(
        self,
        now: datetime,
        found: Found,
        current: dict[tuple[str, ...], dict[str, Any]] | None = None,
    ) -> list[Change]:
        """``found``: key -> (parties, geometry) of what meets the condition now; ``current``:
        key -> geometry of alerts in force that do not (recomputed)."""
        out: list[Change] = []
        for key, (parties, geo) in sorted(found.items()):
            old = self.alerts.get(key)
            if old is None:
                a = Alert(self.kind, key, parties, now, now, now, geo, geo)
                self.alerts[key] = a
                out.append(Change("raised", a))
                continue
            out.append(self._recompute(old, geo, now, seen=True))
        for key in sorted(set(self.alerts) - set(found)):
            a = self.alerts[key]
            if current and key in current:
                change = self._recompute(a, current[key], now, seen=False)
                a = change.alert
            else:
                change = None
            if now - a.seen_at >= timedelta(seconds=self.clear_after_s):
                del self.alerts[key]
                out.append(Change("cleared", replace(a, updated_at=now)))
            elif change is not None:
                out.append(change)
        return out

    def _recompute(self, old: Alert, geo: dict[str, Any], now: datetime, *, seen: bool) -> Change:
        news = moved(old.sent, geo)
        a = replace(
            old,
            updated_at=now,
            seen_at=now if seen else old.seen_at,
            geometry=geo,
            sent=geo if news else old.sent,
        )
        self.alerts[old.key] = a
        return Change("updated" if news else "refreshed", a)
