"""Column → field mapping of a Data Cloud page into Bulk API 2.0 CSV rows.

A :class:`MappingSpec` is built and validated once (``MappingSpec.from_dict``), before any row is
read, so a typo in a field name or a date format fails the task at start with a message naming the
field. Applying it to a page gives one :class:`MappedRecord` per source row (its key, its parent
for packing, and its CSV values) and one :class:`RejectedRow` per row that cannot be sent as is
(an impossible date, a text longer than its field): those go to the dead letter with the reason,
the rest of the page loads. A field's text limit is the Bulk API's 32,000 characters until
:meth:`MappingSpec.with_max_lengths` lowers it to the target field's ``length`` from ``describe``
(Opportunity ``Name``: 120), which the load does before its first page.

Null and empty are kept distinct. Bulk CSV has two ways to say "nothing": an empty cell (on
update: leave the field unchanged; on insert: null) and ``#N/A`` (set the field to null). Each field
chooses what a source NULL becomes (``on_null``: ``"clear"`` → ``#N/A``, the default, so an upsert
makes the target equal the source; or ``"blank"``) and, separately, what an empty string becomes
(``on_empty``: ``"blank"`` by default, or ``"clear"``). A text value that *is* the string ``#N/A``
is rejected: sent as is, Salesforce would silently clear the field.

CSV rules (Bulk 2.0 "Prepare CSV Files"): UTF-8, header of field API names, comma delimiter, LF
line endings, RFC 4180 quoting (a value containing ``,``, ``"``, CR or LF is quoted, ``"`` doubled).
Python 3.11's ``csv`` module does not quote a lone CR when the line terminator is LF, so rows are
written with a CRLF terminator (which makes the C writer quote both CR and LF) and the terminator
is then swapped for LF: every CR/LF left in the text is inside quotes.

Hot path, chosen by measurement. A page is mapped by a function generated for the spec and the
page's column order (:func:`_compile_page_mapper`): per row it converts each field, inlining the
common case (clean text, a finite ``Decimal``, a ``bool``, a date seen before) and calling the
field's ``convert`` for everything else, then builds the record's CSV line with one f-string,
quoting value by value only when the line holds a ``"``, CR, LF or an extra comma. Records carry
that line (``MappedRecord.line``), so a job's body is one join. Measured on the shared 2-core box:

* the default Opportunity mapping on a real emulator page (10,000 rows, 9 fields), best of 9,
  CPU time: conversion to values plus ``render_bulk_csv`` 3.6 + 1.9 = 5.5 µs/row before; the
  compiled mapper ≈ 1.8 µs/row, and the job body from lines ≈ 0.04 µs/row;
* ``.venv/bin/python -m bench.mapping_hot_path`` (one 10,000-row page: text, hostile text,
  constant, number with scale, date from ``%d/%m/%Y``, ISO datetime, boolean, relationship;
  three paths checked byte-identical first, runs interleaved, best of 9): typical page (1 %
  hostile text) compiled lines 91 ms, values + ``csv.writer`` 93 ms, pandas 107 ms; hostile-heavy
  page (every row) 87, 128 and 141 ms. Its ISO datetime field (parsed and converted to UTC on
  every row, not memoised) is most of that time, which is why the first two are close on the
  typical page.

Before the compiled mapper, tuning the per-field path took a page from ≈ 160 ms to ≈ 100 ms
(``strptime`` at ≈ 13 µs a call replaced by a compiled regex for numeric date formats; a CR
pre-scan instead of a double CSV write), and pandas was within noise of it: it spends its
vectorised-date gain on building the frame and still needs per-value Python for exact decimals.
The pure path is kept: it reports *which field* rejected *which row* without a second pass, it has
one implementation of every rule (the pandas path in the bench re-implements them), and a worker
does not import pandas (≈ 1.4 s, tens of MB) to load a page. Numbers vary with machine load;
re-run the bench before revisiting the choice.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Generic, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgspec import Struct

from include.dc2sf.logic.identifiers import (
    relationship_for_lookup_field,
    validate_column_name,
    validate_target_field,
)

CLEAR_FIELD = "#N/A"
"""Bulk CSV value that sets a field to null (an empty cell leaves it unchanged on update)."""

MAX_FIELD_CHARS = 32_000
"""Bulk API 2.0 refuses a field longer than 32,000 characters (a shorter field: its own length)."""

#: What ``datetime`` says when the text has the right shape but names no real moment (31 February,
#: month 13, hour 24): such a value is "not a valid date", not a format mismatch.
_CALENDAR_ERRORS = re.compile(r"(day|year -?\d+) is out of range|[a-z]+ must be in \d+\.\.\d+")

MAX_RECORD_CHARS = 400_000
"""Bulk API 2.0 refuses a record longer than 400,000 characters."""

TransformKind = Literal["text", "date", "datetime", "number", "boolean"]
NullPolicy = Literal["clear", "blank"]

_KINDS: tuple[str, ...] = ("text", "date", "datetime", "number", "boolean")
_POLICIES: tuple[str, ...] = ("clear", "blank")
_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
_UTC = dt.UTC


class ValueRejected(ValueError):
    """One value cannot be converted; the row goes to the dead letter with this reason."""


class SourcePage(NamedTuple):
    """A page as the Data Cloud hook delivers it: column names (in ``placeInOrder``) and row tuples."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


