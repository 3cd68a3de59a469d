"""Cursor on Target (CoT), the event format of TAK (ATAK, WinTAK, iTAK, TAK Server).

In: a CoT event of an atom type (``a-...``) is a track state. XML events and TAK protocol
version 1 messages (protobuf, "mesh" for UDP and "stream" for TCP, decoded with takproto) are
read. ``uid`` is the track id; ``time`` the state's time; ``point`` lat, lon and ``hae`` (height
above the WGS84 ellipsoid, which is our altitude); ``ce`` (circular error, 1 sigma) becomes a
95 % accuracy; ``detail/track`` gives course and speed (m/s); the type's MIL-STD-2525 function
gives the class (``...-A-...-H`` rotary, ``...-A-...-F-Q`` drone, ``...-S`` and ``...-U`` ship,
other air fixed-wing). Other event types (shapes, chat, alerts) are skipped; a malformed event
is skipped with a reason naming the field.

Out: a party's released picture (``exchange.picture.Picture``) as events, nothing else:

==================  ======================  ================================================
picture item        CoT type                what is carried
==================  ======================  ================================================
own track           ``a-f-<2525>``          position, course, speed, accuracy, callsign
others' track       ``a-n-<2525>``          as released (at ``extent``: the rounded position,
                                            its uncertainty as ``ce``, no velocity)
polygon volume      ``u-d-f`` (shape)       closed ring as ``link`` points, times, limits
circle volume       ``u-d-c-c`` (shape)     centre, radius (``shape/ellipse``)
conflict            ``b-a-g`` (alert)       at the caller's released side, window, gaps
tactical alert      ``b-a-g`` (alert)       at the track concerned, times to CPA or entry
==================  ======================  ================================================

Affiliation is seen from the caller: its own tracks friendly, every other party's neutral
(the parties share the sky; nobody here is a hostile). A volume already over is not sent;
``stale`` is the volume's end (a shape), or ``stale_s`` after now (tracks, alerts).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ..model import RecordExtent, TrackClass, TrackState, Volume4D
from ..model.records import _ID_RE

#: CoT's "unknown" for hae, ce and le.
UNKNOWN = 9_999_999.0
SIGMA_95 = 2.4477
_2525 = {
    TrackClass.FIXED_WING: "A-M-F",
    TrackClass.ROTARY: "A-M-H",
    TrackClass.DRONE: "A-M-F-Q",
    TrackClass.SHIP: "S",
}


def import_pytak() -> Any:
    """pytak, without its warning that aiohttp (for TAK server enrolment, unused here) is
    missing."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*aiohttp.*", category=UserWarning)
        import pytak
    return pytak


class CotError(ValueError):
    """A CoT event that cannot be read: names the field."""


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _time(text: str | None, what: str) -> datetime:
    if not text:
        raise CotError(f"event/@{what}: missing")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CotError(f"event/@{what}: not an ISO 8601 time: {text!r}") from None
    if t.tzinfo is None:
        raise CotError(f"event/@{what}: no time zone: {text!r}")
    return t.astimezone(UTC)


def class_of(cot_type: str) -> TrackClass:
    parts = cot_type.split("-")
    dim = parts[2] if len(parts) > 2 else ""
    if dim in ("S", "U"):
        return TrackClass.SHIP
    fn = parts[3:]
    if dim == "A" and "Q" in fn:
        return TrackClass.DRONE
    if dim == "A" and "H" in fn[:2]:
        return TrackClass.ROTARY
    return TrackClass.FIXED_WING


def _num(el: ET.Element, name: str, where: str) -> float:
    raw = el.get(name)
    if raw is None:
        raise CotError(f"{where}/@{name}: missing")
    try:
        v = float(raw)
    except ValueError:
        raise CotError(f"{where}/@{name}: not a number: {raw!r}") from None
    if not math.isfinite(v):
        raise CotError(f"{where}/@{name}: not finite")
    return v


