"""The emulator refuses every API request without a valid token of the right kind.

Why: tests and the demo rely on the emulator behaving like Salesforce, and a loader bug that sends
no token, a stale token or the wrong token (the Data Cloud token to core, or the reverse) must fail
against it the way it would in production, not pass silently. Routes are enumerated from the app
so a new route without the guard fails here. The login routes take credentials instead of a
token; `/__emulator__` is the test-only admin API (no Salesforce path) and is out of scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from emulator.state import EmulatorState
from emulator.testing import core_login, in_process

pytestmark = pytest.mark.integration

LOGIN_ROUTES = {
    "/services/oauth2/token",
    "/services/oauth2/revoke",
    "/services/Soap/u/{version}",
    "/services/a360/token",
}
SAMPLE = {"version": "59.0", "job_id": "750EM0000000001AAA", "batch_id": "b1", "name": "Account"}
SAMPLE["locator"] = "01gEM0000000001-2000"


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[EmulatorState, TestClient]]:
    with in_process(raise_server_exceptions=False) as pair:
        yield pair


def _api_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(group, method, path) of every token-guarded route; group is 'core' or 'datacloud'."""
    routes: list[tuple[str, str, str]] = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute):
            continue
        if route.path.startswith("/__emulator__") or route.path in LOGIN_ROUTES:
            continue
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE[m.group(1)], route.path)
        # The Connect form (/services/data/vXX/ssot/queryv2) is a core API: core token, like
        # Salesforce; only the tenant host's /api/v2 takes the Data Cloud token.
        group = "datacloud" if path.startswith("/api/") else "core"
        routes.extend((group, method, path) for method in sorted(route.methods))
    return routes


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    body: dict[str, Any] = {}
    if method in ("POST", "PATCH", "PUT"):
        body = {"content": b"Id\n"} if path.endswith("batches") else {"json": {"sql": "SELECT 1"}}
    return client.request(method, path, headers=headers, **body)


def test_every_api_route_group_is_enumerated(emulator: tuple[EmulatorState, TestClient]) -> None:
    routes = _api_routes(emulator[1])
    paths = " ".join(path for _, _, path in routes)
    for fragment in ("/jobs/ingest", "/jobs/query", "/query", "/limits", "/sobjects", "/api/v2"):
        assert fragment in paths
    assert len(routes) >= 50


def test_requests_without_a_valid_token_get_401(
    emulator: tuple[EmulatorState, TestClient],
) -> None:
    state, client = emulator
    core = core_login(client)
    exchanged = client.post(
        "/services/a360/token",
        data={
            "grant_type": "urn:salesforce:grant-type:external:cdp",
            "subject_token": core,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    datacloud = exchanged.json()["access_token"]
    expired = core_login(client)
    state.sessions.expire(expired)
    revoked = core_login(client)
    assert client.post("/services/oauth2/revoke", data={"token": revoked}).status_code == 200
    refusals: dict[str, int] = {}
    routes = _api_routes(client)
    for group, method, path in routes:
        wrong_kind = core if group == "datacloud" else datacloud
        for label, headers in {
            "none": {},
            "garbage": {"Authorization": "Bearer not-a-token"},
            "empty": {"Authorization": "Bearer "},
            "wrong kind": {"Authorization": f"Bearer {wrong_kind}"},
            "expired": {"Authorization": f"Bearer {expired}"},
            "revoked": {"Authorization": f"Bearer {revoked}"},
        }.items():
            response = _call(client, method, path, headers)
            assert response.status_code == 401, (label, method, path, response.text[:200])
            assert "INVALID_SESSION_ID" in response.text or "invalid" in response.text.lower()
            refusals[label] = refusals.get(label, 0) + 1
    assert refusals == dict.fromkeys(
        ("none", "garbage", "empty", "wrong kind", "expired", "revoked"), len(routes)
    )
    # And the valid tokens do get through (so the 401s above are about the token, not the route).
    assert (
        client.get(
            "/services/data/v59.0/limits", headers={"Authorization": f"Bearer {core}"}
        ).status_code
        == 200
    )
    ok = client.post(
        "/api/v2/query",
        json={"sql": 'SELECT COUNT(*) AS "n" FROM "Opportunity_Source__dlm"'},
        headers={"Authorization": f"Bearer {datacloud}"},
    )
    assert ok.status_code == 200 and ok.json()["data"] == [[0]]


def test_token_exchange_refuses_a_bad_subject_token(
    emulator: tuple[EmulatorState, TestClient],
) -> None:
    _, client = emulator
    response = client.post(
        "/services/a360/token",
        data={
            "grant_type": "urn:salesforce:grant-type:external:cdp",
            "subject_token": "forged",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )
    assert response.status_code in (400, 401)
    assert "access_token" not in response.text
