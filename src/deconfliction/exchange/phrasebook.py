# ruff: noqa: RUF001, RUF002  (Cyrillic letters that look Latin, and primes, are meant)
"""Standard coded messages, read by each party in its own language.

In the spirit of the Code for Unplanned Encounters at Sea and the IMO Standard Marine
Communication Phrases (SMCP): a message is a code and typed parameters, never a sentence, so the
sender's words cannot be mistranslated. Each reader sees the phrase in its own language (English,
French, Russian), with the parameters formatted by that language's rules (separators, dates,
hemispheres, units). Every wording was reviewed for the ambiguities that cost lives on the
radio: a value reached *to*, never changed *by*; a turn's side said when it matters; courses
always true; times always UTC; positions in degrees and minutes (the review, code by code, is in
docs/hotline.md, and tests/test_hotline.py pins each wording).

Parameters (each phrase names those it needs):

| name | value sent | shown as (en) |
|---|---|---|
| altitude | metres (number) | ``3,000 m (9,843 ft)`` |
| heading | degrees true, 0-360 | ``090°`` (the phrase says "true") |
| time | RFC 3339 date-time | ``16:40 UTC, 22 Nov 2026`` |
| position | ``[lon, lat]`` | ``34°30.0′N 033°12.0′E`` |
| distance | metres | ``9,260 m (5.0 NM)`` |
| track | a track or record id | as sent |
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..errors import FieldError, InvalidInput
from ..units import FT_M, NM_M

LANGUAGES = ("en", "fr", "ru")


class Category(StrEnum):
    INTENTION = "INTENTION"
    REQUEST = "REQUEST"
    WARNING = "WARNING"
    ADVICE = "ADVICE"
    INFORMATION = "INFORMATION"
    QUESTION = "QUESTION"
    ANSWER = "ANSWER"


@dataclass(frozen=True)
class Phrase:
    code: str
    category: Category
    params: tuple[str, ...]
    text: dict[str, str]  # language -> template with {param} slots


def _p(code: str, cat: Category, params: tuple[str, ...], en: str, fr: str, ru: str) -> Phrase:
    return Phrase(code, cat, params, {"en": en, "fr": fr, "ru": ru})


INT, REQ, WRN, ADV, INF, QST, ANS = (
    Category.INTENTION,
    Category.REQUEST,
    Category.WARNING,
    Category.ADVICE,
    Category.INFORMATION,
    Category.QUESTION,
    Category.ANSWER,
)

PHRASES: dict[str, Phrase] = {
    p.code: p
    for p in [
        # --- INTENTION: "I intend to ..." (SMCP A1/1.1.5), the final value always after "to"
        _p("INT_CLIMB", INT, ("altitude",), "I intend to climb to {altitude}.",
           "J'ai l'intention de monter à {altitude}.", "Намерен набрать высоту {altitude}."),
        _p("INT_DESCEND", INT, ("altitude",), "I intend to descend to {altitude}.",
           "J'ai l'intention de descendre à {altitude}.",
           "Намерен снизиться до высоты {altitude}."),
        _p("INT_ALTER_COURSE", INT, ("heading",), "I intend to alter course to {heading} true.",
           "J'ai l'intention de venir au cap {heading} vrai.",
           "Намерен лечь на истинный курс {heading}."),
        _p("INT_TURN_LEFT", INT, ("heading",),
           "I intend to turn left onto course {heading} true.",
           "J'ai l'intention de virer à gauche pour venir au cap {heading} vrai.",
           "Намерен повернуть влево и лечь на истинный курс {heading}."),
        _p("INT_TURN_RIGHT", INT, ("heading",),
           "I intend to turn right onto course {heading} true.",
           "J'ai l'intention de virer à droite pour venir au cap {heading} vrai.",
           "Намерен повернуть вправо и лечь на истинный курс {heading}."),
        _p("INT_HOLD", INT, ("position", "time"), "I intend to hold at {position} until {time}.",
           "J'ai l'intention de rester en attente à la position {position} "
           "jusqu'au {time:date} à {time:clock}.",
           "Намерен оставаться в районе точки {position} до {time}."),
        _p("INT_LEAVE_AREA", INT, ("time",), "I intend to leave the area no later than {time}.",
           "J'ai l'intention de quitter la zone au plus tard le {time:date} à {time:clock}.",
           "Намерен покинуть район не позднее {time}."),
        # --- REQUEST: "Request you ..." (SMCP A1/1.1.4)
        _p("REQ_CHANGE_ALTITUDE", REQ, ("altitude",), "Request you change altitude to {altitude}.",
           "Je vous demande de rejoindre l'altitude {altitude}.",
           "Прошу вас занять высоту {altitude}."),
        _p("REQ_ALTER_COURSE", REQ, ("heading",), "Request you alter course to {heading} true.",
           "Je vous demande de venir au cap {heading} vrai.",
           "Прошу вас лечь на истинный курс {heading}."),
        _p("REQ_TURN_LEFT", REQ, ("heading",),
           "Request you turn left onto course {heading} true.",
           "Je vous demande de virer à gauche pour venir au cap {heading} vrai.",
           "Прошу вас повернуть влево и лечь на истинный курс {heading}."),
        _p("REQ_TURN_RIGHT", REQ, ("heading",),
           "Request you turn right onto course {heading} true.",
           "Je vous demande de virer à droite pour venir au cap {heading} vrai.",
           "Прошу вас повернуть вправо и лечь на истинный курс {heading}."),
        _p("REQ_DELAY", REQ, ("time",), "Request you delay your activity until {time}.",
           "Je vous demande de différer votre activité jusqu'au {time:date} à {time:clock}.",
           "Прошу вас отложить свою деятельность до {time}."),
        _p("REQ_KEEP_CLEAR", REQ, ("position", "distance"),
           "Request you keep at least {distance} clear of {position}.",
           "Je vous demande de vous tenir à une distance d'au moins {distance} "
           "de la position {position}.",
           "Прошу вас держаться на удалении не менее {distance} от точки {position}."),
        _p("REQ_CONFIRM_INTENTIONS", REQ, (), "Request you confirm your intentions.",
           "Je vous demande de confirmer vos intentions.",
           "Прошу вас подтвердить свои намерения."),
        # --- WARNING (SMCP A1/1.1.3): the category says "warning"; the text states the fact
        _p("WRN_TRAFFIC", WRN, ("track", "position", "altitude", "heading"),
           "Traffic {track} at {position}, altitude {altitude}, course {heading} true.",
           "Trafic {track} à la position {position}, altitude {altitude}, cap {heading} vrai.",
           "Борт {track} в точке {position}, высота {altitude}, истинный курс {heading}."),
        _p("WRN_SEPARATION", WRN, ("track", "time"),
           "Separation with {track} will be lost at {time}.",
           "La séparation avec {track} sera perdue le {time:date} à {time:clock}.",
           "Безопасный интервал с {track} будет нарушен в {time}."),
        _p("WRN_AREA_ACTIVE", WRN, ("position", "time"),
           "Restricted area at {position} is active until {time}.",
           "La zone réglementée située à la position {position} est active "
           "jusqu'au {time:date} à {time:clock}.",
           "Зона ограничения в районе точки {position} действует до {time}."),
        # --- ADVICE: "Advise you ..." (SMCP A1/1.1.2)
        _p("ADV_AVOID_AREA", ADV, ("position", "distance"),
           "Advise you avoid the area within {distance} of {position}.",
           "Je vous conseille d'éviter la zone située à moins de {distance} "
           "de la position {position}.",
           "Рекомендую вам избегать района в радиусе {distance} от точки {position}."),
        _p("ADV_MAINTAIN", ADV, (), "Advise you maintain your present altitude and course.",
           "Je vous conseille de maintenir votre altitude et votre cap actuels.",
           "Рекомендую вам сохранять прежние высоту и курс."),
        # --- INFORMATION (SMCP A1/1.1.6)
        _p("INF_ACTIVITY", INF, ("position", "time"),
           "Activity at {position} from {time}.",
           "Activité à la position {position} à partir du {time:date} à {time:clock}.",
           "Деятельность в районе точки {position} с {time}."),
        _p("INF_COMPLIED", INF, (), "I have complied.", "Exécuté.", "Выполнено."),
        # --- QUESTION and ANSWER (SMCP A1/1.1.7, 1.1.8)
        _p("QST_INTENTIONS", QST, (), "What are your intentions?",
           "Quelles sont vos intentions\u202f?", "Каковы ваши намерения?"),
        _p("QST_ALTITUDE", QST, ("track",), "What is the altitude of {track}?",
           "Quelle est l'altitude de {track}\u202f?", "Какова высота борта {track}?"),
        _p("ANS_AFFIRMATIVE", ANS, (), "Affirmative.", "Affirmatif.", "Подтверждаю."),
        _p("ANS_NEGATIVE", ANS, (), "Negative.", "Négatif.", "Отрицательно."),
        _p("ANS_WILL_COMPLY", ANS, (), "Will comply.", "Je vais m'y conformer.", "Выполню."),
        _p("ANS_UNABLE", ANS, (), "Unable to comply.", "Impossible de me conformer.",
           "Выполнить не могу."),
    ]
}  # fmt: skip

#: Labels of the escalation levels and categories, per language.
LABELS: dict[str, dict[str, str]] = {
    "unit": {"en": "unit", "fr": "unité", "ru": "подразделение"},
    "operations-centre": {
        "en": "operations centre",
        "fr": "centre des opérations",
        "ru": "оперативный центр",
    },
    "working-group": {"en": "working group", "fr": "groupe de travail", "ru": "рабочая группа"},
    "chiefs-of-staff": {
        "en": "chiefs of staff",
        "fr": "chefs d'état-major",
        "ru": "начальники штабов",
    },
    "untranslated": {"en": "untranslated", "fr": "non traduit", "ru": "без перевода"},
    **{
        c.value: {
            "en": c.value.capitalize(),
            "fr": {
                "INTENTION": "Intention",
                "REQUEST": "Demande",
                "WARNING": "Avertissement",
                "ADVICE": "Conseil",
                "INFORMATION": "Information",
                "QUESTION": "Question",
                "ANSWER": "Réponse",
            }[c.value],
            "ru": {
                "INTENTION": "Намерение",
                "REQUEST": "Просьба",
                "WARNING": "Предупреждение",
                "ADVICE": "Рекомендация",
                "INFORMATION": "Информация",
                "QUESTION": "Вопрос",
                "ANSWER": "Ответ",
            }[c.value],
        }
        for c in Category
    },
}

_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    # French months in full; Russian ones in the genitive, as after a day's number
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"],
}  # fmt: skip
NBSP, NNBSP = "\u00a0", "\u202f"
_THOUSANDS = {"en": ",", "fr": NNBSP, "ru": NBSP}
_DECIMAL = {"en": ".", "fr": ",", "ru": ","}
_UNITS = {
    "en": ("m", "ft", "NM"),
    "fr": ("m", "ft", "NM"),
    # decimals take the genitive singular in Russian: "5,0 мили"
    "ru": ("м", "фут.", "мор. мили"),
}
#: Hemispheres: French writes W for the west (an O reads as a zero).
_HEMI = {
    "en": ("N", "S", "E", "W"),
    "fr": ("N", "S", "E", "W"),
    "ru": ("с. ш.", "ю. ш.", "в. д.", "з. д."),
}


def number(value: float, lang: str, decimals: int = 0) -> str:
    """``value`` with the language's thousands and decimal separators."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", _DECIMAL[lang]).replace("\x00", _THOUSANDS[lang])


