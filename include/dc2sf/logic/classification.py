"""What to do with a failure: retry it, or stop and report it.

Two levels, two consumers:

* **Record level** (``sf__Error`` of a Bulk ``failedResults`` row, form
  ``STATUS_CODE:message:fields --``): transient errors — lock contention above all — go back to the
  retry queue; permanent ones (bad data, missing required field, duplicate) go to the dead letter,
  because re-sending the same row gives the same error. An unknown code is treated as permanent:
  looping on an error we do not understand would hide it, while the dead letter shows it.
* **HTTP level** (status + ``errorCode`` of a JSON error body, or a connection failure), for the
  hooks: retry 5xx, resets and 429; wait long on ``REQUEST_LIMIT_EXCEEDED`` (HTTP 403 in core
  Salesforce); log in again on 401 / ``INVALID_SESSION_ID``; fail fast on everything else (a 400
  will not fix itself).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

RETRYABLE_RECORD_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "API_TEMPORARILY_UNAVAILABLE",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "TooManyLockFailure",
        "Timeout",
        "UNKNOWN_EXCEPTION",
    }
)
"""Record errors that a later attempt can clear (transient load or contention on the server)."""

LOCK_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "TooManyLockFailure"})
"""The subset caused by lock contention: they drive the adaptive in-flight limit and the serial sweep."""

PERMANENT_RECORD_CODES = frozenset(
    {
        "REQUIRED_FIELD_MISSING",
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "DUPLICATE_VALUE",
        "DUPLICATE_EXTERNAL_ID",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "FIELD_INTEGRITY_EXCEPTION",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "STRING_TOO_LONG",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "MALFORMED_ID",
        "ENTITY_IS_DELETED",
        "ENTITY_IS_LOCKED",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "STORAGE_LIMIT_EXCEEDED",
        "INVALID_EMAIL_ADDRESS",
        "TOO_MANY_ENUM_VALUE",
    }
)
"""Record errors caused by the data or the org's configuration: re-sending cannot help."""

