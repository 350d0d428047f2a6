"""The salesforce-cdp-connector's pandas path (``enable-arrow-stream``) against the real emulator.

The benchmark's ``user_stack`` contender reads the DMO this way, so the Arrow form must carry the
same rows, in the same order and with the same values, as the JSON form of the same query.
"""

from __future__ import annotations

import math

import pytest

from emulator.testing import EmulatorServer
from tests.integration.emulator.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
)

pytestmark = pytest.mark.integration

SQL = (
    'SELECT "ExternalId__c", "Amount__c", "CloseDate__c", "IsPrivate__c", "Description__c" '
    'FROM "Opportunity_Source__dlm" WHERE "ExternalId__c" > \'externalOpp0000100\' '
    'ORDER BY "ExternalId__c" LIMIT 1200'
)


@pytest.fixture()
def connection(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from salesforcecdpconnector.connection import SalesforceCDPConnection

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
    return SalesforceCDPConnection(
        emulator.base_url,
        username=USERNAME,
        password=PASSWORD + SECURITY_TOKEN,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )


def test_pandas_frame_matches_the_json_rows(connection) -> None:  # type: ignore[no-untyped-def]
    frame = connection.get_pandas_dataframe(SQL)  # 1,200 rows over 3 Arrow batches of <= 500
    cursor = connection.cursor()
    cursor.execute(SQL)
    rows = cursor.fetchall()
    assert list(frame.columns) == [d[0] for d in cursor.description]
    assert len(frame) == len(rows) == 1200
    assert frame["ExternalId__c"].tolist() == [r[0] for r in rows]
    assert frame["Amount__c"].dtype.kind == "f"
    for got, want in zip(frame["Amount__c"].tolist(), (r[1] for r in rows), strict=True):
        assert (want is None and math.isnan(got)) or got == want
    assert frame["CloseDate__c"].tolist() == [r[2] for r in rows]
    assert [bool(v) for v in frame["IsPrivate__c"]] == [bool(r[3]) for r in rows]
    assert set(frame["IsPrivate__c"].tolist()) == {True, False}


def test_an_empty_result_is_an_empty_frame_with_the_columns(connection) -> None:  # type: ignore[no-untyped-def]
    frame = connection.get_pandas_dataframe(
        'SELECT "ExternalId__c", "Amount__c" FROM "Opportunity_Source__dlm" '
        "WHERE \"ExternalId__c\" > 'z'"
    )
    assert frame is not None and frame.empty
    assert list(frame.columns) == ["ExternalId__c", "Amount__c"]
