"""SOQL wire errors (400 ``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE``, locators).

Salesforce prints the offending line, a caret under the error and ``ERROR at Row:r:Column:c``
before the message; clients and people both read that, so the emulator does the same.
"""

from __future__ import annotations

from emulator.exceptions import SalesforceError


class MalformedQuery(SalesforceError):
    status_code = 400
    error_code = "MALFORMED_QUERY"


class InvalidField(SalesforceError):
    status_code = 400
    error_code = "INVALID_FIELD"


class InvalidType(SalesforceError):
    status_code = 400
    error_code = "INVALID_TYPE"


class InvalidQueryLocator(SalesforceError):
    status_code = 400
    error_code = "INVALID_QUERY_LOCATOR"
    default_message = "invalid query locator"


class InvalidQueryFilterOperator(SalesforceError):
    status_code = 400
    error_code = "INVALID_QUERY_FILTER_OPERATOR"


def located(text: str, pos: int, message: str) -> str:
    """``\\n<line>\\n<caret>\\nERROR at Row:r:Column:c\\n<message>`` for position ``pos``."""
    before = text[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"


def malformed(text: str, pos: int, message: str) -> MalformedQuery:
    return MalformedQuery(located(text, pos, message))


def no_such_column(text: str, pos: int, name: str, entity: str) -> InvalidField:
    return InvalidField(
        located(
            text,
            pos,
            f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
            "field, be sure to append the '__c' after the custom field name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )
    )


def unsupported_type(text: str, pos: int, name: str) -> InvalidType:
    return InvalidType(
        located(
            text,
            pos,
            f"sObject type '{name}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
        )
    )
