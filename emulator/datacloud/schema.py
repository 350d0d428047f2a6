"""Data Cloud DMO definitions: column names and the SQL types Query V2 reports for them.

Values are stored in SQLite as: VARCHAR/DATE/TIMESTAMP → TEXT (ISO text, so comparisons and
ORDER BY work lexicographically), DECIMAL → REAL, BOOLEAN → INTEGER 0/1.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# java.sql.Types codes (reference §2.1: VARCHAR 12, DECIMAL 3, TIMESTAMP 93 are seen on the wire;
# the rest follow the same JDBC table [inferred]).
TYPE_CODES: dict[str, int] = {
    "VARCHAR": 12,
    "CHAR": 1,
    "DECIMAL": 3,
    "DOUBLE": 8,
    "REAL": 7,
    "FLOAT": 6,
    "BIGINT": -5,
    "INTEGER": 4,
    "SMALLINT": 5,
    "TINYINT": -6,
    "BOOLEAN": 16,
    "DATE": 91,
    "TIME": 92,
    "TIMESTAMP": 93,
    "TIMESTAMP WITH TIME ZONE": 93,
}

_SQLITE_STORAGE = {
    "VARCHAR": "TEXT",
    "DECIMAL": "REAL",
    "DATE": "TEXT",
    "TIMESTAMP": "TEXT",
    "BOOLEAN": "INTEGER",
    "BIGINT": "INTEGER",
    "DOUBLE": "REAL",
}

# How a DMO column type is declared to sqlglot's type annotator.
_SQLGLOT_TYPES = {"DECIMAL": "DECIMAL(18, 2)"}


@dataclass(frozen=True)
class DmoColumn:
    name: str
    type: str  # a TYPE_CODES key


@dataclass(frozen=True)
class Dmo:
    """A data model object (``__dlm``) table."""

    name: str
    columns: tuple[DmoColumn, ...]
    key: str
    # Real DMOs do not enforce key uniqueness; the seeded one does (it is generated), the
    # "staging" one does not, so tests can hold duplicate and null keys as a real source can.
    unique_key: bool = True

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def sqlglot_schema(self) -> dict[str, str]:
        return {c.name: _SQLGLOT_TYPES.get(c.type, c.type) for c in self.columns}

    def ddl(self) -> str:
        cols = []
        for c in self.columns:
            decl = f'"{c.name}" {_SQLITE_STORAGE[c.type]}'
            if c.name == self.key and self.unique_key:
                decl += " NOT NULL PRIMARY KEY"
            cols.append(decl)
        if self.unique_key:
            return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({", ".join(cols)}) WITHOUT ROWID'
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({", ".join(cols)})'


OPPORTUNITY_SOURCE = Dmo(
    name="Opportunity_Source__dlm",
    key="ExternalId__c",
    columns=(
        DmoColumn("ExternalId__c", "VARCHAR"),
        DmoColumn("Name__c", "VARCHAR"),
        DmoColumn("StageName__c", "VARCHAR"),
        DmoColumn("Amount__c", "DECIMAL"),
        DmoColumn("CloseDate__c", "DATE"),
        DmoColumn("AccountId__c", "VARCHAR"),
        DmoColumn("Probability__c", "DECIMAL"),
        DmoColumn("Description__c", "VARCHAR"),
        DmoColumn("IsPrivate__c", "BOOLEAN"),
        DmoColumn("LastActivity__c", "TIMESTAMP"),
    ),
)

#: Same columns, no key constraint: a source with duplicate or null keys (empty until a test fills it).
OPPORTUNITY_STAGING = Dmo(
    name="Opportunity_Staging__dlm",
    key=OPPORTUNITY_SOURCE.key,
    columns=OPPORTUNITY_SOURCE.columns,
    unique_key=False,
)

DMOS: dict[str, Dmo] = {dmo.name: dmo for dmo in (OPPORTUNITY_SOURCE, OPPORTUNITY_STAGING)}


def create_tables(conn: sqlite3.Connection) -> None:
    for dmo in DMOS.values():
        conn.execute(dmo.ddl())