class MappedRecord(Struct, frozen=True, gc=False):
    """One source row ready for Bulk: its key, its parent (for packing) and its CSV line.

    The line is the record's Bulk CSV text, quoted and ``\n``-terminated, so a job's body is the
    header line plus its records' lines joined: one ``str`` per record instead of a tuple of
    values (a chunk takes about a third of the memory, and nothing is quoted at upload time).

    A ``msgspec`` struct with ``gc=False`` rather than a named tuple: it holds only strings, so it
    can never be part of a reference cycle, and the collector need not track it. A chunk's 40,000
    named tuples (tuple subclasses are never untracked) were promoted to the oldest generation
    and set off full collections, each walking the task process's ~190,000 objects from imports.
    It is also smaller (40 bytes against 64) and faster to build.
    """

    key: str
    parent: str | None
    line: str

    @property
    def values(self) -> tuple[str, ...]:
        """The CSV values, parsed back from the line (dead letters, tests: not the hot path)."""
        return parse_csv_line(self.line)


class MappedValues(Struct, frozen=True, gc=False):
    """One source row as CSV values, for a writer that takes values (a dict per record)."""

    key: str
    parent: str | None
    values: tuple[str, ...]


class RejectedRow(NamedTuple):
    """A row that cannot be sent: its key, the target field at fault and why (for the dead letter)."""

    key: str
    field: str
    reason: str
    row: tuple[Any, ...]


RecordT = TypeVar("RecordT", MappedRecord, MappedValues)


@dataclass(frozen=True, slots=True)
class MappedPage(Generic[RecordT]):
    records: list[RecordT]
    rejected: list[RejectedRow]

    @property
    def last_key(self) -> str | None:
        """The largest key of the page (the next page starts after it), rejected rows included."""
        keys = [record.key for record in self.records[-1:]] + [
            row.key for row in self.rejected[-1:]
        ]
        return max(keys) if keys else None


# --- value converters -----------------------------------------------------------------------


