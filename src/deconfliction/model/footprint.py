"""Horizontal footprints: GeoJSON polygons (RFC 7946) and geodesic circles.

Edges of a polygon are straight lines in (lon, lat), as RFC 7946 section 3.1.1 says, and each edge
takes the shorter way in longitude: an edge from 179.5 to -179.5 crosses the antimeridian, it does
not go round the world. A ring may therefore cross the antimeridian without being cut; a ring
that winds round a pole is rejected (use a circle centred on the pole). A circle is the set of
points within ``radius_m`` of its centre, measured along the WGS84 ellipsoid.
"""

from __future__ import annotations

import math
import threading
from functools import cached_property
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from shapely import Polygon as ShapelyPolygon
from shapely.validation import explain_validity

from ..geodesy import GEOD

#: The largest footprint we accept: every point within this distance of the footprint's centre.
MAX_FOOTPRINT_RADIUS_M = 2_000_000.0
#: Largest longitude span of one polygon, in degrees (beyond it "the shorter way" is ambiguous).
MAX_LON_SPAN_DEG = 120.0
#: Most vertices of one polygon (the work to check and index it grows with them; ASTM F3548
#: caps a whole plan at 10,000, see ``records.MAX_VERTICES``).
MAX_POLYGON_VERTICES = 2_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: The cap the ring validator has just computed in this thread, with the ring it belongs to,
#: for the model it validates to keep (a write needs it again; computing it is the costly part).
_validated = threading.local()


def _check_position(pos: Any, where: str) -> tuple[float, float]:
    if not isinstance(pos, list | tuple) or len(pos) not in (2, 3):
        raise ValueError(f"{where}: a position is [lon, lat] (optionally with a third value)")
    lon, lat = pos[0], pos[1]
    for name, v in (("lon", lon), ("lat", lat)):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}: {name} must be a number")
        if not math.isfinite(v):
            raise ValueError(f"{where}: {name} must be finite, got {v}")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"{where}: lon {lon} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"{where}: lat {lat} is outside [-90, 90]")
    return float(lon), float(lat)


def unwrap_lons(lons: list[float]) -> list[float]:
    """Shift each longitude by a multiple of 360 so that every step is at most 180 degrees."""
    out = [lons[0]]
    for lon in lons[1:]:
        # exact when nothing wraps: only whole turns are ever added
        out.append(lon + 360.0 * round((out[-1] - lon) / 360.0))
    return out


