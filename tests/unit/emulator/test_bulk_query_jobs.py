"""Bulk API 2.0 query jobs over HTTP: life cycle, CSV pages with locators, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.bulk2.models import BulkService
from emulator.config import EmulatorConfig
from emulator.org.seed import create_accounts
from emulator.testing import core_login, in_process

V = "/services/data/v59.0/jobs/query"


@pytest.fixture
def api() -> Iterator[Any]:
    with in_process(EmulatorConfig(time_scale=0.0)) as (state, client):
        create_accounts(state, 25, seed=2)
        yield state, client, {"Authorization": f"Bearer {core_login(client)}"}


def create(api: Any, soql: str, **extra: str) -> Any:
    _, client, headers = api
    return client.post(V, json={"operation": "query", "query": soql, **extra}, headers=headers)


def wait(api: Any, job_id: str) -> dict[str, Any]:
    state, client, headers = api
    service: BulkService = state.services["bulk2"]
    assert service.engine.wait_idle(5)
    return client.get(f"{V}/{job_id}", headers=headers).json()  # type: ignore[no-any-return]


def test_life_cycle_and_paged_results(api: Any) -> None:
    _, client, headers = api
    created = create(
        api,
        "SELECT Id, Name, AccountNumber FROM Account WHERE Name LIKE 'Account 00001%' ORDER BY Name",
    )
    assert created.status_code == 200
    body = created.json()
    assert body["state"] == "UploadComplete" and body["operation"] == "query"
    assert body["object"] == "Account" and body["id"].startswith("750")
    info = wait(api, body["id"])
    assert info["state"] == "JobComplete" and info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == 10
    first = client.get(f"{V}/{body['id']}/results", params={"maxRecords": 4}, headers=headers)
    assert first.headers["Sforce-NumberOfRecords"] == "4"
    locator = first.headers["Sforce-Locator"]
    assert locator not in ("", "null")
    lines = first.text.splitlines()
    assert lines[0] == '"Id","Name","AccountNumber"' and len(lines) == 5
    assert lines[1].endswith(',"Account 000010",')  # null: empty, unquoted
    seen = 4
    while locator != "null":
        page = client.get(
            f"{V}/{body['id']}/results",
            params={"maxRecords": 4, "locator": locator},
            headers=headers,
        )
        seen += int(page.headers["Sforce-NumberOfRecords"])
        locator = page.headers["Sforce-Locator"]
    assert seen == 10
    listed = client.get(V, headers=headers).json()
    assert [r["id"] for r in listed["records"]] == [body["id"]] and listed["done"] is True
    deleted = client.delete(f"{V}/{body['id']}", headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"{V}/{body['id']}", headers=headers).status_code == 404


def test_delimiter_and_line_ending(api: Any) -> None:
    _, client, headers = api
    job = create(
        api, "SELECT Id, Name FROM Account LIMIT 2", columnDelimiter="PIPE", lineEnding="CRLF"
    ).json()
    wait(api, job["id"])
    text = client.get(f"{V}/{job['id']}/results", headers=headers).text
    assert text.startswith('"Id"|"Name"\r\n') and text.count("\r\n") == 3


def test_errors(api: Any) -> None:
    assert create(api, "SELECT COUNT() FROM Account").json()[0]["errorCode"] == "INVALIDJOB"
    assert create(api, "SELECT Nope FROM Account").json()[0]["errorCode"] == "INVALID_FIELD"
    assert create(api, "SELECT Id FROM").json()[0]["errorCode"] == "MALFORMED_QUERY"
    _, client, headers = api
    bad = client.post(
        V, json={"operation": "count", "query": "SELECT Id FROM Account"}, headers=headers
    )
    assert bad.json()[0]["errorCode"] == "API_ERROR"
    job = create(api, "SELECT Id FROM Account").json()
    wait(api, job["id"])
    abort = client.patch(f"{V}/{job['id']}", json={"state": "Aborted"}, headers=headers)
    assert abort.status_code == 400 and abort.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert client.get(f"{V}/750EM0000000099AAA/results", headers=headers).status_code == 404


def test_query_jobs_count_against_the_daily_allocation() -> None:
    with in_process(EmulatorConfig(time_scale=0.0, bulk_query_daily_job_max=1)) as (_state, client):
        headers = {"Authorization": f"Bearer {core_login(client)}"}
        body = {"operation": "query", "query": "SELECT Id FROM Account"}
        assert client.post(V, json=body, headers=headers).status_code == 200
        refused = client.post(V, json=body, headers=headers)
        assert refused.status_code == 403 and refused.json()[0]["errorCode"] == "EXCEEDEDQUOTA"
