"""Who may call what on ``/v1``: the roles within a party, route by route (docs/security.md).

Every ``/v1`` and ``/ogc`` (OGC API - Features) route has an entry; a route without one is
refused to everyone (403), and the tests walk the OpenAPI document so that a new route without
an entry fails them. The F3548 routes (``/dss``, ``/uss``, ``/aux``, ``/versions``) are
governed by their scopes instead.
On top of the role, routes check ownership (a party changes only its own records) and, for
agreements and keys, the party admin scope; the service admin scope manages parties.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import DeconflictionError, Forbidden
from .guard import F3548_PREFIXES, _refuse

PUBLIC = "public"  # no token needed
ANY = "any role"
SERVICE = "service admin scope"  # the route checks deconfliction.admin itself

P, W, L, A, D = "planner", "watch-officer", "liaison", "auditor", "admin"
READERS = frozenset({P, W, L, A})

ROUTE_ROLES: dict[tuple[str, str], str | frozenset[str]] = {
    ("GET", "/v1/health"): PUBLIC,
    ("GET", "/v1/me"): ANY,
    ("GET", "/v1/parties"): ANY,
    ("POST", "/v1/parties"): SERVICE,
    ("GET", "/v1/picture"): ANY,
    ("GET", "/v1/conflicts"): READERS,
    ("GET", "/v1/conflicts/{conflict_id}/thread"): READERS,
    **{
        (m, f"/v1/{k}{tail}"): roles
        for k in ("intents", "areas")
        for m, tail, roles in (
            ("POST", "", frozenset({P})),
            ("GET", "", READERS),
            ("POST", "/query", frozenset({P, W, L})),
            ("POST", "/preview", frozenset({P, W, L})),
            ("GET", "/{record_id}", READERS),
            ("PUT", "/{record_id}", frozenset({P})),
            ("DELETE", "/{record_id}", frozenset({P})),
            ("GET", "/{record_id}/released", frozenset({P, L, A})),
        )
    },
    ("GET", "/v1/events"): ANY,
    ("PUT", "/v1/webhook"): frozenset({D}),
    ("GET", "/v1/webhook"): frozenset({D, A}),
    ("DELETE", "/v1/webhook"): frozenset({D}),
    ("GET", "/v1/webhook/dead-letters"): frozenset({D, A}),
    ("GET", "/v1/phrasebook"): ANY,
    ("GET", "/v1/threads"): READERS,
    ("POST", "/v1/threads"): frozenset({W, L}),
    ("GET", "/v1/threads/{thread_id}"): READERS,
    ("POST", "/v1/threads/{thread_id}/messages"): frozenset({W, L}),
    ("POST", "/v1/threads/{thread_id}/messages/{message_id}/ack"): frozenset({W, L}),
    ("GET", "/v1/agreements"): frozenset({L, A, D}),
    ("PUT", "/v1/agreements/{other}"): frozenset({D}),
    ("POST", "/v1/agreements/{other}/versions/{version}/accept"): frozenset({D}),
    ("GET", "/v1/disclosures"): frozenset({L, A, D}),
    ("GET", "/v1/ledger"): frozenset({L, A, D}),
    ("GET", "/v1/probes"): frozenset({L, A, D}),
    ("GET", "/v1/dss/publication"): frozenset({L, A, D}),
    ("PUT", "/v1/dss/publication"): frozenset({D}),
    ("GET", "/v1/links"): ANY,
    ("POST", "/v1/links/heartbeat"): ANY,
    ("POST", "/v1/tracks"): frozenset({W}),
    ("GET", "/v1/tracks"): READERS,
    ("GET", "/v1/tracks/stream"): READERS,
    ("GET", "/v1/tactical"): READERS,
    ("PUT", "/v1/audit/keys"): frozenset({D}),
    ("GET", "/v1/audit/checkpoints"): frozenset({A, D, L}),
    ("GET", "/v1/audit/export"): frozenset({A, D, L}),
    ("GET", "/v1/audit/links"): ANY,
    ("POST", "/v1/audit/checkpoints/{seq}/countersignatures"): frozenset({A, D}),
    ("GET", "/v1/picture/cot"): READERS,
    ("GET", "/v1/picture/kml"): READERS,
    ("POST", "/v1/areas/import"): frozenset({P}),
    ("GET", "/ogc"): ANY,
    ("GET", "/ogc/conformance"): ANY,
    ("GET", "/ogc/collections"): READERS,
    ("GET", "/ogc/collections/{collection_id}"): READERS,
    ("GET", "/ogc/collections/{collection_id}/items"): READERS,
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): READERS,
    ("GET", "/v1/screening/findings"): READERS,
    ("POST", "/v1/screening/sessions"): frozenset({P, W, L}),
    ("POST", "/v1/screening/sessions/{session_id}/messages"): frozenset({P, W, L}),
    ("GET", "/v1/screening/sessions"): frozenset({P, W, L, A, D}),
    ("GET", "/v1/federation/conflicts"): READERS,
    ("GET", "/v1/federation/views"): READERS,
    ("GET", "/v1/federation/tracks"): READERS,
    ("GET", "/v1/federation/agreements"): frozenset({L, A, D}),
    ("GET", "/v1/federation/peers"): frozenset({L, A, D}),
    ("GET", "/v1/federation/checkpoints"): frozenset({A, D, L}),
    ("GET", "/v1/dev/parties"): PUBLIC,
    ("GET", "/v1/dev/token"): PUBLIC,
}


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$")


_PATTERNS = [(m, t, _compile(t)) for (m, t) in ROUTE_ROLES]


def rule(method: str, path: str) -> str | frozenset[str] | None:
    for m, template, pattern in _PATTERNS:
        if m == method and pattern.match(path):
            return ROUTE_ROLES[(m, template)]
    return None


class RoleGate:
    """Refuses a ``/v1`` call whose token lacks every role its route allows (403)."""

    def __init__(self, app: ASGIApp, auth_of: Any) -> None:
        self.app = app
        self.auth_of = auth_of  # () -> AuthConfig (the app's, read when a call comes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not (path.startswith(("/v1/", "/ogc/")) or path == "/ogc")
            or path.startswith(F3548_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        need = rule(method, path)  # None: no such route (the router answers 404 or 405)
        if isinstance(need, frozenset):
            headers = dict(scope["headers"])
            scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                try:
                    principal = self.auth_of().verify(token.strip())
                except DeconflictionError:
                    principal = None  # the route answers 401
                if principal is not None and not principal.roles & need:
                    exc = Forbidden(f"this needs one of the roles {', '.join(sorted(need))}")
                    await _refuse(send, path, 403, exc.code, exc.user_message)
                    return
        await self.app(scope, receive, send)
