"""Key values and identifiers cannot change the structure of generated SOQL/SQL.

Fills the gaps left by tests/unit/logic/test_keyset_sql.py: the cleanup DAG's SOQL
(`CleanupSpec.count_soql`/`ids_soql`, marker + key range) and the strict identifier patterns
themselves (anything accepted is a plain ASCII name; anything with a quote, space, dot, comment or
semicolon is refused before a query exists). Literal checks reuse the independent SOQL lexer.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.engine.cleanup import CleanupSpec
from include.dc2sf.logic.identifiers import (
    validate_column_name,
    validate_dmo_name,
    validate_field_name,
    validate_sobject_name,
    validate_target_field,
)
from tests.unit.logic.test_keyset_sql import _soql_string_literals, soql_keys

STRICT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
STRICT_TARGET = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?")
VALIDATORS = {
    "dmo": validate_dmo_name,
    "column": validate_column_name,
    "field": validate_field_name,
    "sobject": validate_sobject_name,
}
ATTACKS = [
    'Name" OR 1=1 --',
    "Name; DELETE",
    "Name--",
    "Name/*x*/",
    "Opportunity WHERE Id != null",
    "Name,Id",
    "Name)",
    "Ext\x00",
    "Ｎａｍｅ",  # full-width letters look like ASCII
    "Name\n",
    "' OR ''='",
]


@settings(max_examples=400, deadline=None)
@given(name=st.one_of(st.text(max_size=30), st.sampled_from(ATTACKS)))
def test_identifiers_accepted_only_when_strictly_plain(name: str) -> None:
    for kind, validate in VALIDATORS.items():
        try:
            accepted = validate(name)
        except ValueError as error:
            assert str(error)  # refused with a message
            continue
        assert accepted == name
        assert STRICT.fullmatch(name), (kind, name)
    try:
        validate_target_field(name)
    except ValueError:
        return
    assert STRICT_TARGET.fullmatch(name), name


@pytest.mark.parametrize("name", ATTACKS)
def test_known_attacks_refused_everywhere(name: str) -> None:
    for validate in (*VALIDATORS.values(), validate_target_field):
        with pytest.raises(ValueError):
            validate(name)


@settings(max_examples=300, deadline=None)
@given(marker=soql_keys, start=soql_keys, end=soql_keys)
def test_cleanup_soql_carries_exactly_the_given_values(marker: str, start: str, end: str) -> None:
    start, end = min(start, end), max(start, end)
    if start == end:
        end += "z"
    spec = CleanupSpec(marker=marker, range_start=start, range_end=end)
    for query, select in ((spec.count_soql, "COUNT()"), (spec.ids_soql, "Id")):
        literals, skeleton = _soql_string_literals(query)
        assert literals == [marker, start, end]
        assert skeleton == (
            f"SELECT {select} FROM Opportunity WHERE StageName = ? "
            "AND ExternalId__c > ? AND ExternalId__c <= ?"
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_object", "Opportunity WHERE Id != null"),
        ("marker_field", "StageName = 'x' OR Name"),
        ("external_id_field", "ExternalId__c != null OR Id"),
    ],
)
def test_cleanup_identifiers_cannot_widen_the_delete(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=r"not valid|must|relationship"):
        CleanupSpec(marker="Closed Lost", **{field: value})