# A lock failure inside a trigger or flow surfaces wrapped in another code, e.g.
# "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY:OppTrigger: … first error: UNABLE_TO_LOCK_ROW, unable to
# obtain exclusive access…". Wherever these appear, the row failed on a lock: retry it.
_LOCK_SIGNATURES = (
    "unable_to_lock_row",
    "unable to obtain exclusive access",
    "record currently unavailable",
    "is currently being modified by another user",
)
# Transient conditions given as free text or under an unknown code (never overriding a known
# permanent code): matched case-insensitively.
_TRANSIENT_MESSAGES = (
    ("temporarily unavailable", "API_TEMPORARILY_UNAVAILABLE"),
    ("server unavailable", "SERVER_UNAVAILABLE"),
)

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class RecordVerdict(enum.Enum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class BulkRecordError:
    """A parsed ``sf__Error``: ``code`` (``None`` when the text has none), message and fields."""

    code: str | None
    message: str
    fields: tuple[str, ...]
    raw: str


def parse_bulk_error(sf_error: str) -> BulkRecordError:
    """Split ``CODE:message:fields --`` (the message may itself contain ``:``).

    Examples: ``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``;
    ``UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--``;
    ``DUPLICATE_VALUE:Duplicate external id specified: x`` (no fields part).
    """
    text = sf_error.strip()
    code, separator, rest = text.partition(":")
    is_code = bool(separator) and _CODE.fullmatch(code) is not None
    if not is_code or (code.upper() != code and code not in RETRYABLE_RECORD_CODES):
        return BulkRecordError(code=None, message=text, fields=(), raw=sf_error)
    fields: tuple[str, ...] = ()
    message = rest
    if rest.endswith("--"):
        body = rest[:-2].rstrip()
        message, colon, field_text = body.rpartition(":")
        if not colon:
            message, field_text = body, ""
        fields = tuple(name.strip() for name in field_text.split(",") if name.strip())
    return BulkRecordError(code=code, message=message.strip(), fields=fields, raw=sf_error)


@dataclass(frozen=True, slots=True)
class RecordClassification:
    verdict: RecordVerdict
    code: str | None
    is_lock_failure: bool
    reason: str


def classify_record_error(
    sf_error: str, *, extra_retryable_codes: Iterable[str] = ()
) -> RecordClassification:
    """Retry or dead-letter one failed record, from its ``sf__Error`` text."""
    parsed = parse_bulk_error(sf_error)
    retryable = RETRYABLE_RECORD_CODES | frozenset(extra_retryable_codes)
    code = parsed.code
    lowered = parsed.raw.lower()
    if code not in LOCK_RECORD_CODES and any(sign in lowered for sign in _LOCK_SIGNATURES):
        return RecordClassification(
            RecordVerdict.RETRY,
            "UNABLE_TO_LOCK_ROW",
            True,
            f"lock failure reported{' inside ' + code if code else ''}: retry later",
        )
    if code is None or (code not in retryable and code not in PERMANENT_RECORD_CODES):
        for needle, implied_code in _TRANSIENT_MESSAGES:
            if needle in lowered:
                code = implied_code
                break
    if code is not None and code in retryable:
        return RecordClassification(
            RecordVerdict.RETRY,
            code,
            code in LOCK_RECORD_CODES,
            f"{code} is transient: retry later",
        )
    if code in PERMANENT_RECORD_CODES:
        reason = f"{code} is a data or configuration error: fix the row, then reload it"
    elif code is None:
        reason = "no status code in the error text: treated as permanent so it is seen"
    else:
        reason = f"{code} is not a known transient error: treated as permanent so it is seen"
    return RecordClassification(RecordVerdict.DEAD_LETTER, code, False, reason)


# --- HTTP ---------------------------------------------------------------------------------------


class HttpAction(enum.Enum):
    RETRY = "retry"
    RETRY_AFTER_LONG_WAIT = "retry_after_long_wait"
    RELOGIN = "relogin"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class HttpClassification:
    action: HttpAction
    reason: str


_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_SESSION_CODES = frozenset({"INVALID_SESSION_ID", "InvalidSessionId", "INVALID_AUTH_HEADER"})
_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})
_TRANSIENT_CODES = frozenset(
    {"SERVER_UNAVAILABLE", "API_TEMPORARILY_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)


def classify_http_failure(
    status: int | None, error_code: str | None = None, *, connection_error: bool = False
) -> HttpClassification:
    """What a hook does after a failed call.

    ``status=None`` with ``connection_error=True`` is a reset, refused connection or timeout.
    ``REQUEST_LIMIT_EXCEEDED`` is checked before the status: core Salesforce sends it as 403
    (daily allowance, or too many concurrent long requests), which otherwise means "forbidden".
    """
    code = (error_code or "").strip()
    if connection_error or status is None:
        if connection_error:
            return HttpClassification(HttpAction.RETRY, "connection failed (reset/timeout): retry")
        return HttpClassification(
            HttpAction.FAIL, "no status and no connection error: nothing to retry"
        )
    if code in _LIMIT_CODES:
        return HttpClassification(
            HttpAction.RETRY_AFTER_LONG_WAIT,
            "REQUEST_LIMIT_EXCEEDED: API allowance or concurrency limit reached; wait minutes, then retry",
        )
    if status == 401 or code in _SESSION_CODES:
        return HttpClassification(
            HttpAction.RELOGIN, f"{code or status}: session expired; log in again and retry once"
        )
    if status == 429:
        return HttpClassification(
            HttpAction.RETRY, "429 Too Many Requests: back off and retry (honour Retry-After)"
        )
    if status in _RETRYABLE_STATUSES or code in _TRANSIENT_CODES:
        return HttpClassification(
            HttpAction.RETRY, f"HTTP {status} {code}".strip() + ": transient, retry"
        )
    return HttpClassification(
        HttpAction.FAIL,
        f"HTTP {status} {code}".strip() + ": not transient; fix the request or the org",
    )


def parse_error_body(
    body: str | bytes | list[Any] | dict[str, Any] | None,
) -> list[tuple[str, str]]:
    """``(errorCode, message)`` pairs from a Salesforce error body (``[{"errorCode":…,"message":…}]``).

    Also accepts a single object and OAuth's ``{"error":…,"error_description":…}``; returns ``[]``
    for a body that is not JSON, so the caller falls back on the status alone.
    """
    if body is None:
        return []
    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return []
    items = data if isinstance(data, list) else [data]
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            continue
        code = item.get("errorCode") or item.get("error") or ""
        message = item.get("message") or item.get("error_description") or ""
        if code or message:
            pairs.append((str(code), str(message)))
    return pairs


def parse_retry_after(value: str | None, *, default: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (HTTP dates are rare here: default)."""
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    return seconds if seconds >= 0 else default
