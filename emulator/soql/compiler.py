"""Compile a parsed SOQL query against the org schema into parameterised SQLite.

Identifiers come only from the schema (after a case-insensitive lookup), literals only as ``?``
parameters, so no user text reaches the SQL string. Type rules follow SOQL: strings are quoted,
dates/dateTimes/numbers/booleans are not (wrong quoting is ``INVALID_FIELD`` with Salesforce's
wording); string comparisons are case-insensitive; ``query`` hides deleted rows, ``queryAll``
shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.org.schema import FieldDef, SObjectDef, sobject
from emulator.org.values import parse_datetime, to18
from emulator.soql import exceptions as exc
from emulator.soql.parser import BoolOp, Compare, FieldRef, Literal, Query

_TEXT = frozenset({"string", "picklist", "phone", "url", "email"})
_NUMERIC = frozenset({"currency", "double", "percent", "int"})
_SOAP_NAME = {"currency": "double", "percent": "double", "int": "int", "double": "double"}


@dataclass(frozen=True)
class Column:
    """One selected field: how it was written, its definition, and its relationship (if any)."""

    path: str
    field: FieldDef
    relationship: str | None = None
    target: SObjectDef | None = None


@dataclass
class Compiled:
    obj: SObjectDef
    sql: str
    params: list[Any]
    columns: list[Column]
    count_only: bool
    # Relationship name -> (target object, index of its Id in each row), for nested records.
    relations: dict[str, tuple[SObjectDef, int]] = field(default_factory=dict)


class _Compiler:
    def __init__(self, query: Query, include_deleted: bool) -> None:
        self.q = query
        self.include_deleted = include_deleted
        obj = sobject(query.sobject)
        if obj is None:
            raise exc.unsupported_type(query.text, query.sobject_pos, query.sobject)
        self.obj = obj
        self.joins: dict[str, tuple[str, SObjectDef, FieldDef]] = {}
        self.params: list[Any] = []

    # ------------------------------------------------------------ fields
    def resolve(self, ref: FieldRef) -> tuple[str, Column]:
        """SQL expression and column description of a field reference."""
        if "." not in ref.path:
            f = self.obj.field(ref.path)
            if f is None:
                raise exc.no_such_column(self.q.text, ref.pos, ref.path, self.obj.name)
            return f't."{f.name}"', Column(ref.path, f)
        rel_name, _, name = ref.path.partition(".")
        lookup = self.obj.relationship(rel_name)
        target = sobject(lookup.reference_to[0]) if lookup and lookup.reference_to else None
        if lookup is None or target is None:
            raise exc.InvalidField(
                exc.located(
                    self.q.text,
                    ref.pos,
                    f"Didn't understand relationship '{rel_name}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                )
            )
        f = target.field(name)
        if f is None:
            raise exc.no_such_column(self.q.text, ref.pos, name, target.name)
        relationship = lookup.relationship_name or rel_name
        alias = self._join(relationship, target, lookup)
        return f'{alias}."{f.name}"', Column(ref.path, f, relationship, target)

    def _join(self, relationship: str, target: SObjectDef, lookup: FieldDef) -> str:
        if relationship not in self.joins:
            self.joins[relationship] = (f"r{len(self.joins)}", target, lookup)
        return self.joins[relationship][0]

    # ----------------------------------------------------------- literals
    def bind(self, column: Column, lit: Literal) -> Any:
        """The stored form of ``lit`` for ``column``'s type, or SOQL's type error."""
        f = column.field
        kind = f.type
        if lit.kind == "null":
            return None
        if kind in _TEXT:
            if lit.kind != "string":
                raise self._type_error(column, lit, "string", quoted=True)
            return lit.value
        if kind in ("id", "reference"):
            text = str(lit.value)
            if lit.kind != "string" or len(text) not in (15, 18) or not text.isalnum():
                raise exc.InvalidQueryFilterOperator(
                    exc.located(self.q.text, lit.pos, f"invalid ID field: {lit.value}")
                )
            return to18(text)
        if kind == "date":
            if lit.kind != "date":
                raise self._type_error(column, lit, "date", quoted=False)
            return lit.value
        if kind == "datetime":
            text = str(lit.value)
            if lit.kind != "datetime":
                raise self._type_error(column, lit, "dateTime", quoted=False)
            if text[-5] in "+-" and text[-3] != ":":
                text = text[:-2] + ":" + text[-2:]
            return parse_datetime(text)
        if kind in _NUMERIC:
            if lit.kind != "number":
                raise self._type_error(column, lit, _SOAP_NAME[kind], quoted=False)
            return lit.value
        if kind == "boolean":
            if lit.kind != "boolean":
                raise self._type_error(column, lit, "boolean", quoted=False)
            return 1 if lit.value else 0
        raise exc.InvalidField(
            exc.located(
                self.q.text, lit.pos, f"field '{f.name}' can not be filtered in a query call"
            )
        )

    def _type_error(
        self, column: Column, lit: Literal, type_name: str, *, quoted: bool
    ) -> Exception:
        how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return exc.InvalidField(
            exc.located(
                self.q.text,
                lit.pos,
                f"value of filter criterion for field '{column.field.name}' must be of type "
                f"{type_name} and {how}",
            )
        )

    # ---------------------------------------------------------- conditions
    def condition(self, node: object) -> str:
        if isinstance(node, BoolOp):
            if node.op == "not":
                return f"NOT ({self.condition(node.parts[0])})"
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(self.condition(p) for p in node.parts) + ")"
        assert isinstance(node, Compare)
        expr, column = self.resolve(node.field)
        f = column.field
        if f.type == "textarea":
            raise exc.InvalidField(
                exc.located(
                    self.q.text,
                    node.field.pos,
                    f"field '{f.name}' can not be filtered in a query call",
                )
            )
        collate = " COLLATE NOCASE" if f.type in _TEXT else ""
        if node.op == "like":
            if f.type not in _TEXT:
                raise exc.InvalidQueryFilterOperator(
                    exc.located(
                        self.q.text, node.field.pos, f"invalid operator on {f.type} field: LIKE"
                    )
                )
            self.params.append(self.bind(column, node.values[0]))
            return f"{expr} LIKE ? ESCAPE '\\'"
        if node.op in ("in", "notin"):
            values = [self.bind(column, v) for v in node.values]
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) != len(values)
            self.params.extend(non_null)
            marks = ",".join("?" * len(non_null))
            if node.op == "in":
                parts = [f"{expr}{collate} IN ({marks})"] if non_null else []
                if has_null:
                    parts.append(f"{expr} IS NULL")
                return "(" + " OR ".join(parts) + ")"
            parts = [f"{expr}{collate} NOT IN ({marks})"] if non_null else []
            parts.append(f"{expr} IS NOT NULL" if has_null else "1")
            return "(" + " AND ".join(parts) + ")"
        value = self.bind(column, node.values[0])
        if value is None:
            if node.op not in ("=", "!="):
                raise exc.malformed(self.q.text, node.values[0].pos, "unexpected token: 'null'")
            return f"{expr} IS {'NOT ' if node.op == '!=' else ''}NULL"
        self.params.append(value)
        if node.op == "!=":
            # SOQL's != also matches nulls (a null is "not equal" to a value).
            return f"({expr}{collate} != ? OR {expr} IS NULL)"
        return f"{expr}{collate} {node.op} ?"

    # -------------------------------------------------------------- query
    def compile(self) -> Compiled:
        q = self.q
        select: list[str] = ['t."Id"']
        columns: list[Column] = []
        for ref in q.fields:
            expr, column = self.resolve(ref)
            columns.append(column)
            select.append(expr)
        relations: dict[str, tuple[SObjectDef, int]] = {}
        for relationship, (alias, target, _) in list(self.joins.items()):
            relations[relationship] = (target, len(select))
            select.append(f'{alias}."Id"')
        where_parts = [] if self.include_deleted else ['t."IsDeleted" = 0']
        if q.where is not None:
            where_parts.append(self.condition(q.where))
        order_parts = []
        for item in q.order:
            expr, column = self.resolve(item.field)
            if column.field.type == "textarea":
                raise exc.InvalidField(
                    exc.located(
                        q.text,
                        item.field.pos,
                        f"field '{column.field.name}' can not be sorted in a query call",
                    )
                )
            collate = " COLLATE NOCASE" if column.field.type in _TEXT else ""
            direction = " DESC" if item.descending else " ASC"
            nulls = ""
            if item.nulls_last is not None:
                nulls = " NULLS LAST" if item.nulls_last else " NULLS FIRST"
            order_parts.append(f"{expr}{collate}{direction}{nulls}")
        order_parts.append("t._n ASC")  # stable order, so paging never repeats or skips rows
        joins = "".join(
            f' LEFT JOIN {target.table} {alias} ON {alias}."Id" = t."{lookup.name}"'
            for alias, target, lookup in self.joins.values()
        )
        where = " WHERE " + " AND ".join(where_parts) if where_parts else ""
        tail = ""
        if q.limit is not None:
            tail += " LIMIT ?"
            self.params.append(q.limit)
        if q.offset is not None:
            if q.limit is None:
                tail += " LIMIT -1"
            tail += " OFFSET ?"
            self.params.append(q.offset)
        if q.count_only:
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {self.obj.table} t{joins}{where}{tail})"
        else:
            sql = (
                f"SELECT {', '.join(select)} FROM {self.obj.table} t{joins}{where} "
                f"ORDER BY {', '.join(order_parts)}{tail}"
            )
        return Compiled(self.obj, sql, self.params, columns, q.count_only, relations)


def compile_query(query: Query, *, include_deleted: bool = False) -> Compiled:
    """Parameterised SQLite for ``query``; raises the SOQL errors Salesforce would."""
    return _Compiler(query, include_deleted).compile()
