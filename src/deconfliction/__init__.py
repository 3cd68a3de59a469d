"""deconfliction: let parties that share a sky or a sea avoid collisions, giving away no more
than they must.

The public API is small: the data model, the engine's entry points, the stores.
"""

__version__ = "0.1.0"

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
