"""Track files: recorded states, as CSV with a header or as NDJSON (one JSON object a line).

Fields: ``id, party, class, time, lon, lat, alt_m, gs_mps, track_deg, vs_mps`` (``intent_id``
optional); ``time`` in RFC 3339 with a zone; ``class`` one of fixed-wing, rotary, drone, ship.
A bad line is refused with the file, the line number, the field and the reason.

``load_recording`` reads a file into columns (``engine.replay.Recording``) as it streams: a line
whose every value is plainly valid (a known class, ids and times of the usual form, numbers in
their ranges; ids and times parsed once each) goes straight into the columns; any other line is
validated by ``TrackState`` as ``load_tracks`` does, so that what is accepted, and the error for
what is not, are the model's.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, repeat
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from ..engine.replay import Recording
from ..engine.tactical import CLASSES
from ..errors import UnreadableInput, field_errors
from ..model import TrackState
from ..model.records import _check_id

FIELDS = ("id", "party", "class", "time", "lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps")
_NUMBERS = ("lon", "lat", "alt_m", "gs_mps", "track_deg", "vs_mps")


class TrackFileError(UnreadableInput):
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


#: The model's ranges (``TrackState``), for the plain path: a value outside goes to the model.
_RANGES = (
    ("lon", -180.0, 180.0),
    ("lat", -90.0, 90.0),
    ("alt_m", -12_000.0, 100_000.0),
    ("gs_mps", 0.0, 1_500.0),
    ("track_deg", 0.0, 360.0),
    ("vs_mps", -500.0, 500.0),
)
#: A time of the usual RFC 3339 form (other forms go to the model).
_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_NO_TIME = -(2**63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_CLASS = {c: k for k, c in enumerate(CLASSES)}
#: Lines read and checked in one go.
_CHUNK = 5_000


def load_recording(path: Path) -> Recording:
    """Every state in the file, in columns (in file order); the errors of ``load_tracks``."""
    cols = _Columns(path)
    try:
        with path.open(encoding="utf-8", newline="") as f:
            first = ""
            while not first:
                chunk = f.read(65536)
                if not chunk:
                    break
                first = chunk.lstrip()[:1]
            f.seek(0)
            if first == "{":
                cols.ndjson(f)
            else:
                cols.csv(f)
    except FileNotFoundError:
        raise TrackFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackFileError(f"{path}: cannot read: {exc}") from None
    return cols.recording()


class _Columns:
    """The columns being filled, a chunk of lines at a time, and what was parsed once (ids,
    tracks, times). A chunk whose every value is plainly valid is converted column by column;
    a line that is not goes through ``TrackState`` (``_one``), in file order, so that the first
    bad line is the one reported."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tracks: dict[tuple[str, str], int] = {}
        self.ids: dict[str, bool] = {}
        self.times: dict[str, int] = {}
        self.parts: dict[str, list[NDArray[Any]]] = {
            k: [] for k in ("track", "time_us", "cls", *(n for n, _, _ in _RANGES))
        }

    # --- reading ---------------------------------------------------------------------------
    def csv(self, f: IO[str]) -> None:
        reader = csv.reader(f)
        header = next(reader, None) or []
        missing = [k for k in FIELDS if k not in header]
        if missing:
            raise TrackFileError(f"{self.path}:1: the header lacks the field {missing[0]!r}")
        plain = len(set(header)) == len(header) and set(header) <= {*FIELDS, "intent_id"}
        done = 0  # rows read after the header, blank ones included
        while True:
            before = reader.line_num
            rows = list(islice(reader, _CHUNK))
            if not rows:
                return
            lines: Sequence[int] = range(before + 1, before + 1 + len(rows))
            if reader.line_num - before != len(rows):  # a value spans lines: count them again
                lines = _line_numbers(self.path, done, len(rows))
            done += len(rows)
            if [] in rows:  # as csv.DictReader: blank lines are skipped
                keep = [k for k, r in enumerate(rows) if r]
                rows, lines = [rows[k] for k in keep], [lines[k] for k in keep]
            self._csv_chunk(header, plain, rows, lines)

    def ndjson(self, f: IO[str]) -> None:
        objs: list[Any] = []
        lines: list[int] = []
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                objs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                self._one_by_one(objs, lines)  # an earlier bad state is reported first
                raise TrackFileError(f"{self.path}:{n}: not JSON: {exc.msg}") from None
            lines.append(n)
            if len(objs) == _CHUNK:
                self._one_by_one(objs, lines)
                objs, lines = [], []
        self._one_by_one(objs, lines)

    def recording(self) -> Recording:
        if not self.parts["track"]:
            raise TrackFileError(f"{self.path}: no states")
        col = {k: np.concatenate(v) for k, v in self.parts.items()}
        return Recording(
            track_ids=[i for _, i in self.tracks],
            track_parties=[p for p, _ in self.tracks],
            track=col["track"],
            time_us=col["time_us"],
            cls=col["cls"],
            lon=col["lon"],
            lat=col["lat"],
            alt_m=col["alt_m"],
            gs_mps=col["gs_mps"],
            track_deg=col["track_deg"],
            vs_mps=col["vs_mps"],
        )

    # --- a chunk ---------------------------------------------------------------------------
    def _csv_chunk(
        self, header: list[str], plain: bool, rows: list[list[str]], lines: Sequence[int]
    ) -> None:
        m = len(rows)
        width = len(header)
        if not m:
            return
        if not plain or any(len(r) != width for r in rows):
            self._one_by_one([_as_dict(header, r) for r in rows], lines)
            return
        at = {k: n for n, k in enumerate(header)}
        cols = list(zip(*rows, strict=True))
        idents, parties = cols[at["id"]], cols[at["party"]]
        ok = self._valid_ids(idents) & self._valid_ids(parties)
        cls = np.fromiter(map(_CLASS.get, cols[at["class"]], repeat(-1)), np.int64, m)
        us = self._times(cols[at["time"]])
        ok &= (cls >= 0) & (us != _NO_TIME)
        values = {}
        for name, lo, hi in _RANGES:
            try:
                v = np.fromiter(map(float, cols[at[name]]), np.float64, m)
            except ValueError:
                v = np.fromiter(map(_float_or_nan, cols[at[name]]), np.float64, m)
            ok &= (v >= lo) & (v <= hi)
            values[name] = v
        if "intent_id" in at:
            intents = cols[at["intent_id"]]
            ok &= np.fromiter((v == "" or self._valid_id(v) for v in intents), bool, m)
        keys = list(zip(parties, idents, strict=True))
        for r in np.nonzero(~ok)[0].tolist():  # not plainly valid: as the model says
            got = _one(self.path, lines[r], _as_dict(header, rows[r]))
            s = got.state
            keys[r] = (got.party, s.id)
            cls[r] = _CLASS[s.cls.value]
            us[r] = (s.time - _EPOCH) // _US
            for name, _, _ in _RANGES:
                values[name][r] = getattr(s, name)
        self._append(keys, cls, us, values)

    def _one_by_one(self, objs: list[Any], lines: Sequence[int]) -> None:
        """States one at a time: the plainly valid ones directly, the others by the model."""
        keys: list[tuple[str, str]] = []
        cls: list[int] = []
        us: list[int] = []
        values: list[list[float]] = []
        for line, obj in zip(lines, objs, strict=True):
            got = self._plain(obj)
            if got is None:
                r = _one(self.path, line, obj)
                s = r.state
                got = ((r.party, s.id), _CLASS[s.cls.value], (s.time - _EPOCH) // _US,
                       [float(getattr(s, name)) for name, _, _ in _RANGES])  # fmt: skip
            keys.append(got[0])
            cls.append(got[1])
            us.append(got[2])
            values.append(got[3])
        if keys:
            v = np.array(values, dtype=np.float64).reshape(-1, len(_RANGES))
            self._append(keys, np.array(cls, np.int64), np.array(us, np.int64),
                         {name: v[:, k] for k, (name, _, _) in enumerate(_RANGES)})  # fmt: skip

    def _plain(self, obj: Any) -> tuple[tuple[str, str], int, int, list[float]] | None:
        """The state if every value of ``obj`` is plainly valid, else None."""
        if type(obj) is not dict:
            return None
        try:
            ident, party, cls, when = obj["id"], obj["party"], obj["class"], obj["time"]
            numbers = [obj[name] for name, _, _ in _RANGES]
        except KeyError:
            return None
        if not (
            type(ident) is str
            and type(party) is str
            and type(when) is str
            and type(cls) is str
            and cls in _CLASS
            and self._valid_id(ident)
            and self._valid_id(party)
        ):
            return None
        extra = len(obj) - len(FIELDS)
        if extra:
            intent = obj.get("intent_id", 0)
            if extra != 1 or not (
                intent is None or (type(intent) is str and (intent == "" or self._valid_id(intent)))
            ):
                return None
        us = self._time(when)
        if us == _NO_TIME:
            return None
        values = []
        for (_, lo, hi), v in zip(_RANGES, numbers, strict=True):
            if type(v) is str:
                try:
                    v = float(v)
                except ValueError:
                    return None
            elif type(v) is int:
                if not lo <= v <= hi:
                    return None
                v = float(v)
            elif type(v) is not float:
                return None
            if not lo <= v <= hi:
                return None
            values.append(v)
        return (party, ident), _CLASS[cls], us, values

    def _append(self, keys: list[tuple[str, str]], cls: NDArray[np.int64],
                us: NDArray[np.int64], values: dict[str, NDArray[np.float64]]) -> None:  # fmt: skip
        tracks = self.tracks
        for k in dict.fromkeys(keys):  # numbered in order of first appearance
            if k not in tracks:
                tracks[k] = len(tracks)
        self.parts["track"].append(np.fromiter(map(tracks.__getitem__, keys), np.int64, len(keys)))
        self.parts["cls"].append(cls)
        self.parts["time_us"].append(us)
        for name, v in values.items():
            self.parts[name].append(np.ascontiguousarray(v))

    # --- values parsed once ----------------------------------------------------------------
    def _valid_id(self, v: str) -> bool:
        ok = self.ids.get(v)
        if ok is None:
            try:
                _check_id(v)
                ok = True
            except ValueError:
                ok = False
            if len(self.ids) < 1_000_000:
                self.ids[v] = ok
        return ok

    def _valid_ids(self, col: tuple[str, ...]) -> NDArray[np.bool_]:
        if all(map(self._valid_id, set(col))):  # each id checked once, not each state
            return np.ones(len(col), bool)
        return np.fromiter(map(self._valid_id, col), bool, len(col))

    def _times(self, col: tuple[str, ...]) -> NDArray[np.int64]:
        for v in set(col).difference(self.times):
            self._time(v)
        if len(self.times) >= 1_000_000:
            return np.fromiter(map(self._time, col), np.int64, len(col))
        return np.fromiter(map(self.times.__getitem__, col), np.int64, len(col))

    def _time(self, v: str) -> int:
        """Microseconds since the epoch, or ``_NO_TIME`` if not of the usual form."""
        us = self.times.get(v)
        if us is None:
            us = _NO_TIME
            if _TIME_RE.fullmatch(v):
                with contextlib.suppress(ValueError):
                    us = (datetime.fromisoformat(v) - _EPOCH) // _US
            if len(self.times) < 1_000_000:
                self.times[v] = us
        return us


def _line_numbers(path: Path, skip: int, count: int) -> list[int]:
    """The line on which each of ``count`` CSV rows ends, after the header and ``skip`` rows."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        for _ in islice(reader, skip + 1):
            pass
        out = []
        for _ in islice(reader, count):
            out.append(reader.line_num)
        return out


def _as_dict(header: list[str], row: list[str]) -> dict[Any, Any]:
    """A CSV row as ``csv.DictReader`` gives it (surplus values under None, missing ones None)."""
    obj: dict[Any, Any] = dict(zip(header, row, strict=False))
    if len(row) > len(header):
        obj[None] = row[len(header) :]
    elif len(row) < len(header):
        for k in header[len(row) :]:
            obj[k] = None
    return obj


def _float_or_nan(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return math.nan
