"""A party's records as the service serves them: every read and every answer to a write goes
through the release rule (``release``), in the transaction that reads the data.

- A write (create, replace) and what its answer shows of the conflicts it is in are one
  transaction: the answer is built from what the transaction wrote, so nothing after the commit
  can fail it, and the disclosures it makes are recorded with it.
- A read (get, list, conflicts) runs on a read snapshot; the disclosures it makes that are new
  are recorded through the writer afterwards (``release.read``), so reads do not wait for the
  writer unless they disclose something for the first time.
- Previews and queries answer against released views and count against the probe budget
  (``probes``).
- While a party's link is degraded, activating an intent in conflict with one of its records
  (one the writer may see) needs ``accept_degraded``: that party may not hear of the conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import NeedsAcknowledgement, NotFound
from ..model import Conflict, IntentState, RecordExtent, RecordKind, Volume4D
from ..store import Store
from ..store.base import Draft, StoredRecord, Tx, coverings_of, record_key
from . import links, probes, release
from .release import Shown


@dataclass(frozen=True)
class Written:
    """A record as written, and its conflicts as its owner may see them."""

    record: StoredRecord
    conflicts: list[Conflict]


def _now() -> datetime:
    return datetime.now(UTC)


def _own_conflicts(tx: Tx, party: str, key: str, shown: Shown) -> list[Conflict]:
    rows = [r for r in tx.conflict_rows(party, include_resolved=False) if key in (r.a_key, r.b_key)]
    return release.view_conflicts(tx, rows, party, shown)


def _check_degraded(
    tx: Tx, party: str, kind: RecordKind, draft: Draft, conflicts: list[Conflict], accepted: bool
) -> None:
    if accepted or kind is not RecordKind.INTENT:
        return
    if getattr(draft, "state", None) is not IntentState.ACTIVATED:
        return
    others = sorted({o for c in conflicts for o in (c.a.owner, c.b.owner)} - {party})
    down = [o for o in others if links.status(tx, o)["state"] == "degraded"]
    if down:
        raise NeedsAcknowledgement(
            f"{', '.join(down)}: link degraded; activating an intent in conflict with its "
            "records needs accept_degraded=true"
        )


def write(
    store: Store,
    kind: RecordKind,
    record_id: str | None,
    party: str,
    draft: Draft,
    expected_version: int | None,
    *,
    actor: str,
    accept_degraded: bool = False,
    via: str,
) -> Written:
    """Create (``expected_version`` None) or replace a record of ``party``'s; one transaction."""

    covers = coverings_of(draft.volumes)  # needs nothing stored: before the writer's turn

    def run(tx: Tx) -> Written:
        at = _now()
        res = tx.write(kind, record_id, party, draft, expected_version, actor, at, covers)

        def build(tx: Tx, shown: Shown) -> Written:
            key = record_key(party, res.record.id)
            conflicts = _own_conflicts(tx, party, key, shown)
            # with other nodes' records (federation: found by the write's own hooks)
            conflicts += tx.memo.get("conflicts.elsewhere", {}).get(key, [])
            _check_degraded(tx, party, kind, draft, conflicts, accept_degraded)
            return Written(res.record, conflicts)

        return release.in_write(tx, build, via, at)

    return store.write_tx(run, placed=True)


def delete(
    store: Store, kind: RecordKind, record_id: str, party: str, version: int, *, actor: str
) -> StoredRecord:
    return store.write_tx(
        lambda tx: tx.delete(kind, record_id, party, version, actor, _now()), placed=True
    )


def get(
    store: Store, kind: RecordKind, owner: str, record_id: str, viewer: str
) -> StoredRecord | RecordExtent:
    """A record: the viewer's own in full, another party's as released (else NotFound, the same
    whether it does not exist or is not released: nothing confirms an id)."""

    def run(tx: Tx, shown: Shown) -> StoredRecord | RecordExtent | None:
        found = tx.load(record_key(owner, record_id))
        if found is None or found[1].kind is not kind:
            return None
        return release.view_record(tx, found[0], viewer, shown)

    out = release.read(store, run, f"get_{kind.value}")
    if out is None:
        whose = "" if owner == viewer else f" of {owner}"
        raise NotFound(f"no {kind.value} {record_id!r}{whose}")
    return out


def conflicts(store: Store, viewer: str, *, include_resolved: bool = False) -> list[Conflict]:
    """The viewer's conflicts as it may see them."""
    return release.read(
        store,
        lambda tx, shown: release.list_conflicts(tx, viewer, shown, include_resolved),
        "list_conflicts",
    )


def _probing(
    store: Store, viewer: str, via: str, fn: Callable[[Tx, Shown], probes.Answer]
) -> list[Any]:
    """Run a preview or a query on a read snapshot, then charge the budget and record the
    disclosures in one write (only if it touched others' records)."""
    shown = Shown(via, _now())

    def run(tx: Tx) -> tuple[probes.Answer, list[release.Disclosure]]:
        return fn(tx, shown), release.pending(tx, shown)

    answer, new = store.read_tx(run)
    if answer.touched or new:

        def charge(tx: Tx) -> None:
            probes.charge(tx, viewer, answer.touched, via, shown.at)
            release.record(tx, new, via, shown.at)

        store.write_tx(charge)
    return answer.items


def preview(
    store: Store, kind: RecordKind, viewer: str, draft: Draft, exclude_id: str | None
) -> list[Conflict]:
    """The conflicts a draft of ``viewer``'s would be in, as it may see them; nothing is
    written but the probe count and the disclosures."""
    via = f"preview_{kind.value}"
    return _probing(
        store,
        viewer,
        via,
        lambda tx, shown: probes.preview(tx, viewer, draft, kind, exclude_id, shown, shown.at),
    )


def query(
    store: Store, kinds: Sequence[RecordKind], viewer: str, volume: Volume4D
) -> list[StoredRecord | RecordExtent]:
    """Records that meet ``volume``, as ``viewer`` may see them."""
    via = f"query_{kinds[0].value}s"
    return _probing(
        store, viewer, via, lambda tx, shown: probes.query(tx, viewer, volume, kinds, shown)
    )
