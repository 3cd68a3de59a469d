"""Conflict detection. Pure: no I/O, no HTTP."""

from .strategic import (
    CellIndex,
    Finding,
    PairConflict,
    Record,
    check_pair,
    conflicts_among,
    may_conflict,
)

__all__ = [
    "CellIndex",
    "Finding",
    "PairConflict",
    "Record",
    "check_pair",
    "conflicts_among",
    "may_conflict",
]
