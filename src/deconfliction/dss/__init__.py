"""ASTM F3548-21 discovery and synchronization service (strategic coordination, "SCD").

Cell semantics (S2 level 13), OVN and key rules, subscriptions and notification indices, as the
standard and the InterUSS reference implementation define them. ``api/dss.py`` serves it under
``/dss/v1``.
"""

from ..store.base import StoreHooks
from . import native


def install(hooks: StoreHooks) -> None:
    """Plug the DSS into a store's transactions: what a party publishes of its native records
    to DSS clients follows every native write (``dss/native.py``)."""
    if native.on_record_change not in hooks.record_changed:
        hooks.record_changed.append(native.on_record_change)