def state_from_fields(
    uid: str,
    cot_type: str,
    how: str,
    when: datetime,
    lat: float,
    lon: float,
    hae: float,
    ce: float,
    course: float | None,
    speed: float | None,
) -> TrackState:
    if not _ID_RE.fullmatch(uid):
        raise CotError(
            f"event/@uid: {uid[:80]!r} is not a track id (1 to 64 ASCII letters, digits, "
            "'.', '_', ':' or '-')"
        )
    data: dict[str, Any] = {
        "id": uid,
        "class": class_of(cot_type),
        "time": when,
        "lon": lon,
        "lat": lat,
        "alt_m": 0.0 if hae >= UNKNOWN else hae,
        "gs_mps": speed if speed is not None and 0 <= speed < UNKNOWN else 0.0,
        "track_deg": course % 360.0 if course is not None and 0 <= course < UNKNOWN else 0.0,
        "source": f"CoT {cot_type} how {how or '?'}",
        "accuracy_m": None if ce >= UNKNOWN or ce < 0 else min(ce * SIGMA_95, 100_000.0),
    }
    try:
        return TrackState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = {"lon": "point/@lon", "lat": "point/@lat", "alt_m": "point/@hae"}.get(
            str(first["loc"][0]), f"event/{first['loc'][0]}"
        )
        raise CotError(f"{name}: {first['msg']}") from None


def state_from_xml(data: bytes | str) -> TrackState | None:
    """A track state from one CoT XML event; None for an event that is not a track."""
    try:
        ev = ET.fromstring(data)
    except ET.ParseError as exc:
        raise CotError(f"not XML: {exc}") from None
    if ev.tag != "event":
        raise CotError(f"<{ev.tag}>: a CoT event is an <event> element")
    cot_type = ev.get("type") or ""
    if not cot_type.startswith("a-"):
        return None
    uid = ev.get("uid") or ""
    point = ev.find("point")
    if point is None:
        raise CotError("event/point: missing")
    course = speed = None
    track = ev.find("detail/track")
    if track is not None:
        course = _num(track, "course", "detail/track") if track.get("course") else None
        speed = _num(track, "speed", "detail/track") if track.get("speed") else None
    return state_from_fields(
        uid,
        cot_type,
        ev.get("how") or "",
        _time(ev.get("time") or ev.get("start"), "time"),
        _num(point, "lat", "point"),
        _num(point, "lon", "point"),
        _num(point, "hae", "point") if point.get("hae") else UNKNOWN,
        _num(point, "ce", "point") if point.get("ce") else UNKNOWN,
        course,
        speed,
    )


def state_from_proto(data: bytes) -> TrackState | None:
    """A track state from one TAK protocol v1 message (mesh or stream header included)."""
    import takproto

    try:
        msg = takproto.parse_proto(bytearray(data))
    except Exception as exc:  # protobuf raises DecodeError and others
        raise CotError(f"not a TAK protocol message: {exc}") from None
    if msg is None or msg == -1:
        raise CotError("not a TAK protocol message")
    ev = msg.cotEvent
    if not ev.type.startswith("a-"):
        return None
    when = datetime.fromtimestamp(ev.sendTime / 1000.0, UTC)
    track = ev.detail.track if ev.detail.HasField("track") else None
    return state_from_fields(
        ev.uid,
        ev.type,
        ev.how,
        when,
        ev.lat,
        ev.lon,
        ev.hae,
        ev.ce,
        track.course if track is not None else None,
        track.speed if track is not None else None,
    )


def state_from_message(data: bytes) -> TrackState | None:
    """XML or TAK protocol, whichever ``data`` is."""
    head = data.lstrip()[:1]
    if head == b"<":
        return state_from_xml(data)
    return state_from_proto(data)


