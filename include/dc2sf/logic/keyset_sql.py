"""Data Cloud SQL and SOQL text for keyset pagination, range counts and partition planning.

Why keyset and not OFFSET: every OFFSET page re-scans the source and costs credits, results are
unstable without a unique order, and the V2 ``nextBatchId`` cursor cannot be resumed after a
crash. A keyset page is ``WHERE key > last AND key <= end ORDER BY key LIMIT n``: resumable from
the checkpoint's watermark alone.

Injection safety: identifiers are validated by :mod:`identifiers` *and* double-quoted; string
literals are single-quoted with embedded quotes doubled (standard SQL; Data Cloud's Hyper engine is
PostgreSQL-like with standard-conforming strings, so a backslash is an ordinary character). A key
that Data Cloud could not carry is refused with a clear error rather than silently altered:

* NUL (PostgreSQL-family text cannot hold it),
* lone UTF-16 surrogates (not encodable as UTF-8, so not in a JSON request body),
* C0 control characters other than TAB, LF and CR (a sign of corrupt keys; TAB/LF/CR are kept
  because they are legal inside a standard SQL literal and round-trip exactly).

SOQL literals use SOQL's backslash escapes (``\\'``, ``\\"``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``,
``\\b``, ``\\f``); other control characters have no SOQL escape and are refused.

Page bounds: the first page starts from the range start (inclusive or exclusive, see
:class:`KeyRange`); later pages start strictly after the last key seen, exactly like the seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from include.dc2sf.logic.identifiers import (
    validate_column_name,
    validate_dmo_name,
    validate_field_name,
    validate_sobject_name,
)
from include.dc2sf.logic.key_range import KeyRange

MAX_PAGE_SIZE = 50_000
"""Query API V2 batches are capped at 50,000 rows: one POST should normally return a whole page."""

_SQL_ALLOWED_CONTROLS = frozenset("\t\n\r")
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _refuse_uncarriable(value: str, *, allowed_controls: frozenset[str], dialect: str) -> None:
    for position, char in enumerate(value):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(
                f"{dialect} literal {value!r}: lone surrogate U+{code:04X} at position {position} "
                "cannot be sent as UTF-8; fix the key in the source"
            )
        if (code < 0x20 or code == 0x7F) and char not in allowed_controls:
            name = "NUL" if code == 0 else f"control character U+{code:04X}"
            raise ValueError(
                f"{dialect} literal {value!r}: {name} at position {position} cannot be used in a "
                "query; fix the key in the source or exclude it from the range"
            )


def sql_string_literal(value: str) -> str:
    """``value`` as a Data Cloud SQL string literal: single-quoted, embedded quotes doubled."""
    if not isinstance(value, str):
        raise ValueError(f"SQL literal must be a string, got {type(value).__name__} {value!r}")
    _refuse_uncarriable(value, allowed_controls=_SQL_ALLOWED_CONTROLS, dialect="Data Cloud SQL")
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A validated Data Cloud column name, double-quoted (mixed-case names need the quotes)."""
    return '"' + validate_column_name(name) + '"'


def sql_table(name: str) -> str:
    """A validated Data Cloud object name (``X__dlm``), double-quoted."""
    return '"' + validate_dmo_name(name) + '"'


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def range_predicates(
    key_column: str, key_range: KeyRange, *, after_key: str | None = None
) -> list[str]:
    """The WHERE conjuncts selecting ``key_range``, or only keys after ``after_key`` within it.

    ``after_key`` (the last key already read, or the checkpoint's watermark) replaces the range's
    lower bound with ``> after_key``; it must lie inside the range or below it.
    """
    key = sql_identifier(key_column)
    predicates: list[str] = []
    if after_key is not None:
        if key_range.end is not None and after_key > key_range.end:
            raise ValueError(
                f"resume key {after_key!r} is beyond the range end {key_range.end!r} "
                f"of {key_range.describe()}; the checkpoint does not belong to this partition"
            )
        if key_range.is_above(after_key):
            # The range starts above the resume key: keep the range's own lower bound.
            after_key = None
    if after_key is not None:
        predicates.append(f"{key} > {sql_string_literal(after_key)}")
    elif key_range.start is not None:
        operator = ">=" if key_range.start_inclusive else ">"
        predicates.append(f"{key} {operator} {sql_string_literal(key_range.start)}")
    if key_range.end is not None:
        predicates.append(f"{key} <= {sql_string_literal(key_range.end)}")
    return predicates


