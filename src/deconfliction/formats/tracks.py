"""Track files: recorded states, as CSV with a header or as NDJSON (one JSON object a line).

Fields: ``id, party, class, time, lon, lat, alt_m, gs_mps, track_deg, vs_mps`` (``intent_id``
optional); ``time`` in RFC 3339 with a zone; ``class`` one of fixed-wing, rotary, drone, ship.
A bad line is refused with the file, the line number, the field and the reason.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import field_errors
from ..model import TrackState
from ..model.records import _check_id

FIELDS = ("id", "party", "class", "time", "lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps")
_NUMBERS = ("lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps")


class TrackFileError(Exception):
    """A bad track file: the message names the file, the line and the field."""


@dataclass(frozen=True)
class Reported:
    party: str
    state: TrackState


def _number(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _one(path: Path, line: int, obj: Any) -> Reported:
    where = f"{path}:{line}"
    if not isinstance(obj, dict):
        raise TrackFileError(
            f"{where}: a state must be an object with the fields {', '.join(FIELDS)}"
        )
    missing = [f for f in FIELDS if f not in obj or obj[f] in ("", None)]
    if missing:
        raise TrackFileError(f"{where}: {missing[0]}: missing")
    party = str(obj["party"])
    try:
        _check_id(party)
    except ValueError as exc:
        raise TrackFileError(f"{where}: party: {exc}") from None
    data = {k: (_number(v) if k in _NUMBERS else v) for k, v in obj.items() if k != "party"}
    data = {k: v for k, v in data.items() if v not in ("", None)}
    try:
        state = TrackState.model_validate(data)
    except ValidationError as exc:
        first = field_errors(exc.errors())[0]
        name = first.pointer.lstrip("/") or "state"
        raise TrackFileError(f"{where}: {name}: {first.reason}") from None
    return Reported(party, state)


def load_tracks(path: Path) -> list[Reported]:
    """Every state in the file, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrackFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackFileError(f"{path}: cannot read: {exc}") from None
    first = text.lstrip()[:1]
    out = []
    if first == "{":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrackFileError(f"{path}:{n}: not JSON: {exc.msg}") from None
            out.append(_one(path, n, obj))
    else:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [f for f in FIELDS if f not in header]
        if missing:
            raise TrackFileError(f"{path}:1: the header lacks the field {missing[0]!r}")
        for row in reader:
            out.append(_one(path, reader.line_num, row))
    if not out:
        raise TrackFileError(f"{path}: no states")
    return out
