"""A small, strict SOQL parser for the subset the loader and its tests use.

Grammar (keywords case-insensitive)::

    query      := SELECT (COUNT() | field {, field}) FROM name [WHERE or] [ORDER BY order {, order}]
                  [LIMIT int] [OFFSET int]
    field      := name | name.name                      (one relationship hop, e.g. Account.Name)
    or         := and {OR and}
    and        := not {AND not}
    not        := NOT not | ( or ) | field op value | field [NOT] IN ( value {, value} )
                  | field LIKE string
    op         := = | != | <> | < | <= | > | >=
    value      := 'string' | number | date | dateTime | TRUE | FALSE | NULL

Anything else is ``MALFORMED_QUERY`` with the row/column caret Salesforce prints. The parser
produces literals only; ``compiler`` binds them as SQLite parameters, so no user text ever
becomes SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.soql.exceptions import malformed

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "order",
        "by",
        "asc",
        "desc",
        "limit",
        "offset",
        "nulls",
        "first",
        "last",
        "true",
        "false",
        "null",
        "count",
    }
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | datetime | date | number | name | op | punct | end
    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string | date | datetime | number | boolean | null
    value: object
    pos: int


@dataclass(frozen=True)
class FieldRef:
    path: str  # as written, e.g. "Account.Name"
    pos: int


@dataclass(frozen=True)
class Compare:
    field: FieldRef
    op: str  # = != < <= > >= in notin like
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or | not
    parts: tuple[object, ...]


@dataclass(frozen=True)
class Order:
    field: FieldRef
    descending: bool
    nulls_last: bool | None


@dataclass(frozen=True)
class Query:
    text: str
    count_only: bool
    fields: tuple[FieldRef, ...]
    sobject: str
    sobject_pos: int
    where: object | None
    order: tuple[Order, ...]
    limit: int | None
    offset: int | None


def _unescape(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise malformed(text, pos, f"unexpected token: '{text[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, message: str | None = None) -> Exception:
        tok = self.tok
        shown = tok.text or "<EOF>"
        return malformed(self.text, tok.pos, message or f"unexpected token: '{shown}'")

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.lower() == word

    def kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise self.fail()
        self.i += 1

    def punct(self, char: str) -> None:
        if self.tok.text != char or self.tok.kind != "punct":
            raise self.fail()
        self.i += 1

    def name(self) -> FieldRef:
        tok = self.tok
        if tok.kind != "name" or tok.text.lower() in KEYWORDS:
            raise self.fail()
        self.i += 1
        return FieldRef(tok.text, tok.pos)

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail()
        self.i += 1
        return int(tok.text)

    def parse(self) -> Query:
        self.kw("select")
        count_only = False
        fields: list[FieldRef] = []
        if self.is_kw("count") and self.tokens[self.i + 1].text == "(":
            self.i += 1
            self.punct("(")
            self.punct(")")
            count_only = True
        else:
            fields.append(self.name())
            while self.tok.text == ",":
                self.i += 1
                fields.append(self.name())
        self.kw("from")
        obj = self.name()
        if "." in obj.path:
            raise malformed(self.text, obj.pos, f"unexpected token: '{obj.path}'")
        where = None
        if self.is_kw("where"):
            self.i += 1
            where = self.or_expr()
        order: list[Order] = []
        if self.is_kw("order"):
            self.i += 1
            self.kw("by")
            order.append(self.order_item())
            while self.tok.text == ",":
                self.i += 1
                order.append(self.order_item())
        limit = offset = None
        if self.is_kw("limit"):
            self.i += 1
            limit = self.integer()
        if self.is_kw("offset"):
            self.i += 1
            offset = self.integer()
        if self.tok.kind != "end":
            raise self.fail()
        return Query(
            self.text,
            count_only,
            tuple(fields),
            obj.path,
            obj.pos,
            where,
            tuple(order),
            limit,
            offset,
        )

    def order_item(self) -> Order:
        ref = self.name()
        descending = False
        if self.is_kw("asc") or self.is_kw("desc"):
            descending = self.tok.text.lower() == "desc"
            self.i += 1
        nulls_last = None
        if self.is_kw("nulls"):
            self.i += 1
            if self.is_kw("first") or self.is_kw("last"):
                nulls_last = self.tok.text.lower() == "last"
                self.i += 1
            else:
                raise self.fail()
        return Order(ref, descending, nulls_last)

    def or_expr(self) -> object:
        parts = [self.and_expr()]
        while self.is_kw("or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> object:
        parts = [self.not_expr()]
        while self.is_kw("and"):
            self.i += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def not_expr(self) -> object:
        if self.is_kw("not"):
            self.i += 1
            return BoolOp("not", (self.not_expr(),))
        if self.tok.text == "(" and self.tok.kind == "punct":
            self.i += 1
            inner = self.or_expr()
            self.punct(")")
            return inner
        ref = self.name()
        if self.tok.kind == "op":
            op = "!=" if self.tok.text == "<>" else self.tok.text
            self.i += 1
            return Compare(ref, op, (self.literal(),))
        negate = False
        if self.is_kw("not"):
            self.i += 1
            negate = True
            if not self.is_kw("in"):
                raise self.fail()
        if self.is_kw("in"):
            self.i += 1
            self.punct("(")
            values = [self.literal()]
            while self.tok.text == ",":
                self.i += 1
                values.append(self.literal())
            self.punct(")")
            return Compare(ref, "notin" if negate else "in", tuple(values))
        if self.is_kw("like"):
            self.i += 1
            value = self.literal()
            if value.kind != "string":
                raise malformed(self.text, value.pos, "LIKE requires a string value")
            return Compare(ref, "like", (value,))
        raise self.fail()

    def literal(self) -> Literal:
        tok = self.tok
        self.i += 1
        if tok.kind == "string":
            return Literal("string", _unescape(tok.text[1:-1]), tok.pos)
        if tok.kind in ("date", "datetime"):
            return Literal(tok.kind, tok.text, tok.pos)
        if tok.kind == "number":
            value = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            return Literal("number", value, tok.pos)
        if tok.kind == "name" and tok.text.lower() in ("true", "false"):
            return Literal("boolean", tok.text.lower() == "true", tok.pos)
        if tok.kind == "name" and tok.text.lower() == "null":
            return Literal("null", None, tok.pos)
        self.i -= 1
        raise self.fail()


def parse(text: str) -> Query:
    """Parse one SOQL statement or raise ``MalformedQuery``."""
    return _Parser(text).parse()
