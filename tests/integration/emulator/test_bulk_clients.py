"""Unmodified real clients against a real HTTPS emulator: simple-salesforce ``bulk2`` upsert,
insert, delete and query, and Airflow's ``SalesforceHook`` running SOQL (``query``/``query_all``).

Clients reach the emulator through ``EmulatorServer.requests_session()`` (a requests session that
rewrites ``*.salesforce.com`` to the emulator and trusts its throwaway CA); nothing in the
clients is patched. ``wait=`` only shortens simple-salesforce's own poll interval.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce

from emulator.config import EmulatorConfig
from emulator.org.seed import create_accounts
from emulator.testing import EmulatorServer

pytestmark = pytest.mark.integration

USERNAME = "bulk@example.com"
PASSWORD = "pw"
TOKEN = "TKN"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(time_scale=0.0, users={USERNAME: PASSWORD + TOKEN})
    with EmulatorServer(config) as server:
        create_accounts(server.state, 30, seed=4)
        yield server


@pytest.fixture(scope="module")
def sf(emulator: EmulatorServer) -> Salesforce:
    return Salesforce(
        username=USERNAME,
        password=PASSWORD,
        security_token=TOKEN,
        session=emulator.requests_session(),
    )


def _records(n: int, prefix: str) -> list[dict[str, str]]:
    return [
        {
            "ExternalId__c": f"{prefix}{i:04d}",
            "Name": f"Deal {i}",
            "StageName": "Prospecting",
            "CloseDate": "2026-05-01",
            "Amount": str(i * 10),
            "Account.ExternalId__c": f"ACC-{1 + i % 30:08d}",
        }
        for i in range(n)
    ]


def test_bulk2_upsert_insert_and_delete(sf: Salesforce) -> None:
    results = sf.bulk2.Opportunity.upsert(
        records=_records(250, "U"), external_id_field="ExternalId__c", batch_size=100, wait=0.05
    )
    assert [r["numberRecordsProcessed"] for r in results] == [100, 100, 50]
    assert all(r["numberRecordsFailed"] == 0 for r in results)
    # Re-upsert updates: sf__Created false in the successful results.
    again = sf.bulk2.Opportunity.upsert(
        records=_records(10, "U"), external_id_field="ExternalId__c", wait=0.05
    )
    ok = list(
        csv.DictReader(io.StringIO(sf.bulk2.Opportunity.get_successful_records(again[0]["job_id"])))
    )
    assert {row["sf__Created"] for row in ok} == {"false"} and len(ok) == 10

    inserted = sf.bulk2.Opportunity.insert(
        records=[
            {"Name": "X", "StageName": "Prospecting", "CloseDate": "2026-01-01"},
            {"Name": "Y"},
        ],
        wait=0.05,
    )
    assert inserted[0]["numberRecordsProcessed"] == 2 and inserted[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Opportunity.get_failed_records(inserted[0]["job_id"])
    assert "REQUIRED_FIELD_MISSING:Required fields are missing: [StageName, CloseDate]" in failed

    ids = [row["sf__Id"] for row in ok]
    deleted = sf.bulk2.Opportunity.delete(records=[{"Id": i} for i in ids], wait=0.05)
    assert deleted[0]["numberRecordsProcessed"] == 10 and deleted[0]["numberRecordsFailed"] == 0
    assert (
        sf.query("SELECT COUNT() FROM Opportunity WHERE ExternalId__c LIKE 'U%'")["totalSize"]
        == 240
    )


def test_bulk2_query(sf: Salesforce) -> None:
    sf.bulk2.Opportunity.upsert(
        records=_records(30, "Q"), external_id_field="ExternalId__c", wait=0.05
    )
    pages = list(
        sf.bulk2.Opportunity.query(
            "SELECT Id, ExternalId__c FROM Opportunity WHERE ExternalId__c LIKE 'Q%'",
            max_records=12,
            wait=0.05,
        )
    )
    assert len(pages) == 3
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(rows) == 30 and rows[0]["ExternalId__c"].startswith("Q")


def test_delete_job_gets_an_empty_204_like_salesforce(sf: Salesforce) -> None:
    """simple-salesforce's delete_job() calls .json() on the 204 (reference §0.5): it fails the
    same way against the emulator as against Salesforce, because the body is empty."""
    job = sf.bulk2.Opportunity._client.create_job("insert", None)
    sf.bulk2.Opportunity._client.abort_job(job["id"], False)
    with pytest.raises(ValueError):
        sf.bulk2.Opportunity._client.delete_job(job["id"], False)


def test_airflow_hook_query_and_query_all(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    connection = {
        "conn_type": "salesforce",
        "login": USERNAME,
        "password": PASSWORD,
        "extra": {"security_token": TOKEN, "domain": "login"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SF_BULK_EMULATOR", json.dumps(connection))
    hook = SalesforceHook("sf_bulk_emulator", session=emulator.requests_session())
    conn = hook.get_conn()
    count = conn.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Account 00001%'")
    assert count["totalSize"] == 10
    page = conn.query("SELECT Id, Name FROM Account WHERE Industry != null ORDER BY Name LIMIT 5")
    assert [r["Name"] for r in page["records"]] == [f"Account {n:06d}" for n in range(1, 6)]
    everything = conn.query_all("SELECT Id FROM Account")
    assert everything["totalSize"] == 30 and len(everything["records"]) == 30
    made = hook.make_query(
        "SELECT Id, ExternalId__c FROM Account WHERE ExternalId__c IN ('ACC-00000001', 'ACC-00000002')"
    )
    assert sorted(r["ExternalId__c"] for r in made["records"]) == ["ACC-00000001", "ACC-00000002"]
    assert hook.describe_object("Opportunity")["name"] == "Opportunity"
    assert "ExternalId__c" in hook.get_available_fields("Opportunity")
