"""Build the map's offline basemap from Natural Earth (public domain), at two scales.

    .venv/bin/python scripts/basemap.py            # fetches the packages below, writes the files

Sources, each from a package registry with its ordinary client (npm, pip), pinned:

- npm ``world-atlas@2.0.2``: Natural Earth 1:110m and 1:50m land and admin-0 countries (TopoJSON);
- npm ``world-countries@5.1.0``: country names in English, French and Russian (ISO 3166 numeric
  codes tie them to world-atlas's countries);
- PyPI ``geopandas==0.14.4`` (the wheel only, not installed): Natural Earth populated places
  (its ``naturalearth_cities`` data set: the capitals), read here without geopandas.

Writes ``src/deconfliction/ui/static/basemap/``: ``land-110m.json``, ``land-50m.json`` (land
polygons: the map fills them and draws their outline as the coastline), ``borders-110m.json``,
``borders-50m.json`` (the lines two countries share), ``places.json`` (country labels at a point
inside each country's largest polygon, with ``name_en``, ``name_fr``, ``name_ru`` and a rank; the
capitals). GeoJSON, coordinates rounded to 0.01 degree (about 1 km) after Douglas-Peucker
simplification; Natural Earth cuts every shape at the antimeridian. The graticule is drawn by the
page, not stored. Pass ``--from DIR`` to use unpacked packages already there
(DIR/world-atlas, DIR/world-countries, DIR/geopandas).
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import shapely
import shapely.ops
from shapely.geometry import MultiPolygon, Polygon

OUT = Path(__file__).resolve().parent.parent / "src" / "deconfliction" / "ui" / "static" / "basemap"
NPM = {"world-atlas": "world-atlas@2.0.2", "world-countries": "world-countries@5.1.0"}
PYPI_GEOPANDAS = "geopandas==0.14.4"
#: Douglas-Peucker tolerance per scale, degrees
TOLERANCE_DEG = {"110m": 0.0, "50m": 0.01}


def fetch(into: Path) -> None:
    """Unpack the pinned packages into ``into``."""
    for name, spec in NPM.items():
        subprocess.run(["npm", "pack", "--silent", spec], cwd=into, check=True, capture_output=True)
        tgz = next(into.glob(f"{name}-*.tgz"))
        with tarfile.open(tgz) as tar:
            tar.extractall(into / name, filter="data")
        (into / name / "package").rename(into / f"{name}.tmp")
        (into / name).rmdir()
        (into / f"{name}.tmp").rename(into / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PYPI_GEOPANDAS],
        cwd=into,
        check=True,
    )
    wheel = next(into.glob("geopandas-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        for n in z.namelist():
            if "/naturalearth_cities/" in n:
                z.extract(n, into / "geopandas")


# --- TopoJSON -------------------------------------------------------------------------------
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


def _arc(arcs: list[list[tuple[float, float]]], i: int) -> list[tuple[float, float]]:
    return arcs[i] if i >= 0 else arcs[~i][::-1]


def _ring(arcs: list[list[tuple[float, float]]], refs: list[int]) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    for i in refs:
        seg = _arc(arcs, i)
        pts.extend(seg if not pts else seg[1:])
    return pts


def _polys(geom: dict[str, Any]) -> list[list[list[int]]]:
    if geom["type"] == "Polygon":
        return [geom["arcs"]]
    if geom["type"] == "MultiPolygon":
        return list(geom["arcs"])
    return []


def _rounded(pts: list[tuple[float, float]], tol: float, closed: bool) -> list[list[float]]:
    if tol > 0 and len(pts) > 3:
        pts = list(shapely.LineString(pts).simplify(tol).coords)
    out: list[list[float]] = []
    for lon, lat in pts:
        p = [round(lon, 2), round(lat, 2)]
        if not out or out[-1] != p:
            out.append(p)
    if closed and out and out[0] != out[-1]:
        out.append(out[0])
    return out


def land(folder: Path, scale: str) -> dict[str, Any]:
    topo = json.loads((folder / f"land-{scale}.json").read_text())
    arcs = decode_arcs(topo)
    polys = []
    for geom in topo["objects"]["land"]["geometries"]:
        for poly in _polys(geom):
            rings = [_rounded(_ring(arcs, r), TOLERANCE_DEG[scale], True) for r in poly]
            rings = [r for r in rings if len(r) >= 4]
            if rings:
                polys.append(rings)
    return _collection([{"type": "MultiPolygon", "coordinates": polys}], [{}])


def borders(folder: Path, scale: str) -> dict[str, Any]:
    topo = json.loads((folder / f"countries-{scale}.json").read_text())
    arcs = decode_arcs(topo)
    use: Counter[int] = Counter()
    for geom in topo["objects"]["countries"]["geometries"]:
        use.update({i if i >= 0 else ~i for p in _polys(geom) for r in p for i in r})
    lines = [_rounded(arcs[i], TOLERANCE_DEG[scale], False) for i, n in sorted(use.items()) if n >= 2]
    lines = [ln for ln in lines if len(ln) >= 2]
    return _collection([{"type": "MultiLineString", "coordinates": lines}], [{}])


def countries(folder: Path) -> dict[str, shapely.Geometry]:
    """ISO numeric code -> the country's (multi)polygon, 1:50m."""
    topo = json.loads((folder / "countries-50m.json").read_text())
    arcs = decode_arcs(topo)
    out = {}
    for geom in topo["objects"]["countries"]["geometries"]:
        if "id" not in geom:
            continue
        polys = []
        for poly in _polys(geom):
            rings = [_ring(arcs, r) for r in poly]
            if len(rings[0]) >= 4:
                polys.append(Polygon(rings[0], rings[1:]))
        if polys:
            out[str(geom["id"])] = MultiPolygon(polys)
    return out


