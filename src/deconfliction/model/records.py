"""Parties, operational intents, areas, conflicts and the separation policy."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from .footprint import _Strict
from .volume import Volume4D

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _check_id(v: str) -> str:
    if not _ID_RE.fullmatch(v):
        raise ValueError(
            "an id is 1 to 64 ASCII letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit"
        )
    return v


RecordId = Annotated[str, AfterValidator(_check_id)]
#: Most volumes in one intent or area, and most polygon vertices in all its volumes (as F3548
#: caps a plan; one polygon has at most ``footprint.MAX_POLYGON_VERTICES``).
MAX_VOLUMES = 100
MAX_VERTICES = 10_000


def _vertex_budget(volumes: list[Volume4D]) -> list[Volume4D]:
    n = sum(len(v.footprint.coordinates[0]) - 1 for v in volumes if v.footprint.type == "Polygon")
    if n > MAX_VERTICES:
        raise ValueError(f"the volumes have {n} polygon vertices in all, over {MAX_VERTICES}")
    return volumes


Volumes = Annotated[
    list[Volume4D],
    Field(min_length=1, max_length=MAX_VOLUMES),
    AfterValidator(_vertex_budget),
]


class IntentState(StrEnum):
    """ASTM F3548-21 states; Ended is a deletion."""

    ACCEPTED = "Accepted"
    ACTIVATED = "Activated"
    NONCONFORMING = "Nonconforming"
    CONTINGENT = "Contingent"


class IntentCategory(StrEnum):
    AIR_SORTIE = "air-sortie"
    NAVAL_OPERATING_AREA = "naval-operating-area"
    EXERCISE = "exercise"
    DRONE_FLIGHT = "drone-flight"
    OTHER = "other"


class AreaKind(StrEnum):
    RESTRICTED = "restricted"
    RESERVED = "reserved"
    EXERCISE = "exercise"
    NAVAL_EXERCISE = "naval-exercise"
    DANGER = "danger"
    PROHIBITED = "prohibited"


class Party(_Strict):
    """A force, staff or operator."""

    id: RecordId
    name: str = Field(min_length=1, max_length=200)


class SeparationPolicy(_Strict):
    """Buffers added between two volumes: they conflict when every gap is within its buffer."""

    lateral_m: float = Field(default=0.0, ge=0.0, le=500_000.0)
    vertical_m: float = Field(default=0.0, ge=0.0, le=30_000.0)
    time_s: float = Field(default=0.0, ge=0.0, le=7 * 86_400.0)


class IntentDraft(_Strict):
    """What a party submits to create or replace an operational intent."""

    volumes: Volumes
    state: IntentState = IntentState.ACCEPTED
    priority: int = Field(default=0, ge=0, le=100)
    category: IntentCategory = IntentCategory.OTHER
    name: str = Field(default="", max_length=200)


class OperationalIntent(IntentDraft):
    id: RecordId
    owner: RecordId
    version: int = Field(ge=1)
    ovn: str
    updated_at: AwareDatetime


class AreaDraft(_Strict):
    volumes: Volumes
    kind: AreaKind = AreaKind.RESTRICTED
    name: str = Field(default="", max_length=200)


class Area(AreaDraft):
    """A restricted or reserved zone that parties other than its owner must avoid."""

    id: RecordId
    owner: RecordId
    version: int = Field(ge=1)
    ovn: str
    updated_at: AwareDatetime


class RecordKind(StrEnum):
    INTENT = "intent"
    AREA = "area"


class RecordExtent(_Strict):
    """What another party is shown of a record: who owns it, its id and its 4D extent (no id
    and no volumes in a conflict notice)."""

    kind: RecordKind
    id: str | None
    owner: str
    volumes: list[Volume4D]


class Gaps(_Strict):
    """The closest approach found between two records (0 where they overlap)."""

    horizontal_m: float
    vertical_m: float
    time_s: float


class Conflict(_Strict):
    """Two records whose volumes come within the separation policy's buffers (``gaps``: how
    close, None in a notice)."""

    id: str
    a: RecordExtent
    b: RecordExtent
    time_start: datetime
    time_end: datetime
    gaps: Gaps | None
    policy: SeparationPolicy
    detected_at: AwareDatetime