def format_number(value: Any, scale: int | None = None) -> str:
    """A number as plain decimal text: no exponent, no thousands separator, ``.`` as the point."""
    if isinstance(value, bool):
        raise ValueRejected(f"boolean {value!r} is not a number")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueRejected(f"{value!r} is not a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueRejected(f"{value!r} is not a number") from None
    else:
        raise ValueRejected(f"{type(value).__name__} {value!r} is not a number")
    if not number.is_finite():
        raise ValueRejected(f"{value!r} is not a finite number")
    if scale is not None:
        try:
            number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        except InvalidOperation:  # more digits than the decimal context's precision holds
            raise ValueRejected(
                f"{value!r} has too many digits to round to {scale} decimal places"
            ) from None
    if number.is_zero():
        number = number.copy_abs()  # "-0" is a float artefact, not a value worth sending
    return format(number, "f")


def format_boolean(value: Any) -> str:
    """``true``/``false`` from a bool, 0/1, or a yes/no/true/false word (any case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return "true"
        if word in _FALSE_WORDS:
            return "false"
    raise ValueRejected(f"{value!r} is not a boolean (use true/false, yes/no, 1/0)")


_FAST_DIRECTIVES = {
    "%Y": r"(?P<year>\d{4})",
    "%m": r"(?P<month>\d{1,2})",
    "%d": r"(?P<day>\d{1,2})",
    "%H": r"(?P<hour>\d{1,2})",
    "%M": r"(?P<minute>\d{1,2})",
    "%S": r"(?P<second>\d{1,2})",
}


@functools.lru_cache(maxsize=64)
def _fast_pattern(input_format: str) -> re.Pattern[str] | None:
    """A regex equivalent to ``input_format`` when it only uses numeric directives, else None.

    ``datetime.strptime`` re-checks the locale and takes a lock on every call (≈13 µs, the largest
    single cost of a 10,000-row page); a compiled regex plus ``datetime(...)`` (which still
    validates the calendar, so 31/02 is refused) is several times faster.
    """
    parts: list[str] = []
    seen: set[str] = set()
    for token in re.split(r"(%.)", input_format):
        if token.startswith("%") and len(token) == 2:
            if token not in _FAST_DIRECTIVES or token in seen:
                return None
            seen.add(token)
            parts.append(_FAST_DIRECTIVES[token])
        else:
            parts.append(re.escape(token))
    if not {"%Y", "%m", "%d"} <= seen:
        return None
    return re.compile("".join(parts))


def _parse_datetime_text(value: str, input_format: str | None) -> dt.datetime:
    try:
        if input_format is not None:
            pattern = _fast_pattern(input_format)
            if pattern is None:
                return dt.datetime.strptime(value, input_format)
            match = pattern.fullmatch(value)
            if match is None:
                raise ValueError("no match")
            parts = match.groupdict("0")
            return dt.datetime(
                int(parts["year"]),
                int(parts["month"]),
                int(parts["day"]),
                int(parts.get("hour", 0)),
                int(parts.get("minute", 0)),
                int(parts.get("second", 0)),
            )
        return dt.datetime.fromisoformat(value.strip())
    except ValueError as error:
        if _CALENDAR_ERRORS.match(str(error)):
            raise ValueRejected(f"{value!r} is not a valid date ({error})") from None
        expected = input_format or "ISO 8601"
        raise ValueRejected(f"{value!r} does not match the date format {expected!r}") from None


def format_date(value: Any, input_format: str | None = None) -> str:
    """A date as Salesforce's ``YYYY-MM-DD`` (no offset: Bulk refuses one on a date field)."""
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, str):
        day = _parse_datetime_text(value, input_format).date()
    else:
        raise ValueRejected(f"{type(value).__name__} {value!r} is not a date")
    return day.isoformat()


