"""Strict validation of every name that ends up inside SQL, SOQL or a Bulk CSV header.

Names are interpolated into queries (double-quoted in Data Cloud SQL, bare in SOQL), so they are
checked against narrow patterns *before* any query is built: a name that does not match is a
configuration error, reported with what is wrong and what a valid name looks like. Quoting is a
second line of defence, not the first.

Patterns (ASCII only, as Salesforce API names are):

* Data Cloud object: ``Name__dlm`` (data model object), ``Name__dll`` (data lake object) or
  ``Name__cio`` (calculated insight), optionally namespaced like ``ssot__Individual__dlm``.
* Data Cloud column: letters, digits and underscores, starting with a letter
  (``ExternalId__c``, ``ssot__FirstName__c``).
* sObject / field API name: letters, digits and single underscores, starting with a letter, with
  an optional ``ns__`` namespace prefix and an optional ``__c``-style suffix (``Opportunity``,
  ``ExternalId__c``, ``acme__Score__c``).
* Relationship column of a Bulk header: ``<relationship>.<field>``, e.g. ``Account.ExternalId__c``
  or ``Parent__r.Ext__c`` (Bulk API 2.0 accepts one level).
"""

from __future__ import annotations

import re

MAX_API_NAME_LENGTH = 80
"""Salesforce API names are at most 40 characters plus namespace and suffix; 80 is generous."""

MAX_COLUMN_NAME_LENGTH = 128

_BASE = r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*"
_SOBJECT_SUFFIXES = r"(?:c|mdt|e|x|b|share|history|feed|kav|ka)"
_API_NAME = re.compile(rf"(?:{_BASE}__)?{_BASE}(?:__{_SOBJECT_SUFFIXES})?")
_FIELD_NAME = re.compile(rf"(?:{_BASE}__)?{_BASE}(?:__c)?")
_RELATIONSHIP_NAME = re.compile(rf"(?:{_BASE}__)?{_BASE}(?:__r)?")
_DMO_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*__(?:dlm|dll|cio)")
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _require_text(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise ValueError(f"{kind} must be a string, got {type(name).__name__} {name!r}")
    if not name:
        raise ValueError(f"{kind} is empty; give the API name, e.g. {_example(kind)}")
    if name != name.strip():
        raise ValueError(f"{kind} {name!r} has leading or trailing spaces; remove them")
    return name


_EXAMPLES = {
    "Data Cloud object name": "'Opportunity_Source__dlm'",
    "Data Cloud column name": "'ExternalId__c'",
    "sObject name": "'Opportunity' or 'Invoice__c'",
    "field name": "'ExternalId__c'",
    "relationship field": "'Account.ExternalId__c'",
}


def _example(kind: str) -> str:
    return _EXAMPLES.get(kind, "'Account'")


def _explain_bad_characters(name: str) -> str:
    bad = sorted({ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch == "_"))})
    if bad:
        return f"it contains {', '.join(repr(ch) for ch in bad)}; only ASCII letters, digits and '_' are allowed"
    if not name[0].isalpha():
        return "it must start with a letter"
    if "___" in name or name.endswith("_"):
        return "it has a stray underscore (API names use single '_' inside, '__' only before a namespace or suffix)"
    return "it does not follow the API name pattern"


def validate_dmo_name(name: object) -> str:
    """Return ``name`` if it is a Data Cloud object name (``X__dlm``/``X__dll``/``X__cio``)."""
    kind = "Data Cloud object name"
    text = _require_text(kind, name)
    if len(text) > MAX_COLUMN_NAME_LENGTH:
        raise ValueError(f"{kind} {text!r} is longer than {MAX_COLUMN_NAME_LENGTH} characters")
    if not _DMO_NAME.fullmatch(text):
        if _COLUMN_NAME.fullmatch(text):
            reason = (
                "it must end in '__dlm' (data model object), '__dll' (data lake object) or '__cio'"
            )
        else:
            reason = _explain_bad_characters(text)
        raise ValueError(f"{kind} {text!r} is not valid: {reason}; e.g. {_example(kind)}")
    return text


def validate_column_name(name: object) -> str:
    """Return ``name`` if it is a Data Cloud column name (letters, digits, '_', starts with a letter)."""
    kind = "Data Cloud column name"
    text = _require_text(kind, name)
    if len(text) > MAX_COLUMN_NAME_LENGTH:
        raise ValueError(f"{kind} {text!r} is longer than {MAX_COLUMN_NAME_LENGTH} characters")
    if not _COLUMN_NAME.fullmatch(text):
        raise ValueError(
            f"{kind} {text!r} is not valid: {_explain_bad_characters(text)}; e.g. {_example(kind)}"
        )
    return text


def _validate_api_name(kind: str, name: object, pattern: re.Pattern[str]) -> str:
    text = _require_text(kind, name)
    if len(text) > MAX_API_NAME_LENGTH:
        raise ValueError(f"{kind} {text!r} is longer than {MAX_API_NAME_LENGTH} characters")
    if not pattern.fullmatch(text):
        raise ValueError(
            f"{kind} {text!r} is not valid: {_explain_bad_characters(text)}; e.g. {_example(kind)}"
        )
    return text


def validate_sobject_name(name: object) -> str:
    """Return ``name`` if it is an sObject API name (``Opportunity``, ``Invoice__c``)."""
    return _validate_api_name("sObject name", name, _API_NAME)


def validate_field_name(name: object) -> str:
    """Return ``name`` if it is a plain field API name (``Amount``, ``ExternalId__c``)."""
    text = _require_text("field name", name)
    if "." in text:
        raise ValueError(
            f"field name {text!r} is a relationship path; only a plain field is allowed here "
            "(relationship columns are allowed in a mapping target, e.g. 'Account.ExternalId__c')"
        )
    return _validate_api_name("field name", text, _FIELD_NAME)


def validate_relationship_field(name: object) -> str:
    """Return ``name`` if it is a one-level relationship column (``Account.ExternalId__c``)."""
    kind = "relationship field"
    text = _require_text(kind, name)
    parts = text.split(".")
    if len(parts) != 2:
        raise ValueError(
            f"{kind} {text!r} must have exactly one '.', as '<relationship>.<external id field>', "
            f"e.g. {_example(kind)}; Bulk API 2.0 accepts one level"
        )
    relationship, field = parts
    if relationship.endswith("__c"):
        raise ValueError(
            f"{kind} {text!r}: a custom relationship is named with '__r', not '__c' "
            f"(write {relationship[:-3] + '__r'}.{field})"
        )
    _validate_api_name(f"relationship name in {text!r}", relationship, _RELATIONSHIP_NAME)
    validate_field_name(field)
    return text


def validate_target_field(name: object) -> str:
    """Return ``name`` if it is a valid Bulk CSV header column: a field or a relationship path."""
    if isinstance(name, str) and "." in name:
        return validate_relationship_field(name)
    return validate_field_name(name)


def relationship_for_lookup_field(field: str) -> str | None:
    """The relationship name of a lookup field: ``AccountId`` → ``Account``, ``Foo__c`` → ``Foo__r``.

    Used to find the parent of a record when the mapping sets the parent by external id
    (``Account.ExternalId__c``) rather than by id (``AccountId``).
    """
    if field.endswith("__c"):
        return field[:-3] + "__r"
    if field.endswith("Id") and len(field) > 2:
        return field[:-2]
    return None
