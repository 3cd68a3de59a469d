"""The data model: pydantic types validated at every boundary. No field for targets or persons."""

from .footprint import CircleFootprint, Footprint, PolygonFootprint
from .records import (
    MAX_COUNT,
    Area,
    AreaDraft,
    AreaKind,
    Conflict,
    Gaps,
    IntentCategory,
    IntentDraft,
    IntentState,
    OperationalIntent,
    Party,
    RecordExtent,
    RecordId,
    RecordKind,
    SeparationPolicy,
)
from .track import Track, TrackClass, TrackState
from .volume import Volume4D

__all__ = [
    "MAX_COUNT",
    "Area",
    "AreaDraft",
    "AreaKind",
    "CircleFootprint",
    "Conflict",
    "Footprint",
    "Gaps",
    "IntentCategory",
    "IntentDraft",
    "IntentState",
    "OperationalIntent",
    "Party",
    "PolygonFootprint",
    "RecordExtent",
    "RecordId",
    "RecordKind",
    "SeparationPolicy",
    "Track",
    "TrackClass",
    "TrackState",
    "Volume4D",
]