def _altitude(v: float, lang: str) -> str:
    m, ft, _ = _UNITS[lang]
    return f"{number(v, lang)} {m} ({number(v / FT_M, lang)} {ft})"


def _distance(v: float, lang: str) -> str:
    m, _, nm = _UNITS[lang]
    return f"{number(v, lang)} {m} ({number(v / NM_M, lang, 1)} {nm})"


def _heading(v: float, lang: str) -> str:
    return f"{round(v) % 360:03d}°"


class _Time:
    """A time for one language: ``{time}`` in full, ``{time:date}`` the day, ``{time:clock}``
    the time of day with UTC (French needs the two apart: "le <date> à <clock>")."""

    def __init__(self, t: datetime, lang: str) -> None:
        t = t.astimezone(UTC)
        month = _MONTHS[lang][t.month - 1]
        if lang == "en":
            self.date, self.clock = f"{t.day} {month} {t.year}", f"{t:%H:%M} UTC"
            self.full = f"{self.clock}, {self.date}"
        elif lang == "fr":
            day = "1er" if t.day == 1 else str(t.day)
            self.date = f"{day}{NBSP}{month} {t.year}"
            self.clock = f"{t.hour}{NBSP}h{NBSP}{t:%M} UTC"
            self.full = f"le {self.date} à {self.clock}"
        else:
            self.date = f"{t.day}{NBSP}{month} {t.year}{NBSP}г."
            self.clock = f"{t:%H:%M} UTC"
            self.full = f"{self.clock} {self.date}"

    def __format__(self, spec: str) -> str:
        if spec == "date":
            return self.date
        if spec == "clock":
            return self.clock
        if spec:
            raise ValueError(f"unknown time format {spec!r}")
        return self.full


