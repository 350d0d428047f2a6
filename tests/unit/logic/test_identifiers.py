"""Identifier validation: accepts real Salesforce / Data Cloud names, refuses anything else clearly."""

from __future__ import annotations

import pytest

from include.dc2sf.logic.identifiers import (
    relationship_for_lookup_field,
    validate_column_name,
    validate_dmo_name,
    validate_field_name,
    validate_relationship_field,
    validate_sobject_name,
    validate_target_field,
)


@pytest.mark.parametrize(
    "name", ["Opportunity_Source__dlm", "ssot__Individual__dlm", "Account__dll", "Score__cio"]
)
def test_dmo_names_accepted(name: str) -> None:
    assert validate_dmo_name(name) == name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Opportunity_Source", "must end in '__dlm'"),
        ('X__dlm" OR 1=1 --', "contains"),
        ("", "is empty"),
        (" X__dlm", "spaces"),
        ("1X__dlm", "start with a letter"),
        ("Opp\u00e9__dlm", "contains"),
    ],
)
def test_dmo_names_refused_with_reason(name: str, hint: str) -> None:
    with pytest.raises(ValueError, match="Data Cloud object name") as raised:
        validate_dmo_name(name)
    assert hint in str(raised.value)


def test_non_string_refused() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        validate_column_name(42)


@pytest.mark.parametrize("name", ["ExternalId__c", "ssot__FirstName__c", "Amount", "a1_b2"])
def test_column_names_accepted(name: str) -> None:
    assert validate_column_name(name) == name


@pytest.mark.parametrize("name", ['Ext"Id', "Ext Id", "Ext-Id", "_x", "x;DROP", "x\n"])
def test_column_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Data Cloud column name"):
        validate_column_name(name)


def test_overlong_column_refused() -> None:
    with pytest.raises(ValueError, match="longer than 128"):
        validate_column_name("a" * 129)


@pytest.mark.parametrize(
    "name", ["Opportunity", "Invoice__c", "acme__Invoice__c", "Custom_Meta__mdt", "Order_Line__c"]
)
def test_sobject_names_accepted(name: str) -> None:
    assert validate_sobject_name(name) == name


@pytest.mark.parametrize(
    "name", ["Opportunity__", "Opp__Line__Item__c", "a__b__c__d", "Opp_", "Opp'"]
)
def test_sobject_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="sObject name"):
        validate_sobject_name(name)


@pytest.mark.parametrize("name", ["Amount", "ExternalId__c", "acme__Score__c", "Close_Date__c"])
def test_field_names_accepted(name: str) -> None:
    assert validate_field_name(name) == name


def test_field_name_refuses_relationship_path_with_hint() -> None:
    with pytest.raises(ValueError, match="relationship path"):
        validate_field_name("Account.ExternalId__c")


def test_field_name_reports_stray_underscore() -> None:
    with pytest.raises(ValueError, match="stray underscore"):
        validate_field_name("Amount_")


@pytest.mark.parametrize(
    "name", ["Account.ExternalId__c", "Parent__r.Ext__c", "acme__Thing__r.Key__c"]
)
def test_relationship_fields_accepted(name: str) -> None:
    assert validate_relationship_field(name) == name
    assert validate_target_field(name) == name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Account.Owner.ExternalId__c", "exactly one '.'"),
        ("Parent__c.Ext__c", "'__r', not '__c'"),
        ("Account.", "is empty"),
        (".ExternalId__c", "is empty"),
        ("Acc ount.Ext__c", "contains"),
    ],
)
def test_relationship_fields_refused(name: str, hint: str) -> None:
    with pytest.raises(ValueError) as raised:
        validate_relationship_field(name)
    assert hint in str(raised.value)


def test_target_field_accepts_plain_fields() -> None:
    assert validate_target_field("StageName") == "StageName"
    with pytest.raises(ValueError):
        validate_target_field("Stage Name")


@pytest.mark.parametrize(
    ("field", "relationship"),
    [("AccountId", "Account"), ("Parent__c", "Parent__r"), ("Name", None), ("Id", None)],
)
def test_relationship_for_lookup_field(field: str, relationship: str | None) -> None:
    assert relationship_for_lookup_field(field) == relationship
