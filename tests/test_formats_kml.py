"""KML and KMZ, read back by independent readers: fastkml, and GDAL's LIBKML driver."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from deconfliction.cli import main
from deconfliction.demo import scenario_path
from deconfliction.formats.plans import load_plans
from helpers import GEOD, agree
from scene import box, vol

with warnings.catch_warnings():  # fastkml says it would pretty-print with lxml
    warnings.simplefilter("ignore", UserWarning)
    from fastkml import kml as fastkml


def _placemarks(text: str) -> dict[str, list[Any]]:
    doc = fastkml.KML.from_string(text).features[0]
    return {folder.name: list(folder.features) for folder in doc.features}


def _data(pm: Any) -> dict[str, str]:
    return {d.name: d.value for d in pm.extended_data.elements}


def test_plan_files_as_kml_read_back(tmp_path: Path) -> None:
    out = tmp_path / "demo.kml"
    assert main(["kml", "plans", str(scenario_path()), "--out", str(out)]) == 0
    records = load_plans([scenario_path()])
    volumes = {(r.id, i): v for r in records for i, v in enumerate(r.volumes)}
    folders = _placemarks(out.read_text())
    assert set(folders) == {"intents", "areas"}
    pms = [pm for f in folders.values() for pm in f]
    assert len(pms) == len(volumes) == 23
    seen = set()
    for pm in pms:
        d = _data(pm)
        rec = next(r for r in records if r.id == d["record_id"])
        i = next(
            i
            for i, v in enumerate(rec.volumes)
            if v.time_start.isoformat().replace("+00:00", "Z") == d["time_start"]
            and f"{v.alt_upper_m:g}" == d["alt_upper_m"]
        )
        v = volumes[(rec.id, i)]
        seen.add((rec.id, i))
        assert pm.times.begin.dt == v.time_start and pm.times.end.dt == v.time_end
        geom = pm.kml_geometry
        if v.alt_lower_m <= 0:  # from the ground: the top, extruded
            assert geom.extrude is True and geom.altitude_mode.value == "absolute"
            ring = geom.outer_boundary.kml_geometry.geometry.coords
            assert {c[2] for c in ring} == {v.alt_upper_m}
        else:  # a band: top, bottom and walls
            polys = list(geom.kml_geometries)
            n = len(polys[0].outer_boundary.kml_geometry.geometry.coords) - 1
            assert len(polys) == n + 2
            assert {c[2] for c in polys[1].outer_boundary.kml_geometry.geometry.coords} == {
                v.alt_lower_m
            }
        fp = v.footprint
        if fp.type == "Circle":  # drawn as a geodesic polygon on the circle
            top = geom if v.alt_lower_m <= 0 else next(iter(geom.kml_geometries))
            ring = top.outer_boundary.kml_geometry.geometry.coords
            assert len(ring) == 73
            for lon, lat, _ in ring:
                assert GEOD.inv(*fp.center, lon, lat)[2] == pytest.approx(fp.radius_m, abs=0.01)
    assert seen == set(volumes)


def test_kmz_and_gdal(tmp_path: Path) -> None:
    out = tmp_path / "demo.kmz"
    assert main(["kml", "plans", str(scenario_path()), "--out", str(out)]) == 0
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as z:
        assert z.namelist() == ["doc.kml"]
        folders = _placemarks(z.read("doc.kml").decode())
    assert sum(len(f) for f in folders.values()) == 23
    if shutil.which("ogrinfo") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("GDAL's ogrinfo is needed in CI: .ci/run installs gdal-bin")
        pytest.skip("GDAL (ogrinfo) IS NOT INSTALLED: the KMZ was not read by GDAL")
    r = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", str(out)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "Layer name: intents" in r.stdout and "Feature Count: 22" in r.stdout
    assert "Layer name: areas" in r.stdout and "Feature Count: 1" in r.stdout


def test_bad_plan_and_bad_out(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}')
    assert main(["kml", "plans", str(bad), "--out", str(tmp_path / "x.kml")]) == 2
    assert "feature 0" in capsys.readouterr().err
    nowhere = tmp_path / "no" / "such" / "dir" / "x.kml"
    assert main(["kml", "plans", str(scenario_path()), "--out", str(nowhere)]) == 2
    assert "--out: cannot write" in capsys.readouterr().err


def test_the_picture_as_kml_is_the_released_picture(api: Api) -> None:
    agree(api, "RU", "FR", {"releases": {"RU": {"default": "extent"}}, "reciprocity": False})
    for who, rid, fp in (
        ("FR", "FR-1", box(33, 34, 33.5, 34.5)),
        ("RU", "RU-1", box(33.2, 34.2, 33.6, 34.6)),
        ("UK", "UK-1", box(33.1, 34.1, 33.3, 34.3)),
    ):
        r = api.post("/v1/intents", who, json={"id": rid, "volumes": [vol(fp, 5000, 9000, 0, 2)]})
        assert r.status_code == 201, r.text
    r = api.get("/v1/picture/kml", "FR")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.google-earth.kml+xml"
    folders = _placemarks(r.text)
    intents = {_data(pm)["record_id"]: _data(pm) for pm in folders["intents"]}
    assert set(intents) == {"FR-1", "RU-1"}  # nothing of the UK's
    assert intents["RU-1"]["level"] == "extent" and "radius_m" in intents["RU-1"]
    # the conflicts as /v1/conflicts releases them; the UK's only as a notice over FR-1
    released = api.get("/v1/conflicts", "FR").json()["conflicts"]
    label = lambda side: f"{side['id'] or '(withheld)'} ({side['owner']})"  # noqa: E731
    conflicts = {pm.name: pm for pm in folders["conflicts"]}
    assert set(conflicts) == {f"Conflict {label(c['a'])} x {label(c['b'])}" for c in released}
    for c in released:
        pm = conflicts[f"Conflict {label(c['a'])} x {label(c['b'])}"]
        drawn = len(list(pm.kml_geometry.kml_geometries))
        assert drawn == len(c["a"]["volumes"]) + len(c["b"]["volumes"])
        if "UK" in (c["a"]["owner"], c["b"]["owner"]):
            assert drawn == 1
    kmz = api.get("/v1/picture/kml?kmz=true", "FR")
    assert kmz.headers["content-type"] == "application/vnd.google-earth.kmz"
    with zipfile.ZipFile(io.BytesIO(kmz.content)) as z:
        assert b"RU-1" in z.read("doc.kml")
    assert api.get("/v1/picture/kml").status_code == 401
