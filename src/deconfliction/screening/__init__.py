"""Blind screening: where two parties' plans may meet, found without either revealing its plans.

Tokens (``tokens``): each side covers its volumes, grown by its share of the agreed buffers,
with 4D cells at a ladder of grains (``terms``). Sessions (``session``): the two sides intersect
their token sets by ECDH private set intersection over ristretto255 (``psi``), coarse grain
first, finer grains only inside the coarse intersection, so that each learns the tokens both
hold and the size of the other's set, and nothing else. Within one service, which holds both
sides, ``service`` keeps the intersection of each screened pair as plans change and opens
notices and hotline threads on it. docs/screening.md states what each side learns and why no
conflict the exact engine would find is ever missed.
"""

from ..exchange.screening_terms import Grain, ScreeningBudget, ScreeningTerms
from .session import PROTOCOL, Role, ScreeningRefused, Session, SessionParams
from .tokens import Cover, Growth, Token, intersect, volume_tokens

__all__ = [
    "PROTOCOL",
    "Cover",
    "Grain",
    "Growth",
    "Role",
    "ScreeningBudget",
    "ScreeningRefused",
    "ScreeningTerms",
    "Session",
    "SessionParams",
    "Token",
    "intersect",
    "volume_tokens",
]
