"""deconfliction: let parties that share a sky or a sea avoid collisions, giving away no more
than they must.

The public API is small: the data model, the engine's entry points, the stores. Each name is
imported when first used, so that importing one part (``deconfliction.geo``, say) loads that
part and what it needs, not the stores and their databases' drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .engine import Record, check_pair, conflicts_among
    from .errors import DeconflictionError, FieldError, InvalidInput
    from .model import (
        Area,
        CircleFootprint,
        Conflict,
        OperationalIntent,
        Party,
        PolygonFootprint,
        SeparationPolicy,
        Volume4D,
    )
    from .store import SqliteStore, Store, open_store

#: Each public name but ``__version__``, by the module that defines it.
_FROM = {
    "Record": "engine",
    "check_pair": "engine",
    "conflicts_among": "engine",
    "DeconflictionError": "errors",
    "FieldError": "errors",
    "InvalidInput": "errors",
    "Area": "model",
    "CircleFootprint": "model",
    "Conflict": "model",
    "OperationalIntent": "model",
    "Party": "model",
    "PolygonFootprint": "model",
    "SeparationPolicy": "model",
    "Volume4D": "model",
    "SqliteStore": "store",
    "Store": "store",
    "open_store": "store",
}

__all__ = [
    "Area",
    "CircleFootprint",
    "Conflict",
    "DeconflictionError",
    "FieldError",
    "InvalidInput",
    "OperationalIntent",
    "Party",
    "PolygonFootprint",
    "Record",
    "SeparationPolicy",
    "SqliteStore",
    "Store",
    "Volume4D",
    "__version__",
    "check_pair",
    "conflicts_among",
    "open_store",
]


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use (PEP 562)."""
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM})
