"""The reciprocity ledger: what each side of an agreement gave and received, and how promptly.

Given and received are counted from the disclosures (a record version released to the other
party, by level) and the hotline (acknowledgements, and how long they took: the median time from
a message to the other side's acknowledgement). An alert stands while the balance or the other
side's response time is past what the agreement allows (``Terms.ledger``); each alert raised or
cleared is an event for both parties and an audit entry.
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from typing import Any

from ..audit import digest
from ..store.base import Tx, iso
from .agreements import Agreement, active, all_active, pair
from .probes import probing_alerts


def _gave(tx: Tx, owner: str, to: str) -> dict[str, int]:
    rows = tx.x(
        "SELECT level, COUNT(*) FROM disclosures WHERE owner = ? AND to_party = ? GROUP BY level",
        (owner, to),
    ).fetchall()
    out = {"full": 0, "extent": 0}
    out.update({r[0]: int(r[1]) for r in rows})
    out["updates"] = int(
        tx.x(
            "SELECT COUNT(*) FROM disclosures WHERE owner = ? AND to_party = ? "
            "AND record_version > 1",
            (owner, to),
        ).fetchone()[0]
    )
    return out


def _ack_times(tx: Tx, sender: str, acker: str) -> list[float]:
    """Seconds from ``sender``'s messages to ``acker``'s acknowledgements."""
    rows = tx.x(
        "SELECT m.created_at, a.at FROM acks a JOIN messages m ON m.id = a.message_id "
        "WHERE m.party = ? AND a.party = ?",
        (sender, acker),
    ).fetchall()
    return [
        (datetime.fromisoformat(r[1]) - datetime.fromisoformat(r[0])).total_seconds() for r in rows
    ]


def balance(tx: Tx, party: str, other: str, agreement: Agreement | None) -> dict[str, Any]:
    """The ledger between ``party`` and ``other``, from ``party``'s side."""
    gave, received = _gave(tx, party, other), _gave(tx, other, party)
    mine, theirs = _ack_times(tx, other, party), _ack_times(tx, party, other)
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
        },
        "alerts": [],
    }
    if agreement is not None:
        out["alerts"] = [a for a, _ in _alerts(tx, agreement) if a["about"] in (party, other)]
    return out


def _alerts(tx: Tx, ag: Agreement) -> list[tuple[dict[str, Any], str]]:
    """Alerts in force for an agreement: (alert, kind)."""
    a, b = ag.parties
    terms = ag.terms.ledger
    out: list[tuple[dict[str, Any], str]] = []
    for giver, taker in ((a, b), (b, a)):
        g = _gave(tx, giver, taker)
        r = _gave(tx, taker, giver)
        given, taken = g["full"] + g["extent"], r["full"] + r["extent"]
        if given >= terms.min_items and given > terms.max_imbalance * max(taken, 1):
            out.append(
                (
                    {
                        "kind": "imbalance",
                        "about": taker,
                        "detail": f"{giver} gave {given} releases, {taker} gave {taken}",
                    },
                    f"imbalance:{taker}",
                )
            )
        times = _ack_times(tx, taker, giver)
        if times and statistics.median(times) > terms.max_median_ack_s:
            out.append(
                (
                    {
                        "kind": "slow-acknowledgement",
                        "about": giver,
                        "detail": f"{giver} acknowledges {taker}'s messages in "
                        f"{statistics.median(times):.0f} s (median), over "
                        f"{terms.max_median_ack_s:.0f} s",
                    },
                    f"slow:{giver}",
                )
            )
    return out + probing_alerts(tx, ag, datetime.now(UTC))


def ledger(tx: Tx, party: str) -> list[dict[str, Any]]:
    """The ledger with every party ``party`` has an agreement with."""
    others = sorted(
        {p for ag in all_active(tx) if party in ag.parties for p in ag.parties} - {party}
    )
    return [balance(tx, party, o, active(tx, party, o)) for o in others]


def check_alerts(tx: Tx, at: datetime) -> int:
    """Raise new alerts and clear old ones (events to both sides); returns how many changed."""
    changed = 0
    for ag in all_active(tx):
        pa, pb = pair(*ag.parties)
        now = {kind: alert for alert, kind in _alerts(tx, ag)}
        rows = tx.x(
            "SELECT kind FROM ledger_alerts WHERE party_a = ? AND party_b = ?", (pa, pb)
        ).fetchall()
        before = {r[0] for r in rows}
        for kind in sorted(set(now) - before):
            tx.x(
                "INSERT INTO ledger_alerts (party_a, party_b, kind, detail, since) "
                "VALUES (?, ?, ?, ?, ?)",
                (pa, pb, kind, json.dumps(now[kind]), iso(at)),
            )
            for p in (pa, pb):
                tx.event(p, "ledger.alert", now[kind], at)
            tx.audit(at, "service", "ledger.alert", f"{pa}|{pb}|{kind}", digest(now[kind]))
            changed += 1
        for kind in sorted(before - set(now)):
            tx.x(
                "DELETE FROM ledger_alerts WHERE party_a = ? AND party_b = ? AND kind = ?",
                (pa, pb, kind),
            )
            note = {"kind": kind, "parties": [pa, pb]}
            for p in (pa, pb):
                tx.event(p, "ledger.cleared", note, at)
            tx.audit(at, "service", "ledger.cleared", f"{pa}|{pb}|{kind}", digest(note))
            changed += 1
    return changed
