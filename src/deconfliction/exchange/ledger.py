"""The reciprocity ledger: what each side of an agreement gave and received, and how promptly.

Given and received are counted from the disclosures (a record version released to the other
party, by level) and the hotline (acknowledgements, and how long they took: the median time from
a message to the other side's acknowledgement). Alerts stand while they are true, checked by the
service every few seconds (``check_alerts``):

- ``imbalance``: one side gave more than ``max_imbalance`` times what it received;
- ``slow-acknowledgement``: a side's median time to acknowledge is over ``max_median_ack_s``;
  a message still waiting past its window counts with its wait so far (silence is slow);
- ``unanswered``: a side has left a message that asks for acknowledgement unanswered past its
  window: raised while the silence lasts, cleared when the last such message is acknowledged.

Each alert raised or cleared is an event for both parties (``ledger.alert``, ``ledger.cleared``,
one shape: ``alert_json``) and an audit entry.
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

from ..audit import digest
from ..store.base import Tx, iso
from . import hotline, release
from .agreements import Agreement, active, all_active, pair
from .probes import probing_alerts


def balance(
    tx: Tx, party: str, other: str, agreement: Agreement | None, at: datetime | None = None
) -> dict[str, Any]:
    """The ledger between ``party`` and ``other``, from ``party``'s side."""
    at = at or datetime.now(UTC)
    gave, received = release.given(tx, party, other), release.given(tx, other, party)
    mine, theirs = hotline.ack_times(tx, other, party), hotline.ack_times(tx, party, other)
    out: dict[str, Any] = {
        "party": other,
        "agreement_version": agreement.version if agreement else None,
        "gave": gave,
        "received": received,
        "acknowledgements": {
            "given": len(mine),
            "received": len(theirs),
            "my_median_s": statistics.median(mine) if mine else None,
            "their_median_s": statistics.median(theirs) if theirs else None,
            "unanswered_by_me": len(hotline.unanswered(tx, other, party, at)),
            "unanswered_by_them": len(hotline.unanswered(tx, party, other, at)),
        },
        "alerts": [],
    }
    if agreement is not None:
        out["alerts"] = [a for a in _alerts(tx, agreement, at) if a["about"] in (party, other)]
    return out


def _alert(kind: str, about: str, parties: tuple[str, str], detail: str) -> dict[str, Any]:
    return {
        "alert": f"{kind}:{about}",
        "kind": kind,
        "about": about,
        "parties": list(parties),
        "detail": detail,
    }


def _alerts(tx: Tx, ag: Agreement, at: datetime) -> list[dict[str, Any]]:
    """Alerts in force for an agreement at ``at``."""
    a, b = ag.parties
    parties = pair(a, b)
    terms = ag.terms.ledger
    out: list[dict[str, Any]] = []
    for giver, taker in ((a, b), (b, a)):
        g = release.given(tx, giver, taker)
        r = release.given(tx, taker, giver)
        given, taken = g["full"] + g["extent"], r["full"] + r["extent"]
        if given >= terms.min_items and given > terms.max_imbalance * max(taken, 1):
            detail = f"{giver} gave {given} releases, {taker} gave {taken}"
            out.append(_alert("imbalance", taker, parties, detail))
        # how promptly ``giver`` acknowledges ``taker``'s messages; silence counts as it lasts
        silent = hotline.unanswered(tx, taker, giver, at)
        waits = [(at - t).total_seconds() for t, _ in silent]
        times = hotline.ack_times(tx, taker, giver) + waits
        if times and statistics.median(times) > terms.max_median_ack_s:
            detail = (
                f"{giver} acknowledges {taker}'s messages in {statistics.median(times):.0f} s "
                f"(median{', counting unanswered ones by their wait so far' if waits else ''}), "
                f"over {terms.max_median_ack_s:.0f} s"
            )
            out.append(_alert("slow-acknowledgement", giver, parties, detail))
        if silent:
            first, window = silent[0]
            detail = (
                f"{giver} has left {len(silent)} of {taker}'s messages unanswered past their "
                f"window; the oldest, posted {iso(first)}, was due "
                f"{iso(first + timedelta(seconds=window))}"
            )
            out.append(_alert("unanswered", giver, parties, detail))
    for alert, key in probing_alerts(tx, ag, at):
        kind, _, about = key.partition(":")
        out.append(_alert(kind, about, parties, str(alert["detail"])))
    return out


def ledger(tx: Tx, party: str, at: datetime | None = None) -> list[dict[str, Any]]:
    """The ledger with every party ``party`` has an agreement with."""
    others = sorted(
        {p for ag in all_active(tx) if party in ag.parties for p in ag.parties} - {party}
    )
    return [balance(tx, party, o, active(tx, party, o), at) for o in others]


def alert_json(alert: dict[str, Any], state: str, since: str, at: datetime) -> dict[str, Any]:
    """The one shape of ``ledger.alert`` and ``ledger.cleared`` events: the alert (``alert``,
    its key; ``kind``; ``about``, the party it is about; ``parties``; ``detail``, as raised),
    ``state`` ("raised" or "cleared"), ``since`` (when it was raised) and ``at``."""
    return {**alert, "state": state, "since": since, "at": iso(at)}


def check_alerts(tx: Tx, at: datetime) -> int:
    """Raise new alerts and clear old ones (events to both sides); returns how many changed."""
    changed = 0
    for ag in all_active(tx):
        pa, pb = pair(*ag.parties)
        now = {a["alert"]: a for a in _alerts(tx, ag, at)}
        rows = tx.x(
            "SELECT kind, detail, since FROM ledger_alerts WHERE party_a = ? AND party_b = ?",
            (pa, pb),
        ).fetchall()
        before = {r[0]: (json.loads(r[1]), r[2]) for r in rows}
        for key in sorted(set(now) - set(before)):
            tx.x(
                "INSERT INTO ledger_alerts (party_a, party_b, kind, detail, since) "
                "VALUES (?, ?, ?, ?, ?)",
                (pa, pb, key, json.dumps(now[key]), iso(at)),
            )
            note = alert_json(now[key], "raised", iso(at), at)
            for p in (pa, pb):
                tx.event(p, "ledger.alert", note, at)
            tx.audit(at, "service", "ledger.alert", f"{pa}|{pb}|{key}", digest(note))
            changed += 1
        for key in sorted(set(before) - set(now)):
            tx.x(
                "DELETE FROM ledger_alerts WHERE party_a = ? AND party_b = ? AND kind = ?",
                (pa, pb, key),
            )
            raised, since = before[key]
            kind, _, about = key.partition(":")
            alert = {**_alert(kind, about, (pa, pb), ""), **raised}
            note = alert_json(alert, "cleared", since, at)
            for p in (pa, pb):
                tx.event(p, "ledger.cleared", note, at)
            tx.audit(at, "service", "ledger.cleared", f"{pa}|{pb}|{key}", digest(note))
            changed += 1
    return changed
