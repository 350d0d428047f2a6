"""Conversion of CSV text to stored values, one converter per field, with Salesforce's errors.

Bulk API 2.0 rules (reference §3.5): dates are ``yyyy-MM-dd`` (no offset); dateTimes are
``yyyy-MM-ddTHH:mm:ss[.SSS](Z|+HH:mm|-HH:mm)``; doubles may use scientific notation. Stored forms
are chosen so SQLite comparisons agree with SOQL ones: dates as ``YYYY-MM-DD`` text, dateTimes
normalised to UTC text in the API's output format (lexicographic order = time order), booleans as
0/1, numbers as REAL rounded to the field's scale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from emulator.ids import case_safe_suffix
from emulator.org import errors
from emulator.org.schema import FieldDef

Converter = Callable[[str], object]

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:\d{2})\Z"
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INTEGER = re.compile(r"[+-]?\d+\Z")
_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?\Z")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def format_datetime(moment: datetime) -> str:
    """The API's dateTime output format: milliseconds and an offset without colon."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def now_text() -> str:
    return format_datetime(datetime.now(UTC))


def to18(record_id: str) -> str:
    """Case-safe 18-character form of a 15- or 18-character id (Salesforce's checksum)."""
    if len(record_id) == 18:
        return record_id
    return record_id + case_safe_suffix(record_id)


def parse_date(text: str) -> str | None:
    """``YYYY-MM-DD`` if ``text`` is a valid calendar date, else None."""
    match = _DATE.match(text)
    if not match:
        return None
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return text


def parse_datetime(text: str) -> str | None:
    """The normalised UTC text of a valid dateTime literal, else None."""
    match = _DATETIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, millis, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((millis or "0").ljust(3, "0")) * 1000,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        moment -= sign * offset
    return format_datetime(moment)


def converter_for(f: FieldDef) -> Converter:
    """A function turning one non-empty CSV value into the stored value, or raising RecordError."""
    label, name = f.label, f.name
    kind = f.type
    if kind in {"string", "textarea", "picklist", "phone", "url", "email"}:
        limit = f.length

        def convert_text(value: str) -> object:
            if len(value) > limit:
                raise errors.string_too_long(label, name, value, limit)
            return value

        return convert_text
    if kind == "date":

        def convert_date(value: str) -> object:
            parsed = parse_date(value)
            if parsed is None:
                raise errors.invalid_type(label, name, value)
            return parsed

        return convert_date
    if kind == "datetime":

        def convert_datetime(value: str) -> object:
            parsed = parse_datetime(value)
            if parsed is None:
                raise errors.invalid_type(label, name, value)
            return parsed

        return convert_datetime
    if kind in {"currency", "double", "percent"}:
        bound = 10.0 ** (f.precision - f.scale)
        scale = f.scale

        def convert_number(value: str) -> object:
            if not _NUMBER.match(value):
                raise errors.invalid_type(label, name, value)
            number = round(float(value), scale)
            if not -bound < number < bound:
                raise errors.number_out_of_range(label, name, value)
            return number

        return convert_number
    if kind == "int":
        int_bound = 10**f.digits

        def convert_int(value: str) -> object:
            if not _INTEGER.match(value):
                raise errors.invalid_type(label, name, value)
            number = int(value)
            if not -int_bound < number < int_bound:
                raise errors.number_out_of_range(label, name, value)
            return number

        return convert_int
    if kind == "boolean":

        def convert_bool(value: str) -> object:
            lowered = value.lower()
            if lowered in _TRUE:
                return 1
            if lowered in _FALSE:
                return 0
            raise errors.invalid_type(label, name, value)

        return convert_bool
    if kind in {"id", "reference"}:

        def convert_id(value: str) -> object:
            if not _ID.match(value):
                raise errors.malformed_id(label, name, value)
            return to18(value)

        return convert_id
    raise ValueError(f"no converter for field type {kind}")