def format_datetime(
    value: Any, input_format: str | None = None, assume_zone: dt.tzinfo = _UTC
) -> str:
    """A datetime as ISO 8601 in UTC with milliseconds and ``Z``: ``2024-05-01T13:45:00.000Z``.

    A naive value is read in ``assume_zone`` (the mapping's ``timezone``, UTC by default).
    """
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_datetime_text(value, input_format)
    else:
        raise ValueRejected(f"{type(value).__name__} {value!r} is not a datetime")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=assume_zone)
    # isoformat is C code; in UTC it always ends in "+00:00", which Salesforce also reads as "Z".
    return moment.astimezone(_UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def format_text(value: Any) -> str:
    """Text as is; other types in their Salesforce text form (numbers plain, booleans lower-case)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return format_boolean(value)
    if isinstance(value, int | float | Decimal):
        return format_number(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return format_date(value)
    raise ValueRejected(f"{type(value).__name__} {value!r} cannot be written as text")


# --- specification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """How one target field (Bulk header column) gets its value."""

    target: str
    source: str | None = None
    constant: Any = None
    kind: TransformKind = "text"
    input_format: str | None = None
    timezone: str = "UTC"
    scale: int | None = None
    on_null: NullPolicy = "clear"
    on_empty: NullPolicy = "blank"
    max_length: int = MAX_FIELD_CHARS
    converter: Callable[[Any], str] = field(init=False, repr=False, compare=False)
    convert: Callable[[Any], str] = field(init=False, repr=False, compare=False)
    """The CSV text of one source value for this field; raises :class:`ValueRejected`."""

    def __post_init__(self) -> None:
        where = f"mapping for field {self.target!r}"
        validate_target_field(self.target)
        if self.source is not None:
            validate_column_name(self.source)
        if self.kind not in _KINDS:
            raise ValueError(f"{where}: type {self.kind!r} is unknown; use one of {list(_KINDS)}")
        for name in ("on_null", "on_empty"):
            if getattr(self, name) not in _POLICIES:
                raise ValueError(
                    f"{where}: {name} must be 'clear' (send #N/A) or 'blank' (empty cell)"
                )
        if self.input_format is not None and self.kind not in ("date", "datetime"):
            raise ValueError(f"{where}: input_format only applies to type 'date' or 'datetime'")
        if self.scale is not None and (self.kind != "number" or not 0 <= self.scale <= 18):
            raise ValueError(f"{where}: scale applies to type 'number' and must be from 0 to 18")
        if not 1 <= self.max_length <= MAX_FIELD_CHARS:
            raise ValueError(f"{where}: max_length must be from 1 to {MAX_FIELD_CHARS}")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{where}: timezone {self.timezone!r} is not an IANA zone name like 'Europe/Paris'"
            ) from None
        if self.input_format is not None:
            try:
                dt.datetime.now().strftime(self.input_format)
            except ValueError as error:
                raise ValueError(
                    f"{where}: input_format {self.input_format!r} is invalid ({error})"
                ) from None
            if "%" not in self.input_format:
                raise ValueError(
                    f"{where}: input_format {self.input_format!r} has no % directive, e.g. '%d/%m/%Y'"
                )
        object.__setattr__(self, "converter", self._build_converter(zone))
        object.__setattr__(self, "convert", self._build_convert())

    @property
    def is_constant(self) -> bool:
        return self.source is None

    def _build_converter(self, zone: dt.tzinfo) -> Callable[[Any], str]:
        if self.kind == "date":
            return _memoised_text_converter(
                functools.partial(format_date, input_format=self.input_format)
            )
        if self.kind == "datetime":
            return functools.partial(
                format_datetime, input_format=self.input_format, assume_zone=zone
            )
        if self.kind == "number":
            return functools.partial(format_number, scale=self.scale)
        if self.kind == "boolean":
            return format_boolean
        return format_text

    def _build_convert(self) -> Callable[[Any], str]:
        """One closure per field: the hot path calls it ~10,000 times per page, so the policy
        checks are bound once here instead of looked up on every value."""
        null_text = CLEAR_FIELD if self.on_null == "clear" else ""
        empty_text = CLEAR_FIELD if self.on_empty == "clear" else ""
        converter, max_length, target = self.converter, self.max_length, self.target

        def convert(value: Any) -> str:
            if value is None:
                return null_text
            if value.__class__ is str and not value:
                return empty_text
            text = converter(value)
            if text == CLEAR_FIELD:
                raise ValueRejected(
                    f"the value '#N/A' would clear {target} in Salesforce; change it in the source"
                )
            if len(text) > max_length:
                raise ValueRejected(
                    f"STRING_TOO_LONG: {len(text)} characters, more than the field's limit of "
                    f"{max_length}"
                )
            return text

        if self.kind != "text":
            return convert

        def convert_text(value: Any) -> str:
            if (
                value.__class__ is str
                and value
                and len(value) <= max_length
                and value != CLEAR_FIELD
            ):
                return value
            return convert(value)

        return convert_text

    @classmethod
    def from_config(cls, target: str, config: str | Mapping[str, Any]) -> FieldMapping:
        """One ``fields`` entry: a source column name, or a dict of the options above."""
        if isinstance(config, str):
            return cls(target=target, source=config)
        if not isinstance(config, Mapping):
            raise ValueError(
                f"mapping for field {target!r} must be a column name or an object, got {config!r}"
            )
        allowed = {
            "source",
            "constant",
            "type",
            "input_format",
            "timezone",
            "scale",
            "on_null",
            "on_empty",
            "max_length",
        }
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(
                f"mapping for field {target!r}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        has_source, has_constant = "source" in config, "constant" in config
        if has_source == has_constant:
            raise ValueError(
                f"mapping for field {target!r}: give exactly one of 'source' (a column) or 'constant'"
            )
        options = {key: value for key, value in config.items() if key not in ("type",)}
        mapping = cls(target=target, kind=config.get("type", "text"), **options)
        if has_constant:
            try:
                mapping.convert(mapping.constant)
            except ValueRejected as error:
                raise ValueError(
                    f"mapping for field {target!r}: constant {mapping.constant!r} is invalid: {error}"
                ) from None
        return mapping


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """The whole mapping: target fields in header order, the key column and the parent field."""

    fields: tuple[FieldMapping, ...]
    key_column: str
    parent_field: str | None = None
    _compiled: dict[tuple[tuple[str, ...], bool], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Compiled page mappers by (page columns, lines or values): built on the first page."""

    def __post_init__(self) -> None:
        validate_column_name(self.key_column)
        if not self.fields:
            raise ValueError("mapping has no fields; map at least the external id field")
        targets = [mapping.target for mapping in self.fields]
        duplicates = sorted({target for target in targets if targets.count(target) > 1})
        if duplicates:
            raise ValueError(f"mapping sets {duplicates} more than once; keep one entry per field")
        if self.parent_field is not None and self.parent_field not in targets:
            raise ValueError(
                f"parent field {self.parent_field!r} is not mapped; map it or set parent_field to null"
            )
        header_chars = len(",".join(targets))
        if header_chars > 32_000:
            raise ValueError(f"the header would be {header_chars} characters; Bulk allows 32,000")

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, default_parent_field: str = "AccountId"
    ) -> MappingSpec:
        """Build from config: ``{"key_column": …, "parent_field": …, "fields": {target: column | {…}}}``.

        ``parent_field`` names the *target* field that identifies the parent for grouping. When
        absent, ``default_parent_field`` (``AccountId``) is used if mapped, or its relationship form
        (``Account.<ExternalId>``) if that is mapped, else records are not grouped.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"mapping must be an object, got {type(data).__name__}")
        unknown = set(data) - {"key_column", "parent_field", "fields"}
        if unknown:
            raise ValueError(
                f"mapping: unknown key(s) {sorted(unknown)}; allowed: key_column, parent_field, fields"
            )
        if "key_column" not in data:
            raise ValueError(
                "mapping: 'key_column' is missing; name the source column the pages are keyed on"
            )
        raw_fields = data.get("fields")
        if not isinstance(raw_fields, Mapping) or not raw_fields:
            raise ValueError(
                "mapping: 'fields' must be a non-empty object {target field: source column or options}"
            )
        fields = tuple(
            FieldMapping.from_config(target, config) for target, config in raw_fields.items()
        )
        targets = [mapping.target for mapping in fields]
        if "parent_field" in data:
            parent = data["parent_field"]
        else:
            parent = _default_parent(targets, default_parent_field)
        return cls(fields=fields, key_column=data["key_column"], parent_field=parent)

    def with_max_lengths(self, lengths: Mapping[str, int]) -> MappingSpec:
        """This mapping with each field's text limit lowered to ``lengths[target]`` (the target
        field's ``length`` from describe). Fields without an entry keep their limit; a limit is
        never raised above the mapping's own ``max_length`` or the Bulk API's 32,000."""
        fields = tuple(
            dataclasses.replace(
                mapping, max_length=min(mapping.max_length, lengths[mapping.target])
            )
            if lengths.get(mapping.target, 0) > 0
            else mapping
            for mapping in self.fields
        )
        return MappingSpec(
            fields=fields, key_column=self.key_column, parent_field=self.parent_field
        )

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(mapping.target for mapping in self.fields)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Columns to SELECT: the key first, then every mapped source column once."""
        columns = [self.key_column] + [m.source for m in self.fields if m.source is not None]
        return tuple(dict.fromkeys(columns))

    def apply(self, page: SourcePage) -> MappedPage[MappedRecord]:
        """Map every row of ``page`` to a CSV line; rows with an unconvertible value are rejected."""
        return self._apply(page, lines=True)

    def apply_values(self, page: SourcePage) -> MappedPage[MappedValues]:
        """Map every row of ``page`` to its CSV values (same conversions and rejections as
        :meth:`apply`), for a writer that builds its own CSV from values."""
        return self._apply(page, lines=False)

    def _apply(self, page: SourcePage, *, lines: bool) -> MappedPage[Any]:
        columns = tuple(page.columns)
        compiled = self._compiled.get((columns, lines))
        if compiled is None:
            compiled = self._compiled[(columns, lines)] = _compile_page_mapper(
                self, columns, lines=lines
            )
        records: list[Any] = []
        rejected: list[RejectedRow] = []
        compiled(page.rows, records, rejected)
        return MappedPage(records=records, rejected=rejected)

    def _steps(self, columns: Sequence[str]) -> list[tuple[int, Callable[[Any], str]]]:
        """(source position, converter) per target field, constants reading the key's position."""
        positions = {name: index for index, name in enumerate(columns)}
        missing = [column for column in self.source_columns if column not in positions]
        if missing:
            raise ValueError(
                f"page lacks column(s) {missing}; it has {list(columns)} (check the DMO column names)"
            )
        key_index = positions[self.key_column]
        return [
            (positions[mapping.source], mapping.convert)
            if mapping.source is not None
            else (key_index, _constant_converter(mapping.convert(mapping.constant)))
            for mapping in self.fields
        ]

    def _explain_rejection(
        self, key: str, row: Sequence[Any], steps: Sequence[tuple[int, Callable[[Any], str]]]
    ) -> RejectedRow:
        """Slow path for a rejected row only: find the first field at fault and why."""
        for mapping, (index, convert) in zip(self.fields, steps, strict=True):
            try:
                convert(row[index])
            except ValueRejected as error:
                return RejectedRow(key, mapping.target, str(error), tuple(row))
        raise AssertionError("a converter rejected a value once and accepted it the second time")


