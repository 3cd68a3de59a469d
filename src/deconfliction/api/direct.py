"""Routes served without FastAPI's per-request machinery: the F3548 ones and the health check.

A FastAPI route costs, on every request, a walk through the included routers, a ``Request``,
two exit stacks, its dependencies solved and its answer checked against a response model: in
a profile of the DSS cycle (query, create, delete), about as much CPU in the event loop as the
route's own work there. The F3548 routes need none of it: each is ``async``, takes only its
path parameters (strings) and the request, reads and checks its body itself and answers a
``Response`` it made (see ``api/dss.py``); so does ``/v1/health`` (its response model is there
for the OpenAPI document only). ``DirectRoutes`` serves such routes itself, ahead of the app's
other routes:

- **The same routes.** It is built from the ``APIRoute`` objects themselves (their path
  regular expressions, convertors, methods and endpoints), tried in the same order; a route
  that does not have that shape (a dependency, a body, query or header parameter, an answer
  that is not a ``Response``, a sync endpoint, a body size limit of its own) is left to
  FastAPI, which still holds every route (the OpenAPI document is unchanged). No route before
  it in the app's order may match the paths of the routes it serves (decision 0015).
- **The same answers.** A path that matches no route here with its method (a 405, a 404) goes
  on to the app's router. The endpoint's ``Response`` is sent as FastAPI sends it (unchanged:
  no background task, no extra header); an exception it raises goes up to the app's exception
  middleware, which answers it with the same handlers a route would.
- **The same checks.** It sits in the router, inside every middleware: the guard (limits, the
  caller's identity, the rate limit), the text guard and the role gate run before it as
  before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send


def _servable(route: APIRoute) -> bool:
    """An async endpoint that takes only its (string) path parameters and, perhaps, the
    request, and answers a ``Response`` of its own (which FastAPI sends as it is, whatever
    the route's response model, there for the OpenAPI document)."""
    if not inspect.iscoroutinefunction(route.endpoint):
        return False
    if route.dependencies or getattr(route, "max_body_size", None) is not None:
        return False
    dep = route.dependant
    if (
        dep.query_params
        or dep.header_params
        or dep.cookie_params
        or dep.body_params
        or dep.dependencies
        or dep.background_tasks_param_name
        or dep.response_param_name
        or dep.websocket_param_name
        or dep.http_connection_param_name
        or dep.security_scopes_param_name
    ):
        return False
    path_names = {p.name for p in dep.path_params}
    if path_names != set(route.param_convertors):
        return False
    sig = inspect.signature(route.endpoint, eval_str=True)
    answer = sig.return_annotation
    if not (isinstance(answer, type) and issubclass(answer, Response)):
        return False
    for name, param in sig.parameters.items():
        if name in path_names:
            if param.annotation is not str:
                return False
        elif name != dep.request_param_name or param.annotation is not Request:
            return False
    return True


def _first_segment(path: str) -> str:
    """``"/dss/"`` of ``"/dss/v1/..."``."""
    end = path.find("/", 1)
    return path if end < 0 else path[: end + 1]


class DirectRoutes(BaseRoute):
    """The servable routes among ``routes``, served in their order (see the module)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        #: by the path's first segment ("/dss/"): the routes served here, in their order
        self.table: dict[str, list[tuple[Any, frozenset[str], APIRoute]]] = {}
        for route in routes:
            if isinstance(route, APIRoute) and _servable(route):
                first = _first_segment(route.path_format)
                entry = (route.path_regex, frozenset(route.methods or ()), route)
                self.table.setdefault(first, []).append(entry)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope.get("root_path"):
            return Match.NONE, {}
        path: str = scope["path"]
        method = scope["method"]
        for regex, methods, route in self.table.get(_first_segment(path), ()):
            found = regex.match(path)
            if found is not None and method in methods:
                params = {
                    k: route.param_convertors[k].convert(v) for k, v in found.groupdict().items()
                }
                return Match.FULL, {
                    "endpoint": route.endpoint,
                    "path_params": {**scope.get("path_params", {}), **params},
                    "route": route,
                }
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: APIRoute = scope["route"]
        request = Request(scope, receive, send)
        endpoint: Callable[..., Any] = route.endpoint
        kwargs: dict[str, Any] = dict(scope["path_params"])
        if route.dependant.request_param_name is not None:
            kwargs[route.dependant.request_param_name] = request
        response = await endpoint(**kwargs)
        if not isinstance(response, Response):  # its signature says otherwise: a bug
            raise TypeError(f"{route.path} answered {type(response).__name__}, not a Response")
        await response(scope, receive, send)
