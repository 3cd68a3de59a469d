"""ASTM F3548-21 discovery and synchronization service (strategic coordination, "SCD").

Cell semantics (S2 level 13), OVN and key rules, subscriptions and notification indices, as the
standard and the InterUSS reference implementation define them. ``api/dss.py`` serves it under
``/dss/v1``.
"""

from ..store.base import INTENT_HOOKS
from . import native

if native.on_intent_change not in INTENT_HOOKS:
    INTENT_HOOKS.append(native.on_intent_change)
