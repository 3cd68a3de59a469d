"""Schemathesis over the whole OpenAPI document (/v1, /dss/v1, /uss/v1, /ogc): requests made
from the schema, valid and invalid, by a caller that holds every scope and role, on a store with
one of everything. No answer may be a 5xx, and every answer must be one the schema documents
(status code, content type, and the body's shape where one is given)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from deconfliction import dss, exchange
from deconfliction.auth import AuthConfig
from deconfliction.model import Party
from deconfliction.store import SqliteStore
from routes import make_scene

pytestmark = pytest.mark.slow


def _app(tmp_path: Path, auth: AuthConfig, tokens: dict[str, str], signing_key: Any) -> Any:
    store = SqliteStore(tmp_path / "store.db")
    exchange.install(store.hooks)
    dss.install(store.hooks)
    for pid in ("FR", "RU", "UK"):
        store.put_party(Party(id=pid, name=pid), actor="test")
    scene = make_scene(store, auth, tokens, signing_key)
    return scene.api.client.app, scene.token


def test_no_request_the_schema_allows_or_forbids_gets_a_5xx(
    tmp_path: Path, auth: AuthConfig, tokens: dict[str, str], signing_key: Any
) -> None:
    app, token = _app(tmp_path, auth, tokens, signing_key)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tried += 1

        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def one(case: Any) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, status_code_conformance]
            )

        try:
            one()
        except (Exception, BaseExceptionGroup) as exc:  # every failure, not only the first
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert tried >= 80, tried  # every route of the document
    assert failures == [], "\n\n".join(failures)
