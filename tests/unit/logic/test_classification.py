"""Failure classification: sf__Error parsing, record verdicts and HTTP actions."""

from __future__ import annotations

import pytest

from include.dc2sf.logic.classification import (
    HttpAction,
    RecordVerdict,
    classify_http_failure,
    classify_record_error,
    parse_bulk_error,
    parse_error_body,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("raw", "code", "message", "fields"),
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name]",
            ("Name",),
        ),
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [A, B]:A,B --",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [A, B]",
            ("A", "B"),
        ),
        (
            "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 2 records: 001A,001B:--",
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 2 records: 001A,001B",
            (),
        ),
        (
            "DUPLICATE_VALUE:Duplicate external id specified: ext:1",
            "DUPLICATE_VALUE",
            "Duplicate external id specified: ext:1",
            (),
        ),
        (
            "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            (),
        ),
        ("Record Currently Unavailable", None, "Record Currently Unavailable", ()),
        ("Error: something odd", None, "Error: something odd", ()),
        (
            "STRING_TOO_LONG:Name: data value too large:Name --",
            "STRING_TOO_LONG",
            "Name: data value too large",
            ("Name",),
        ),
    ],
)
def test_parse_bulk_error(
    raw: str, code: str | None, message: str, fields: tuple[str, ...]
) -> None:
    parsed = parse_bulk_error(raw)
    assert (parsed.code, parsed.message, parsed.fields) == (code, message, fields)
    assert parsed.raw == raw


@pytest.mark.parametrize(
    "raw",
    [
        "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--",
        "Record Currently Unavailable: The record you are attempting to edit is locked",
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY:OppTrigger: execution of AfterInsert caused by: "
        "System.DmlException: Update failed. first error: UNABLE_TO_LOCK_ROW, unable to obtain "
        "exclusive access to this record: []:--",
        "TooManyLockFailure:Too many lock failure 200 Trying again later.:--",
    ],
)
def test_lock_failures_are_retryable_and_flagged(raw: str) -> None:
    result = classify_record_error(raw)
    assert result.verdict is RecordVerdict.RETRY
    assert result.is_lock_failure


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            "API_TEMPORARILY_UNAVAILABLE:API temporarily unavailable:--",
            "API_TEMPORARILY_UNAVAILABLE",
        ),
        ("SERVER_UNAVAILABLE:server busy:--", "SERVER_UNAVAILABLE"),
        ("The service is temporarily unavailable", "API_TEMPORARILY_UNAVAILABLE"),
    ],
)
def test_other_transient_errors_retry_without_lock_flag(raw: str, code: str) -> None:
    result = classify_record_error(raw)
    assert (result.verdict, result.code, result.is_lock_failure) == (
        RecordVerdict.RETRY,
        code,
        False,
    )


@pytest.mark.parametrize(
    "raw",
    [
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
        "INVALID_FIELD:Foreign key external ID: x not found for field Ext__c in entity Account:--",
        "DUPLICATE_VALUE:duplicate value found: Ext__c duplicates value on record with id: 006x:--",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount must be positive:--",
        "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
        "STRING_TOO_LONG:Name: data value too large:Name --",
        "DUPLICATE_EXTERNAL_ID:Ext: more than one record found for external id field: [a, b]:--",
    ],
)
def test_permanent_errors_go_to_the_dead_letter(raw: str) -> None:
    result = classify_record_error(raw)
    assert result.verdict is RecordVerdict.DEAD_LETTER
    assert "fix the row" in result.reason


def test_unknown_code_is_permanent_unless_configured() -> None:
    raw = "SOME_NEW_CODE:whatever:--"
    unknown = classify_record_error(raw)
    assert (
        unknown.verdict is RecordVerdict.DEAD_LETTER and "not a known transient" in unknown.reason
    )
    configured = classify_record_error(raw, extra_retryable_codes={"SOME_NEW_CODE"})
    assert configured.verdict is RecordVerdict.RETRY
    assert classify_record_error("").verdict is RecordVerdict.DEAD_LETTER


def test_permanent_code_is_not_overridden_by_a_transient_sounding_message() -> None:
    raw = "FIELD_CUSTOM_VALIDATION_EXCEPTION:Region temporarily unavailable for sale:--"
    assert classify_record_error(raw).verdict is RecordVerdict.DEAD_LETTER


@pytest.mark.parametrize(
    ("status", "code", "connection_error", "action"),
    [
        (500, None, False, HttpAction.RETRY),
        (502, None, False, HttpAction.RETRY),
        (503, "SERVER_UNAVAILABLE", False, HttpAction.RETRY),
        (504, None, False, HttpAction.RETRY),
        (429, None, False, HttpAction.RETRY),
        (None, None, True, HttpAction.RETRY),
        (403, "REQUEST_LIMIT_EXCEEDED", False, HttpAction.RETRY_AFTER_LONG_WAIT),
        (401, "INVALID_SESSION_ID", False, HttpAction.RELOGIN),
        (401, None, False, HttpAction.RELOGIN),
        (400, "INVALIDJOBSTATE", False, HttpAction.FAIL),
        (400, "BULK_API_ERROR", False, HttpAction.FAIL),
        (403, "INSUFFICIENT_ACCESS", False, HttpAction.FAIL),
        (404, "NOT_FOUND", False, HttpAction.FAIL),
        (501, None, False, HttpAction.FAIL),
        (None, None, False, HttpAction.FAIL),
    ],
)
def test_http_classification(
    status: int | None, code: str | None, connection_error: bool, action: HttpAction
) -> None:
    assert classify_http_failure(status, code, connection_error=connection_error).action is action


def test_error_body_parsing() -> None:
    body = '[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]'
    assert parse_error_body(body) == [("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")]
    assert parse_error_body(body.encode()) == parse_error_body(body)
    assert parse_error_body({"error": "invalid_grant", "error_description": "expired"}) == [
        ("invalid_grant", "expired")
    ]
    assert parse_error_body("<html>Bad gateway</html>") == []
    assert parse_error_body(None) == []
    assert parse_error_body([1, {"x": 1}]) == []


def test_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", default=30.0) == 30.0
    assert parse_retry_after("-5", default=1.0) == 1.0
    assert parse_retry_after(None) is None