def places(atlas: Path, names: Path, cities: Path) -> dict[str, Any]:
    shapes = countries(atlas)
    geoms, props = [], []
    for c in json.loads((names / "countries.json").read_text()):
        geom = shapes.get(c.get("ccn3", ""))
        if geom is None:
            continue
        largest = max(geom.geoms, key=lambda p: p.area)
        at = shapely.ops.polylabel(largest, tolerance=0.05)
        tr = c["translations"]
        geoms.append({"type": "Point", "coordinates": [round(at.x, 2), round(at.y, 2)]})
        props.append(
            {
                "kind": "country",
                "name_en": c["name"]["common"],
                "name_fr": tr.get("fra", {}).get("common", c["name"]["common"]),
                "name_ru": tr.get("rus", {}).get("common", c["name"]["common"]),
                # bigger countries first when labels collide; small ones appear when zoomed in
                "rank": round(math.log10(max(largest.area, 1e-3)), 2),
            }
        )
    for (lon, lat), name in _capitals(cities):
        geoms.append({"type": "Point", "coordinates": [round(lon, 3), round(lat, 3)]})
        props.append({"kind": "capital", "name_en": name, "name_fr": name, "name_ru": name})
    return _collection(geoms, props)


def _capitals(folder: Path) -> list[tuple[tuple[float, float], str]]:
    """Points and names from Natural Earth's shapefile (point shapes, dBASE table)."""
    base = next(folder.rglob("naturalearth_cities.shp")).with_suffix("")
    shp = base.with_suffix(".shp").read_bytes()
    pts = []
    pos = 100
    while pos < len(shp):
        _, length = struct.unpack(">ii", shp[pos : pos + 8])
        kind, x, y = struct.unpack("<idd", shp[pos + 8 : pos + 28])
        if kind == 1:
            pts.append((x, y))
        pos += 8 + 2 * length
    dbf = base.with_suffix(".dbf").read_bytes()
    encoding = base.with_suffix(".cpg").read_text().strip() or "latin-1"
    n, header, size = struct.unpack("<IHH", dbf[4:12])
    fields = []
    off = 32
    while dbf[off] != 0x0D:
        fname = dbf[off : off + 11].split(b"\0")[0].decode()
        flen = dbf[off + 16]
        fields.append((fname, flen))
        off += 32
    names = []
    for i in range(n):
        rec = dbf[header + i * size : header + (i + 1) * size]
        col = 1
        row = {}
        for fname, flen in fields:
            row[fname] = rec[col : col + flen].decode(encoding).strip()
            col += flen
        names.append(row["name"])
    return list(zip(pts, names, strict=True))


def _collection(geoms: list[dict[str, Any]], props: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": g}
            for g, p in zip(geoms, props, strict=True)
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, help="unpacked packages (default: fetch)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.src
        if src is None:
            src = Path(tmp)
            fetch(src)
        atlas = src / "world-atlas"
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "land-110m.json": land(atlas, "110m"),
            "land-50m.json": land(atlas, "50m"),
            "borders-110m.json": borders(atlas, "110m"),
            "borders-50m.json": borders(atlas, "50m"),
            "places.json": places(atlas, src / "world-countries", src / "geopandas"),
        }
        for name, data in files.items():
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            (out / name).write_text(text + "\n", encoding="utf-8")
            print(f"{out / name}: {len(text.encode()) // 1024} KB", file=sys.stderr)


if __name__ == "__main__":
    main()
