"""The one ellipsoid the service measures on (WGS84), shared by model validation and geo."""

from pyproj import Geod

GEOD = Geod(ellps="WGS84")
#: Mean earth radius (IUGG), metres: only for approximations that carry their own error bound.
EARTH_RADIUS_M = 6_371_008.8
