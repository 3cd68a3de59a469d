"""Build the map's offline basemap from Natural Earth (npm package world-atlas, TopoJSON).

    python scripts/basemap.py PATH/TO/world-atlas/package  > src/deconfliction/ui/static/basemap.json

(`npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz` gives the package folder.)
Writes {"land": [ring, ...], "borders": [line, ...], "source": ...}: land polygons from
land-50m.json and land borders (arcs two countries share) from countries-50m.json, as
[lon, lat] lists rounded to 0.01 degree. Natural Earth splits every shape at the antimeridian,
so no ring crosses it; the map draws copies of the world on either side.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import shapely

TOLERANCE_DEG = 0.02


def decode_arcs(topo: dict[str, Any]) -> list[list[tuple[float, float]]]:
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def arc_points(arcs: list[list[tuple[float, float]]], i: int) -> list[tuple[float, float]]:
    return arcs[i] if i >= 0 else arcs[~i][::-1]


def ring(arcs: list[list[tuple[float, float]]], refs: list[int]) -> list[list[float]]:
    pts: list[tuple[float, float]] = []
    for i in refs:
        seg = arc_points(arcs, i)
        pts.extend(seg if not pts else seg[1:])
    return _rounded(pts)


def _rounded(pts: list[tuple[float, float]]) -> list[list[float]]:
    """Simplified (Douglas-Peucker, 0.02 degree, about 2 km), then
    rounded to 0.01 degree without repeated points."""
    if len(pts) > 3:
        pts = list(shapely.LineString(pts).simplify(TOLERANCE_DEG).coords)
    out: list[list[float]] = []
    for lon, lat in pts:
        p = [round(lon, 2), round(lat, 2)]
        if not out or out[-1] != p:
            out.append(p)
    return out


def polygons(geom: dict[str, Any]) -> list[list[list[int]]]:
    if geom["type"] == "Polygon":
        return [geom["arcs"]]
    if geom["type"] == "MultiPolygon":
        return list(geom["arcs"])
    return []


def main() -> None:
    folder = Path(sys.argv[1])
    land_topo = json.loads((folder / "land-50m.json").read_text())
    arcs = decode_arcs(land_topo)
    land = []
    for geom in land_topo["objects"]["land"]["geometries"]:
        for poly in polygons(geom):
            for refs in poly:
                r = ring(arcs, refs)
                if len(r) >= 4:
                    land.append(r)
    countries = json.loads((folder / "countries-50m.json").read_text())
    carcs = decode_arcs(countries)
    use: Counter[int] = Counter()
    for geom in countries["objects"]["countries"]["geometries"]:
        seen = {i if i >= 0 else ~i for poly in polygons(geom) for refs in poly for i in refs}
        use.update(seen)
    borders = [_rounded(carcs[i]) for i, n in sorted(use.items()) if n >= 2]
    json.dump(
        {
            "source": "Natural Earth 1:50m land and admin-0 boundaries (public domain), "
            "via the world-atlas 2.0.2 package",
            "land": land,
            "borders": [b for b in borders if len(b) >= 2],
        },
        sys.stdout,
        separators=(",", ":"),
    )


if __name__ == "__main__":
    main()
