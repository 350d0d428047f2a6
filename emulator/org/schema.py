"""The org's sObject definitions: Account and Opportunity with their real field types.

One declaration drives everything that must agree: the SQLite table, the describe body, CSV value
conversion in Bulk API 2.0, and SOQL field checks. Field metadata follows what a real org's
``describe`` returns for the standard fields (types, lengths, precision/scale, nillable,
createable/updateable); ``ExternalId__c`` is the project's custom external-id field on both.
Picklists are not restricted (standard StageName is not a restricted picklist), so the emulator
does not validate their values [inferred: the loader never depends on picklist validation].
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Storage class in SQLite for each Salesforce field type.
_SQL_TYPES = {
    "id": "TEXT",
    "reference": "TEXT",
    "string": "TEXT",
    "textarea": "TEXT",
    "picklist": "TEXT",
    "phone": "TEXT",
    "url": "TEXT",
    "email": "TEXT",
    "date": "TEXT",
    "datetime": "TEXT",
    "currency": "REAL",
    "double": "REAL",
    "percent": "REAL",
    "int": "INTEGER",
    "boolean": "INTEGER",
}

# SOAP types as describe reports them.
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
}


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with the describe attributes our clients read."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    required_on_create: bool = False
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    name_field: bool = False
    custom: bool = False
    default_on_create: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    # SQLite expression for fields the platform derives (IsClosed/IsWon from StageName).
    formula: str | None = None

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.type]

    @property
    def soap_type(self) -> str:
        return _SOAP_TYPES.get(self.type, "xsd:string")

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable


@dataclass(frozen=True)
class SObjectDef:
    """An sObject: its API name, key prefix (first 3 id characters) and fields."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    by_lower: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    @property
    def table(self) -> str:
        """SQLite table name; fixed, never built from user input."""
        return f"sobject_{self.name.lower()}"

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive field lookup, as the API resolves field names."""
        return self.by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The lookup field whose relationship name is ``name`` (e.g. ``Account``)."""
        lowered = name.lower()
        for f in self.fields:
            if f.relationship_name and f.relationship_name.lower() == lowered:
                return f
        return None


def _audit_fields() -> tuple[FieldDef, ...]:
    """System fields every object has; never writable through the API."""
    ro = {"createable": False, "updateable": False}
    return (
        FieldDef("IsDeleted", "boolean", "Deleted", nillable=False, **ro),
        FieldDef(
            "CreatedDate", "datetime", "Created Date", nillable=False, default_on_create=True, **ro
        ),
        FieldDef(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            nillable=False,
            default_on_create=True,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **ro,
        ),
        FieldDef(
            "LastModifiedDate",
            "datetime",
            "Last Modified Date",
            nillable=False,
            default_on_create=True,
            **ro,
        ),
        FieldDef(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            nillable=False,
            default_on_create=True,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            **ro,
        ),
        FieldDef(
            "SystemModstamp",
            "datetime",
            "System Modstamp",
            nillable=False,
            default_on_create=True,
            **ro,
        ),
    )


def _id_field(label: str) -> FieldDef:
    return FieldDef(
        "Id",
        "id",
        label,
        length=18,
        nillable=False,
        createable=False,
        updateable=False,
        id_lookup=True,
        default_on_create=True,
    )


def _external_id() -> FieldDef:
    return FieldDef(
        "ExternalId__c",
        "string",
        "External Id",
        length=255,
        external_id=True,
        unique=True,
        id_lookup=True,
        custom=True,
    )


def _owner() -> FieldDef:
    return FieldDef(
        "OwnerId",
        "reference",
        "Owner ID",
        length=18,
        nillable=False,
        default_on_create=True,
        reference_to=("User",),
        relationship_name="Owner",
    )


