"""EUROCONTROL ASTERIX surveillance data to track states (decoded with asterix-decoder).

Three categories are read; every other record is counted as skipped:

- **CAT021** (ADS-B target reports): position in WGS84 (I130/I131), target address (I080),
  time of applicability or reception (I071/I073/I077), flight level (I145) or geometric height
  (I140), airborne ground vector (I160), barometric or geometric vertical rate (I155/I157),
  emitter category (I020). Quality: NACp (I090) as the 95 % horizontal accuracy; NUCp/NIC
  named in ``source``. Surface vehicles and obstacles (emitter categories 20 to 24) are not
  airspace users and are skipped.
- **CAT048** (monoradar target reports): the plot is polar, slant range and azimuth from the
  radar (I040), so the radar's position must be given (``radars``: SAC/SIC to lon, lat,
  height); it is placed along the geodesic from the radar at the ground range that the slant
  range and the height difference leave. Flight level (I090), aircraft address (I220) or track
  number (I161), calculated ground speed and heading (I200), time of day (I140). A plot of a
  radar whose position is not given is skipped and counted.
- **CAT062** (system tracks): WGS84 position (I105), velocity (I185), geometric (I130) or
  measured flight level altitude (I136), rate of climb (I220), track number (I040), target
  address (I380/ADR), time of track (I070). Quality: estimated accuracy of the position
  (I500/APW or APC) as the 95 % horizontal accuracy.

ASTERIX carries the time of day only: the date comes from the caller (the capture's date for a
pcap file, else the UTC day of reception), and a time of day that jumps back by more than 12 h
moves to the next day. Flight levels are pressure altitudes: they are taken as heights above
the WGS84 ellipsoid (the difference, a few hundred metres at most, is not known here).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ..geodesy import GEOD
from ..model import TrackClass, TrackState

KT = 1852.0 / 3600.0
FT = 0.3048
NM = 1852.0
FPM = FT / 60.0
#: NACp to the 95 % horizontal accuracy bound (DO-260B), metres.
NACP_M = {
    11: 3.0,
    10: 10.0,
    9: 30.0,
    8: 92.6,
    7: 185.2,
    6: 555.6,
    5: 926.0,
    4: 1852.0,
    3: 3704.0,
    2: 7408.0,
    1: 18520.0,
}
#: 95 % of a circular normal distribution lies within this many standard deviations.
SIGMA_95 = 2.4477
CATEGORIES = (21, 48, 62)


class AsterixError(ValueError):
    """Bad ASTERIX input (a file that is not a recording, a radar given wrongly)."""


@dataclass(frozen=True)
class Radar:
    lon: float
    lat: float
    height_m: float


def parse_radar(text: str) -> tuple[tuple[int, int], Radar]:
    """``SAC/SIC=LON,LAT[,HEIGHT_M]`` as given on the command line."""
    key, sep, pos = text.partition("=")
    try:
        sac, sic = (int(x) for x in key.split("/"))
        nums = [float(x) for x in pos.split(",")]
    except ValueError:
        raise AsterixError(f"--radar: SAC/SIC=LON,LAT[,HEIGHT_M] expected, got {text!r}") from None
    if not sep or len(nums) not in (2, 3) or not all(math.isfinite(n) for n in nums):
        raise AsterixError(f"--radar: SAC/SIC=LON,LAT[,HEIGHT_M] expected, got {text!r}")
    if not (0 <= sac <= 255 and 0 <= sic <= 255):
        raise AsterixError(f"--radar: SAC and SIC are 0 to 255, got {sac}/{sic}")
    if not (-180 <= nums[0] <= 180 and -90 <= nums[1] <= 90):
        raise AsterixError(f"--radar: {nums[0]},{nums[1]} is not a lon,lat")
    return (sac, sic), Radar(nums[0], nums[1], nums[2] if len(nums) == 3 else 0.0)


def _v(rec: dict[str, Any], item: str, *path: str) -> Any:
    """The value at ``rec[item][path...]["val"]`` or None."""
    node: Any = rec.get(item)
    for p in path:
        if not isinstance(node, dict):
            return None
        node = node.get(p)
    return node.get("val") if isinstance(node, dict) else None


@dataclass
class AsterixDecoder:
    """Decoded ASTERIX records to track states. ``day``: the UTC date the times of day belong
    to (None: the day of reception, read from ``clock``)."""

    radars: dict[tuple[int, int], Radar] = field(default_factory=dict)
    day: date | None = None
    cls: TrackClass = TrackClass.FIXED_WING
    skipped: int = 0
    #: why records were skipped, with counts (shown at the end of a feed)
    reasons: dict[str, int] = field(default_factory=dict)
    _last_tod: float | None = None

    def _skip(self, why: str) -> None:
        self.skipped += 1
        self.reasons[why] = self.reasons.get(why, 0) + 1

    def _time(self, tod: float | None) -> datetime | None:
        if tod is None or not (0 <= tod < 86_400 + 1):
            return None
        if self.day is None:
            now = datetime.now(UTC)
            base = datetime(now.year, now.month, now.day, tzinfo=UTC)
            t = base + timedelta(seconds=tod)
            if (t - now).total_seconds() > 12 * 3600:  # just before midnight, received after
                t -= timedelta(days=1)
            return t
        if self._last_tod is not None and tod < self._last_tod - 12 * 3600:
            self.day = self.day + timedelta(days=1)
        self._last_tod = tod
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC) + timedelta(
            seconds=tod
        )

    def decode(self, data: bytes) -> list[TrackState]:
        """Every state in one block of ASTERIX data (one UDP datagram, or a file's bytes)."""
        import asterix

        try:
            records: list[dict[str, Any]] = asterix.parse(bytes(data), verbose=False)
        except Exception as exc:  # the C decoder raises whatever it raises
            self._skip(f"not ASTERIX ({type(exc).__name__})")
            return []
        if not records and data:
            self._skip("not ASTERIX")
        out = []
        for rec in records:
            state = self.record(rec)
            if state is not None:
                out.append(state)
        return out

    def record(self, rec: dict[str, Any]) -> TrackState | None:
        cat = rec.get("category")
        try:
            if cat == 21:
                fields = self._cat021(rec)
            elif cat == 48:
                fields = self._cat048(rec)
            elif cat == 62:
                fields = self._cat062(rec)
            else:
                self._skip(f"CAT{cat:03d} is not read" if isinstance(cat, int) else "no category")
                return None
        except (TypeError, ValueError, KeyError):
            self._skip(f"CAT{cat:03d}: malformed item")
            return None
        if fields is None:
            return None
        try:
            return TrackState.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self._skip(f"CAT{cat:03d}: {where}: {first['msg']}")
            return None

    # --- categories ---------------------------------------------------------------------
    def _sacsic(self, rec: dict[str, Any]) -> tuple[int, int]:
        sac, sic = _v(rec, "I010", "SAC"), _v(rec, "I010", "SIC")
        if sac is None or sic is None:
            raise ValueError("no I010")
        return int(sac), int(sic)

    def _cat021(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        sac, sic = self._sacsic(rec)
        lat = _v(rec, "I131", "Lat") or _v(rec, "I130", "Lat")
        lon = _v(rec, "I131", "Lon") or _v(rec, "I130", "Lon")
        addr = _v(rec, "I080", "TAddr")
        if lat is None or lon is None or addr is None:
            self._skip("CAT021: no position or no target address")
            return None
        ecat = _v(rec, "I020", "ECAT")
        if ecat is not None and 20 <= int(ecat) <= 24:
            self._skip("CAT021: surface vehicle or obstacle")
            return None
        cls = {10: TrackClass.ROTARY, 13: TrackClass.DRONE}.get(int(ecat or 0), self.cls)
        tod = next(
            (
                t
                for t in (
                    _v(rec, "I071", "time_applicability_position"),
                    _v(rec, "I073", "time_reception_position"),
                    _v(rec, "I077", "time_report_transmission"),
                )
                if t is not None
            ),
            None,
        )
        when = self._time(tod)
        if when is None:
            self._skip("CAT021: no time")
            return None
        fl = _v(rec, "I145", "FL")
        height_ft = _v(rec, "I140", "geometric_height")
        alt_m = float(height_ft) * FT if height_ft is not None else float(fl or 0) * 100 * FT
        gs_nm_s = _v(rec, "I160", "GS")  # NM/s
        trk = _v(rec, "I160", "TA")
        vr = _v(rec, "I155", "BVR") or _v(rec, "I157", "GVR")
        nacp = _v(rec, "I090", "NACp")
        nuc = _v(rec, "I090", "NUCp_or_NIC")
        quality = f"NACp {nacp}" if nacp is not None else f"NUCp/NIC {nuc}"
        return {
            "id": str(addr).strip().upper(),
            "class": cls,
            "time": when,
            "lon": float(lon),
            "lat": float(lat),
            "alt_m": alt_m,
            "gs_mps": float(gs_nm_s) * NM if gs_nm_s is not None else 0.0,
            "track_deg": float(trk) % 360.0 if trk is not None else 0.0,
            "vs_mps": float(vr) * FPM if vr is not None else 0.0,
            "source": f"ASTERIX CAT021 SAC/SIC {sac}/{sic} ADS-B, {quality}",
            "accuracy_m": NACP_M.get(int(nacp)) if nacp is not None else None,
        }

    def _cat048(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        sac, sic = self._sacsic(rec)
        rho, theta = _v(rec, "I040", "RHO"), _v(rec, "I040", "THETA")
        if rho is None or theta is None:
            self._skip("CAT048: no polar position (I040)")
            return None
        radar = self.radars.get((sac, sic))
        if radar is None:
            self._skip(f"CAT048: no --radar for SAC/SIC {sac}/{sic}")
            return None
        when = self._time(_v(rec, "I140", "ToD"))
        if when is None:
            self._skip("CAT048: no time of day")
            return None
        fl = _v(rec, "I090", "FL")
        alt_m = float(fl) * 100 * FT if fl is not None else radar.height_m
        slant_m = float(rho) * NM
        dh = alt_m - radar.height_m
        ground_m = math.sqrt(max(slant_m * slant_m - dh * dh, 0.0))
        lon, lat, _ = GEOD.fwd(radar.lon, radar.lat, float(theta), ground_m)
        addr = _v(rec, "I220", "ACAddr")
        tn = _v(rec, "I161", "Tn")
        if addr is None and tn is None:
            self._skip("CAT048: neither aircraft address nor track number")
            return None
        gs_kt, hdg = _v(rec, "I200", "CGS"), _v(rec, "I200", "CHdg")
        confirmed = "tentative" if _v(rec, "I170", "CNF") == 1 else "confirmed"
        doubtful = ", doubtful" if _v(rec, "I170", "DOU") == 1 else ""
        return {
            "id": str(addr).strip().upper() if addr is not None else f"{sac}-{sic}-{tn}",
            "class": self.cls,
            "time": when,
            "lon": float(lon),
            "lat": float(lat),
            "alt_m": alt_m,
            "gs_mps": float(gs_kt) * KT if gs_kt is not None else 0.0,
            "track_deg": float(hdg) % 360.0 if hdg is not None else 0.0,
            "source": f"ASTERIX CAT048 SAC/SIC {sac}/{sic} radar at {radar.lon:.5f},"
            f"{radar.lat:.5f}, {confirmed}{doubtful}",
        }

    def _cat062(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        sac, sic = self._sacsic(rec)
        lat, lon = _v(rec, "I105", "Lat"), _v(rec, "I105", "Lon")
        if lat is None or lon is None:
            self._skip("CAT062: no WGS84 position (I105)")
            return None
        when = self._time(_v(rec, "I070", "ToT"))
        if when is None:
            self._skip("CAT062: no time of track")
            return None
        addr = _v(rec, "I380", "ADR", "ADR")
        tn = _v(rec, "I040", "TrkN")
        if addr is None and tn is None:
            self._skip("CAT062: neither target address nor track number")
            return None
        geo_ft, mfl_ft = _v(rec, "I130", "Alt"), _v(rec, "I136", "MFL")
        alt_ft = geo_ft if geo_ft is not None else mfl_ft
        vx, vy = _v(rec, "I185", "Vx"), _v(rec, "I185", "Vy")
        gs = math.hypot(vx, vy) if vx is not None and vy is not None else 0.0
        trk = math.degrees(math.atan2(vx, vy)) % 360.0 if gs > 0 else 0.0
        roc = _v(rec, "I220", "RoC")
        apw_lat = _v(rec, "I500", "APW", "APW_Lat")
        apw_lon = _v(rec, "I500", "APW", "APW_Long")
        apc_x, apc_y = _v(rec, "I500", "APC", "APC_X"), _v(rec, "I500", "APC", "APC_Y")
        acc = None
        if apc_x is not None and apc_y is not None:
            acc = SIGMA_95 * max(float(apc_x), float(apc_y))
        elif apw_lat is not None and apw_lon is not None:
            acc = SIGMA_95 * max(float(apw_lat), float(apw_lon)) * 111_320.0
        return {
            "id": str(addr).strip().upper() if addr is not None else f"{sac}-{sic}-{tn}",
            "class": self.cls,
            "time": when,
            "lon": float(lon),
            "lat": float(lat),
            "alt_m": float(alt_ft) * FT if alt_ft is not None else 0.0,
            "gs_mps": gs,
            "track_deg": trk,
            "vs_mps": float(roc) * FPM if roc is not None else 0.0,
            "source": f"ASTERIX CAT062 SAC/SIC {sac}/{sic} system track {tn}",
            "accuracy_m": acc,
        }


# --- recordings -------------------------------------------------------------------------
def pcap_payloads(data: bytes) -> Iterator[tuple[datetime, bytes]]:
    """UDP payloads of a classic pcap capture (Ethernet, IPv4), with their capture times."""
    if len(data) < 24:
        raise AsterixError("not a pcap file (too short)")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise AsterixError("not a pcap file (bad magic number)")
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    n = 0
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off : off + 16])
        off += 16
        pkt = data[off : off + incl]
        off += incl
        n += 1
        if len(pkt) < incl:
            raise AsterixError(f"packet {n}: truncated")
        when = datetime.fromtimestamp(sec + frac / (1e9 if nanos else 1e6), UTC)
        if linktype == 1:  # Ethernet
            if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
                continue
            ip = pkt[14:]
        elif linktype in (101, 12, 14):  # raw IP
            ip = pkt
        elif linktype == 113:  # Linux cooked capture
            ip = pkt[16:]
        else:
            raise AsterixError(f"pcap link type {linktype} is not read (Ethernet or raw IP)")
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue  # not IPv4 UDP
        ihl = (ip[0] & 15) * 4
        yield when, ip[ihl + 8 :]


def read_recording(data: bytes) -> Iterator[tuple[datetime | None, bytes]]:
    """A recording's ASTERIX blocks: a pcap capture (with times) or raw ASTERIX bytes."""
    if data[:4] in (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",
    ):
        yield from pcap_payloads(data)
        return
    if not data or data[0] == 0:
        raise AsterixError("not ASTERIX data (no category in the first byte)")
    yield None, data
