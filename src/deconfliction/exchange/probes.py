"""Previews and queries: what a party may learn of others' records by asking "what would meet
this?", and how often.

A preview (the conflicts a draft would be in) and a query (the records that meet a volume) are
answered against what the asker may see: its own records and records released to it in full
exactly; records of others released below ``full`` against their released extent (coarser,
never missing a real conflict), shown as the release rule shows them (an extent, or a notice at
``conflict``); records at ``none`` not at all. So probing finds extents, not edges.

Each preview or query whose answer touches another party's records below ``full`` is a probe:
it counts against a budget per pair and hour set in their agreement (``Terms.probes``; 429 past
it), is recorded where the owner sees it (``probes`` table, ``GET /v1/probes``) with an audit
entry, and the reciprocity ledger alerts both sides when one uses most of its budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..audit import digest
from ..engine import Record, check_pair, may_conflict
from ..errors import TooManyRequests
from ..model import Conflict, RecordExtent, RecordKind, SeparationPolicy, Volume4D
from ..store.base import (
    PREVIEW_ID,
    ConflictRow,
    Draft,
    StoredRecord,
    Tx,
    conflict_id,
    iso,
    record_key,
    scope_for,
    split_key,
)
from .agreements import Agreement, Coarsening, ProbeBudget, Release, all_active
from .release import (
    Shown,
    coarsen,
    coarsening,
    growth_bound_m,
    level_for,
    view_conflict,
    view_record,
)


def _grids(tx: Tx, viewer: str) -> list[Coarsening]:
    return [Coarsening()] + [ag.terms.coarsening for ag in all_active(tx) if viewer in ag.parties]


def _reach(tx: Tx, viewer: str, policy: SeparationPolicy) -> SeparationPolicy:
    """How far to search so that every record whose released extent may meet is found."""
    grids = _grids(tx, viewer)
    return SeparationPolicy.model_construct(
        lateral_m=policy.lateral_m + max(growth_bound_m(c) for c in grids),
        vertical_m=policy.vertical_m + max(c.alt_step_m for c in grids),
        time_s=policy.time_s + max(c.time_step_s for c in grids),
    )


def _against(tx: Tx, stored: StoredRecord, eng: Record, viewer: str) -> tuple[Release, Record]:
    """The level ``viewer`` sees a record at, and what it may be tested against."""
    level, terms, _ = level_for(tx, stored, viewer)
    if level in (Release.FULL, Release.NONE):
        return level, eng
    vols = [coarsen(v, coarsening(terms)) for v in stored.volumes]
    return level, Record(eng.kind, eng.id, eng.owner, vols)


@dataclass(frozen=True)
class Answer:
    """What a preview or a query answers, and whose records below ``full`` it touched."""

    items: list[Any]
    touched: frozenset[str]


def preview(
    tx: Tx,
    viewer: str,
    draft: Draft,
    kind: RecordKind,
    exclude_id: str | None,
    shown: Shown,
    at: datetime,
) -> Answer:
    """The conflicts ``draft`` would be in if ``viewer`` wrote it now, as it may see them."""
    key = record_key(viewer, exclude_id or PREVIEW_ID)
    rec = Record(kind, key, viewer, list(draft.volumes))
    policy = tx.policy
    out: list[Conflict] = []
    touched: set[str] = set()
    found = tx.cap_candidates(
        rec.volumes, _reach(tx, viewer, policy), scope_for(rec), exclude_id=key
    )
    for stored, eng in found:
        if not may_conflict(rec, eng):
            continue
        level, other = _against(tx, stored, eng, viewer)
        if level is Release.NONE:
            continue
        finding = check_pair(rec, other, policy)
        if finding is None:
            continue
        a, b = (rec, eng) if rec.id < eng.id else (eng, rec)
        row = ConflictRow(
            id=conflict_id(tx.secret, a.id, b.id),
            a_key=a.id,
            b_key=b.id,
            a_kind=a.kind,
            b_kind=b.kind,
            a_owner=a.owner,
            b_owner=b.owner,
            state="open",
            time_start=finding.time_start,
            time_end=finding.time_end,
            gaps=finding.gaps,
            policy=policy,
            detected_at=at,
        )
        view = view_conflict(tx, row, viewer, shown, draft=(key, rec))
        if view is None:
            continue
        out.append(_unnamed(view.conflict, key, exclude_id))
        if level is not Release.FULL and stored.owner != viewer:
            touched.add(stored.owner)
    return Answer(out, frozenset(touched))


def _unnamed(c: Conflict, key: str, exclude_id: str | None) -> Conflict:
    """A draft without an id has none in the answer."""
    if exclude_id is not None:
        return c
    owner, _ = split_key(key)

    def fix(side: RecordExtent) -> RecordExtent:
        if side.owner == owner and side.id == PREVIEW_ID:
            return side.model_copy(update={"id": None})
        return side

    return c.model_copy(update={"a": fix(c.a), "b": fix(c.b)})


def query(
    tx: Tx, viewer: str, volume: Volume4D, kinds: Sequence[RecordKind], shown: Shown
) -> Answer:
    """The records of these kinds that meet ``volume``, as ``viewer`` may see them."""
    probe = Record(RecordKind.INTENT, record_key(viewer, PREVIEW_ID), viewer, [volume])
    zero = SeparationPolicy()
    kind_list = ", ".join(f"'{RecordKind(k).value}'" for k in kinds)
    found = tx.cap_candidates([volume], _reach(tx, viewer, zero), (f"kind IN ({kind_list})", ()))
    out: list[Any] = []
    touched: set[str] = set()
    for stored, eng in found:
        level, other = _against(tx, stored, eng, viewer)
        if level not in (Release.FULL, Release.EXTENT):
            continue
        if check_pair(probe, other, zero) is None:
            continue
        view = view_record(tx, stored, viewer, shown)
        if view is None:
            continue
        out.append(view)
        if level is not Release.FULL and stored.owner != viewer:
            touched.add(stored.owner)
    return Answer(out, frozenset(touched))


# --- the budget ------------------------------------------------------------------------------
def _budget(tx: Tx, owner: str, prober: str) -> ProbeBudget:
    for ag in all_active(tx):
        if set(ag.parties) == {owner, prober}:
            return ag.terms.probes
    return ProbeBudget()


def _hour(at: datetime) -> int:
    return int(at.timestamp() // 3600)


def charge(tx: Tx, prober: str, owners: frozenset[str], via: str, at: datetime) -> None:
    """Count one probe against each owner's budget for ``prober`` (in a write transaction);
    TooManyRequests (nothing counted) when one is spent."""
    hour = _hour(at)
    counts = {}
    for owner in sorted(owners):
        row = tx.x(
            "SELECT count FROM probes WHERE owner = ? AND prober = ? AND hour = ?",
            (owner, prober, hour),
        ).fetchone()
        n = int(row[0]) if row else 0
        if n >= _budget(tx, owner, prober).per_hour:
            wait = (hour + 1) * 3600 - at.timestamp()
            raise TooManyRequests(
                f"the budget of previews and queries touching {owner}'s records is spent for "
                f"this hour (see your agreement's probes.per_hour)",
                retry_after_s=max(1.0, wait),
            )
        counts[owner] = n
    for owner, n in counts.items():
        if n == 0:
            tx.x(
                "INSERT INTO probes (owner, prober, hour, count, last_via, last_at) "
                "VALUES (?, ?, ?, 1, ?, ?)",
                (owner, prober, hour, via, iso(at)),
            )
        else:
            tx.x(
                "UPDATE probes SET count = count + 1, last_via = ?, last_at = ? "
                "WHERE owner = ? AND prober = ? AND hour = ?",
                (via, iso(at), owner, prober, hour),
            )
        tx.audit(at, prober, "probe", f"{owner}|{prober}", digest({"via": via, "n": n + 1}))


def probes_of(tx: Tx, owner: str) -> list[dict[str, Any]]:
    """Probes of ``owner``'s records by others, per prober and hour, newest first."""
    rows = tx.x(
        "SELECT prober, hour, count, last_via, last_at FROM probes WHERE owner = ? "
        "ORDER BY hour DESC, prober",
        (owner,),
    ).fetchall()
    return [
        {
            "prober": r[0],
            "hour_start": iso(datetime.fromtimestamp(int(r[1]) * 3600, tz=UTC)),
            "count": int(r[2]),
            "last_via": r[3],
            "last_at": r[4],
        }
        for r in rows
    ]


def probing_alerts(tx: Tx, ag: Agreement, at: datetime) -> list[tuple[dict[str, Any], str]]:
    """Ledger alerts: one side probing past the agreed share of its budget this hour."""
    out: list[tuple[dict[str, Any], str]] = []
    a, b = ag.parties
    budget = ag.terms.probes
    for owner, prober in ((a, b), (b, a)):
        row = tx.x(
            "SELECT count FROM probes WHERE owner = ? AND prober = ? AND hour = ?",
            (owner, prober, _hour(at)),
        ).fetchone()
        n = int(row[0]) if row else 0
        if budget.per_hour and n >= math.ceil(budget.alert_share * budget.per_hour):
            out.append(
                (
                    {
                        "kind": "probing",
                        "about": prober,
                        "detail": f"{prober} ran {n} previews or queries touching {owner}'s "
                        f"records this hour (budget {budget.per_hour})",
                    },
                    f"probing:{prober}",
                )
            )
    return out
