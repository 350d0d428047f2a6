"""Mapping spec validation, value transforms, null/empty policies and Bulk CSV round-trips."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.logic.mapping import (
    CLEAR_FIELD,
    MAX_FIELD_CHARS,
    FieldMapping,
    MappingSpec,
    SourcePage,
    ValueRejected,
    csv_line,
    format_boolean,
    format_date,
    format_datetime,
    format_number,
    parse_csv_line,
    render_bulk_csv,
    render_bulk_lines,
)

BASE_SPEC = {
    "key_column": "ExternalId__c",
    "fields": {
        "ExternalId__c": "ExternalId__c",
        "Name": "Name__c",
        "StageName": {"constant": "Prospecting"},
        "Amount": {"source": "Amount__c", "type": "number", "scale": 2},
        "CloseDate": {"source": "CloseDate__c", "type": "date", "input_format": "%d/%m/%Y"},
        "Account.ExternalId__c": "AccountKey__c",
    },
}
COLUMNS = ("ExternalId__c", "Name__c", "Amount__c", "CloseDate__c", "AccountKey__c")


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_spec_header_columns_and_default_parent_from_relationship() -> None:
    spec = MappingSpec.from_dict(BASE_SPEC)
    assert spec.header == (
        "ExternalId__c",
        "Name",
        "StageName",
        "Amount",
        "CloseDate",
        "Account.ExternalId__c",
    )
    assert spec.source_columns == COLUMNS
    assert spec.parent_field == "Account.ExternalId__c"


def test_parent_defaults_to_account_id_when_mapped_and_can_be_disabled() -> None:
    spec = MappingSpec.from_dict(
        {"key_column": "K__c", "fields": {"ExternalId__c": "K__c", "AccountId": "Acc__c"}}
    )
    assert spec.parent_field == "AccountId"
    no_parent = MappingSpec.from_dict(
        {
            "key_column": "K__c",
            "parent_field": None,
            "fields": {"ExternalId__c": "K__c", "AccountId": "A__c"},
        }
    )
    assert no_parent.parent_field is None
    ungrouped = MappingSpec.from_dict({"key_column": "K__c", "fields": {"ExternalId__c": "K__c"}})
    assert ungrouped.parent_field is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fields": {"Name": "N__c"}}, "'key_column' is missing"),
        ({"key_column": "K__c", "fields": {}}, "non-empty object"),
        ({"key_column": "K__c", "fields": {"Name": "N__c"}, "extra": 1}, "unknown key"),
        ({"key_column": "K__c", "fields": {"Na me": "N__c"}}, "field name"),
        ({"key_column": "K__c", "fields": {"Name": "N c"}}, "column name"),
        (
            {"key_column": "K__c", "fields": {"Name": {"source": "N__c", "constant": "x"}}},
            "exactly one",
        ),
        ({"key_column": "K__c", "fields": {"Name": {}}}, "exactly one"),
        (
            {"key_column": "K__c", "fields": {"Name": {"source": "N__c", "type": "money"}}},
            "unknown",
        ),
        (
            {"key_column": "K__c", "fields": {"Name": {"source": "N__c", "colour": 1}}},
            "unknown option",
        ),
        (
            {"key_column": "K__c", "fields": {"Name": {"source": "N__c", "on_null": "drop"}}},
            "on_null",
        ),
        (
            {
                "key_column": "K__c",
                "fields": {"D": {"source": "D__c", "type": "date", "input_format": "dd/mm"}},
            },
            "no % directive",
        ),
        (
            {"key_column": "K__c", "fields": {"D": {"source": "D__c", "input_format": "%d"}}},
            "only applies",
        ),
        (
            {
                "key_column": "K__c",
                "fields": {"D": {"source": "D__c", "type": "datetime", "timezone": "Mars/Base"}},
            },
            "IANA",
        ),
        (
            {
                "key_column": "K__c",
                "fields": {"A": {"source": "A__c", "type": "number", "scale": 40}},
            },
            "scale",
        ),
        (
            {"key_column": "K__c", "fields": {"D": {"constant": "tomorrow", "type": "date"}}},
            "constant 'tomorrow' is invalid",
        ),
        (
            {"key_column": "K__c", "parent_field": "AccountId", "fields": {"Name": "N__c"}},
            "parent field 'AccountId' is not mapped",
        ),
        ({"key_column": "K__c", "fields": {"Name": 3}}, "column name or an object"),
    ],
)
def test_invalid_specs_fail_up_front_with_a_useful_message(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        MappingSpec.from_dict(spec)
    assert message in str(raised.value)


def test_duplicate_targets_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        MappingSpec(
            fields=(FieldMapping("Name", "A__c"), FieldMapping("Name", "B__c")), key_column="A__c"
        )


def test_apply_maps_a_page_and_rejects_bad_rows_without_failing_the_page() -> None:
    spec = MappingSpec.from_dict(BASE_SPEC)
    page = SourcePage(
        COLUMNS,
        [
            ("k1", "Deal 1", 1234.5, "01/02/2024", "acc1"),
            ("k2", "Deal 2", "12", "31/02/2024", "acc1"),
            ("k3", None, None, None, None),
        ],
    )
    mapped = spec.apply(page)
    assert [record.key for record in mapped.records] == ["k1", "k3"]
    assert mapped.records[0].values == (
        "k1",
        "Deal 1",
        "Prospecting",
        "1234.50",
        "2024-02-01",
        "acc1",
    )
    assert mapped.records[0].parent == "acc1"
    assert mapped.records[1].values == (
        "k3",
        CLEAR_FIELD,
        "Prospecting",
        CLEAR_FIELD,
        CLEAR_FIELD,
        CLEAR_FIELD,
    )
    assert mapped.records[1].parent is None
    [rejected] = mapped.rejected
    assert rejected.key == "k2" and rejected.field == "CloseDate"
    assert rejected.reason == "'31/02/2024' is not a valid date (day is out of range for month)"
    assert rejected.row == ("k2", "Deal 2", "12", "31/02/2024", "acc1")
    assert mapped.last_key == "k3"


def test_page_missing_a_column_or_key_is_a_configuration_error() -> None:
    spec = MappingSpec.from_dict(BASE_SPEC)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['CloseDate__c'\]"):
        spec.apply(SourcePage(("ExternalId__c", "Name__c", "Amount__c", "AccountKey__c"), []))
    with pytest.raises(ValueError, match="keys must be non-empty text"):
        spec.apply(SourcePage(COLUMNS, [(None, "n", 1, "01/01/2024", "a")]))


def test_null_and_empty_string_stay_distinct() -> None:
    clear_null = FieldMapping("Description", "D__c")
    assert clear_null.convert(None) == CLEAR_FIELD
    assert clear_null.convert("") == ""
    keep = FieldMapping("Description", "D__c", on_null="blank", on_empty="clear")
    assert keep.convert(None) == ""
    assert keep.convert("") == CLEAR_FIELD


def test_literal_na_text_and_overlong_text_are_rejected() -> None:
    text = FieldMapping("Description", "D__c")
    with pytest.raises(ValueRejected, match="would clear Description"):
        text.convert("#N/A")
    assert text.convert("x" * 32_000) == "x" * 32_000
    with pytest.raises(ValueRejected, match="32001 characters"):
        text.convert("x" * 32_001)
    short = FieldMapping("Name", "N__c", max_length=5)
    with pytest.raises(ValueRejected, match="more than the field's limit of 5"):
        short.convert("abcdef")


@pytest.mark.parametrize(
    ("value", "input_format", "reason"),
    [
        ("2025-02-30", None, "'2025-02-30' is not a valid date (day is out of range for month)"),
        ("2025-13-01", None, "'2025-13-01' is not a valid date (month must be in 1..12)"),
        (
            "31/02/2024",
            "%d/%m/%Y",
            "'31/02/2024' is not a valid date (day is out of range for month)",
        ),
        ("30 February 2025", "%d %B %Y", "is not a valid date (day is out of range for month)"),
        ("next tuesday", None, "'next tuesday' does not match the date format 'ISO 8601'"),
        ("2024/02/01", "%d/%m/%Y", "'2024/02/01' does not match the date format '%d/%m/%Y'"),
        ("out of range", "%d %B %Y", "'out of range' does not match the date format '%d %B %Y'"),
    ],
)
def test_an_impossible_date_is_told_apart_from_a_format_mismatch(
    value: str, input_format: str | None, reason: str
) -> None:
    """The format was right and the day does not exist: say so, not "does not match"."""
    for kind in ("date", "datetime"):
        field = FieldMapping("CloseDate", "C__c", kind=kind, input_format=input_format)
        with pytest.raises(ValueRejected) as rejected:
            field.convert(value)
        assert reason in str(rejected.value)


def test_field_lengths_from_describe_bound_text_before_sending() -> None:
    """Opportunity Name is 120 characters in describe: a 121-character Name is refused here,
    naming field, length and limit, instead of coming back as STRING_TOO_LONG a round later."""
    spec = MappingSpec.from_dict(BASE_SPEC)
    fitted = spec.with_max_lengths({"Name": 120, "ExternalId__c": 255, "CloseDate": 0, "Other": 5})
    limits = {m.target: m.max_length for m in fitted.fields}
    assert (limits["Name"], limits["ExternalId__c"]) == (120, 255)
    assert limits["CloseDate"] == MAX_FIELD_CHARS, "no length (a date) keeps the Bulk limit"
    assert limits["Account.ExternalId__c"] == MAX_FIELD_CHARS, "not in the describe: unchanged"
    page = SourcePage(
        COLUMNS,
        [
            ("k1", "n" * 120, 1, "01/01/2024", "a"),
            ("k2", "n" * 121, 1, "01/01/2024", "a"),
        ],
    )
    assert [r.key for r in spec.apply(page).records] == ["k1", "k2"], "the unfitted spec sends both"
    mapped = fitted.apply(page)
    assert [r.key for r in mapped.records] == ["k1"]
    [rejected] = mapped.rejected
    assert (rejected.key, rejected.field) == ("k2", "Name")
    assert rejected.reason == "STRING_TOO_LONG: 121 characters, more than the field's limit of 120"
    # A mapping's own smaller max_length is kept; describe never raises a limit.
    own = MappingSpec.from_dict(
        {
            **BASE_SPEC,
            "fields": {**BASE_SPEC["fields"], "Name": {"source": "Name__c", "max_length": 10}},
        }
    )
    assert {m.target: m.max_length for m in own.with_max_lengths({"Name": 120}).fields}[
        "Name"
    ] == 10


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [
        (1e-7, None, "0.0000001"),
        (1e21, None, "1000000000000000000000"),
        (Decimal("1.5E+3"), None, "1500"),
        ("  42 ", None, "42"),
        (12, 2, "12.00"),
        (2.675, 2, "2.68"),
        (-0.0, None, "0.0"),
        ("-0.001", 2, "0.00"),
        (123456789012345678901234567890, None, "123456789012345678901234567890"),
    ],
)
def test_number_formatting_has_no_exponent_or_locale(
    value: Any, scale: int | None, expected: str
) -> None:
    assert format_number(value, scale) == expected


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), "1,5", "abc", True, [1], Decimal("NaN")]
)
def test_non_numbers_rejected(value: Any) -> None:
    with pytest.raises(ValueRejected):
        format_number(value)


def test_a_number_too_long_for_its_scale_is_rejected_not_raised() -> None:
    """Rounding 1e26 to 2 places needs 29 digits, more than the decimal context holds: the row
    goes to the dead letter instead of the page failing with decimal.InvalidOperation."""
    with pytest.raises(ValueRejected, match="too many digits to round to 2 decimal places"):
        format_number(1e26, 2)
    spec = MappingSpec.from_dict(BASE_SPEC)
    mapped = spec.apply(SourcePage(COLUMNS, [("k1", "n", Decimal("1E+26"), None, "a")]))
    assert [(r.key, r.field) for r in mapped.rejected] == [("k1", "Amount")]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(),
        st.decimals(allow_nan=False, allow_infinity=False),
    )
)
def test_number_text_is_plain_and_exact(value: Any) -> None:
    text = format_number(value)
    assert "e" not in text.lower() and "," not in text
    expected = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    assert Decimal(text) == expected


def test_booleans() -> None:
    assert [format_boolean(v) for v in (True, False, 1, 0, "YES", " no ", "t", "False")] == [
        "true",
        "false",
        "true",
        "false",
        "true",
        "false",
        "true",
        "false",
    ]
    with pytest.raises(ValueRejected, match="not a boolean"):
        format_boolean("maybe")
    with pytest.raises(ValueRejected):
        format_boolean(2)


def test_dates() -> None:
    assert format_date(dt.date(2024, 2, 29)) == "2024-02-29"
    assert format_date(dt.datetime(2024, 2, 29, 23, 59)) == "2024-02-29"
    assert format_date("2024-02-29") == "2024-02-29"
    assert format_date("29/2/2024", "%d/%m/%Y") == "2024-02-29"
    assert format_date("2024-02-29 10:11", "%Y-%m-%d %H:%M") == "2024-02-29"
    assert format_date("Feb 29 2024", "%b %d %Y") == "2024-02-29"  # strptime fallback
    assert format_date(dt.date(5, 1, 2)) == "0005-01-02"
    for bad, fmt in (("2023-02-29", None), ("29/02/2023", "%d/%m/%Y")):
        with pytest.raises(ValueRejected, match="is not a valid date"):
            format_date(bad, fmt)
    with pytest.raises(ValueRejected, match="does not match"):
        format_date("2024/02/01", "%d/%m/%Y")
    with pytest.raises(ValueRejected, match="not a date"):
        format_date(20240101)


def test_datetimes_are_utc_iso_with_milliseconds_and_z() -> None:
    paris = FieldMapping("When__c", "W__c", kind="datetime", timezone="Europe/Paris")
    assert paris.convert("2024-07-01T12:00:00") == "2024-07-01T10:00:00.000Z"
    assert paris.convert("2024-07-01T12:00:00.123456+00:00") == "2024-07-01T12:00:00.123Z"
    assert format_datetime("2024-01-01T00:30:00Z") == "2024-01-01T00:30:00.000Z"
    assert format_datetime(dt.date(2024, 1, 2)) == "2024-01-02T00:00:00.000Z"
    aware = dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert format_datetime(aware) == "2023-12-31T20:00:00.000Z"
    assert format_datetime("01.02.2024 03:04:05", "%d.%m.%Y %H:%M:%S") == "2024-02-01T03:04:05.000Z"
    with pytest.raises(ValueRejected):
        format_datetime("yesterday")


def test_text_of_other_types() -> None:
    text = FieldMapping("Name", "N__c")
    assert text.convert(42) == "42"
    assert text.convert(False) == "false"
    assert text.convert(Decimal("1E+2")) == "100"
    assert text.convert(dt.date(2024, 1, 2)) == "2024-01-02"
    with pytest.raises(ValueRejected, match="cannot be written as text"):
        text.convert(object())


def test_record_longer_than_bulk_allows_is_rejected() -> None:
    fields = tuple(FieldMapping(f"F{index}__c", f"C{index}__c") for index in range(14))
    spec = MappingSpec(fields=fields, key_column="C0__c")
    row = tuple(["key"] + ["y" * 32_000] * 13)
    mapped = spec.apply(SourcePage([f"C{index}__c" for index in range(14)], [row]))
    assert mapped.records == []
    assert "longer than the 400000" in mapped.rejected[0].reason


def test_csv_header_line_endings_and_quoting() -> None:
    text = render_bulk_csv(("A", "B"), [("plain", 'say "hi", ok'), ("cr\ronly", "lf\nonly")])
    assert text == 'A,B\nplain,"say ""hi"", ok"\n"cr\ronly","lf\nonly"\n'
    assert render_bulk_csv(("A",), []) == "A\n"
    assert render_bulk_csv(("A", "B"), iter([("x", "")])) == "A,B\nx,\n"


HOSTILE_VALUES = [
    'quote " inside',
    '"starts with quote',
    "comma, inside",
    "new\nline",
    "carriage\rreturn",
    "windows\r\nline",
    "trailing space ",
    " leading space",
    "ünïcødé ✓ 𝄞 中文",
    "",
    "x" * 32_000,
    "\t tab",
]


def test_hostile_values_round_trip_through_the_csv_module() -> None:
    spec = MappingSpec.from_dict(
        {"key_column": "K__c", "fields": {"ExternalId__c": "K__c", "Description": "D__c"}}
    )
    rows = [(f"k{index:03d}", value) for index, value in enumerate(HOSTILE_VALUES)]
    mapped = spec.apply(SourcePage(("K__c", "D__c"), rows))
    text = render_bulk_csv(spec.header, [record.values for record in mapped.records])
    assert "\r\n" not in text.replace("windows\r\nline", "")
    parsed = parse_csv(text)
    assert parsed[0] == ["ExternalId__c", "Description"]
    assert [tuple(row) for row in parsed[1:]] == rows
    text.encode("utf-8")  # UTF-8 encodable: no lone surrogates slipped through


csv_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(csv_text, csv_text, csv_text), max_size=8))
def test_any_text_round_trips(rows: list[tuple[str, str, str]]) -> None:
    text = render_bulk_csv(("A", "B", "C"), rows)
    parsed = parse_csv(text)
    assert parsed[0] == ["A", "B", "C"]
    assert [tuple(row) for row in parsed[1:]] == rows
    assert text.endswith("\n")


# --- the compiled page mapper against the reference path ----------------------------------------

COMPILED_SPEC = MappingSpec.from_dict(
    {
        "key_column": "K__c",
        "fields": {
            "ExternalId__c": "K__c",
            "Name": "T__c",
            "Short__c": {
                "source": "T2__c",
                "max_length": 5,
                "on_null": "blank",
                "on_empty": "clear",
            },
            "StageName": {"constant": "Closed, Won"},
            "Amount": {"source": "N__c", "type": "number"},
            "Scaled__c": {"source": "N2__c", "type": "number", "scale": 2},
            "CloseDate": {"source": "D__c", "type": "date"},
            "Other__c": {"source": "D2__c", "type": "date", "input_format": "%d/%m/%Y"},
            "When__c": {"source": "W__c", "type": "datetime"},
            "IsPrivate": {"source": "B__c", "type": "boolean"},
            "AccountId": "P__c",
        },
    }
)
COMPILED_COLUMNS = (
    "B__c",
    "K__c",
    "T__c",
    "T2__c",
    "N__c",
    "N2__c",
    "D__c",
    "D2__c",
    "W__c",
    "P__c",
)

hostile_text = st.one_of(
    st.sampled_from(["", CLEAR_FIELD, "a,b", 'q"q', "cr\ronly", "lf\nonly", "x" * 6, "abc", " "]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
)
any_value = st.one_of(
    st.none(),
    hostile_text,
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.sampled_from([Decimal("-0.0"), Decimal("1E+5"), Decimal("2.675"), Decimal("-0.001")]),
    st.sampled_from(["2024-02-29", "29/02/2024", "31/02/2024", "2024-05-01T13:45:00+02:00"]),
    st.sampled_from([dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5)]),
)


def _reference(
    spec: MappingSpec, columns: tuple[str, ...], row: tuple[Any, ...]
) -> tuple[str, tuple[str, ...]] | str:
    """(CSV line, values) through each field's ``convert`` and ``render_bulk_csv``, or the target
    of the first field that rejects the row."""
    position = {name: index for index, name in enumerate(columns)}
    values = []
    for mapping in spec.fields:
        try:
            if mapping.source is None:
                values.append(mapping.convert(mapping.constant))
            else:
                values.append(mapping.convert(row[position[mapping.source]]))
        except ValueRejected:
            return mapping.target
    line = render_bulk_csv(spec.header, [values]).split("\n", 1)[1]
    return line, tuple(values)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(*([any_value] * len(COMPILED_COLUMNS))).map(
            lambda row: (row[0], "key", *row[2:])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_compiled_mapper_matches_each_fields_convert_and_the_csv_writer(
    rows: list[tuple[Any, ...]],
) -> None:
    """The generated fast paths return exactly what the fields' ``convert`` and the C writer do:
    same lines, values, parents and rejections, for well-formed and hostile values alike."""
    rows = [(row[0], f"k{index}", *row[2:]) for index, row in enumerate(rows)]
    mapped = COMPILED_SPEC.apply(SourcePage(COMPILED_COLUMNS, rows))
    as_values = COMPILED_SPEC.apply_values(SourcePage(COMPILED_COLUMNS, rows))
    records = iter(mapped.records)
    value_records = iter(as_values.records)
    rejected = iter(mapped.rejected)
    for row in rows:
        expected = _reference(COMPILED_SPEC, COMPILED_COLUMNS, row)
        if isinstance(expected, str):
            refusal = next(rejected)
            assert (refusal.key, refusal.field, refusal.row) == (row[1], expected, row)
            continue
        line, values = expected
        record, value_record = next(records), next(value_records)
        assert (record.key, record.line, record.values) == (row[1], line, values)
        assert (value_record.key, value_record.values) == (row[1], values)
        parent = values[-1] if values[-1] not in ("", CLEAR_FIELD) else None
        assert record.parent == value_record.parent == parent
    assert next(records, None) is None and next(rejected, None) is None
    assert as_values.rejected == mapped.rejected


@settings(max_examples=300, deadline=None)
@given(st.lists(csv_text, min_size=1, max_size=5))
def test_csv_line_is_the_writers_line_and_parses_back(values: list[str]) -> None:
    line = csv_line(values)
    assert render_bulk_csv(["H"] * len(values), [values]) == csv_line(["H"] * len(values)) + line
    assert parse_csv_line(line) == tuple(values)
    assert render_bulk_lines(("A", "B"), [csv_line(["1", "x,y"])]) == 'A,B\n1,"x,y"\n'


def test_records_are_not_tracked_by_the_garbage_collector() -> None:
    """A chunk of 40,000 tracked records sets off full collections that walk every object the
    task process imported; records hold only strings, so they need not be tracked."""
    spec = MappingSpec.from_dict(BASE_SPEC)
    page = SourcePage(COLUMNS, [("k1", "Deal, 1", Decimal("1.5"), "01/02/2024", "acc1")])
    [record] = spec.apply(page).records
    [values] = spec.apply_values(page).records
    assert not gc.is_tracked(record) and not gc.is_tracked(values)
    assert record.line == 'k1,"Deal, 1",Prospecting,1.50,2024-02-01,acc1\n'


def test_a_page_in_another_column_order_gets_its_own_mapper() -> None:
    spec = MappingSpec.from_dict(BASE_SPEC)
    row = ("k1", "Deal", 2, "01/02/2024", "acc1")
    first = spec.apply(SourcePage(COLUMNS, [row])).records
    reordered = spec.apply(SourcePage(COLUMNS[::-1], [row[::-1]])).records
    assert first == reordered
    assert first[0].line == "k1,Deal,Prospecting,2.00,2024-02-01,acc1\n"


def test_single_field_record_with_an_empty_value_is_a_quoted_empty_line() -> None:
    spec = MappingSpec.from_dict({"key_column": "K__c", "fields": {"Name": "N__c"}})
    mapped = spec.apply(SourcePage(("K__c", "N__c"), [("k1", ""), ("k2", "x")]))
    assert [r.line for r in mapped.records] == ['""\n', "x\n"]
    assert render_bulk_lines(spec.header, [r.line for r in mapped.records]) == render_bulk_csv(
        spec.header, [("",), ("x",)]
    )
