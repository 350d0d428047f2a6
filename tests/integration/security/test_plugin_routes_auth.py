"""Every route of the progress plugin's app refuses an anonymous caller with 401.

Why enumerate instead of listing paths: plugin apps get no auth from Airflow, so a route added
later without the app-level dependency would be open to anyone who can reach the api-server.
Walking `app.routes` catches it the day it is added. (Per-DAG 403s and the logged-in 200s are
covered in tests/integration/plugin/test_progress_api.py against the real api-server.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from plugins.partition_progress import app

pytestmark = pytest.mark.integration

SAMPLE_VALUES = {
    "dag_id": "datacloud_to_salesforce",
    "run_id": "manual__2026-01-01T00:00:00+00:00",
    "source": "0",
    "name": "run.js",
}


def _routes() -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, path parameters filled in."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        assert not isinstance(route, Mount), f"mounted sub-app {route.path} is not covered"
        if not isinstance(route, APIRoute | Route):
            continue
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_VALUES[m.group(1)], route.path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, path))
    return found


ROUTES = _routes()
#: Starlette's own documentation routes are switched off; what is left is ours.
EXPECTED_PATHS = {
    "/",
    "/api/runs",
    "/api/runs/{dag_id}/{run_id}",
    "/runs",
    "/runs/{dag_id}/{run_id}",
    "/static/{name}",
    "/api/runs/{dag_id}/{run_id}/dead-letters",
    "/runs/{dag_id}/{run_id}/dead-letters",
    "/runs/{dag_id}/{run_id}/dead-letters/{source}",
    "/runs/{dag_id}/{run_id}/dead-letters/{source}/{name}",
    "/runs/{dag_id}/{run_id}/dead-letters/{source}/{name}/download",
}


def test_the_app_has_no_docs_or_openapi_routes() -> None:
    paths = {r.path for r in app.routes if isinstance(r, APIRoute | Route)}
    assert not paths & {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
    assert paths >= EXPECTED_PATHS
    assert len(ROUTES) == len(paths)  # every route answers GET only: nothing writes


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "text/html"},
        {"Authorization": ""},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},  # basic auth is not a login
        {"Cookie": "_token="},
    ],
    ids=["bare", "browser", "empty-bearer", "basic", "empty-cookie"],
)
def test_anonymous_request_gets_401(method: str, path: str, headers: dict[str, Any]) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, path, headers=headers, follow_redirects=False)
    assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
    assert "Partition" not in response.text or "log in" in response.text.lower()
