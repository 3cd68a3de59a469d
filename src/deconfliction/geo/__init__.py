"""Geometry on the WGS84 ellipsoid: exact gaps, S2 coverings. No I/O."""

from .cells import CellRange, cells_intersect, cover, query_ranges
from .distance import DISTANCE_RESOLUTION_M, Shape, horizontal_gap_m, point_to_shape_m

__all__ = [
    "DISTANCE_RESOLUTION_M",
    "CellRange",
    "Shape",
    "cells_intersect",
    "cover",
    "horizontal_gap_m",
    "point_to_shape_m",
    "query_ranges",
]