def _where(predicates: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(predicates)}" if predicates else ""


def build_page_query(
    *,
    dmo: str,
    columns: Sequence[str],
    key_column: str,
    key_range: KeyRange,
    after_key: str | None,
    limit: int,
) -> str:
    """One keyset page: ``SELECT "cols" FROM "DMO" WHERE … ORDER BY "key" LIMIT n``.

    ``after_key=None`` reads the first page from the range start; otherwise the page starts
    strictly after ``after_key``. The key column is selected first if ``columns`` lacks it,
    because the caller needs every row's key to advance the page and the watermark.
    """
    validate_column_name(key_column)
    selected = list(dict.fromkeys(columns))
    if len(selected) != len(columns):
        raise ValueError(f"columns {list(columns)!r} contain duplicates; list each column once")
    if key_column not in selected:
        selected.insert(0, key_column)
    select_list = ", ".join(sql_identifier(column) for column in selected)
    key = sql_identifier(key_column)
    where = _where(range_predicates(key_column, key_range, after_key=after_key))
    return (
        f"SELECT {select_list} FROM {sql_table(dmo)}{where} "
        f"ORDER BY {key} LIMIT {_check_int('page size', limit, 1, MAX_PAGE_SIZE)}"
    )


def build_count_query(*, dmo: str, key_column: str, key_range: KeyRange) -> str:
    """``SELECT COUNT(*) AS "row_count"`` over one range: the source count for progress and reconciliation."""
    where = _where(range_predicates(key_column, key_range))
    return f'SELECT COUNT(*) AS "row_count" FROM {sql_table(dmo)}{where}'


def build_null_key_count_query(*, dmo: str, key_column: str) -> str:
    """How many rows have a NULL key (planning refuses or dead-letters them)."""
    return f'SELECT COUNT(*) AS "row_count" FROM {sql_table(dmo)} WHERE {sql_identifier(key_column)} IS NULL'


def build_null_key_query(*, dmo: str, columns: Sequence[str], key_column: str, limit: int) -> str:
    """Rows whose key is NULL: keyset paging (``key > last``) can never reach them."""
    select_list = ", ".join(sql_identifier(column) for column in dict.fromkeys(columns))
    return (
        f"SELECT {select_list} FROM {sql_table(dmo)} WHERE {sql_identifier(key_column)} IS NULL "
        f"LIMIT {_check_int('limit', limit, 1, MAX_PAGE_SIZE + 1)}"
    )


def build_min_max_query(*, dmo: str, key_column: str, key_range: KeyRange | None = None) -> str:
    """The smallest and largest key and the row count, in one scan (planner input)."""
    key = sql_identifier(key_column)
    where = _where(range_predicates(key_column, key_range or KeyRange()))
    return (
        f'SELECT MIN({key}) AS "min_key", MAX({key}) AS "max_key", COUNT(*) AS "row_count" '
        f"FROM {sql_table(dmo)}{where}"
    )


def build_quantile_boundaries_query(
    *, dmo: str, key_column: str, tiles: int, key_range: KeyRange | None = None
) -> str:
    """Upper key of each of ``tiles`` equal-count tiles of the key, in key order.

    ``NTILE(n) OVER (ORDER BY key)`` numbers the rows into ``n`` tiles of (almost) equal size in
    one sorted pass; ``MAX(key)`` per tile is that tile's upper boundary. With fewer rows than
    tiles, fewer rows come back; :func:`planner.plan_from_quantiles` handles that.
    """
    _check_int("tiles", tiles, 1, 10_000)
    key = sql_identifier(key_column)
    where = _where(range_predicates(key_column, key_range or KeyRange()))
    return (
        f'SELECT "tile", MAX({key}) AS "upper_key", COUNT(*) AS "row_count" FROM ('
        f'SELECT {key}, NTILE({tiles}) OVER (ORDER BY {key}) AS "tile" FROM {sql_table(dmo)}{where}'
        f') AS "tiled" GROUP BY "tile" ORDER BY "tile"'
    )


