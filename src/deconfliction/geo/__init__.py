"""Geometry on the WGS84 ellipsoid: exact gaps, S2 coverings. No I/O."""

from .cells import (
    CellQuery,
    cap_covering,
    cell_query,
    cover,
    covering,
    query_cells,
    record_coverings,
    to_sql,
)
from .distance import (
    DISTANCE_RESOLUTION_M,
    Shape,
    cap_gap_lower_bound_m,
    horizontal_gap_m,
)

__all__ = [
    "DISTANCE_RESOLUTION_M",
    "CellQuery",
    "Shape",
    "cap_covering",
    "cap_gap_lower_bound_m",
    "cell_query",
    "cover",
    "covering",
    "horizontal_gap_m",
    "query_cells",
    "record_coverings",
    "to_sql",
]
