"""Live tracks: the reported state of one aircraft or ship of a party."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, ConfigDict, Field

from .footprint import _Strict
from .records import RecordId
from .volume import UtcTime


class TrackClass(StrEnum):
    FIXED_WING = "fixed-wing"
    ROTARY = "rotary"
    DRONE = "drone"
    SHIP = "ship"


class TrackState(_Strict):
    """One reported state: where it is, where it goes (linear), when; ``party`` is its owner."""

    id: RecordId
    cls: TrackClass = Field(alias="class")
    time: UtcTime
    lon: float = Field(ge=-180.0, le=180.0)
    lat: float = Field(ge=-90.0, le=90.0)
    alt_m: float = Field(default=0.0, ge=-12_000.0, le=100_000.0)
    gs_mps: float = Field(default=0.0, ge=0.0, le=1_500.0, description="ground speed, m/s")
    track_deg: float = Field(default=0.0, ge=0.0, le=360.0, description="track angle, true")
    vs_mps: float = Field(default=0.0, ge=-500.0, le=500.0, description="vertical rate, m/s")
    intent_id: RecordId | None = Field(default=None, description="the intent it flies, if any")
    source: str | None = Field(
        default=None,
        max_length=200,
        description="where the state comes from (sensor, system, feed), as the feed says it",
    )
    accuracy_m: float | None = Field(
        default=None,
        ge=0.0,
        le=100_000.0,
        description="horizontal position accuracy (95 %), metres, where the source gives one",
    )

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )


class Track(_Strict):
    """A track as stored: its last state, its owner and when it was received."""

    party: str
    state: TrackState
    received_at: AwareDatetime