@dataclass
class CotStreamSplitter:
    """Cuts a byte stream (TCP, a file) into messages: XML events (up to ``</event>``) and
    TAK protocol stream messages (0xbf, a varint length, the payload)."""

    buf: bytearray = field(default_factory=bytearray)
    #: the most a message may have before the splitter drops it as garbage
    max_message: int = 1 << 20

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        self.buf += chunk
        while self.buf:
            lead = self.buf.lstrip()
            if len(lead) != len(self.buf):
                del self.buf[: len(self.buf) - len(lead)]
            if not self.buf:
                return
            if self.buf[0] == 0xBF:
                length, n, ok = 0, 1, False
                shift = 0
                while n < len(self.buf) and n < 11:
                    b = self.buf[n]
                    length |= (b & 0x7F) << shift
                    shift += 7
                    n += 1
                    if not b & 0x80:
                        ok = True
                        break
                if not ok or len(self.buf) < n + length:
                    return
                msg = bytes(self.buf[: n + length])
                del self.buf[: n + length]
                yield msg
                continue
            end = self.buf.find(b"</event>")
            if end < 0:
                if len(self.buf) > self.max_message:
                    self.buf.clear()
                return
            start = self.buf.find(b"<event")
            msg = bytes(self.buf[start if 0 <= start < end else 0 : end + 8])
            del self.buf[: end + 8]
            yield msg


# --- out --------------------------------------------------------------------------------
def _sub(parent: ET.Element, tag: str, **attrs: Any) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def _event(
    uid: str,
    cot_type: str,
    now: datetime,
    stale: datetime,
    lat: float,
    lon: float,
    hae: float = UNKNOWN,
    ce: float = UNKNOWN,
    how: str = "m-g",
) -> tuple[ET.Element, ET.Element]:
    ev = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": uid,
            "type": cot_type,
            "how": how,
            "time": _iso(now),
            "start": _iso(now),
            "stale": _iso(stale),
        },
    )
    _sub(
        ev,
        "point",
        lat=f"{lat:.7f}",
        lon=f"{lon:.7f}",
        hae=f"{hae:.1f}",
        ce=f"{ce:.1f}",
        le=f"{UNKNOWN:.1f}",
    )
    return ev, _sub(ev, "detail")


def track_event(t: dict[str, Any], viewer: str, now: datetime, stale_s: float) -> bytes:
    """One released track (``release.release_tracks``'s shape) as a CoT event."""
    cls = TrackClass(t["class"])
    aff = "f" if t["party"] == viewer else "n"
    acc = t.get("uncertainty_m") or t.get("accuracy_m")
    when = datetime.fromisoformat(str(t["time"]).replace("Z", "+00:00"))
    ev, detail = _event(
        f"deconfliction.{t['party']}.{t['id']}",
        f"a-{aff}-{_2525[cls]}",
        when,
        max(when, now) + timedelta(seconds=stale_s),
        float(t["lat"]),
        float(t["lon"]),
        float(t.get("alt_m", UNKNOWN)),
        float(acc) / SIGMA_95 if acc else UNKNOWN,
    )
    _sub(detail, "contact", callsign=f"{t['id']} ({t['party']})")
    if "gs_mps" in t:
        _sub(detail, "track", course=f"{t['track_deg']:.1f}", speed=f"{t['gs_mps']:.2f}")
    rem = _sub(detail, "remarks")
    rem.text = f"party {t['party']}, released at {t['level']}; state of {t['time']}"
    return ET.tostring(ev)


def _color(owner: str, viewer: str) -> str:
    # ARGB as a signed 32-bit integer, as ATAK writes it: own blue, others orange
    argb = 0xFF1E64FF if owner == viewer else 0xFFFF8C00
    return str(argb - (1 << 32))


def volume_events(
    kind: str,
    rec: Any,
    level: str,
    viewer: str,
    now: datetime,
) -> list[bytes]:
    """Each volume of a record (own, full or extent) that is not over yet, as a shape."""
    out = []
    name = getattr(rec, "name", "") or rec.id
    for i, v in enumerate(rec.volumes):
        v = v if isinstance(v, Volume4D) else Volume4D.model_validate(v)
        if v.time_end <= now:
            continue
        fp = v.footprint
        lon, lat, _ = fp.cap
        uid = f"deconfliction.{rec.owner}.{kind}.{rec.id}.{i}"
        if fp.type == "Circle":
            ev, detail = _event(uid, "u-d-c-c", now, v.time_end, lat, lon, how="h-e")
            shape = _sub(detail, "shape")
            r = f"{fp.radius_m:.1f}"
            _sub(shape, "ellipse", major=r, minor=r, angle="360")
        else:
            ev, detail = _event(uid, "u-d-f", now, v.time_end, lat, lon, how="h-e")
            for plon, plat in fp.coordinates[0]:
                _sub(detail, "link", point=f"{plat:.7f},{plon:.7f}")
        _sub(detail, "contact", callsign=f"{name} ({rec.owner})")
        _sub(detail, "strokeColor", value=_color(rec.owner, viewer))
        _sub(detail, "strokeWeight", value="3.0")
        _sub(detail, "labels_on", value="true")
        rem = _sub(detail, "remarks")
        rem.text = (
            f"{kind} {rec.id} of {rec.owner} ({level}); {v.alt_lower_m:.0f} m to "
            f"{v.alt_upper_m:.0f} m WGS84; {_iso(v.time_start)} to {_iso(v.time_end)}"
        )
        out.append(ET.tostring(ev))
    return out