# --- the compiled page mapper -------------------------------------------------------------------

_MEMO_ENTRIES = 4096
"""Bound of a date field's memo (a page holds a few hundred distinct close dates at most)."""


def _compile_page_mapper(
    spec: MappingSpec, columns: tuple[str, ...], *, lines: bool
) -> Callable[[Sequence[Sequence[Any]], list[Any], list[RejectedRow]], None]:
    """A function mapping a page's rows (in ``columns`` order) into records, made for this spec.

    Why generated code: the mapping is the largest client-side cost of a load (a few µs per
    row), and most of it was interpreter overhead, not work: one converter call per value, the
    null/empty/length policy re-checked through closures, a values tuple, then ``csv.writer``
    walking the tuple again. The generated loop inlines, per field, the common case that needs
    no conversion (text that is already a clean string; a finite ``Decimal`` formatted plainly;
    a ``bool``; a date seen before on this page or an earlier one) and calls the field's full
    ``convert`` for everything else, so every rule stays in one place: the fast paths are taken
    only where they return exactly what ``convert`` would (``tests/unit/logic/test_mapping.py``
    checks the two against each other on generated rows). The line is then built with one
    f-string, and quoted value by value only when it holds a ``"``, CR, LF or more commas than
    separators. The generated source holds only indices, names made here, validated integer
    limits and the two fixed null texts; every other value (constants, converters, formats) is
    passed in the namespace, never spliced into code.
    """
    steps = spec._steps(columns)
    key_index = columns.index(spec.key_column)
    count = len(spec.fields)
    names = {
        "Decimal": Decimal,
        "ValueRejected": ValueRejected,
        "RejectedRow": RejectedRow,
        "Record": MappedRecord if lines else MappedValues,
        "fmt": format,
        "ROUND_HALF_UP": ROUND_HALF_UP,
        "InvalidOperation": InvalidOperation,
        "quoted_line": csv_line,
        "CLEAR_FIELD": CLEAR_FIELD,
        "MAX_RECORD_CHARS": MAX_RECORD_CHARS,
        "explain": lambda key, row: spec._explain_rejection(key, row, steps),
        "bad_key": functools.partial(_bad_key, spec.key_column),
    }
    body: list[str] = []
    for number, (mapping, (index, convert)) in enumerate(zip(spec.fields, steps, strict=True)):
        body.extend(_field_code(number, mapping, index, convert, names))
    values = ", ".join(f"t{number}" for number in range(count))
    code = [
        "def map_rows(rows, records, rejected):",
        "    append = records.append",
        "    parents = {}",
        "    intern = parents.setdefault",
        "    for row_number, row in enumerate(rows):",
        f"        key = row[{key_index}]",
        "        if key.__class__ is not str or not key:",
        "            bad_key(row_number, key)",
        "        try:",
        *body,
        "        except ValueRejected:",
        "            rejected.append(explain(key, row))",
        "            continue",
    ]
    if sum(m.max_length + 1 for m in spec.fields) > MAX_RECORD_CHARS:
        lengths = " + ".join(f"len(t{number})" for number in range(count))
        code += [
            f"        if {lengths} + {count} > MAX_RECORD_CHARS:",
            "            reason = f'record is longer than the {MAX_RECORD_CHARS} characters Bulk allows'",
            "            rejected.append(RejectedRow(key, '*', reason, tuple(row)))",
            "            continue",
        ]
    if spec.parent_field is not None:
        parent = f"t{spec.header.index(spec.parent_field)}"
        code += [
            f"        parent = None if {parent} == '' or {parent} == CLEAR_FIELD else intern({parent}, {parent})"
        ]
    else:
        code += ["        parent = None"]
    if lines:
        joined = ",".join(f"{{t{number}}}" for number in range(count))
        unsafe = [
            f"line.count(',') != {count - 1}",
            "line.count('\\n') != 1",
            "'\"' in line",
            "'\\r' in line",
        ]
        if count == 1:
            unsafe.append("line == '\\n'")
        code += [
            f'        line = f"{joined}\\n"',
            f"        if {' or '.join(unsafe)}:",
            f"            line = quoted_line(({values},))",
            "        append(Record(key, parent, line))",
        ]
    else:
        code += [f"        append(Record(key, parent, ({values},)))"]
    namespace = dict(names)
    exec("\n".join(code), namespace)  # the source holds only names and literals made above
    return namespace["map_rows"]  # type: ignore[no-any-return]


