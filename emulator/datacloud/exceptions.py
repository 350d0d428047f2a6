"""Data Cloud Query wire errors (reference §2.1: SQL errors are 400 with a ``message``).

On the tenant host (``/api/...``) they render as one JSON object, on the Connect form
(``/services/data/.../ssot/...``) as the core error array; see ``emulator.exceptions``.
"""

from __future__ import annotations

from emulator.exceptions import SalesforceError


class SqlError(SalesforceError):
    """The SQL does not parse, names an unknown table/column, or fails to run [inferred code]."""

    status_code = 400
    error_code = "INVALID_QUERY"
    default_message = "The SQL query is invalid."


class MissingSql(SalesforceError):
    status_code = 400
    error_code = "JSON_PARSER_ERROR"
    default_message = "The request body must be a JSON object with a non-empty 'sql' string."


class BatchNotFound(SalesforceError):
    """A ``nextBatchId`` that is unknown, already used or older than 1 h [inferred: 404]."""

    status_code = 404
    error_code = "NOT_FOUND"
    default_message = "The batch id is invalid, expired or was already used."