ACCOUNT = SObjectDef(
    name="Account",
    label="Account",
    label_plural="Accounts",
    key_prefix="001",
    fields=(
        _id_field("Account ID"),
        FieldDef(
            "Name",
            "string",
            "Account Name",
            length=255,
            nillable=False,
            required_on_create=True,
            name_field=True,
        ),
        FieldDef("AccountNumber", "string", "Account Number", length=40),
        FieldDef("Type", "picklist", "Account Type", length=255),
        FieldDef("Industry", "picklist", "Industry", length=255),
        FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "int", "Employees", digits=8),
        FieldDef("Phone", "phone", "Account Phone", length=40),
        FieldDef("Website", "url", "Website", length=255),
        FieldDef("Description", "textarea", "Account Description", length=32000),
        _external_id(),
        _owner(),
        *_audit_fields(),
    ),
)

OPPORTUNITY = SObjectDef(
    name="Opportunity",
    label="Opportunity",
    label_plural="Opportunities",
    key_prefix="006",
    fields=(
        _id_field("Opportunity ID"),
        FieldDef(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to=("Account",),
            relationship_name="Account",
        ),
        FieldDef(
            "Name",
            "string",
            "Name",
            length=120,
            nillable=False,
            required_on_create=True,
            name_field=True,
        ),
        FieldDef(
            "StageName", "picklist", "Stage", length=255, nillable=False, required_on_create=True
        ),
        FieldDef("CloseDate", "date", "Close Date", nillable=False, required_on_create=True),
        FieldDef("Amount", "currency", "Amount", precision=18, scale=2),
        FieldDef("Probability", "percent", "Probability (%)", precision=3, scale=0),
        FieldDef("Description", "textarea", "Description", length=32000),
        FieldDef("IsPrivate", "boolean", "Private", nillable=False, default_on_create=True),
        FieldDef("Type", "picklist", "Opportunity Type", length=255),
        FieldDef("LeadSource", "picklist", "Lead Source", length=255),
        FieldDef("NextStep", "string", "Next Step", length=255),
        FieldDef(
            "ForecastCategoryName",
            "picklist",
            "Forecast Category",
            length=255,
            default_on_create=True,
        ),
        FieldDef(
            "IsClosed",
            "boolean",
            "Closed",
            nillable=False,
            createable=False,
            updateable=False,
            formula="\"StageName\" IN ('Closed Won', 'Closed Lost')",
        ),
        FieldDef(
            "IsWon",
            "boolean",
            "Won",
            nillable=False,
            createable=False,
            updateable=False,
            formula="\"StageName\" = 'Closed Won'",
        ),
        _external_id(),
        _owner(),
        *_audit_fields(),
    ),
)

SOBJECTS: dict[str, SObjectDef] = {o.name.lower(): o for o in (ACCOUNT, OPPORTUNITY)}


def sobject(name: str) -> SObjectDef | None:
    """Case-insensitive object lookup (the API accepts ``opportunity`` as well)."""
    return SOBJECTS.get(name.lower())


def create_table_sql(obj: SObjectDef) -> list[str]:
    """DDL for one object: a rowid sequence (for id generation) plus one column per field.

    ``ExternalId__c`` is indexed so upsert matching and parent resolution stay fast. Lookups
    (``AccountId``) deliberately are not: random parents made that index ~70 % of the insert
    cost (measured), and the zero-cost ingest target is 50,000 records/s; a SOQL filter on
    ``AccountId`` scans instead (about 0.3 s at 2M rows). Uniqueness of ``ExternalId__c`` is enforced by the DML layer among
    live records (a deleted record in the recycle bin does not hold its value).
    """
    cols = ["_n INTEGER PRIMARY KEY"]
    for f in obj.fields:
        col = f'"{f.name}" {f.sql_type}'
        if f.formula:
            col += f" GENERATED ALWAYS AS ({f.formula}) VIRTUAL"
        elif f.name == "Id":
            col += " NOT NULL UNIQUE"
        cols.append(col)
    stmts = [f"CREATE TABLE IF NOT EXISTS {obj.table} ({', '.join(cols)})"]
    for f in obj.fields:
        if f.unique:
            stmts.append(
                f'CREATE INDEX IF NOT EXISTS {obj.table}_{f.name.lower()} ON {obj.table} ("{f.name}")'
            )
    return stmts
