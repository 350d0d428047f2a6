"""Record-level DML errors, rendered exactly as Bulk API 2.0 writes them into ``sf__Error``.

The wire form is ``STATUS_CODE:message:fields --`` (``:--`` when no field is named), as seen in
real ``failedResults`` files (reference §3.6). Each builder below is one real error string, so the
exact text lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterable


class RecordError(Exception):
    """A per-record failure; ``str(err)`` is the ``sf__Error`` value."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = (), *, raw: str = ""):
        self.code = code
        self.message = message
        self.fields = tuple(fields)
        self.text = raw or f"{code}:{message}:{','.join(self.fields)}{' ' if self.fields else ''}--"
        super().__init__(self.text)

    def __str__(self) -> str:
        return self.text


def required_missing(names: list[str]) -> RecordError:
    return RecordError(
        "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(names)}]", names
    )


def string_too_long(label: str, field: str, value: str, max_length: int) -> RecordError:
    return RecordError(
        "STRING_TOO_LONG",
        f"{label}: data value too large: {value} (max length={max_length})",
        [field],
    )


def invalid_type(label: str, field: str, value: str) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}", [field]
    )


def number_out_of_range(label: str, field: str, value: str) -> RecordError:
    return RecordError(
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{label}: value outside of valid range on numeric field: {value}",
        [field],
    )


def malformed_id(label: str, field: str, value: str) -> RecordError:
    return RecordError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [field])


def invalid_cross_reference() -> RecordError:
    return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")


def entity_is_deleted() -> RecordError:
    return RecordError("ENTITY_IS_DELETED", "entity is deleted")


def foreign_key_not_found(value: str, field: str, entity: str) -> RecordError:
    return RecordError(
        "INVALID_FIELD",
        f"Foreign key external ID: {value} not found for field {field} in entity {entity}",
    )


def duplicate_in_job(value: str) -> RecordError:
    """The same upsert key twice in one job; the reference gives this string with no suffix."""
    return RecordError(
        "DUPLICATE_VALUE", "", raw=f"DUPLICATE_VALUE:Duplicate external id specified: {value}"
    )


def duplicate_value(field: str, existing_id: str) -> RecordError:
    return RecordError(
        "DUPLICATE_VALUE",
        f"duplicate value found: {field} duplicates value on record with id: {existing_id}",
    )


def missing_argument(what: str) -> RecordError:
    return RecordError("MISSING_ARGUMENT", what)


def not_writable(names: list[str]) -> RecordError:
    return RecordError(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security settings of "
        "this field and verify that it is read/write for your profile or permission set.",
        names,
    )


def unable_to_lock_row(ids: list[str]) -> RecordError:
    """The lock-timeout error; ``ids`` are the rows the transaction could not lock."""
    return RecordError(
        "UNABLE_TO_LOCK_ROW",
        "",
        raw=(
            "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or "
            f"{len(ids)} records: {','.join(ids)}:--"
        ),
    )
