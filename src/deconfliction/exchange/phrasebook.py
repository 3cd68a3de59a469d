# ruff: noqa: RUF001  (Russian text: Cyrillic letters that look Latin are meant)
"""Standard coded messages, read by each party in its own language.

In the spirit of the Code for Unplanned Encounters at Sea and the IMO Standard Marine
Communication Phrases: a message is a code and typed parameters, never a sentence, so the
sender's words cannot be mistranslated. Each reader sees the phrase in its own language (English,
French, Russian), with the parameters formatted for that language (decimal and thousands
separators, hemispheres, units).

Parameters (all optional unless a phrase names them):

| name | value sent | shown as (en) |
|---|---|---|
| altitude | metres (number) | ``3,000 m (9,843 ft)`` |
| heading | degrees true, 0-360 | ``090°`` |
| time | RFC 3339 date-time | ``16:40 UTC, 22 Nov 2026`` |
| position | ``[lon, lat]`` | ``34.50°N 033.20°E`` |
| distance | metres | ``9,260 m (5.0 NM)`` |
| track | a track or record id | as sent |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..errors import FieldError, InvalidInput

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
        _p("INT_CLIMB", INT, ("altitude",), "I intend to climb to {altitude}.",
           "J'ai l'intention de monter à {altitude}.", "Намерен набрать высоту {altitude}."),
        _p("INT_DESCEND", INT, ("altitude",), "I intend to descend to {altitude}.",
           "J'ai l'intention de descendre à {altitude}.", "Намерен снизиться до {altitude}."),
        _p("INT_ALTER_COURSE", INT, ("heading",), "I intend to alter course to {heading}.",
           "J'ai l'intention de changer de cap au {heading}.",
           "Намерен изменить курс на {heading}."),
        _p("INT_HOLD", INT, ("position", "time"), "I intend to hold at {position} until {time}.",
           "J'ai l'intention d'attendre à {position} jusqu'à {time}.",
           "Намерен ожидать в точке {position} до {time}."),
        _p("INT_LEAVE_AREA", INT, ("time",), "I intend to leave the area by {time}.",
           "J'ai l'intention de quitter la zone avant {time}.",
           "Намерен покинуть район до {time}."),
        _p("REQ_CHANGE_ALTITUDE", REQ, ("altitude",), "Request you change altitude to {altitude}.",
           "Je vous demande de changer d'altitude pour {altitude}.",
           "Прошу вас изменить высоту на {altitude}."),
        _p("REQ_ALTER_COURSE", REQ, ("heading",), "Request you alter course to {heading}.",
           "Je vous demande de changer de cap au {heading}.",
           "Прошу вас изменить курс на {heading}."),
        _p("REQ_DELAY", REQ, ("time",), "Request you delay your activity until {time}.",
           "Je vous demande de retarder votre activité jusqu'à {time}.",
           "Прошу вас отложить вашу деятельность до {time}."),
        _p("REQ_KEEP_CLEAR", REQ, ("position", "distance"),
           "Request you keep {distance} clear of {position}.",
           "Je vous demande de rester à {distance} de {position}.",
           "Прошу вас держаться на удалении {distance} от {position}."),
        _p("REQ_CONFIRM_INTENTIONS", REQ, (), "Request you confirm your intentions.",
           "Je vous demande de confirmer vos intentions.",
           "Прошу вас подтвердить ваши намерения."),
        _p("WRN_TRAFFIC", WRN, ("track", "position", "altitude", "heading"),
           "Warning: traffic {track} at {position}, altitude {altitude}, heading {heading}.",
           "Attention : trafic {track} à {position}, altitude {altitude}, cap {heading}.",
           "Внимание: борт {track} в точке {position}, высота {altitude}, курс {heading}."),
        _p("WRN_SEPARATION", WRN, ("track", "time"),
           "Warning: separation with {track} will be lost at {time}.",
           "Attention : la séparation avec {track} sera perdue à {time}.",
           "Внимание: интервал с {track} будет нарушен в {time}."),
        _p("WRN_AREA_ACTIVE", WRN, ("position", "time"),
           "Warning: restricted area at {position} is active until {time}.",
           "Attention : la zone réglementée à {position} est active jusqu'à {time}.",
           "Внимание: запретная зона в точке {position} действует до {time}."),
        _p("ADV_AVOID_AREA", ADV, ("position", "distance"),
           "Advise you avoid the area within {distance} of {position}.",
           "Je vous conseille d'éviter la zone à moins de {distance} de {position}.",
           "Рекомендую избегать района в пределах {distance} от {position}."),
        _p("ADV_MAINTAIN", ADV, (), "Advise you maintain your present altitude and course.",
           "Je vous conseille de maintenir votre altitude et votre cap actuels.",
           "Рекомендую сохранять текущие высоту и курс."),
        _p("INF_ACTIVITY", INF, ("position", "time"),
           "Information: activity at {position} from {time}.",
           "Information : activité à {position} à partir de {time}.",
           "Информация: деятельность в точке {position} с {time}."),
        _p("INF_COMPLIED", INF, (), "Information: complied.", "Information : exécuté.",
           "Информация: выполнено."),
        _p("QST_INTENTIONS", QST, (), "What are your intentions?", "Quelles sont vos intentions ?",
           "Каковы ваши намерения?"),
        _p("QST_ALTITUDE", QST, ("track",), "What is the altitude of {track}?",
           "Quelle est l'altitude de {track} ?", "Какова высота {track}?"),
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
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
    "ru": [
        "янв.",
        "февр.",
        "мар.",
        "апр.",
        "мая",
        "июн.",
        "июл.",
        "авг.",
        "сент.",
        "окт.",
        "нояб.",
        "дек.",
    ],
}
_THOUSANDS = {"en": ",", "fr": "\u202f", "ru": "\u00a0"}
_DECIMAL = {"en": ".", "fr": ",", "ru": ","}
_UNITS = {
    "en": ("m", "ft", "NM"),
    "fr": ("m", "ft", "NM"),
    "ru": ("м", "фут.", "мор. миль"),
}
_HEMI = {
    "en": ("N", "S", "E", "W"),
    "fr": ("N", "S", "E", "O"),
    "ru": ("с. ш.", "ю. ш.", "в. д.", "з. д."),
}


def number(value: float, lang: str, decimals: int = 0) -> str:
    """``value`` with the language's thousands and decimal separators."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", _DECIMAL[lang]).replace("\x00", _THOUSANDS[lang])


