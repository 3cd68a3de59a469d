"""Agreements between two parties: what each releases to the other, and on which terms.

An agreement is versioned. One side's admin proposes a version; it becomes the active one when
the other side's admin accepts it (the previous active version stays in force until then).
Without an active agreement, a party releases nothing to another but conflict notices (so that
each learns, at least, that a plan of the other meets its own, and when).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from ..audit import digest
from ..errors import FieldError, Forbidden, InvalidInput, NotFound, VersionConflict
from ..model import IntentCategory, RecordId, SeparationPolicy
from ..model.footprint import _Strict
from ..store.base import Tx, iso
from ..units import FT_M, NM_M
from .phrasebook import LANGUAGES
from .screening_terms import ScreeningTerms


class Release(StrEnum):
    """How much of a record one party shows another, from most to least."""

    FULL = "full"  # the record as its owner wrote it
    EXTENT = "extent"  # a coarsened 4D envelope (never smaller than the real volumes)
    CONFLICT = "conflict"  # only conflict notices: who, when, how close; no geometry
    NONE = "none"  # nothing, not even conflict notices


#: Order of disclosure, least first.
RANK = {Release.NONE: 0, Release.CONFLICT: 1, Release.EXTENT: 2, Release.FULL: 3}

#: Categories a release level is given for: intent categories, areas, tracks, and "default".
CATEGORIES = (*(c.value for c in IntentCategory), "area", "track", "default")


class Coarsening(_Strict):
    """How an extent is coarsened before release: outward to these steps."""

    # the least steps are finer than anything shown needs (about 1 m, 1 m, 1 m, 1 s): a step of
    # next to nothing would put coordinates on a grid of more points than a float can count
    position_step_deg: float = Field(default=0.1, ge=1e-5, le=10.0)
    radius_step_m: float = Field(default=1000.0, ge=1.0, le=100_000.0)
    alt_step_m: float = Field(default=300.0, ge=1.0, le=10_000.0)
    time_step_s: float = Field(default=900.0, ge=1.0, le=86_400.0)


class EscalationStep(_Strict):
    level: str = Field(pattern=r"^(unit|operations-centre|working-group|chiefs-of-staff)$")
    after_s: float = Field(ge=10.0, le=7 * 86_400.0)


class LedgerTerms(_Strict):
    """When the give and take is out of balance enough to alert both sides."""

    max_imbalance: float = Field(
        default=3.0, ge=1.0, le=1000.0, description="most records one side may give per one"
    )
    min_items: int = Field(default=5, ge=1, description="no balance alert below this many")
    max_median_ack_s: float = Field(
        default=900.0, gt=0.0, description="slowest median acknowledgement time allowed"
    )


class TacticalMinima(_Strict):
    """Separation minima for the live picture between the two parties' tracks."""

    aircraft_lateral_m: float = Field(default=5 * NM_M, gt=0.0, le=100_000.0)
    aircraft_vertical_m: float = Field(default=1000 * FT_M, gt=0.0, le=10_000.0)
    ship_cpa_m: float = Field(default=2 * NM_M, gt=0.0, le=100_000.0)
    aircraft_ship_lateral_m: float = Field(default=2 * NM_M, gt=0.0, le=100_000.0)
    aircraft_ship_vertical_m: float = Field(default=1000 * FT_M, gt=0.0, le=10_000.0)


class ProbeBudget(_Strict):
    """How many previews and queries one side may run that touch the other's records below
    ``full`` (each is a probe of what the other has not released), per hour."""

    per_hour: int = Field(default=300, ge=0, le=100_000)
    alert_share: float = Field(
        default=0.8, gt=0.0, le=1.0, description="alert both sides past this share of the budget"
    )


class Terms(_Strict):
    """What two parties agree."""

    releases: dict[RecordId, dict[str, Release]] = Field(
        description="per releasing party: category -> level ('default' for the rest)"
    )
    reciprocity: bool = Field(
        default=True,
        description="release details only where the other side has published its own plans "
        "in that space and time (give and take)",
    )
    separation: SeparationPolicy = Field(default_factory=SeparationPolicy)
    languages: dict[RecordId, list[str]] = Field(default_factory=dict)
    escalation: list[EscalationStep] = Field(default_factory=list, max_length=4)
    coarsening: Coarsening = Field(default_factory=Coarsening)
    ledger: LedgerTerms = Field(default_factory=LedgerTerms)
    tactical: TacticalMinima | None = Field(
        default=None, description="minima between the two parties' tracks (default: the service's)"
    )
    probes: ProbeBudget = Field(default_factory=ProbeBudget)
    screening: ScreeningTerms = Field(
        default_factory=ScreeningTerms,
        description="blind screening between the two parties' plans (off by default; meant "
        "for pairs that release each other conflict notices or nothing)",
    )

    @model_validator(mode="after")
    def _check(self) -> Terms:
        for party, table in self.releases.items():
            for cat in table:
                if cat not in CATEGORIES:
                    raise ValueError(
                        f"releases.{party}: unknown category {cat!r} "
                        f"(one of {', '.join(CATEGORIES)})"
                    )
        for party, langs in self.languages.items():
            for lang in langs:
                if lang not in LANGUAGES:
                    raise ValueError(f"languages.{party}: {lang!r} is not one of en, fr, ru")
        return self

    def level(self, owner: str, category: str) -> Release:
        table = self.releases.get(owner, {})
        return table.get(category, table.get("default", Release.CONFLICT))


