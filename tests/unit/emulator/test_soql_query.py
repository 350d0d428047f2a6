"""SOQL: the parser's strictness, type rules, REST query/queryAll pages and error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.bulk2.models import attach
from emulator.config import EmulatorConfig
from emulator.org.seed import create_accounts
from emulator.soql.compiler import compile_query
from emulator.soql.exceptions import MalformedQuery
from emulator.soql.parser import parse
from emulator.state import EmulatorState
from emulator.testing import core_login, in_process

V = "/services/data/v59.0"


@pytest.fixture
def api() -> Iterator[tuple[EmulatorState, TestClient, dict[str, str]]]:
    with in_process(EmulatorConfig(time_scale=0.0)) as (state, client):
        create_accounts(state, 2500, seed=5)
        service = attach(state)
        job = service.create_job({"object": "Opportunity", "operation": "insert"}, "59.0")
        csv = "Name,StageName,CloseDate,Amount,AccountId,IsPrivate\n" + "".join(
            f"Opp {i},{'Closed Won' if i % 2 else 'Prospecting'},2026-0{1 + i % 3}-15,{i * 10},"
            f"001EM000000000{1 + i % 3}YAA,{'true' if i == 0 else 'false'}\n"
            for i in range(6)
        )
        service.upload(job.id, csv.encode(), "text/csv")
        service.set_state(job.id, {"state": "UploadComplete"})
        service.wait(job.id, 5)
        yield state, client, {"Authorization": f"Bearer {core_login(client)}"}


def q(api: Any, soql: str, path: str = "query") -> Any:
    _, client, headers = api
    return client.get(f"{V}/{path}/", params={"q": soql}, headers=headers)


def test_count_with_filters(api: Any) -> None:
    body = q(
        api, "SELECT COUNT() FROM Opportunity WHERE Amount >= 20 AND StageName = 'closed won'"
    ).json()
    assert body == {"totalSize": 2, "done": True, "records": []}  # case-insensitive string match
    body = q(
        api, "SELECT COUNT() FROM Opportunity WHERE CloseDate <= 2026-02-15 OR Amount IN (50)"
    ).json()
    assert body["totalSize"] == 5


def test_selected_fields_types_and_relationships(api: Any) -> None:
    body = q(
        api,
        "SELECT Id, Name, Amount, IsPrivate, IsWon, CloseDate, Account.Name, Account.ExternalId__c "
        "FROM Opportunity WHERE Name LIKE 'Opp _' AND Name != 'Opp 5' ORDER BY Amount DESC LIMIT 2",
    ).json()
    assert body["totalSize"] == 2 and body["done"] is True
    first = body["records"][0]
    assert first["attributes"] == {
        "type": "Opportunity",
        "url": f"{V}/sobjects/Opportunity/{first['Id']}",
    }
    assert (first["Name"], first["Amount"], first["IsPrivate"], first["IsWon"]) == (
        "Opp 4",
        40.0,
        False,
        False,
    )
    assert first["CloseDate"] == "2026-02-15"
    assert first["Account"]["Name"] == "Account 000002"
    assert first["Account"]["ExternalId__c"] == "ACC-00000002"
    assert first["Account"]["attributes"]["type"] == "Account"


def test_paging_with_next_records_url(api: Any) -> None:
    _, client, headers = api
    body = q(api, "SELECT Id FROM Account")
    page = body.json()
    assert page["totalSize"] == 2500 and len(page["records"]) == 2000 and not page["done"]
    seen = {r["Id"] for r in page["records"]}
    nxt = client.get(page["nextRecordsUrl"], headers=headers).json()
    assert nxt["done"] is True and "nextRecordsUrl" not in nxt
    seen |= {r["Id"] for r in nxt["records"]}
    assert len(seen) == 2500
    stale = client.get(page["nextRecordsUrl"], headers=headers)
    assert stale.status_code == 400 and stale.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_batch_size_header(api: Any) -> None:
    _, client, headers = api
    page = client.get(
        f"{V}/query", params={"q": "SELECT Id FROM Account"},
        headers={**headers, "Sforce-Query-Options": "batchSize=500"},
    ).json()  # fmt: skip
    assert len(page["records"]) == 500


def test_query_all_sees_deleted_records(api: Any) -> None:
    state, _, _ = api
    state.connect().execute("UPDATE sobject_opportunity SET IsDeleted = 1 WHERE Name = 'Opp 0'")
    assert q(api, "SELECT COUNT() FROM Opportunity").json()["totalSize"] == 5
    assert q(api, "SELECT COUNT() FROM Opportunity", "queryAll").json()["totalSize"] == 6


@pytest.mark.parametrize(
    ("soql", "code", "tail"),
    [
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY", "ERROR at Row:1:Column:33\nunexpected token: '<EOF>'"),
        ("SELECT Id FROM Opportunity WHERE Name = 'x' AND", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id, FROM Opportunity", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Opportunity LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"),
        ("SELECT Id FROM Opportunity; DROP TABLE x", "MALFORMED_QUERY", "unexpected token: ';'"),
        ("SELECT Nope FROM Opportunity", "INVALID_FIELD", "No such column 'Nope' on entity 'Opportunity'."),
        ("SELECT Account.Nope FROM Opportunity", "INVALID_FIELD", "No such column 'Nope' on entity 'Account'."),
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported."),
        ("SELECT Id FROM Opportunity WHERE Amount = '5'", "INVALID_FIELD", "must be of type double and should not be enclosed in quotes"),
        ("SELECT Id FROM Opportunity WHERE CloseDate > '2026-01-01'", "INVALID_FIELD", "must be of type date and should not be enclosed in quotes"),
        ("SELECT Id FROM Opportunity WHERE Name = 5", "INVALID_FIELD", "must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Opportunity WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        ("", "MALFORMED_QUERY", "A query string has to be specified"),
    ],
)  # fmt: skip
def test_errors(api: Any, soql: str, code: str, tail: str) -> None:
    response = q(api, soql)
    assert response.status_code == 400
    body = response.json()
    assert body[0]["errorCode"] == code
    assert tail in body[0]["message"]


def test_error_message_points_at_the_column(api: Any) -> None:
    message = q(api, "SELECT Id, Nope FROM Opportunity").json()[0]["message"]
    assert message.startswith(
        "\nSELECT Id, Nope FROM Opportunity\n           ^\nERROR at Row:1:Column:12\n"
    )


def test_literals_never_become_sql() -> None:
    """Quotes, escapes and SQL fragments in literals stay parameters."""
    query = parse(
        r"SELECT Id FROM Account WHERE Name = 'O\'Brien; DROP TABLE x --' OR Name IN ('a', 'b')"
    )
    compiled = compile_query(query)
    assert "DROP" not in compiled.sql and "O'Brien" not in compiled.sql
    assert compiled.params == ["O'Brien; DROP TABLE x --", "a", "b"]


def test_datetime_literals_normalise_to_stored_form() -> None:
    compiled = compile_query(
        parse("SELECT Id FROM Account WHERE CreatedDate >= 2026-01-01T02:00:00+02:00")
    )
    assert compiled.params == ["2026-01-01T00:00:00.000+0000"]


@pytest.mark.parametrize(
    "bad",
    [
        "SELECT",
        "SELECT Id FROM",
        "SELECT Id Opportunity",
        "SELECT Id FROM A.B",
        "SELECT Id FROM X WHERE Name IN ()",
    ],
)
def test_parser_rejects(bad: str) -> None:
    with pytest.raises(MalformedQuery):
        parse(bad)