def _field_code(
    number: int,
    mapping: FieldMapping,
    index: int,
    convert: Callable[[Any], str],
    names: dict[str, Any],
) -> list[str]:
    """Statements setting ``t<number>`` to the field's CSV text (raising ValueRejected)."""
    t, conv, limit = f"t{number}", f"convert{number}", int(mapping.max_length)
    names[conv] = convert
    indent = "            "
    if mapping.source is None:
        names[f"constant{number}"] = convert(None)
        return [f"{indent}{t} = constant{number}"]
    code = [f"{indent}v = row[{index}]"]
    if mapping.kind == "text":
        null_text = CLEAR_FIELD if mapping.on_null == "clear" else ""
        code.append(
            f"{indent}{t} = v if v.__class__ is str and v and len(v) <= {limit} "
            f"and v != CLEAR_FIELD else ({null_text!r} if v is None else {conv}(v))"
        )
    elif mapping.kind == "boolean":
        code.append(
            f"{indent}{t} = ('true' if v else 'false') if v.__class__ is bool else {conv}(v)"
        )
    elif mapping.kind == "number":
        code.append(f"{indent}if v.__class__ is Decimal and v.is_finite():")
        if mapping.scale is not None:
            names[f"quantum{number}"] = Decimal(1).scaleb(-mapping.scale)
            code += [
                f"{indent}    try:",
                f"{indent}        v = v.quantize(quantum{number}, rounding=ROUND_HALF_UP)",
                f"{indent}    except InvalidOperation:",
                f"{indent}        {conv}(v)",
            ]
        code += [
            # "-0" is a float artefact, not a value worth sending (format_number does the same).
            f"{indent}    {t} = fmt(v, 'f') if v else fmt(v.copy_abs(), 'f')",
            f"{indent}    if len({t}) > {limit}:",
            f"{indent}        {conv}(v)",
            f"{indent}else:",
            f"{indent}    {t} = {conv}(v)",
        ]
    elif mapping.kind == "date":
        memo: dict[str, str] = {}
        names[f"memo{number}"] = memo
        names[f"miss{number}"] = functools.partial(_memo_miss, memo, convert)
        code += [
            f"{indent}{t} = memo{number}.get(v) if v.__class__ is str else None",
            f"{indent}if {t} is None:",
            f"{indent}    {t} = miss{number}(v)",
        ]
    else:
        code.append(f"{indent}{t} = {conv}(v)")
    return code