@dataclass(frozen=True)
class Agreement:
    parties: tuple[str, str]
    version: int
    status: str
    terms: Terms
    proposed_by: str
    proposed_at: str
    accepted_by: str | None
    accepted_at: str | None


#: Called in the transaction that puts an agreement in force, with the agreement now active and
#: the one it replaces (None for the first): features that follow the terms register here (blind
#: screening: ``screening.service.register``).
AcceptHook = Callable[[Tx, "Agreement", "Agreement | None", datetime], None]
ACCEPT_HOOKS: list[AcceptHook] = []


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


_COLS = (
    "party_a, party_b, version, status, terms, proposed_by, proposed_at, accepted_by, accepted_at"
)


def _row(r: Any) -> Agreement:
    terms = Terms.model_validate(json.loads(r[4]))
    return Agreement((r[0], r[1]), int(r[2]), r[3], terms, r[5], r[6], r[7], r[8])


def active(tx: Tx, a: str, b: str) -> Agreement | None:
    """The agreement in force between two parties, if any."""
    pa, pb = pair(a, b)
    r = tx.x(
        f"SELECT {_COLS} FROM agreements WHERE party_a = ? AND party_b = ? AND status = 'active' "
        "ORDER BY version DESC LIMIT 1",
        (pa, pb),
    ).fetchone()
    return None if r is None else _row(r)


def all_active(tx: Tx) -> list[Agreement]:
    rows = tx.x(f"SELECT {_COLS} FROM agreements WHERE status = 'active'").fetchall()
    return [_row(r) for r in rows]


def party_languages(tx: Tx, party: str) -> tuple[list[str], list[str]]:
    """The languages ``party`` reads as its agreements in force say (each agreement's order
    kept, earlier partners first), and those partners."""
    langs: list[str] = []
    partners: list[str] = []
    for ag in sorted(all_active(tx), key=lambda a: a.parties):
        if party not in ag.parties:
            continue
        partners.append(next(p for p in ag.parties if p != party))
        for lang in ag.terms.languages.get(party, []):
            if lang not in langs:
                langs.append(lang)
    return langs, sorted(partners)


def history(tx: Tx, party: str) -> list[Agreement]:
    rows = tx.x(
        f"SELECT {_COLS} FROM agreements WHERE party_a = ? OR party_b = ? "
        "ORDER BY party_a, party_b, version",
        (party, party),
    ).fetchall()
    return [_row(r) for r in rows]


def propose(tx: Tx, by: str, other: str, terms: Terms, actor: str, at: datetime) -> Agreement:
    if other == by:
        raise InvalidInput([FieldError("/other", "an agreement is between two parties")])
    if not tx.has_party(other):
        raise NotFound(f"no party {other!r}")
    strangers = set(terms.releases) | set(terms.languages)
    strangers -= {by, other}
    if strangers:
        name = sorted(strangers)[0]
        raise InvalidInput([FieldError("/releases", f"{name!r} is not a party to this agreement")])
    pa, pb = pair(by, other)
    row = tx.x(
        "SELECT MAX(version) FROM agreements WHERE party_a = ? AND party_b = ?", (pa, pb)
    ).fetchone()
    version = int(row[0] or 0) + 1
    body = terms.model_dump_json()
    tx.x(
        f"INSERT INTO agreements ({_COLS}) VALUES (?, ?, ?, 'proposed', ?, ?, ?, NULL, NULL)",
        (pa, pb, version, body, by, iso(at)),
    )
    note = {"parties": [pa, pb], "version": version, "by": by}
    for p in (pa, pb):
        tx.event(p, "agreement.proposed", note, at)
    tx.audit(at, actor, "agreement.proposed", f"{pa}|{pb}|{version}", digest(json.loads(body)))
    found = _get(tx, pa, pb, version)
    assert found is not None
    return found


def _get(tx: Tx, pa: str, pb: str, version: int) -> Agreement | None:
    r = tx.x(
        f"SELECT {_COLS} FROM agreements WHERE party_a = ? AND party_b = ? AND version = ?",
        (pa, pb, version),
    ).fetchone()
    return None if r is None else _row(r)


def accept(tx: Tx, by: str, other: str, version: int, actor: str, at: datetime) -> Agreement:
    pa, pb = pair(by, other)
    found = _get(tx, pa, pb, version)
    if found is None:
        raise NotFound(f"no agreement version {version} between {pa} and {pb}")
    if found.proposed_by == by:
        raise Forbidden("the other side accepts a proposal, not the side that made it")
    if found.status != "proposed":
        raise VersionConflict(f"version {version} is {found.status}, not proposed")
    current = active(tx, pa, pb)
    if current is not None and current.version > version:
        raise VersionConflict(f"version {current.version} is already in force")
    tx.x(
        "UPDATE agreements SET status = 'superseded' WHERE party_a = ? AND party_b = ? "
        "AND status = 'active'",
        (pa, pb),
    )
    tx.x(
        "UPDATE agreements SET status = 'active', accepted_by = ?, accepted_at = ? "
        "WHERE party_a = ? AND party_b = ? AND version = ?",
        (by, iso(at), pa, pb, version),
    )
    note = {"parties": [pa, pb], "version": version, "accepted_by": by}
    for p in (pa, pb):
        tx.event(p, "agreement.active", note, at)
    tx.audit(at, actor, "agreement.accepted", f"{pa}|{pb}|{version}", digest(note))
    done = _get(tx, pa, pb, version)
    assert done is not None
    for hook in ACCEPT_HOOKS:
        hook(tx, done, current, at)
    return done