def _time(v: datetime, lang: str) -> str:
    return format(_Time(v, lang))


def _position(v: tuple[float, float], lang: str) -> str:
    """Degrees and minutes to a tenth (about 185 m), the way charts and the SMCP give them: a
    decimal degree ("34.50") is too easily read as degrees and minutes."""
    lon, lat = v
    n, s, e, w = _HEMI[lang]
    sep = "" if lang == "en" else " "

    def dm(x: float, width: int) -> str:
        tenths = round(abs(x) * 600)
        deg, rest = divmod(tenths, 600)
        return f"{deg:0{width}d}°{number(rest / 10, lang, 1).rjust(4, '0')}′"

    lat_s = f"{dm(lat, 2)}{sep}{n if lat >= 0 else s}"
    lon_s = f"{dm(lon, 3)}{sep}{e if lon >= 0 else w}"
    return f"{lat_s}, {lon_s}" if lang == "ru" else f"{lat_s} {lon_s}"


_RANGES = {"altitude": (-12_000.0, 100_000.0), "distance": (0.0, 2e7), "heading": (0.0, 360.0)}


def _bad(path: str, reason: str) -> InvalidInput:
    return InvalidInput([FieldError(path, reason)])


def check_params(code: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a coded message, checked and normalized (what is stored and signed)."""
    phrase = PHRASES.get(code)
    if phrase is None:
        raise _bad("/code", f"unknown code {code!r}; see GET /v1/phrasebook")
    out: dict[str, Any] = {}
    extra = set(params) - set(phrase.params)
    if extra:
        raise _bad(f"/params/{sorted(extra)[0]}", f"{code} takes no parameter of this name")
    for name in phrase.params:
        if name not in params:
            raise _bad(f"/params/{name}", f"{code} needs this parameter")
        v = params[name]
        where = f"/params/{name}"
        if name in ("altitude", "distance", "heading"):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise _bad(where, "must be a finite number")
            lo, hi = _RANGES[name]
            if not lo <= v <= hi:
                raise _bad(where, f"must be between {lo:g} and {hi:g}")
            out[name] = float(v)
        elif name == "time":
            if not isinstance(v, str):
                raise _bad(where, "must be an RFC 3339 date-time string with a zone")
            try:
                t = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise _bad(where, "must be an RFC 3339 date-time string with a zone") from None
            if t.tzinfo is None:
                raise _bad(where, "must have a time zone")
            out[name] = t.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif name == "position":
            ok = (
                isinstance(v, list)
                and len(v) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
                and all(math.isfinite(x) for x in v)
                and -180 <= v[0] <= 180
                and -90 <= v[1] <= 90
            )
            if not ok:
                raise _bad(where, "must be [lon, lat] in degrees")
            out[name] = [float(v[0]), float(v[1])]
        else:  # track
            if not isinstance(v, str) or not 0 < len(v) <= 64 or not v.isprintable():
                raise _bad(where, "must be an id of 1 to 64 printable characters")
            out[name] = v
    return out


_SLOT = re.compile(r"\{(\w+)(?::(\w+))?\}(\.?)")


def render(code: str, params: dict[str, Any], lang: str) -> str:
    """The phrase in ``lang`` with its (checked) parameters formatted for that language. A value
    that ends with a full stop (an abbreviation: "в. д.", "г.") takes the sentence's own."""
    phrase = PHRASES[code]
    shown: dict[str, Any] = {}
    for name, v in params.items():
        if name == "altitude":
            shown[name] = _altitude(v, lang)
        elif name == "distance":
            shown[name] = _distance(v, lang)
        elif name == "heading":
            shown[name] = _heading(v, lang)
        elif name == "time":
            shown[name] = _Time(datetime.fromisoformat(v.replace("Z", "+00:00")), lang)
        elif name == "position":
            shown[name] = _position((v[0], v[1]), lang)
        else:
            shown[name] = str(v)

    def slot(m: re.Match[str]) -> str:
        text = format(shown[m.group(1)], m.group(2) or "")
        return text if text.endswith(".") else text + m.group(3)

    return _SLOT.sub(slot, phrase.text[lang])


def pick_language(wanted: str | None, accept_language: str | None = None) -> str:
    """The reader's language: ``wanted`` if we have it, else the first of Accept-Language that
    we have, else English."""
    for cand in [wanted or "", *(accept_language or "").split(",")]:
        tag = cand.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"
