"""Unmodified real clients against a real HTTPS emulator: simple-salesforce in every login mode,
Airflow's SalesforceHook, and the salesforce-cdp-connector querying Data Cloud."""

from __future__ import annotations

import json

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from emulator.faults import FaultProfile, FaultSpec
from emulator.testing import EmulatorServer
from tests.integration.emulator.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
)

pytestmark = pytest.mark.integration


def _check(sf: Salesforce, emulator: EmulatorServer) -> None:
    assert sf.sf_instance == emulator.tenant_host  # host:port, scheme stripped
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert sf.api_usage["api-usage"].total == 100_000


def test_soap_password_and_security_token(emulator: EmulatorServer) -> None:
    sf = Salesforce(
        username=USERNAME,
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
        session=emulator.requests_session(),
    )
    _check(sf, emulator)


def test_soap_wrong_password_raises_authentication_failed(emulator: EmulatorServer) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(
            username=USERNAME,
            password="wrong",
            security_token=SECURITY_TOKEN,
            session=emulator.requests_session(),
        )
    assert info.value.code == "INVALID_LOGIN"


def test_oauth_password_grant(emulator: EmulatorServer) -> None:
    sf = Salesforce(
        username=USERNAME,
        password=PASSWORD + SECURITY_TOKEN,
        consumer_key=CLIENT_ID,
        consumer_secret=CLIENT_SECRET,
        session=emulator.requests_session(),
    )
    _check(sf, emulator)


def test_jwt_bearer(emulator: EmulatorServer, jwt_private_key: str) -> None:
    sf = Salesforce(
        username=USERNAME,
        consumer_key=CLIENT_ID,
        privatekey=jwt_private_key,
        session=emulator.requests_session(),
    )
    _check(sf, emulator)


def test_client_credentials_on_a_my_domain(emulator: EmulatorServer) -> None:
    sf = Salesforce(
        consumer_key=CLIENT_ID,
        consumer_secret=CLIENT_SECRET,
        domain="emulator.my",
        session=emulator.requests_session(),
    )
    _check(sf, emulator)


def test_direct_session_mode(emulator: EmulatorServer) -> None:
    token = emulator.requests_session().post(
        f"{emulator.base_url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": USERNAME,
            "password": PASSWORD + SECURITY_TOKEN,
        },
    )
    sf = Salesforce(
        session_id=token.json()["access_token"],
        instance_url=token.json()["instance_url"],
        session=emulator.requests_session(),
    )
    _check(sf, emulator)


def test_airflow_salesforce_hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    connection = {
        "conn_type": "salesforce",
        "login": USERNAME,
        "password": PASSWORD,
        "extra": {"security_token": SECURITY_TOKEN, "domain": "login"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SF_EMULATOR", json.dumps(connection))
    hook = SalesforceHook("sf_emulator", session=emulator.requests_session())
    conn = hook.get_conn()
    assert conn.sf_instance == emulator.tenant_host
    assert conn.limits()["DailyBulkApiBatches"]["Max"] == 15_000


def test_cdp_connector_queries_data_cloud(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesforcecdpconnector.connection import SalesforceCDPConnection

    # The connector's token calls use its own requests session: trust the emulator CA by env.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
    conn = SalesforceCDPConnection(
        emulator.base_url,
        username=USERNAME,
        password=PASSWORD + SECURITY_TOKEN,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    cursor = conn.cursor()
    cursor.execute(
        'SELECT "ExternalId__c", "Amount__c", "CloseDate__c" FROM "Opportunity_Source__dlm" '
        'WHERE "ExternalId__c" > \'externalOpp0000100\' ORDER BY "ExternalId__c" LIMIT 1200'
    )
    rows = cursor.fetchall()  # 1,200 rows over 3 batches of <= 500 (nextBatchId paging)
    assert len(rows) == 1200
    assert rows[0][0] == "externalOpp0000101" and rows[-1][0] == "externalOpp0001300"
    assert isinstance(rows[0][1], float)
    assert [d[0] for d in cursor.description] == ["ExternalId__c", "Amount__c", "CloseDate__c"]
    cursor.execute('SELECT COUNT(*) FROM "Opportunity_Source__dlm"')
    assert cursor.fetchone()[0] == 2000


def test_injected_reset_drops_the_tcp_connection(emulator: EmulatorServer) -> None:
    session = emulator.requests_session()
    emulator.state.faults.set_profile(
        FaultProfile(seed=1, groups={"limits": FaultSpec(reset_rate=1.0)})
    )
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(f"{emulator.base_url}/services/data/v59.0/limits")
    finally:
        emulator.state.faults.set_profile(FaultProfile())
    assert session.get(f"{emulator.base_url}/__emulator__/health").status_code == 200
