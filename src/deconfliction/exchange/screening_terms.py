"""What two parties agree for blind screening: the grains, the buffers, the budget.

A grain is one size of 4D token: an S2 cell level, a time slot and an altitude band. The ladder
goes from coarse to fine; each grain nests in the one before (the cell level is the same or
finer, the slot and the band divide the previous ones), so that every token has exactly one
parent token at each coarser grain. What the two parties learn of each other is the
intersection at the finest grain (and the coarser intersections on the way).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ..model import SeparationPolicy
from ..model.footprint import _Strict

#: Longest ladder of grains (rounds per screening).
MAX_GRAINS = 4


class Grain(_Strict):
    """One size of token: (S2 cell at ``s2_level``, time slot of ``slot_s``, band of ``band_m``).

    Slots are counted from the Unix epoch (slot ``k`` is ``[k * slot_s, (k + 1) * slot_s)``),
    bands from 0 m on the WGS84 ellipsoid (band ``k`` is ``[k * band_m, (k + 1) * band_m)``).
    """

    s2_level: int = Field(ge=2, le=16, description="S2 cell level (6: ~140 km, 10: ~9 km)")
    slot_s: int = Field(ge=60, le=86_400, description="length of a time slot, seconds")
    band_m: int = Field(ge=10, le=30_000, description="thickness of an altitude band, metres")


def _default_grains() -> list[Grain]:
    return [
        Grain(s2_level=6, slot_s=7200, band_m=3000),
        Grain(s2_level=9, slot_s=1800, band_m=1000),
    ]


class ScreeningBudget(_Strict):
    """What a party may ask of the other per day (UTC) and per round: it bounds what repeated
    rounds can teach it (docs/screening.md). Kept in the screening terms and tables until the
    agreements carry one probe budget per pair."""

    rounds_per_day: int = Field(
        default=500, ge=1, le=100_000, description="rounds a party may start per UTC day"
    )
    tokens_per_round: int = Field(
        default=50_000,
        ge=1,
        le=1_000_000,
        description="most tokens a side may put in one round at one grain",
    )
    tokens_per_day: int = Field(
        default=2_000_000,
        ge=1,
        le=100_000_000,
        description="most tokens a party may put in rounds per UTC day",
    )


class ScreeningTerms(_Strict):
    """Blind screening between the two parties (off unless ``enabled``)."""

    enabled: bool = False
    grains: list[Grain] = Field(
        default_factory=_default_grains,
        min_length=1,
        max_length=MAX_GRAINS,
        description="coarse to fine; the last is the finest grain either side learns",
    )
    buffers: SeparationPolicy | None = Field(
        default=None,
        description="buffers screening must honour (default: the agreement's separation); the "
        "service's own separation is added within one service",
    )
    initiator_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="part of each buffer the side that opens a session grows by; the other "
        "grows by the rest",
    )
    budget: ScreeningBudget = Field(default_factory=ScreeningBudget)

    @model_validator(mode="after")
    def _nested(self) -> ScreeningTerms:
        for i in range(1, len(self.grains)):
            a, b = self.grains[i - 1], self.grains[i]
            if b.s2_level < a.s2_level:
                raise ValueError(f"grains[{i}]: s2_level is coarser than the grain before")
            if a.slot_s % b.slot_s:
                raise ValueError(f"grains[{i}]: slot_s must divide {a.slot_s}")
            if a.band_m % b.band_m:
                raise ValueError(f"grains[{i}]: band_m must divide {a.band_m}")
        return self
