"""Keyset SQL / SOQL building: exact text for known cases, and no injection for any key (hypothesis)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.keyset_sql import (
    build_count_query,
    build_min_max_query,
    build_page_query,
    build_quantile_boundaries_query,
    build_soql_count_in_range,
    build_soql_in_queries,
    soql_string_literal,
    sql_string_literal,
)

DMO = "Opportunity_Source__dlm"
KEY = "ExternalId__c"

# Keys Data Cloud can carry: any code point except surrogates, NUL and C0 controls other than TAB/LF/CR.
CARRIABLE_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\x7f"],
)
carriable_keys = st.text(CARRIABLE_CHARS, min_size=1, max_size=40)
hostile_keys = st.one_of(
    carriable_keys,
    st.sampled_from(["'", "''", "\\", "\\'", "' OR 1=1 --", "'; DROP TABLE x; --", '"', "\n'"]),
)


OPEN_RANGE = KeyRange()


def page_sql(
    key_range: KeyRange = OPEN_RANGE,
    after_key: str | None = None,
    columns: Sequence[str] = (KEY,),
    limit: int = 5,
) -> str:
    return build_page_query(
        dmo=DMO,
        columns=columns,
        key_column=KEY,
        key_range=key_range,
        after_key=after_key,
        limit=limit,
    )


def test_seed_page_query_reproduced_exactly() -> None:
    seed_range = KeyRange.seed_bounds("externalOpp0000001", "externalOpp0400001")
    assert page_sql(seed_range, columns=[KEY, "Name__c"], limit=500) == (
        'SELECT "ExternalId__c", "Name__c" FROM "Opportunity_Source__dlm" '
        "WHERE \"ExternalId__c\" > 'externalOpp0000001' AND \"ExternalId__c\" <= 'externalOpp0400001' "
        'ORDER BY "ExternalId__c" LIMIT 500'
    )


def test_first_page_inclusive_start_uses_greater_or_equal() -> None:
    sql = page_sql(KeyRange.inclusive("a", "m"), columns=["Name__c"])
    assert "\"ExternalId__c\" >= 'a'" in sql
    assert sql.startswith('SELECT "ExternalId__c", "Name__c"'), "key column is selected first"


def test_later_page_starts_strictly_after_last_key_even_for_inclusive_range() -> None:
    sql = page_sql(KeyRange.inclusive("a", "m"), after_key="c")
    assert "\"ExternalId__c\" > 'c'" in sql
    assert ">=" not in sql


def test_open_range_has_no_where_clause() -> None:
    assert "WHERE" not in page_sql()


def test_resume_key_below_range_keeps_range_start() -> None:
    assert "\"ExternalId__c\" >= 'm'" in page_sql(KeyRange.inclusive("m", "z"), after_key="a")


def test_resume_key_beyond_range_end_is_refused() -> None:
    with pytest.raises(ValueError, match="beyond the range end"):
        page_sql(KeyRange.seed_bounds("a", "m"), after_key="n")


@pytest.mark.parametrize("limit", [0, -1, 50_001, True, 2.5])
def test_page_size_bounds(limit: int) -> None:
    with pytest.raises(ValueError, match="page size"):
        page_sql(limit=limit)


def test_duplicate_columns_refused() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        page_sql(columns=[KEY, KEY])


def test_bad_identifiers_refused_before_sql_is_built() -> None:
    with pytest.raises(ValueError, match="column name"):
        page_sql(columns=['x" FROM y --'])
    with pytest.raises(ValueError, match="object name"):
        build_count_query(dmo="Opp; --", key_column=KEY, key_range=KeyRange())


@pytest.mark.parametrize(
    ("value", "problem"),
    [("a\x00b", "NUL"), ("a\x01", "U+0001"), ("\ud800", "surrogate"), ("\x1b[0m", "U+001B")],
)
def test_uncarriable_literals_refused(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        sql_string_literal(value)


def test_sql_literal_doubles_quotes_and_keeps_backslashes() -> None:
    assert sql_string_literal("O'Brien\\") == "'O''Brien\\'"


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="postgres")


def _literal_strings(tree: exp.Expression) -> list[str]:
    return [literal.this for literal in tree.find_all(exp.Literal) if literal.is_string]


@settings(max_examples=300, deadline=None)
@given(start=hostile_keys, after=st.one_of(st.none(), hostile_keys), end=hostile_keys)
def test_page_query_parses_to_exactly_the_intended_literals(
    start: str, after: str | None, end: str
) -> None:
    start, end = min(start, end), max(start, end)
    if start == end:
        end = end + "z"
    if after is not None and after > end:
        after = None
    key_range = KeyRange.seed_bounds(start, end)
    sql = build_page_query(
        dmo=DMO,
        columns=[KEY, "Name__c"],
        key_column=KEY,
        key_range=key_range,
        after_key=after,
        limit=500,
    )
    tree = _parse(sql)

    assert isinstance(tree, exp.Select)
    assert [table.name for table in tree.find_all(exp.Table)] == [DMO]
    assert [column.name for column in tree.expressions] == [KEY, "Name__c"]
    lower_value = after if after is not None and after >= start else start
    where = tree.args["where"].this
    assert isinstance(where, exp.And)
    lower, upper = where.this, where.expression
    assert isinstance(lower, exp.GT) and lower.this.name == KEY
    assert lower.expression.this == lower_value
    assert isinstance(upper, exp.LTE) and upper.this.name == KEY
    assert upper.expression.this == end
    assert _literal_strings(tree) == [lower_value, end]
    assert tree.args["order"].expressions[0].this.name == KEY
    assert tree.args["limit"].expression.this == "500"
    assert len(list(tree.find_all(exp.Subquery))) == 0
    assert len(list(tree.find_all(exp.Or))) == 0


@settings(max_examples=150, deadline=None)
@given(start=hostile_keys, end=hostile_keys, inclusive=st.booleans())
def test_count_query_literals_round_trip(start: str, end: str, inclusive: bool) -> None:
    start, end = min(start, end), max(start, end)
    if start == end:
        inclusive = True
    tree = _parse(
        build_count_query(dmo=DMO, key_column=KEY, key_range=KeyRange(start, end, inclusive))
    )
    assert _literal_strings(tree) == [start, end]
    assert isinstance(tree.args["where"].this.this, exp.GTE if inclusive else exp.GT)
    assert isinstance(tree.expressions[0].this, exp.Count)


def test_min_max_query_structure() -> None:
    tree = _parse(build_min_max_query(dmo=DMO, key_column=KEY))
    assert [select.alias for select in tree.expressions] == ["min_key", "max_key", "row_count"]
    assert isinstance(tree.expressions[0].this, exp.Min)
    assert tree.args.get("where") is None


@settings(max_examples=100, deadline=None)
@given(start=hostile_keys, tiles=st.integers(1, 64))
def test_quantile_query_structure(start: str, tiles: int) -> None:
    sql = build_quantile_boundaries_query(
        dmo=DMO, key_column=KEY, tiles=tiles, key_range=KeyRange.inclusive(start, None)
    )
    tree = _parse(sql)
    window = next(tree.find_all(exp.Window))
    assert isinstance(window.this, exp.Ntile)
    assert int(window.this.this.this) == tiles
    assert window.args["order"].expressions[0].this.name == KEY
    assert isinstance(tree.args["group"].expressions[0], exp.Column)
    assert _literal_strings(tree) == [start]
    assert [select.alias_or_name for select in tree.expressions] == [
        "tile",
        "upper_key",
        "row_count",
    ]


def test_quantile_tiles_bounded() -> None:
    with pytest.raises(ValueError, match="tiles"):
        build_quantile_boundaries_query(dmo=DMO, key_column=KEY, tiles=0)


# --- SOQL ---------------------------------------------------------------------------------

_SOQL_UNESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
}


def _soql_string_literals(query: str) -> tuple[list[str], str]:
    """Lex SOQL: return the unescaped string literals and the query with each literal replaced by ?.

    Independent of the builder: it follows SOQL's documented escape rules, so a wrong escape in
    the builder makes a literal end early (or swallow code) and the comparison fails.
    """
    literals: list[str] = []
    skeleton: list[str] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char != "'":
            skeleton.append(char)
            index += 1
            continue
        index += 1
        value: list[str] = []
        while True:
            char = query[index]
            if char == "\\":
                value.append(_SOQL_UNESCAPES[query[index + 1]])
                index += 2
            elif char == "'":
                index += 1
                break
            else:
                assert char not in "\n\r", "raw line break inside a SOQL literal"
                value.append(char)
                index += 1
        literals.append("".join(value))
        skeleton.append("?")
    return literals, "".join(skeleton)


SOQL_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n\r\b\f"] + ["\x7f"],
)
soql_keys = st.one_of(
    st.text(SOQL_CHARS, min_size=1, max_size=40),
    st.sampled_from(["'", "\\", "\\'", "' OR Name != '", "\n", '"']),
)


def test_soql_literal_escapes() -> None:
    assert soql_string_literal("O'B\\\n\"") == "'O\\'B\\\\\\n\\\"'"
    with pytest.raises(ValueError, match="NUL"):
        soql_string_literal("a\x00")


@settings(max_examples=300, deadline=None)
@given(start=soql_keys, end=soql_keys)
def test_soql_count_query_has_exactly_the_intended_literals(start: str, end: str) -> None:
    start, end = min(start, end), max(start, end)
    if start == end:
        end += "z"
    query = build_soql_count_in_range(
        sobject="Opportunity",
        external_id_field="ExternalId__c",
        key_range=KeyRange.seed_bounds(start, end),
    )
    literals, skeleton = _soql_string_literals(query)
    assert literals == [start, end]
    assert (
        skeleton == "SELECT COUNT() FROM Opportunity WHERE ExternalId__c > ? AND ExternalId__c <= ?"
    )


@settings(max_examples=150, deadline=None)
@given(values=st.lists(soql_keys, min_size=1, max_size=60), limit=st.integers(200, 2_000))
def test_soql_in_queries_cover_every_value_once_within_the_length_bound(
    values: list[str], limit: int
) -> None:
    queries = build_soql_in_queries(
        sobject="Opportunity",
        select_fields=["Id", "ExternalId__c"],
        match_field="ExternalId__c",
        values=values,
        max_query_chars=limit,
    )
    seen: list[str] = []
    for query in queries:
        assert len(query) <= limit
        literals, skeleton = _soql_string_literals(query)
        assert skeleton == (
            "SELECT Id, ExternalId__c FROM Opportunity WHERE ExternalId__c IN ("
            + ",".join("?" * len(literals))
            + ")"
        )
        seen.extend(literals)
    assert seen == list(dict.fromkeys(values))


def test_soql_in_refuses_a_value_that_cannot_fit() -> None:
    with pytest.raises(ValueError, match="alone makes a query longer"):
        build_soql_in_queries(
            sobject="Opportunity",
            select_fields=["Id"],
            match_field="ExternalId__c",
            values=["x" * 500],
            max_query_chars=200,
        )
