"""Translate Data Cloud SQL (Postgres-like, double-quoted identifiers) into SQLite.

The SQL really runs: ``sqlglot`` parses it as Postgres, we canonicalise identifiers against the
DMO schema, type the projection (for Query V2 ``metadata``) and emit SQLite SQL.

Identifier rule [inferred, reference §2.5]: a *quoted* identifier must match a DMO table/column
exactly (case-sensitive, as in Postgres/Hyper); an *unquoted* one resolves case-insensitively
(the V2 docs use unquoted mixed-case names successfully).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from emulator.datacloud.exceptions import SqlError
from emulator.datacloud.schema import DMOS, TYPE_CODES, Dmo


@dataclass(frozen=True)
class OutputColumn:
    name: str
    type: str  # a TYPE_CODES key

    @property
    def type_code(self) -> int:
        return TYPE_CODES[self.type]


@dataclass(frozen=True)
class TranslatedQuery:
    sqlite_sql: str
    columns: tuple[OutputColumn, ...]


_TYPE_NAMES: dict[exp.DataType.Type, str] = {
    exp.DataType.Type.DECIMAL: "DECIMAL",
    exp.DataType.Type.BIGDECIMAL: "DECIMAL",
    exp.DataType.Type.DOUBLE: "DOUBLE",
    exp.DataType.Type.FLOAT: "DOUBLE",
    exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.INT: "INTEGER",
    exp.DataType.Type.SMALLINT: "SMALLINT",
    exp.DataType.Type.TINYINT: "TINYINT",
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
    exp.DataType.Type.DATE: "DATE",
    exp.DataType.Type.TIMESTAMP: "TIMESTAMP",
    exp.DataType.Type.DATETIME: "TIMESTAMP",
    exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMP WITH TIME ZONE",
}


def _type_name(data_type: exp.DataType | None) -> str:
    if data_type is None:
        return "VARCHAR"
    return _TYPE_NAMES.get(data_type.this, "VARCHAR")


class Translator:
    """Translator bound to a set of DMOs (all known ones by default)."""

    def __init__(self, dmos: dict[str, Dmo] | None = None) -> None:
        self.dmos = dmos if dmos is not None else DMOS
        self._schema = MappingSchema(
            {name: dmo.sqlglot_schema() for name, dmo in self.dmos.items()},
            dialect="postgres",
            normalize=False,
        )
        self._tables = {name.lower(): name for name in self.dmos}
        self._columns = {c.name.lower(): c.name for dmo in self.dmos.values() for c in dmo.columns}

    def _canonicalise(self, tree: exp.Expression) -> None:
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            ident = table.this
            if not isinstance(ident, exp.Identifier):
                continue
            name = ident.name
            canonical = self._tables.get(name.lower())
            if canonical is None or (ident.quoted and name != canonical):
                if name.lower() in cte_names:
                    continue
                raise SqlError(f'Table "{name}" not found. Check the object API name and case.')
            ident.set("this", canonical)
            ident.set("quoted", True)
        for column in tree.find_all(exp.Column):
            ident = column.this
            if not isinstance(ident, exp.Identifier):
                continue
            canonical = self._columns.get(ident.name.lower())
            if canonical is None:
                continue
            if ident.quoted and ident.name != canonical:
                raise SqlError(f'Column "{ident.name}" does not exist. Did you mean "{canonical}"?')
            ident.set("this", canonical)
            ident.set("quoted", True)

    def translate(self, sql: str) -> TranslatedQuery:
        try:
            statements = sqlglot.parse(sql, read="postgres")
        except ParseError as exc:
            raise SqlError(
                f"Syntax error: {exc.errors[0]['description'] if exc.errors else exc}"
            ) from exc
        statements = [s for s in statements if s is not None]
        if len(statements) != 1:
            raise SqlError("Exactly one SQL statement is allowed.")
        tree = statements[0]
        if not isinstance(tree, exp.Query):
            raise SqlError("Only SELECT queries are supported.")
        self._canonicalise(tree)
        try:
            qualified = qualify(
                tree.copy(),
                schema=self._schema,
                dialect="postgres",
                quote_identifiers=False,
                identify=False,
            )
            typed = annotate_types(qualified, schema=self._schema, dialect="postgres")
        except SqlglotError as exc:
            raise SqlError(f"Invalid query: {exc}") from exc
        columns = tuple(
            OutputColumn(select.alias_or_name, _type_name(select.type)) for select in typed.selects
        )
        # Run the fully expanded query so SELECT * yields exactly the typed columns.
        return TranslatedQuery(qualified.sql(dialect="sqlite"), columns)