def side_label(side: RecordExtent) -> str:
    """A conflict's side as shown: its id, or "(withheld)" where a notice names none."""
    rid: str | None = side.id
    return rid if rid is not None else "(withheld)"


def conflict_event(c: Any, viewer: str, now: datetime, stale_s: float) -> bytes | None:
    sides: list[RecordExtent] = [c.a, c.b]
    placed = next((s for s in sides if s.owner == viewer and s.volumes), None) or next(
        (s for s in sides if s.volumes), None
    )
    if placed is None:
        return None
    lon, lat, r = placed.volumes[0].footprint.cap
    ev, detail = _event(
        f"deconfliction.conflict.{c.id}",
        "b-a-g",
        now,
        now + timedelta(seconds=stale_s),
        lat,
        lon,
        ce=r / SIGMA_95,
        how="h-e",
    )
    a, b = side_label(c.a), side_label(c.b)
    _sub(detail, "contact", callsign=f"Conflict {a} x {b}")
    rem = _sub(detail, "remarks")
    rem.text = (
        f"conflict {a} ({c.a.owner}) x {b} ({c.b.owner}), {_iso(c.time_start)} to "
        f"{_iso(c.time_end)}"
    )
    if c.gaps is not None:  # a notice carries none
        rem.text += (
            f"; gaps {c.gaps.horizontal_m:.0f} m horizontal, {c.gaps.vertical_m:.0f} m "
            f"vertical, {c.gaps.time_s:.0f} s"
        )
    return ET.tostring(ev)


def tactical_event(
    a: dict[str, Any], tracks: dict[str, dict[str, Any]], now: datetime, stale_s: float
) -> bytes | None:
    names = a.get("tracks") or [a.get("track")]
    at = next((tracks[n] for n in names if n in tracks), None)
    if at is None:
        return None
    key = "-".join(str(k) for k in a.get("key", names)).replace("/", ".")
    ev, detail = _event(
        f"deconfliction.tactical.{a['kind']}.{key}"[:200],
        "b-a-g",
        now,
        now + timedelta(seconds=stale_s),
        float(at["lat"]),
        float(at["lon"]),
        float(at.get("alt_m", UNKNOWN)),
        how="m-g",
    )
    _sub(detail, "contact", callsign=f"{a['kind']} alert")
    what = {k: v for k, v in a.items() if k not in ("key", "parties")}
    rem = _sub(detail, "remarks")
    rem.text = "; ".join(f"{k} {v}" for k, v in sorted(what.items()))
    return ET.tostring(ev)


def picture_events(picture: Any, now: datetime, stale_s: float = 60.0) -> list[bytes]:
    """Every event of a released picture (``exchange.picture.Picture``)."""
    viewer = picture.party
    out = [track_event(t, viewer, now, stale_s) for t in picture.tracks]
    for pr in picture.records:
        out += volume_events(pr.kind.value, pr.record, pr.level, viewer, now)
    for c in picture.conflicts:
        e = conflict_event(c, viewer, now, stale_s)
        if e is not None:
            out.append(e)
    by_name = {f"{t['party']}/{t['id']}": t for t in picture.tracks}
    for a in picture.tactical:
        e = tactical_event(a, by_name, now, stale_s)
        if e is not None:
            out.append(e)
    return out
