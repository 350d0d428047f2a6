"""The org: sObject tables in the emulator's SQLite file, id allocation, describe bodies.

No HTTP here (moto's ``models.py`` role). Bulk API 2.0 writes through ``emulator.org.dml``;
SOQL reads these tables; the seeding command creates Accounts via ``emulator.org.seed``.
"""

from __future__ import annotations

import sqlite3
import string
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from emulator.ids import salesforce_id
from emulator.org.schema import SOBJECTS, SObjectDef, create_table_sql

if TYPE_CHECKING:
    from emulator.state import EmulatorState

SERVICE_NAME = "org"
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"


def _upper_bits(text: str, shift: int = 0) -> int:
    return sum(1 << (i + shift) for i, c in enumerate(text) if "A" <= c <= "Z")


class IdSequence:
    """Fast ``salesforce_id(prefix, n)`` for runs of consecutive n (the Bulk insert hot path).

    ``salesforce_id`` costs ~9 µs; inserts at 50,000 records/s cannot afford that. The id is
    prefix + pod + 9 base-62 digits + a 3-character case checksum over three 5-character
    blocks; here everything but the last two digits is cached per block of 3,844 serials.
    Equality with ``salesforce_id`` is tested.
    """

    _LOW: ClassVar[tuple[tuple[str, int], ...]] = tuple(
        (a + b, _upper_bits(a + b, 3)) for a in _B62 for b in _B62
    )

    def __init__(self, prefix: str) -> None:
        self.head = salesforce_id(prefix, 0)[:6]
        self.first_suffix = _SUFFIX[_upper_bits(self.head[:5])]
        self._hi = -1
        self._cached: tuple[str, str, int] = ("", "", 0)

    def __call__(self, n: int) -> str:
        hi, lo = divmod(n, 3844)
        if hi != self._hi:
            digits = []
            rest = hi
            for _ in range(7):
                rest, r = divmod(rest, 62)
                digits.append(_B62[r])
            if rest:
                raise ValueError("serial too large")
            serial = "".join(reversed(digits))
            block1 = self.head[5] + serial[:4]
            self._cached = (
                self.head + serial,
                self.first_suffix + _SUFFIX[_upper_bits(block1)],
                _upper_bits(serial[4:]),
            )
            self._hi = hi
        start, suffix, bits = self._cached
        low, low_bits = self._LOW[lo]
        return start + low + suffix + _SUFFIX[bits | low_bits]


class OrgModel:
    """Owns the sObject tables; hands out ids in sequence so seeds and tests agree on them."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.user_id: str = state.config.user_id
        self._id_lock = threading.Lock()
        self._next: dict[str, int] = {}
        # (count, seed) of the last create_accounts: reset() restores these parents, because the
        # Data Cloud rows (which reset keeps) reference them.
        self.seeded_accounts: tuple[int, int] | None = None
        self._sequences = {obj.name: IdSequence(obj.key_prefix) for obj in SOBJECTS.values()}
        self.ensure_tables()

    def conn(self) -> sqlite3.Connection:
        """This thread's connection to the emulator's database."""
        return self.state.connect()

    def ensure_tables(self) -> None:
        conn = self.conn()
        for obj in SOBJECTS.values():
            for stmt in create_table_sql(obj):
                conn.execute(stmt)
            row = conn.execute(f"SELECT COALESCE(MAX(_n), 0) FROM {obj.table}").fetchone()
            self._next[obj.name] = int(row[0]) + 1

    def allocate(self, obj: SObjectDef, count: int) -> list[tuple[int, str]]:
        """``count`` fresh ``(n, id)`` pairs; ids are ``salesforce_id(prefix, n)`` with n from 1."""
        with self._id_lock:
            first = self._next[obj.name]
            self._next[obj.name] = first + count
        make = self._sequences[obj.name]
        return [(n, make(n)) for n in range(first, first + count)]

    def reset(self) -> None:
        """Drop every record (admin reset) and re-create the seeded Accounts, so a reset org
        is the freshly seeded one: same parents, same ids, no Opportunities."""
        conn = self.conn()
        for obj in SOBJECTS.values():
            conn.execute(f"DROP TABLE IF EXISTS {obj.table}")
        self.ensure_tables()
        if self.seeded_accounts is not None:
            from emulator.org.seed import create_accounts

            count, seed = self.seeded_accounts
            create_accounts(self.state, count, seed)

    def counts(self) -> dict[str, int]:
        """Live (not deleted) rows per object, for the admin API."""
        conn = self.conn()
        return {
            obj.name: int(
                conn.execute(f'SELECT COUNT(*) FROM {obj.table} WHERE "IsDeleted" = 0').fetchone()[
                    0
                ]
            )
            for obj in SOBJECTS.values()
        }


def attach(state: EmulatorState) -> OrgModel:
    """Create the org tables and register the model as ``state.services["org"]`` (idempotent)."""
    existing = state.services.get(SERVICE_NAME)
    if isinstance(existing, OrgModel):
        return existing
    model = OrgModel(state)
    state.register(SERVICE_NAME, model)
    return model


def org_of(state: EmulatorState) -> OrgModel:
    """The org model of ``state``, attaching it on first use."""
    return attach(state)


def describe_field(f: Any) -> dict[str, Any]:
    """One entry of ``fields`` in a describe body, in the real key set and spelling."""
    is_text = f.type in {"string", "textarea", "picklist", "phone", "url", "email"}
    return {
        "aggregatable": f.type != "textarea",
        "autoNumber": False,
        "byteLength": f.length * 3 if is_text else (18 if f.type in {"id", "reference"} else 0),
        "calculated": f.formula is not None,
        "calculatedFormula": None,
        "caseSensitive": False,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": False if f.type == "boolean" and f.createable else None,
        "defaultedOnCreate": f.default_on_create,
        "digits": f.digits,
        "externalId": f.external_id,
        "filterable": f.type != "textarea",
        "groupable": f.type not in {"textarea", "currency", "double", "percent"},
        "idLookup": f.id_lookup,
        "label": f.label,
        "length": f.length,
        "name": f.name,
        "nameField": f.name_field,
        "nillable": f.nillable,
        "picklistValues": [],
        "precision": f.precision,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "scale": f.scale,
        "soapType": f.soap_type,
        "sortable": f.type != "textarea",
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
    }


def _urls(obj: SObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "sobject": base,
        "describe": f"{base}/describe",
        "rowTemplate": f"{base}/{{ID}}",
    }


def _object_flags(obj: SObjectDef, version: str) -> dict[str, Any]:
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "keyPrefix": obj.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "triggerable": True,
        "undeletable": True,
        "mergeable": obj.name == "Account",
        "replicateable": True,
        "urls": _urls(obj, version),
    }


def describe_sobject(obj: SObjectDef, version: str) -> dict[str, Any]:
    """``GET /sobjects/{Object}/describe``: object flags, fields, child relationships."""
    body = _object_flags(obj, version)
    body["fields"] = [describe_field(f) for f in obj.fields]
    children = []
    for child in SOBJECTS.values():
        for f in child.fields:
            if obj.name in f.reference_to and f.relationship_name:
                children.append(
                    {
                        "cascadeDelete": True,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "relationshipName": child.label_plural,
                    }
                )
    body["childRelationships"] = children
    body["recordTypeInfos"] = []
    return body


def describe_global(version: str) -> dict[str, Any]:
    """``GET /sobjects/``: the objects this org knows."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_object_flags(obj, version) for obj in SOBJECTS.values()],
    }
