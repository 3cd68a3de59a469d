"""Every string that comes in is text the database can hold, checked once, at the door.

The rules (``text_problem`` and ``id_problem``, shared with anything that reads strings from
elsewhere) and where they apply:

- **JSON bodies** (every route, the F3548 ones parsed by hand included): no string, key or
  value, holds NUL (U+0000: PostgreSQL cannot store it) or a lone surrogate (U+D800 to U+DFFF:
  not Unicode text, it cannot be written as UTF-8). Such strings only come from ``\\u``
  escapes or from bytes that are not UTF-8, so a body with neither goes through unparsed.
- **Path segments** (the ids of the routes: ``{record_id}``, ``{entityid}``, ``{uss_id}``...):
  valid UTF-8 once percent-decoded, at most ``MAX_ID_CHARS`` characters, and no control or
  format character (NUL, line breaks, bidirectional overrides and isolates, zero-width
  characters): an id is shown to people, and must look like what it is.
- **Query parameters**: valid UTF-8, no NUL, at most ``MAX_QUERY_CHARS`` characters each.

A refusal names the field: 422 with a problem document (``errors[].pointer`` = the JSON
pointer, or ``/path/NAME``, ``/query/NAME``) on ``/v1``, 400 with ``{"message": "NAME: ..."}``
on the F3548 paths. Free text (names, hotline messages) may hold any other character, bidi
controls included (they are part of writing Arabic or Hebrew): it is stored and returned as
given, and displays must isolate it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import FieldError
from . import offload
from .problems import F3548_PREFIXES, problem

#: Longest id anywhere (a path segment): ids are keys of indexes, which have a size limit.
MAX_ID_CHARS = 255
#: Longest query parameter value.
MAX_QUERY_CHARS = 8192
#: Most field errors listed in one refusal.
MAX_ERRORS = 20
#: Categories refused in ids: controls, formats (bidi controls, zero-width characters),
#: surrogates, line and paragraph separators.
_NOT_IN_IDS = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


#: A path of printable ASCII without percent escapes (nothing to decode, nothing to refuse).
_PLAIN = re.compile(rb"[!-$&-~]*")


def _is_surrogate(ch: str) -> bool:
    return "\ud800" <= ch <= "\udfff"


def text_problem(s: str) -> str | None:
    """Why ``s`` is not text the database can hold, or None if it is."""
    if "\x00" in s:
        return "contains a NUL character (U+0000)"
    for ch in s:
        if _is_surrogate(ch):
            return f"contains a lone surrogate (U+{ord(ch):04X}), which is not Unicode text"
    return None


def id_problem(s: str, max_chars: int = MAX_ID_CHARS) -> str | None:
    """Why ``s`` is not acceptable as an id, or None if it is."""
    if len(s) > max_chars:
        return f"is longer than {max_chars} characters"
    bad = text_problem(s)
    if bad is not None:
        return bad
    for ch in s:
        if unicodedata.category(ch) in _NOT_IN_IDS:
            return f"contains a control or format character (U+{ord(ch):04X})"
    return None


def printable(s: str) -> str:
    """``s`` safe to put in an answer: controls, formats and surrogates as ``\\uXXXX``."""
    return "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _NOT_IN_IDS else ch for ch in s
    )


def _escape(token: str) -> str:
    return printable(token).replace("~", "~0").replace("/", "~1")


def json_problems(doc: Any) -> list[FieldError]:
    """Every string of a parsed JSON document (keys included) that is not storable text, by
    JSON pointer."""
    out: list[FieldError] = []
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack and len(out) < MAX_ERRORS:
        pointer, value = stack.pop()
        if isinstance(value, str):
            why = text_problem(value)
            if why is not None:
                out.append(FieldError(pointer, why))
        elif isinstance(value, dict):
            for k, v in reversed(list(value.items())):
                where = f"{pointer}/{_escape(k)}"
                why = text_problem(k)
                if why is not None:
                    out.append(FieldError(where, f"the name {why}"))
                stack.append((where, v))
        elif isinstance(value, list):
            stack.extend((f"{pointer}/{i}", v) for i, v in reversed(list(enumerate(value))))
    return out


def body_problems(body: bytes) -> list[FieldError]:
    """The problems of a request body, if it is JSON (anything else is left to its route)."""
    if not body:
        return []
    try:
        body.decode("utf-8")
        suspect = b"\\u" in body  # only escapes can make NUL or surrogates in valid UTF-8
    except UnicodeDecodeError:
        suspect = True
    if not suspect:
        return []
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: the route says so
    return json_problems(doc)


def _param_names(templates: Iterable[str], path: str) -> dict[int, str]:
    """The parameter names of the route template this path matches: segment index -> name."""
    segments = path.strip("/").split("/")
    for template in templates:
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        if all(p.startswith("{") or p == s for p, s in zip(parts, segments, strict=True)):
            return {i: p.strip("{}").split(":")[0] for i, p in enumerate(parts) if p[:1] == "{"}
    return {}


def path_problems(scope: Scope, templates: Callable[[], Iterable[str]]) -> list[FieldError]:
    """The problems of a request path's segments, named by the route's parameters."""
    path: str = scope.get("path", "")
    raw_path: bytes = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
    raw = raw_path.split(b"?", 1)[0].strip(b"/")
    if _PLAIN.fullmatch(raw) and (
        len(raw) <= MAX_ID_CHARS or all(len(s) <= MAX_ID_CHARS for s in raw.split(b"/"))
    ):
        return []  # printable ASCII, nothing escaped, nothing too long: the usual case
    errors: list[tuple[int, str]] = []
    for i, seg in enumerate(raw.split(b"/") if raw else []):
        try:
            text = unquote_to_bytes(seg).decode("utf-8")
        except UnicodeDecodeError:
            errors.append((i, "is not UTF-8 text once percent-decoded"))
            continue
        why = id_problem(text)
        if why is not None:
            errors.append((i, why))
    if not errors:
        return []
    # matched on the raw segments: a decoded "%2F" would split a value into two
    names = _param_names(templates(), raw.decode("latin-1"))
    out = []
    for i, why in errors:
        name = names.get(i) or f"segment {i + 1}"
        out.append(FieldError(f"/path/{_escape(name)}", why))
    return out


def query_problems(query_string: bytes) -> list[FieldError]:
    """The problems of a query string's parameters, by name."""
    if not query_string:
        return []
    out = []
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name_bytes = unquote_to_bytes(raw_name.replace(b"+", b" "))
        name = name_bytes.decode("utf-8", "replace")
        try:
            name_bytes.decode("utf-8")
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            out.append(FieldError(f"/query/{_escape(name)}", "is not UTF-8 text once decoded"))
            continue
        why = text_problem(name) or text_problem(value)
        if why is None and len(value) > MAX_QUERY_CHARS:
            why = f"is longer than {MAX_QUERY_CHARS} characters"
        if why is not None:
            out.append(FieldError(f"/query/{_escape(name)}", why))
    return out


def _refusal(path: str, errors: list[FieldError]) -> JSONResponse:
    if path.startswith(F3548_PREFIXES):
        first = errors[0]
        name = first.pointer.removeprefix("/path/").removeprefix("/query/").lstrip("/")
        return JSONResponse({"message": f"{name.replace('/', '.')}: {first.reason}"}, 400)
    detail = "; ".join(str(e) for e in errors)
    return problem(422, "invalid-input", detail, errors)


class TextGuard:
    """The ASGI middleware that applies the rules above to every request."""

    def __init__(self, app: ASGIApp, templates_of: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.templates_of = templates_of  # () -> the app's path templates (to name parameters)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        errors = path_problems(scope, self.templates_of) + query_problems(
            scope.get("query_string", b"")
        )
        if errors and scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": str(errors[0])[:120]})
            return
        if errors:
            await _refusal(path, errors)(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if offload.is_heavy(body):  # decoding and parsing are long C calls: not in this process
            errors = await offload.run(body_problems, body)
        else:
            errors = body_problems(body)
        if errors:
            await _refusal(path, errors)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