def _memo_miss(memo: dict[str, str], convert: Callable[[Any], str], value: Any) -> str:
    """Convert a value not in the memo, remembering text inputs (bounded, so memory stays flat;
    a rejected value raises and is not remembered)."""
    text = convert(value)
    if value.__class__ is str:
        if len(memo) >= _MEMO_ENTRIES:
            memo.clear()
        memo[value] = text
    return text


def _bad_key(key_column: str, row_number: int, key: Any) -> None:
    raise ValueError(
        f"row {row_number} of the page has key {key!r} in {key_column!r}; "
        "keys must be non-empty text"
    )


def _memoised_text_converter(
    converter: Callable[[Any], str], max_entries: int = 4096
) -> Callable[[Any], str]:
    """Remember conversions of text inputs: dates repeat (a page holds a few hundred distinct
    close dates at most), and parsing is the costliest step of a page. Bounded, so memory stays
    flat; rejections are not remembered (they raise)."""
    memo: dict[str, str] = {}

    def convert(value: Any) -> str:
        if value.__class__ is not str:
            return converter(value)
        text = memo.get(value)
        if text is None:
            text = converter(value)
            if len(memo) >= max_entries:
                memo.clear()
            memo[value] = text
        return text

    return convert


def _constant_converter(text: str) -> Callable[[Any], str]:
    return lambda _ignored: text


