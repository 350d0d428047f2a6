"""The org model: describe bodies, value conversion rules and DML semantics without HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.config import EmulatorConfig
from emulator.org.dml import ColumnPlan, DmlExecutor, HeaderError
from emulator.org.models import describe_global, describe_sobject, org_of
from emulator.org.schema import ACCOUNT, OPPORTUNITY
from emulator.org.seed import create_accounts
from emulator.org.values import parse_date, parse_datetime, to18
from emulator.state import EmulatorState
from emulator.testing import core_login, in_process


@pytest.fixture
def state() -> Iterator[EmulatorState]:
    st = EmulatorState(EmulatorConfig(time_scale=0.0))
    create_accounts(st, 3, seed=1)
    yield st
    st.close()


def _field(body: dict, name: str) -> dict:
    return next(f for f in body["fields"] if f["name"] == name)


def test_opportunity_describe_has_real_types() -> None:
    body = describe_sobject(OPPORTUNITY, "59.0")
    assert body["name"] == "Opportunity" and body["keyPrefix"] == "006"
    for name, kind, nillable in [
        ("Name", "string", False), ("StageName", "picklist", False), ("CloseDate", "date", False),
        ("Amount", "currency", True), ("Probability", "percent", True),
        ("Description", "textarea", True), ("IsPrivate", "boolean", False),
        ("AccountId", "reference", True), ("ExternalId__c", "string", True),
        ("CreatedDate", "datetime", False), ("SystemModstamp", "datetime", False),
    ]:  # fmt: skip
        f = _field(body, name)
        assert (f["type"], f["nillable"]) == (kind, nillable), name
    assert _field(body, "Description")["length"] == 32000
    # Real lengths: the loader bounds each text field by these before sending.
    assert (_field(body, "Name")["length"], _field(body, "ExternalId__c")["length"]) == (120, 255)
    account = _field(body, "AccountId")
    assert account["referenceTo"] == ["Account"] and account["relationshipName"] == "Account"
    ext = _field(body, "ExternalId__c")
    assert ext["externalId"] and ext["idLookup"] and ext["unique"] and ext["custom"]
    assert not _field(body, "CreatedDate")["createable"]
    assert not _field(body, "IsWon")["updateable"] and _field(body, "IsWon")["calculated"]
    amount = _field(body, "Amount")
    assert (amount["precision"], amount["scale"]) == (18, 2)


def test_describe_routes() -> None:
    with in_process() as (_, client):
        headers = {"Authorization": f"Bearer {core_login(client)}"}
        listing = client.get("/services/data/v59.0/sobjects/", headers=headers).json()
        assert {o["name"] for o in listing["sobjects"]} == {"Account", "Opportunity"}
        assert listing == describe_global("59.0")
        body = client.get("/services/data/v59.0/sobjects/account/describe", headers=headers).json()
        assert body["name"] == "Account"
        assert body["childRelationships"][0]["childSObject"] == "Opportunity"
        missing = client.get("/services/data/v59.0/sobjects/Nope/describe", headers=headers)
        assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
        assert client.get("/services/data/v59.0/sobjects/Account/describe").status_code == 401


def test_value_rules() -> None:
    assert parse_date("2024-02-29") == "2024-02-29"
    assert parse_date("2023-02-29") is None and parse_date("2024-1-01") is None
    assert parse_datetime("2024-01-01T10:00:00Z") == "2024-01-01T10:00:00.000+0000"
    assert parse_datetime("2024-01-01T10:00:00.5-05:00") == "2024-01-01T15:00:00.500+0000"
    assert parse_datetime("2024-01-01T10:00:00") is None
    assert to18("001EM0000000001") == "001EM0000000001YAA"


def test_header_errors() -> None:
    with pytest.raises(HeaderError, match="Field name not found : Bogus"):
        ColumnPlan.build(OPPORTUNITY, "insert", None, ["Name", "Bogus"])
    with pytest.raises(HeaderError, match=r"Field name not found : Account\.Name"):
        ColumnPlan.build(OPPORTUNITY, "insert", None, ["Account.Name"])  # not an id lookup
    plan = ColumnPlan.build(OPPORTUNITY, "insert", None, ["name", "ACCOUNT.externalid__c"])
    assert plan.fields[0][1] == "Name" and plan.relations[0].lookup == "AccountId"


def test_read_only_field_in_data_is_a_record_error(state: EmulatorState) -> None:
    plan = ColumnPlan.build(
        OPPORTUNITY, "insert", None, ["Name", "StageName", "CloseDate", "IsWon"]
    )
    executor = DmlExecutor(org_of(state), plan, frozenset())
    prepared = executor.prepare(
        [["A", "Closed Won", "2026-01-01", "true"], ["B", "x", "2026-01-01", ""]]
    )
    assert prepared.errors[0].startswith(
        "INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: IsWon."
    )
    applied = executor.apply(prepared)
    assert [s[0] for s in applied.successes] == [1]


def test_lock_keys_are_parent_and_record(state: EmulatorState) -> None:
    org = org_of(state)
    insert = ColumnPlan.build(
        OPPORTUNITY,
        "insert",
        None,
        ["Name", "StageName", "CloseDate", "AccountId", "ExternalId__c"],
    )
    executor = DmlExecutor(org, insert, frozenset())
    account = "001EM0000000001YAA"
    prepared = executor.prepare([["A", "x", "2026-01-01", account, "E1"]])
    assert prepared.locks == [(0, (account,))]
    created = executor.apply(prepared).successes[0][1]
    update = ColumnPlan.build(OPPORTUNITY, "update", None, ["Id", "AccountId"])
    moved = DmlExecutor(org, update, frozenset()).prepare([[created, "001EM0000000002YAA"]])
    assert moved.locks == [(0, (account, "001EM0000000002YAA", created))]  # old + new parent


def test_account_delete_cascades_to_opportunities(state: EmulatorState) -> None:
    org = org_of(state)
    plan = ColumnPlan.build(
        OPPORTUNITY, "insert", None, ["Name", "StageName", "CloseDate", "AccountId"]
    )
    executor = DmlExecutor(org, plan, frozenset())
    executor.apply(executor.prepare([["A", "x", "2026-01-01", "001EM0000000001YAA"]]))
    delete = ColumnPlan.build(ACCOUNT, "delete", None, ["Id"])
    deleter = DmlExecutor(org, delete, frozenset())
    deleter.apply(deleter.prepare([["001EM0000000001YAA"]]))
    assert org.counts() == {"Account": 2, "Opportunity": 0}
