"""Dead reckoning: where a vehicle is some time after a reported state, the one way the live
monitor and the replay both extrapolate."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ..geodesy import GEOD

F = TypeVar("F", float, NDArray[np.float64])


def dead_reckon(
    lon: F, lat: F, alt_m: F, track_deg: F, gs_mps: F, vs_mps: F, dt_s: F
) -> tuple[F, F, F]:
    """Position and altitude ``dt_s`` seconds after a state, flying a geodesic at constant
    ground speed, track and vertical speed (scalars, or arrays of one length).

    >>> lon, lat, alt = dead_reckon(0.0, 0.0, 1000.0, 90.0, 100.0, 5.0, 60.0)
    >>> round(lat, 9), round(lon * 111_319.49, 0), alt  # 6 km east on the equator, 300 m up
    (0.0, 6000.0, 1300.0)
    """
    lon2, lat2, _ = GEOD.fwd(lon, lat, track_deg, gs_mps * dt_s)
    if isinstance(lon, np.ndarray):
        return (
            np.asarray(lon2, dtype=np.float64),
            np.asarray(lat2, dtype=np.float64),
            alt_m + vs_mps * dt_s,
        )
    return float(lon2), float(lat2), alt_m + vs_mps * dt_s
