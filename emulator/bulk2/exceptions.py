"""Bulk API 2.0 wire errors, one class each (reference §3.2, §3.8).

Statuses where Salesforce documents none are the emulator's choice (reference §3.8 "Emulator"):
illegal state change 400 ``INVALIDJOBSTATE``, unknown job 404 ``NOT_FOUND``, second PUT 400
``BULK_API_ERROR``.
"""

from __future__ import annotations

from typing import Any

from emulator.exceptions import NotFound, SalesforceError


class InvalidJob(SalesforceError):
    status_code = 400
    error_code = "INVALIDJOB"
    default_message = "InvalidJob : invalid job definition"


class ApiError(SalesforceError):
    """Bad enum values in the create body, e.g. an unknown ``operation``."""

    status_code = 400
    error_code = "API_ERROR"


class InvalidJobState(SalesforceError):
    status_code = 400
    error_code = "INVALIDJOBSTATE"


class BulkApiError(SalesforceError):
    status_code = 400
    error_code = "BULK_API_ERROR"


class ClientInputError(SalesforceError):
    status_code = 400
    error_code = "ClientInputError"


class JobNotFound(NotFound):
    default_message = "The requested resource does not exist"


class ExceededQuota(SalesforceError):
    """The rolling-24 h Bulk allocation is used up (reference §3.8 ``ExceededQuota``)."""

    status_code = 403
    error_code = "EXCEEDEDQUOTA"


def second_upload(job_id: str) -> BulkApiError:
    """The real message for a second PUT, typo and 15-character id included (reference §0.6)."""
    return BulkApiError(
        f"Found multipe contents for job: <{job_id[:15]}>, please 'Close' / 'Abort' / 'Delete' the "
        "current Job then create a new Job and make sure you only do 'PUT' once on a given Job."
    )


def check_enum(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    """The create body's enum property, or ``API_ERROR`` worded as Salesforce does."""
    value = body.get(name, default)
    if value not in allowed:
        raise ApiError(f"Invalid value: '{value}' supplied for property: '{name}'")
    return str(value)
