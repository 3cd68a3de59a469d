"""Plan files: a GeoJSON FeatureCollection where each Feature is one 4D volume.

geometry
    ``Polygon`` (one ring), or ``Point`` with the property ``radius_m`` (a geodesic circle).
properties
    ``intent_id`` (features sharing it form one record), ``party``, ``alt_lower_m``,
    ``alt_upper_m``, ``time_start``, ``time_end`` (RFC 3339); optional ``name``, ``category``,
    ``record`` (``"intent"``, the default, or ``"area"``) and ``area_kind`` for areas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..engine import Record
from ..errors import UnreadableInput, field_errors
from ..model import (
    AreaDraft,
    AreaKind,
    IntentCategory,
    IntentDraft,
    RecordKind,
    Volume4D,
)
from ..model.records import _check_id


class PlanError(UnreadableInput):
    """Bad input in a plan file: names the file, the feature and the reason."""


@dataclass
class PlanRecord:
    kind: RecordKind
    id: str
    party: str
    name: str = ""
    category: IntentCategory = IntentCategory.OTHER
    area_kind: AreaKind = AreaKind.RESTRICTED
    volumes: list[Volume4D] = field(default_factory=list)

    def engine_record(self) -> Record:
        return Record(self.kind, self.id, self.party, self.volumes)

    def draft(self) -> IntentDraft | AreaDraft:
        if self.kind is RecordKind.AREA:
            return AreaDraft(volumes=self.volumes, kind=self.area_kind, name=self.name)
        return IntentDraft(volumes=self.volumes, category=self.category, name=self.name)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _feature_volume(feat: Any) -> tuple[dict[str, Any], Volume4D]:
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise ValueError("not a GeoJSON Feature")
    props = feat.get("properties")
    if not isinstance(props, dict):
        raise ValueError("/properties: missing")
    geom = feat.get("geometry")
    if not isinstance(geom, dict):
        raise ValueError("/geometry: missing")
    gtype = geom.get("type")
    if gtype == "Polygon":
        footprint: dict[str, Any] = {"type": "Polygon", "coordinates": geom.get("coordinates")}
    elif gtype == "Point":
        if "radius_m" not in props:
            raise ValueError("/properties/radius_m: a Point needs radius_m (a circle)")
        footprint = {
            "type": "Circle",
            "center": geom.get("coordinates"),
            "radius_m": props["radius_m"],
        }
    else:
        raise ValueError(f"/geometry/type: {gtype!r} is not supported (Polygon or Point)")
    missing = [
        k
        for k in ("intent_id", "party", "alt_lower_m", "alt_upper_m", "time_start", "time_end")
        if k not in props
    ]
    if missing:
        raise ValueError(f"/properties: missing {', '.join(missing)}")
    for k in ("intent_id", "party"):
        if not isinstance(props[k], str):
            raise ValueError(f"/properties/{k}: must be a string")
        try:
            _check_id(props[k])
        except ValueError as exc:
            raise ValueError(f"/properties/{k}: {exc}") from None
    try:
        vol = Volume4D.model_validate(
            {
                "footprint": footprint,
                "alt_lower_m": props["alt_lower_m"],
                "alt_upper_m": props["alt_upper_m"],
                "time_start": props["time_start"],
                "time_end": props["time_end"],
            }
        )
    except ValidationError as exc:
        e = field_errors(exc.errors())[0]
        pointer = e.pointer
        for ours, theirs in (
            ("/footprint/coordinates", "/geometry/coordinates"),
            ("/footprint/center", "/geometry/coordinates"),
            ("/footprint/radius_m", "/properties/radius_m"),
            ("/footprint", "/geometry"),
        ):
            if pointer.startswith(ours):
                pointer = theirs + pointer[len(ours) :]
                break
        else:
            pointer = "/properties" + pointer if pointer else "/properties"
        raise ValueError(f"{pointer}: {e.reason}") from None
    return props, vol


def load_plans(paths: list[Path]) -> list[PlanRecord]:
    """Read plan files; features sharing ``intent_id`` (in any file) form one record."""
    records: dict[str, PlanRecord] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PlanError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise PlanError(f"{path}: not valid JSON ({exc})") from None
        if (
            not isinstance(doc, dict)
            or doc.get("type") != "FeatureCollection"
            or not isinstance(doc.get("features"), list)
        ):
            raise PlanError(f"{path}: not a GeoJSON FeatureCollection")
        for i, feat in enumerate(doc["features"]):
            fid = (
                feat.get("properties", {}).get("intent_id")
                if isinstance(feat, dict) and isinstance(feat.get("properties"), dict)
                else None
            )
            where = f"{path}: feature {i}" + (f" ({fid})" if isinstance(fid, str) else "")
            try:
                props, vol = _feature_volume(feat)
                rec = _record_for(records, props)
            except ValueError as exc:
                raise PlanError(f"{where}: {exc}") from None
            rec.volumes.append(vol)
    return list(records.values())


def _record_for(records: dict[str, PlanRecord], props: dict[str, Any]) -> PlanRecord:
    rid, party = props["intent_id"], props["party"]
    kind_raw = props.get("record", "intent")
    try:
        kind = RecordKind(kind_raw)
        category = IntentCategory(props.get("category", "other"))
        area_kind = AreaKind(props.get("area_kind", "restricted"))
    except ValueError as exc:
        raise ValueError(f"/properties: {exc}") from None
    name = props.get("name", "")
    if not isinstance(name, str):
        raise ValueError("/properties/name: must be a string")
    rec = records.get(rid)
    if rec is None:
        rec = records[rid] = PlanRecord(kind, rid, party, name, category, area_kind)
    elif rec.party != party or rec.kind is not kind:
        raise ValueError(f"/properties: {rid} is already {rec.kind.value} of party {rec.party}")
    if len(rec.volumes) >= 100:
        raise ValueError(f"/properties/intent_id: {rid} has more than 100 volumes")
    return rec