class PolygonFootprint(_Strict):
    """A GeoJSON Polygon with one ring (the exterior); holes are not supported."""

    type: Literal["Polygon"]
    coordinates: list[list[list[float]]]

    @field_validator("coordinates", mode="before")
    @classmethod
    def _rings(cls, v: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("trusted"):
            return v  # read back from our own store, where it was validated on the way in
        if not isinstance(v, list) or not v:
            raise ValueError("a Polygon needs exactly one linear ring")
        if len(v) > 1:
            raise ValueError("holes are not supported: give only the exterior ring")
        ring = v[0]
        if not isinstance(ring, list):
            raise ValueError("the ring must be a list of positions")
        if len(ring) < 4:
            raise ValueError("a ring needs at least 4 positions (3 distinct vertices, closed)")
        if len(ring) > MAX_POLYGON_VERTICES + 1:
            raise ValueError(
                f"a ring has at most {MAX_POLYGON_VERTICES} vertices (this one has "
                f"{len(ring) - 1}): simplify it, or split it into several volumes"
            )
        pts = [_check_position(p, f"position {i}") for i, p in enumerate(ring)]
        if pts[0] != pts[-1]:
            raise ValueError("the ring is not closed: its last position must equal its first")
        distinct = set(pts[:-1])
        if len(distinct) < 3:
            raise ValueError("the ring needs at least 3 distinct vertices")
        if any(abs(lat) >= 90.0 for _, lat in pts):
            raise ValueError("polygon vertices must have |lat| < 90: use a Circle for a polar area")
        lons = unwrap_lons([p[0] for p in pts])
        if lons[-1] != lons[0]:
            raise ValueError("the ring winds round a pole: use a Circle centred on the pole")
        if max(lons) - min(lons) > MAX_LON_SPAN_DEG:
            raise ValueError(f"the ring spans more than {MAX_LON_SPAN_DEG:g} degrees of longitude")
        shape = ShapelyPolygon(np.column_stack([lons, [p[1] for p in pts]]))
        if not shape.is_valid:
            raise ValueError(f"the ring is not simple ({explain_validity(shape)})")
        if shape.area <= 0.0:
            raise ValueError("the ring has no area")
        cap = _polygon_cap(*dense_ring(lons, [p[1] for p in pts]))
        if cap[2] > MAX_FOOTPRINT_RADIUS_M:
            raise ValueError(
                f"the polygon is too large: it reaches {cap[2] / 1000:.0f} km from its centre "
                f"(at most {MAX_FOOTPRINT_RADIUS_M / 1000:.0f} km)"
            )
        ring_out = [[lon, lat] for lon, lat in pts]
        _validated.cap = (ring_out, cap)
        return [ring_out]

    def model_post_init(self, context: Any, /) -> None:
        # keep the cap the validator computed for this very ring (validation runs in one
        # thread, the ring validator just before this); anything else computes it when asked
        done = getattr(_validated, "cap", None)
        if done is not None:
            _validated.cap = None
            if done[0] == self.coordinates[0]:
                self.__dict__["cap"] = done[1]

    def take_cap(self, cap: tuple[float, float, float]) -> None:
        """Keep ``cap`` as this footprint's ``cap``, unless it is worked out already: the cap
        computed for this very ring before (a store's index keeps it beside each volume), so
        that a footprint read back need not compute it again."""
        self.__dict__.setdefault("cap", cap)

    def lonlat_ring(self) -> tuple[list[float], list[float]]:
        """The ring's vertices (closed), longitudes unwrapped so each edge takes the short way
        (worked out once: not to be changed by the caller)."""
        return self._lonlat

    @cached_property
    def _lonlat(self) -> tuple[list[float], list[float]]:
        ring = self.coordinates[0]
        return unwrap_lons([p[0] for p in ring]), [p[1] for p in ring]

    @cached_property
    def dense(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The closed ring with extra vertices on each edge, at most ``DENSIFY_STEP_DEG`` apart."""
        return dense_ring(*self.lonlat_ring())

    @cached_property
    def cap(self) -> tuple[float, float, float]:
        """(lon, lat, radius_m): a geodesic circle that contains the whole polygon."""
        return _polygon_cap(*self.dense)


#: Largest step between vertices of a densified ring, in degrees of lon or lat. A lon/lat-straight
#: edge and the great circle through the ends of one step differ by at most ~1.2 m.
DENSIFY_STEP_DEG = 0.1
#: What a densified ring may miss of the true (lon/lat-straight) edge, in metres; used as slack.
DENSIFY_SLACK_M = 10.0


def dense_ring(
    lons: list[float], lats: list[float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Insert vertices along each lon/lat-straight edge so no step exceeds DENSIFY_STEP_DEG
    (edge ``i`` gets ``n_i`` steps: its points ``start + (k / n_i) * (end - start)``)."""
    lon = np.asarray(lons, dtype=np.float64)
    lat = np.asarray(lats, dtype=np.float64)
    dlon, dlat = np.diff(lon), np.diff(lat)
    span = np.maximum(np.abs(dlon), np.abs(dlat))
    if float(span.max()) <= DENSIFY_STEP_DEG:  # every edge one step already: the ring as it is
        return lon, lat
    steps = np.maximum(1, np.ceil(span / DENSIFY_STEP_DEG)).astype(np.int64)
    edge = np.repeat(np.arange(len(steps)), steps)
    first = np.cumsum(steps) - steps
    k = np.arange(int(steps.sum()), dtype=np.int64) - first[edge]
    t = k.astype(np.float64) / steps[edge].astype(np.float64)
    out_lon = np.append(lon[edge] + t * dlon[edge], lon[-1])
    out_lat = np.append(lat[edge] + t * dlat[edge], lat[-1])
    return out_lon, out_lat


def _polygon_cap(
    lons: NDArray[np.float64], lats: NDArray[np.float64]
) -> tuple[float, float, float]:
    # centre: the normalized mean of the vertices as unit vectors (robust across the antimeridian)
    lo, la = np.radians(lons[:-1]), np.radians(lats[:-1])
    x, y, z = np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)
    cx, cy, cz = float(x.mean()), float(y.mean()), float(z.mean())
    clon = math.degrees(math.atan2(cy, cx))
    clat = math.degrees(math.atan2(cz, math.hypot(cx, cy)))
    _, _, dist = GEOD.inv(np.full_like(lons, clon), np.full_like(lats, clat), lons, lats)
    return clon, clat, float(np.max(dist)) + DENSIFY_SLACK_M


class CircleFootprint(_Strict):
    """A geodesic circle: every point within ``radius_m`` of ``center`` (lon, lat)."""

    type: Literal["Circle"]
    center: list[float]
    radius_m: float = Field(gt=0.0, le=MAX_FOOTPRINT_RADIUS_M)

    @field_validator("center", mode="before")
    @classmethod
    def _center(cls, v: Any) -> Any:
        lon, lat = _check_position(v, "center")
        return [lon, lat]

    @property
    def cap(self) -> tuple[float, float, float]:
        """(lon, lat, radius_m)."""
        return self.center[0], self.center[1], self.radius_m


Footprint = Annotated[PolygonFootprint | CircleFootprint, Field(discriminator="type")]