def _altitude(v: float, lang: str) -> str:
    m, ft, _ = _UNITS[lang]
    return f"{number(v, lang)} {m} ({number(v / 0.3048, lang)} {ft})"


def _distance(v: float, lang: str) -> str:
    m, _, nm = _UNITS[lang]
    return f"{number(v, lang)} {m} ({number(v / 1852.0, lang, 1)} {nm})"


def _heading(v: float, lang: str) -> str:
    return f"{round(v) % 360:03d}°"


def _time(v: datetime, lang: str) -> str:
    t = v.astimezone(UTC)
    month = _MONTHS[lang][t.month - 1]
    if lang == "en":
        return f"{t:%H:%M} UTC, {t.day} {month} {t.year}"
    return f"{t.day} {month} {t.year} {t:%H:%M} UTC"


def _position(v: tuple[float, float], lang: str) -> str:
    lon, lat = v
    n, s, e, w = _HEMI[lang]
    sep = " " if lang != "en" else ""
    lat_s = f"{number(abs(lat), lang, 2).rjust(5, '0')}°{sep}{n if lat >= 0 else s}"
    lon_s = f"{number(abs(lon), lang, 2).rjust(6, '0')}°{sep}{e if lon >= 0 else w}"
    return f"{lat_s} {lon_s}"


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


def render(code: str, params: dict[str, Any], lang: str) -> str:
    """The phrase in ``lang`` with its (checked) parameters formatted for that language."""
    phrase = PHRASES[code]
    shown: dict[str, str] = {}
    for name, v in params.items():
        if name == "altitude":
            shown[name] = _altitude(v, lang)
        elif name == "distance":
            shown[name] = _distance(v, lang)
        elif name == "heading":
            shown[name] = _heading(v, lang)
        elif name == "time":
            shown[name] = _time(datetime.fromisoformat(v.replace("Z", "+00:00")), lang)
        elif name == "position":
            shown[name] = _position((v[0], v[1]), lang)
        else:
            shown[name] = str(v)
    return phrase.text[lang].format(**shown)


def pick_language(wanted: str | None, accept_language: str | None = None) -> str:
    """The reader's language: ``wanted`` if we have it, else the first of Accept-Language that
    we have, else English."""
    for cand in [wanted or "", *(accept_language or "").split(",")]:
        tag = cand.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"