def _default_parent(targets: Sequence[str], default_parent_field: str) -> str | None:
    if default_parent_field in targets:
        return default_parent_field
    relationship = relationship_for_lookup_field(default_parent_field)
    if relationship is not None:
        for target in targets:
            if target.startswith(relationship + "."):
                return target
    return None


# --- CSV --------------------------------------------------------------------------------------


def render_bulk_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Bulk API 2.0 CSV text: header line, then one RFC 4180 line per row, LF line endings.

    Python 3.11's C ``csv`` writer quotes a value holding LF (the line terminator) but not one
    holding a CR without an LF, which Bulk would read as a line break. Such values are rare, so
    the rows are scanned for one first (a few ms per 10,000 rows); without any, the rows are
    written with LF directly. Otherwise they are written with a CRLF terminator, which makes the
    writer quote every CR and LF, and each row's trailing CRLF is swapped for LF.
    """
    rows = rows if isinstance(rows, Sequence) else list(rows)
    if not _has_lone_carriage_return(rows):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()
    lines: list[str] = []
    writer = csv.writer(_LineSink(lines), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return "\n".join(line[:-2] for line in lines) + "\n"


def _has_lone_carriage_return(rows: Sequence[Sequence[str]]) -> bool:
    """True when some value holds a CR but no LF (a value with an LF is quoted anyway)."""
    for row in rows:
        for value in row:
            if "\r" in value and "\n" not in value:
                return True
    return False


class _LineSink:
    """File-like object collecting each ``writerow`` output (one call per row) into a list."""

    __slots__ = ("write",)

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append


_NEEDS_QUOTES = re.compile('[",\r\n]')


def csv_line(values: Sequence[str]) -> str:
    """One record's Bulk CSV line, ``\\n``-terminated: the bytes :func:`render_bulk_csv` writes.

    A value is quoted when it holds a comma, a ``"`` (doubled inside), a CR or an LF: that is the
    C writer's rule with a CRLF terminator, so a lone CR is quoted too. A record of one empty
    value is written ``""`` (an empty line would be no record at all), as the writer does.
    """
    if len(values) == 1 and not values[0]:
        return '""\n'
    search = _NEEDS_QUOTES.search
    return (
        ",".join(
            '"' + value.replace('"', '""') + '"' if search(value) is not None else value
            for value in values
        )
        + "\n"
    )


def parse_csv_line(line: str) -> tuple[str, ...]:
    """The values of one line written by :func:`csv_line` (quoted CR/LF included)."""
    return tuple(next(csv.reader([line], strict=True)))


def render_bulk_lines(header: Sequence[str], lines: Iterable[str]) -> str:
    """A job's Bulk CSV body from records' lines (``MappedRecord.line``, :func:`csv_line`):
    the same text as :func:`render_bulk_csv` of their values, without touching a value again.
    One join, header included: ``header + "".join(lines)`` would copy a 40,000-line body twice."""
    return "".join(itertools.chain((csv_line(header),), lines))
