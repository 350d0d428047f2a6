"""API tests of the progress plugin against the real api-server app (see conftest for the setup)."""

from __future__ import annotations

from typing import Any

from conftest import ACTIVE_RUN, bearer
from progress_seeding import FIXTURE_DAG_ID

URL = f"/dc2sf/api/runs/{FIXTURE_DAG_ID}/{ACTIVE_RUN}"


def test_smoke(client: Any, tokens: dict[str, str], scenario: Any) -> None:
    r = client.get(URL, headers=bearer(tokens["admin"]))
    print(r.status_code)
    import json

    print(json.dumps(r.json(), indent=1)[:6000])
    assert r.status_code == 200
