# ruff: noqa: RUF001 (Russian text: its letters are Cyrillic on purpose)
"""NOTAM (ICAO format) and navigational warnings (NAVAREA, NAVTEX), out and back in.

Out, from one area record (yours, or another party's as released to you), one message per
volume, in English, French or Russian (the same fields; the words of item E and of the warning
translated):

- **NOTAM**: ``Q)`` FIR / Q code (``QRTCA`` restricted, ``QRDCA`` danger, ``QRPCA``
  prohibited, ``QRACA`` reserved, ``QWMLW`` exercises) / IV / BO / W / lower and upper flight
  levels / centre and radius (NM) of the volume's covering circle; ``A)`` the FIR; ``B)`` and
  ``C)`` the window (``YYMMDDhhmm``); ``E)`` the area's kind and name and its boundary
  (``DDMMSSN DDDMMSSE`` points, or a radius round a centre); ``F)`` and ``G)`` the limits
  (``SFC``, feet AMSL rounded outward, ``UNL``).
- **NAVAREA / NAVTEX**: the IMO/IHO S-53 layout: the area and number, the region, ``1.`` the
  kind and name, the window (``DDHHMMZ MON YY TO DDHHMMZ MON YY``) and ``IN AREA BOUNDED BY``
  ``DD-MM.MMN DDD-MM.MME`` points (or ``WITHIN r NAUTICAL MILES OF``), the heights, ``2.``
  ``CANCEL THIS MSG`` an hour after the end. ``navtex`` wraps it as a NAVTEX message
  (``ZCZC`` B1 B2 B3B4 ... ``NNNN``).

In: the same texts in any of the three languages, and real-world ones (coordinates as
``DDMM[SS]N DDDMM[SS]E``, ``DD-MM.MMN DDD-MM.MME`` or ``DD MM.MM N - DDD MM.MM E``; windows as
items B/C, or ``ON 18 MAY 22 FROM 0500Z TO 0900Z``, ``BETWEEN 12-14 SEP 20 FROM ...``, day
lists). Each message becomes one area; a warning with several areas (``AREA-1``, ``AREA-2``)
or several days gives one volume per area and day. A warning gives no heights: ``SFC`` to
``UNL`` is taken (stated in the import's report) unless it carries ``HEIGHTS``. Item D
(schedules) is not read: the whole B-C window is taken (the area only grows). Whatever cannot
be read is refused naming the message and the item.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import AreaKind, Volume4D
from ..model.volume import MAX_ALT_M
from .airspace import (
    FT,
    NM,
    AreaImportError,
    ImportedArea,
    Window,
    altitude_m,
    make_id,
    polygon,
    volume,
)

LANGS = ("en", "fr", "ru")
Q_CODES = {
    AreaKind.RESTRICTED: "QRTCA",
    AreaKind.DANGER: "QRDCA",
    AreaKind.PROHIBITED: "QRPCA",
    AreaKind.RESERVED: "QRACA",
    AreaKind.EXERCISE: "QWMLW",
    AreaKind.NAVAL_EXERCISE: "QWMLW",
}
KIND_WORDS: dict[AreaKind, dict[str, str]] = {
    AreaKind.RESTRICTED: {
        "en": "TEMPORARY RESTRICTED AREA",
        "fr": "ZONE REGLEMENTEE TEMPORAIRE",
        "ru": "ВРЕМЕННАЯ ОГРАНИЧЕННАЯ ЗОНА",
    },
    AreaKind.DANGER: {"en": "DANGER AREA", "fr": "ZONE DANGEREUSE", "ru": "ОПАСНАЯ ЗОНА"},
    AreaKind.PROHIBITED: {"en": "PROHIBITED AREA", "fr": "ZONE INTERDITE", "ru": "ЗАПРЕТНАЯ ЗОНА"},
    AreaKind.RESERVED: {
        "en": "AIRSPACE RESERVATION",
        "fr": "RESERVATION D'ESPACE AERIEN",
        "ru": "РЕЗЕРВИРОВАНИЕ ВОЗДУШНОГО ПРОСТРАНСТВА",
    },
    AreaKind.EXERCISE: {
        "en": "MILITARY EXERCISE",
        "fr": "EXERCICE MILITAIRE",
        "ru": "ВОЕННЫЕ УЧЕНИЯ",
    },
    AreaKind.NAVAL_EXERCISE: {
        "en": "NAVAL EXERCISE",
        "fr": "EXERCICE NAVAL",
        "ru": "ВОЕННО-МОРСКИЕ УЧЕНИЯ",
    },
}
WORDS = {
    "active": {"en": "ACTIVATED", "fr": "ACTIVE", "ru": "АКТИВИРОВАНА"},
    "within": {"en": "WITHIN", "fr": "DANS LES LIMITES", "ru": "В ГРАНИЦАХ"},
    "radius": {"en": "RADIUS", "fr": "RAYON", "ru": "РАДИУС"},
    "centred": {"en": "CENTRED ON", "fr": "CENTRE SUR", "ru": "С ЦЕНТРОМ"},
    "bounded": {
        "en": "IN AREA BOUNDED BY",
        "fr": "DANS LA ZONE DELIMITEE PAR",
        "ru": "В РАЙОНЕ, ОГРАНИЧЕННОМ",
    },
    "within_nm": {
        "en": "WITHIN {r} NAUTICAL MILES OF",
        "fr": "DANS UN RAYON DE {r} MILLES NAUTIQUES AUTOUR DE",
        "ru": "В РАДИУСЕ {r} МОРСКИХ МИЛЬ ОТ",
    },
    "heights": {"en": "HEIGHTS", "fr": "HAUTEURS", "ru": "ВЫСОТЫ"},
    "to": {"en": "TO", "fr": "A", "ru": "ДО"},
    "cancel": {"en": "CANCEL THIS MSG", "fr": "ANNULER CE MESSAGE", "ru": "ОТМЕНА ЭТОГО СООБЩЕНИЯ"},
}
MONTHS = {
    "en": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    "fr": ["JAN", "FEV", "MAR", "AVR", "MAI", "JUN", "JUL", "AOU", "SEP", "OCT", "NOV", "DEC"],
    "ru": ["ЯНВ", "ФЕВ", "МАР", "АПР", "МАЯ", "ИЮН", "ИЮЛ", "АВГ", "СЕН", "ОКТ", "НОЯ", "ДЕК"],
}
_MONTH_NO = {m: i + 1 for names in MONTHS.values() for i, m in enumerate(names)}
_MONTH_RE = "|".join(sorted(_MONTH_NO, key=len, reverse=True))


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: one of {', '.join(LANGS)}")


def _dms(v: float, pos: str, neg: str, width: int) -> str:
    h = pos if v >= 0 else neg
    s = round(abs(v) * 3600)
    return f"{s // 3600:0{width}d}{s % 3600 // 60:02d}{s % 60:02d}{h}"


def icao_point(lon: float, lat: float) -> str:
    return _dms(lat, "N", "S", 2) + _dms(lon, "E", "W", 3)


def _dm(v: float, pos: str, neg: str, width: int) -> str:
    h = pos if v >= 0 else neg
    m = round(abs(v) * 60 * 100)
    return f"{m // 6000:0{width}d}-{m % 6000 / 100:05.2f}{h}"


def s53_point(lon: float, lat: float) -> str:
    return f"{_dm(lat, 'N', 'S', 2)} {_dm(lon, 'E', 'W', 3)}"


def _fl(m: float, up: bool) -> int:
    fl = m / FT / 100.0
    return max(0, min(999, math.ceil(fl) if up else math.floor(fl)))


def limit_text(m: float, upper: bool) -> str:
    if not upper and m <= 0:
        return "SFC"
    if upper and m >= MAX_ALT_M:
        return "UNL"
    ft = m / FT
    return f"{math.ceil(ft) if upper else math.floor(ft)}FT AMSL"


def _minute(t: datetime, up: bool) -> datetime:
    """To the minute, outward: a start earlier, an end later (the window only grows)."""
    t = t.astimezone(UTC)
    floor = t.replace(second=0, microsecond=0)
    return floor + timedelta(minutes=1) if up and floor != t else floor


def _t(t: datetime, up: bool) -> str:
    return _minute(t, up).strftime("%y%m%d%H%M")


def _dtg(t: datetime, lang: str, up: bool) -> str:
    t = _minute(t, up)
    return f"{t:%d%H%M}Z {MONTHS[lang][t.month - 1]} {t:%y}"


def _radius_nm(r_m: float) -> str:
    """A circle's radius in NM to 0.1, rounded up past what the centre's rounding can move."""
    return f"{math.ceil((r_m + 32.0) / NM * 10) / 10:.1f}"


def _kind(area: Any) -> AreaKind:
    return AreaKind(getattr(area, "kind", AreaKind.RESTRICTED))


def _boundary(v: Volume4D) -> tuple[list[tuple[float, float]], tuple[float, float, float] | None]:
    fp = v.footprint
    if fp.type == "Circle":
        return [], (fp.center[0], fp.center[1], fp.radius_m)
    return [(p[0], p[1]) for p in fp.coordinates[0]], None


def notams(
    area: Any,
    lang: str = "en",
    *,
    fir: str = "XXXX",
    series: str = "A",
    number: int = 1,
    year: int | None = None,
) -> list[str]:
    """One ICAO NOTAM per volume of ``area`` (an Area, or another party's released extent)."""
    _check_lang(lang)
    kind = _kind(area)
    name = getattr(area, "name", "") or area.id
    out = []
    for i, v in enumerate(area.volumes):
        lon, lat, r = v.footprint.cap
        yy = (year or v.time_start.year) % 100
        pts, circle = _boundary(v)
        if circle is not None:
            where = (
                f"{WORDS['radius'][lang]} {_radius_nm(circle[2])}NM {WORDS['centred'][lang]} "
                f"{icao_point(circle[0], circle[1])}"
            )
        else:
            where = " - ".join(icao_point(x, y) for x, y in pts)
        q_centre = _dms(lat, "N", "S", 2)[:4] + lat_h(lat) + _dms(lon, "E", "W", 3)[:5] + lon_h(lon)
        out.append(
            f"{series}{number + i:04d}/{yy:02d} NOTAMN\n"
            f"Q) {fir}/{Q_CODES[kind]}/IV/BO/W/{_fl(v.alt_lower_m, False):03d}/"
            f"{_fl(v.alt_upper_m, True):03d}/{q_centre}{min(999, math.ceil(r / NM)):03d}\n"
            f"A) {fir} B) {_t(v.time_start, False)} C) {_t(v.time_end, True)}\n"
            f"E) {KIND_WORDS[kind][lang]} {name} {WORDS['active'][lang]} "
            f"{WORDS['within'][lang]}: {where}.\n"
            f"F) {limit_text(v.alt_lower_m, False)} G) {limit_text(v.alt_upper_m, True)}"
        )
    return out


def lat_h(lat: float) -> str:
    return "N" if lat >= 0 else "S"


def lon_h(lon: float) -> str:
    return "E" if lon >= 0 else "W"


def navwarning(
    area: Any,
    lang: str = "en",
    *,
    navarea: str = "III",
    number: int = 1,
    region: str = "",
    now: datetime | None = None,
    navtex: str | None = None,
) -> str:
    """A NAVAREA warning (or, with ``navtex`` = the station's B1 letter, a NAVTEX message)
    for every volume of ``area``."""
    _check_lang(lang)
    kind = _kind(area)
    name = getattr(area, "name", "") or area.id
    first = min(v.time_start for v in area.volumes)
    last = max(v.time_end for v in area.volumes)
    lines = [f"NAVAREA {navarea} {number:04d}/{first:%y}"]
    if region:
        lines.append(f"{region.upper()}.")
    lines.append(f"1. {KIND_WORDS[kind][lang]} {name}:")
    for j, v in enumerate(area.volumes):
        pts, circle = _boundary(v)
        if circle is not None:
            r = WORDS["within_nm"][lang].format(r=_radius_nm(circle[2]))
            where = f"{r} {s53_point(circle[0], circle[1])}"
        else:
            where = f"{WORDS['bounded'][lang]} " + ", ".join(s53_point(x, y) for x, y in pts)
        label = f"{chr(ord('A') + j % 26)}. " if len(area.volumes) > 1 else ""
        lines.append(
            f"   {label}{_dtg(v.time_start, lang, False)} {WORDS['to'][lang]} "
            f"{_dtg(v.time_end, lang, True)} {where}. {WORDS['heights'][lang]} "
            f"{limit_text(v.alt_lower_m, False)} {WORDS['to'][lang]} "
            f"{limit_text(v.alt_upper_m, True)}."
        )
    lines.append(f"2. {WORDS['cancel'][lang]} {_dtg(last + timedelta(hours=1), lang, True)}.")
    text = "\n".join(lines)
    if navtex is None:
        return text
    if not re.fullmatch(r"[A-Z]", navtex):
        raise ValueError(f"NAVTEX station {navtex!r}: one letter A to Z")
    t = (now or datetime.now(UTC)).astimezone(UTC)
    head = f"{t:%d%H%M} UTC {MONTHS[lang][t.month - 1]} {t:%y}"
    return f"ZCZC {navtex}A{number % 100:02d}\n{head}\n{text}\nNNNN"


# --- in ---------------------------------------------------------------------------------
_ICAO_PT = re.compile(
    r"(\d{2})(\d{2})(\d{2}(?:\.\d+)?)?\s*([NS])\s*(\d{3})(\d{2})(\d{2}(?:\.\d+)?)?\s*([EW])"
)
_S53_PT = re.compile(
    r"(\d{1,2})[-\s](\d{1,2}(?:\.\d+)?)\s*([NS])\s*[-\u2013\u2014,]?\s*"
    r"(\d{1,3})[-\s](\d{1,2}(?:\.\d+)?)\s*([EW])"
)
_RADIUS = re.compile(
    r"(?:RADIUS|RAYON|РАДИУС|РАДИУСЕ|WITHIN|DANS UN RAYON DE)\D{0,12}?(\d+(?:\.\d+)?)\s*"
    r"(NM|KM|NAUTICAL MILES?|MILLES NAUTIQUES|МОРСКИХ МИЛЬ|M)\b",
    re.I,
)
_ITEM = re.compile(r"(?:(?<=\s)|^|(?<=\())([QABCDEFG])\)\s*")
_NOTAM_HEAD = re.compile(r"([A-Z]\d{4}/\d{2})\s+NOTAM[NRC]")


def _window_item(text: str, item: str, where: str) -> datetime:
    m = re.match(r"\s*(\d{10})", text)
    if m is None:
        raise AreaImportError(f"{where}: {item}): {text.strip()[:30]!r} is not YYMMDDhhmm")
    try:
        return datetime.strptime(m[1], "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        raise AreaImportError(f"{where}: {item}): {m[1]} is not a date and time") from None


def _points(text: str) -> list[tuple[float, float]]:
    out = []
    for m in _ICAO_PT.finditer(text):
        lat = int(m[1]) + int(m[2]) / 60 + float(m[3] or 0) / 3600
        lon = int(m[5]) + int(m[6]) / 60 + float(m[7] or 0) / 3600
        out.append((lon if m[8] == "E" else -lon, lat if m[4] == "N" else -lat))
    return out


def _footprints(text: str, where: str) -> list[dict[str, object]]:
    """The areas of a text: a circle (a radius and one point) or polygons (the points, split
    where the text names another area)."""
    pts_at: list[tuple[int, tuple[float, float]]] = []
    for m in _ICAO_PT.finditer(text):
        pts_at.append((m.start(), _points(m[0])[0]))
    for m in _S53_PT.finditer(text):
        lat = int(m[1]) + float(m[2]) / 60
        lon = int(m[4]) + float(m[5]) / 60
        pts_at.append((m.start(), (lon if m[6] == "E" else -lon, lat if m[3] == "N" else -lat)))
    pts_at.sort()
    if not pts_at:
        raise AreaImportError(f"{where}: no coordinates")
    rad = _RADIUS.search(text)
    if rad is not None and len(pts_at) == 1:
        unit = rad[2].upper()
        r = float(rad[1]) * (1000.0 if unit == "KM" else 1.0 if unit == "M" else NM)
        lon, lat = pts_at[0][1]
        return [{"type": "Circle", "center": [lon, lat], "radius_m": r}]
    groups: list[list[tuple[float, float]]] = [[]]
    last = 0
    for pos, p in pts_at:
        if groups[-1] and re.search(r"AREA|ZONE|РАЙОН", text[last:pos], re.I):
            groups.append([])
        groups[-1].append(p)
        last = pos
    out = []
    for g in groups:
        g = list(dict.fromkeys(g))
        if len(g) < 3:
            raise AreaImportError(f"{where}: an area needs 3 points or a radius, found {len(g)}")
        out.append(polygon(g))
    return out


def _kind_in(text: str, default: AreaKind) -> AreaKind:
    up = text.upper()
    for kind, words in KIND_WORDS.items():
        if any(w in up for w in words.values()):
            return kind
    return default


def _limits(text: str, where: str, agl_m: float | None) -> tuple[float, float] | None:
    m = re.search(
        r"(?:HEIGHTS|HAUTEURS|ВЫСОТЫ)\s+(.+?)\s+(?:TO|A|ДО)\s+(.+?)\.(?:\s|$)", text, re.I
    )
    if m is None:
        return None
    return (
        altitude_m(m[1], upper=False, agl_m=agl_m, where=f"{where} heights"),
        altitude_m(m[2], upper=True, agl_m=agl_m, where=f"{where} heights"),
    )


def read_notams(
    text: str, source: str, *, prefix: str = "", agl_m: float | None = None
) -> list[ImportedArea]:
    """Every NOTAM of a text, each as an area."""
    starts = [m.start() for m in _NOTAM_HEAD.finditer(text)]
    if not starts:
        if "Q)" in text or "E)" in text:
            starts = [0]
        else:
            raise AreaImportError(f"{source}: no NOTAM (A1234/26 NOTAMN ...) found")
    out: list[ImportedArea] = []
    taken: set[str] = set()
    for k, s in enumerate(starts):
        chunk = text[s : starts[k + 1] if k + 1 < len(starts) else len(text)]
        head = _NOTAM_HEAD.match(chunk)
        nid = head[1] if head else f"#{k + 1}"
        where = f"{source}: NOTAM {nid}"
        items: dict[str, str] = {}
        marks = list(_ITEM.finditer(chunk))
        for j, m in enumerate(marks):
            end = marks[j + 1].start() if j + 1 < len(marks) else len(chunk)
            items[m[1]] = chunk[m.end() : end].strip().rstrip(")").strip()
        for need in ("B", "C", "E"):
            if need not in items:
                raise AreaImportError(f"{where}: item {need}) missing")
        t0 = _window_item(items["B"], "B", where)
        if items["C"].upper().startswith("PERM"):
            raise AreaImportError(f"{where}: C) PERM: a permanent NOTAM has no end to import")
        t1 = _window_item(items["C"], "C", where)
        q = items.get("Q", "").split("/")
        kind = {v: k for k, v in reversed(list(Q_CODES.items()))}.get(
            q[1].strip() if len(q) > 1 else "", AreaKind.RESTRICTED
        )
        kind = _kind_in(items["E"], kind)
        if "F" in items and "G" in items:
            lower = altitude_m(items["F"], upper=False, agl_m=agl_m, where=f"{where} F)")
            upper = altitude_m(items["G"], upper=True, agl_m=agl_m, where=f"{where} G)")
        elif len(q) >= 7:
            try:
                lower, upper = int(q[5]) * 100 * FT, int(q[6]) * 100 * FT
            except ValueError:
                raise AreaImportError(f"{where}: Q): limits {q[5]}/{q[6]} not numbers") from None
        else:
            raise AreaImportError(f"{where}: items F) and G) missing (and no limits in Q)")
        vols = [
            volume(fp, lower, upper, Window(t0, t1), f"{where} E)")
            for fp in _footprints(items["E"], f"{where} E)")
        ]
        name = re.sub(r"\s+", " ", items["E"])[:200]
        rid = make_id(f"NOTAM-{nid.replace('/', '-')}", prefix, taken)
        out.append(ImportedArea(rid, name, kind, vols, where))
    return out


_WARN_HEAD = re.compile(
    r"^\s*(?:ZCZC\b.*|NAVAREA\s+[IVXL]+\s+\d{1,4}/\d{2}.*|TURNHOS\s+N/W\s*:\s*\d+/\d{2}.*|"
    r"NAVTEX\b.*|HYDRO(?:PAC|LANT|ARC)\s+\d+/\d{2}.*)$",
    re.M,
)
_NUMBER = re.compile(r"(\d{1,4}/\d{2})")
_OURS = re.compile(
    rf"(\d{{2}})(\d{{2}})(\d{{2}})Z\s+({_MONTH_RE})\s+(\d{{2}})\s+\S+\s+"
    rf"(\d{{2}})(\d{{2}})(\d{{2}})Z\s+({_MONTH_RE})\s+(\d{{2}})"
)
_DAYS = re.compile(
    rf"((?:\d{{1,2}}\s*(?:-|,|AND)\s*)*\d{{1,2}})\s+({_MONTH_RE})\s+(\d{{2}})\s+FROM\s+"
    r"(\d{2})(\d{2})Z?\s+TO\s+(\d{2})(\d{2})Z?",
    re.I,
)


def _windows(text: str, where: str) -> list[Window]:
    out = []
    for m in _OURS.finditer(text):
        t0 = datetime(
            2000 + int(m[5]), _MONTH_NO[m[4]], int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC
        )
        t1 = datetime(
            2000 + int(m[10]), _MONTH_NO[m[9]], int(m[6]), int(m[7]), int(m[8]), tzinfo=UTC
        )
        out.append(Window(t0, t1))
    if out:
        return out
    for m in _DAYS.finditer(text):
        days: list[int] = []
        for part in re.split(r"\s*(?:,|AND)\s*", m[1], flags=re.I):
            if "-" in part:
                a, b = (int(x) for x in part.split("-"))
                days += list(range(a, b + 1))
            elif part.strip():
                days.append(int(part))
        month, year = _MONTH_NO[m[2].upper()], 2000 + int(m[3])
        for d in days:
            try:
                base = datetime(year, month, d, tzinfo=UTC)
            except ValueError:
                raise AreaImportError(f"{where}: {d} {m[2]} {m[3]} is not a date") from None
            t0 = base + timedelta(hours=int(m[4]), minutes=int(m[5]))
            t1 = base + timedelta(hours=int(m[6]), minutes=int(m[7]))
            if t1 <= t0:
                t1 += timedelta(days=1)
            out.append(Window(t0, t1))
    if not out:
        raise AreaImportError(
            f"{where}: no time window (DDHHMMZ MON YY TO ..., or ON DD MON YY FROM hhmmZ TO hhmmZ)"
        )
    return out


def read_navwarnings(
    text: str, source: str, *, prefix: str = "", agl_m: float | None = None
) -> tuple[list[ImportedArea], list[str]]:
    """Every navigational warning of a text (NAVAREA, NAVTEX, national series), each as an
    area; and notes on what was assumed (heights not given)."""
    starts = [m.start() for m in _WARN_HEAD.finditer(text)]
    if not starts:
        starts = [0] if text.strip() else []
    if not starts:
        raise AreaImportError(f"{source}: empty")
    chunks: list[str] = []
    for k, s in enumerate(starts):
        chunk = text[s : starts[k + 1] if k + 1 < len(starts) else len(text)]
        if chunks and chunks[-1].lstrip().startswith("ZCZC") and "NNNN" not in chunks[-1]:
            chunks[-1] += chunk  # a NAVAREA header inside a NAVTEX envelope
        else:
            chunks.append(chunk)
    out: list[ImportedArea] = []
    notes: list[str] = []
    taken: set[str] = set()
    for k, chunk in enumerate(chunks):
        body = chunk.split("NNNN")[0]
        num = _NUMBER.search(body)
        nid = num[1] if num else f"#{k + 1}"
        where = f"{source}: warning {nid}"
        body = re.split(r"CANCEL THIS (?:MSG|MESSAGE)|ANNULER CE MESSAGE|ОТМЕНА", body)[0]
        ours = list(_OURS.finditer(body))
        if ours:  # our own layout: each window, then its boundary and heights
            parts = [
                body[m.start() : ours[j + 1].start() if j + 1 < len(ours) else len(body)]
                for j, m in enumerate(ours)
            ]
        else:  # elsewhere: every window with every area
            parts = [body]
        vols = []
        for part in parts:
            limits = _limits(part, where, agl_m)
            if limits is None:
                limits = (0.0, MAX_ALT_M)
                note = f"{where}: no heights given: SFC to UNL taken"
                if note not in notes:
                    notes.append(note)
            for w in _windows(part, where):
                vols += [volume(fp, *limits, w, where) for fp in _footprints(part, where)]
        if len(vols) > 100:
            raise AreaImportError(f"{where}: more than 100 volumes (areas x days)")
        first = next((ln for ln in body.splitlines() if re.match(r"\s*1\.", ln)), "")
        name = re.sub(r"\s+", " ", first.strip() or body.strip())[:200]
        rid = make_id(f"NW-{nid.replace('/', '-')}", prefix, taken)
        out.append(ImportedArea(rid, name, _kind_in(body, AreaKind.DANGER), vols, where))
    return out, notes
