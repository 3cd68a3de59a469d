"""Volume4D: a footprint, an altitude band (metres, WGS84) and a time window (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, field_validator, model_validator

from .footprint import Footprint, _Strict

#: Altitudes accepted, metres above the WGS84 ellipsoid (below the deepest sea floor, up to space).
MIN_ALT_M = -12_000.0
MAX_ALT_M = 100_000.0
#: Longest time window of one volume.
MAX_DURATION = timedelta(days=31)


def _no_numbers(v: Any) -> Any:
    if not isinstance(v, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string with a time zone")
    return v


#: A time: an RFC 3339 string with a zone (numbers are refused: 0 is not a date).
UtcTime = Annotated[AwareDatetime, BeforeValidator(_no_numbers)]


class Volume4D(_Strict):
    """One 4D volume. Closed sets: the bounds themselves belong to the volume."""

    footprint: Footprint
    alt_lower_m: float = Field(ge=MIN_ALT_M, le=MAX_ALT_M)
    alt_upper_m: float = Field(ge=MIN_ALT_M, le=MAX_ALT_M)
    time_start: UtcTime
    time_end: UtcTime

    @field_validator("time_start", "time_end")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.astimezone(UTC)

    @model_validator(mode="after")
    def _bands(self) -> Volume4D:
        if self.alt_upper_m < self.alt_lower_m:
            raise ValueError(
                f"alt_upper_m ({self.alt_upper_m:g}) is below alt_lower_m ({self.alt_lower_m:g})"
            )
        if self.time_end < self.time_start:
            raise ValueError("time_end is before time_start")
        if self.time_end - self.time_start > MAX_DURATION:
            raise ValueError(f"the time window is longer than {MAX_DURATION.days} days")
        return self

    @cached_property
    def t_start_s(self) -> float:
        return self.time_start.timestamp()

    @cached_property
    def t_end_s(self) -> float:
        return self.time_end.timestamp()