# --- SOQL -------------------------------------------------------------------------------------

SOQL_MAX_QUERY_CHARS = 100_000
"""SOQL statements are limited to 100,000 characters by default."""


def soql_string_literal(value: str) -> str:
    """``value`` as a SOQL string literal with SOQL's backslash escapes."""
    if not isinstance(value, str):
        raise ValueError(f"SOQL literal must be a string, got {type(value).__name__} {value!r}")
    _refuse_uncarriable(value, allowed_controls=frozenset(_SOQL_ESCAPES), dialect="SOQL")
    return "'" + "".join(_SOQL_ESCAPES.get(char, char) for char in value) + "'"


def soql_range_predicates(field: str, key_range: KeyRange) -> list[str]:
    """SOQL conjuncts for ``key_range`` on ``field`` (same bounds as the Data Cloud query)."""
    validate_field_name(field)
    predicates: list[str] = []
    if key_range.start is not None:
        operator = ">=" if key_range.start_inclusive else ">"
        predicates.append(f"{field} {operator} {soql_string_literal(key_range.start)}")
    if key_range.end is not None:
        predicates.append(f"{field} <= {soql_string_literal(key_range.end)}")
    return predicates


def build_soql_count_in_range(*, sobject: str, external_id_field: str, key_range: KeyRange) -> str:
    """``SELECT COUNT() FROM Obj WHERE Ext > 'a' AND Ext <= 'b'`` for reconciliation.

    Note that SOQL compares text case-insensitively, unlike a binary collation: use ranges whose
    keys share one case convention (as generated keys do) or reconcile with IN lists instead.
    """
    predicates = soql_range_predicates(external_id_field, key_range)
    return f"SELECT COUNT() FROM {validate_sobject_name(sobject)}{_where(predicates)}"


def build_soql_in_queries(
    *,
    sobject: str,
    select_fields: Sequence[str],
    match_field: str,
    values: Iterable[str],
    max_query_chars: int = 16_000,
) -> list[str]:
    """``SELECT f FROM Obj WHERE match IN ('a','b',…)`` split into queries of bounded length.

    The default bound keeps a query inside a REST GET URL (about 16 KB); the hard SOQL limit is
    :data:`SOQL_MAX_QUERY_CHARS`. Used by reconciliation and clean-up to look records up by key.
    """
    if not select_fields:
        raise ValueError("select_fields is empty; name at least one field, e.g. ['Id']")
    if not 200 <= max_query_chars <= SOQL_MAX_QUERY_CHARS:
        raise ValueError(f"max_query_chars must be from 200 to {SOQL_MAX_QUERY_CHARS}")
    fields = ", ".join(validate_field_name(field) for field in select_fields)
    prefix = f"SELECT {fields} FROM {validate_sobject_name(sobject)} WHERE {validate_field_name(match_field)} IN ("
    queries: list[str] = []
    current: list[str] = []
    length = len(prefix) + 1
    for value in dict.fromkeys(values):
        literal = soql_string_literal(value)
        extra = len(literal) + (1 if current else 0)
        if len(prefix) + len(literal) + 1 > max_query_chars:
            raise ValueError(
                f"value {value[:40]!r}… alone makes a query longer than {max_query_chars} characters"
            )
        if current and length + extra > max_query_chars:
            queries.append(prefix + ",".join(current) + ")")
            current, length = [], len(prefix) + 1
            extra = len(literal)
        current.append(literal)
        length += extra
    if current:
        queries.append(prefix + ",".join(current) + ")")
    return queries
