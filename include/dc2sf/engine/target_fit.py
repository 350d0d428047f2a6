"""Does the mapping fit the target object? Checked against the org's `describe`, by plan and load.

`plan` checks it before anything is written; every load try checks it again with one describe
call (a field deleted or made read-only since the plan fails the partition at once, with the
same message) and takes each mapped field's `length` from it, so the text pre-check refuses a
value longer than the field (Opportunity `Name`: 120) before sending it, as Salesforce would
with `STRING_TOO_LONG` one Bulk round later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from simple_salesforce.exceptions import SalesforceResourceNotFound

from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.engine.errors import PermanentLoadError
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook


class MappingInvalid(PermanentLoadError, ValueError):
    """The mapping does not fit the target object; the message lists every problem.

    Permanent: the describe answers the same on every try; fix the mapping or the org.
    """


def mapping_problems(config: LoadConfig, describe: dict[str, Any]) -> list[str]:
    """Everything wrong between the mapping and the target's describe, as readable sentences."""
    fields = {f["name"]: f for f in describe.get("fields", [])}
    relationships = {f["relationshipName"]: f for f in fields.values() if f.get("relationshipName")}
    writable = "createable" if config.operation in ("insert", "upsert") else "updateable"
    problems: list[str] = []
    for target in config.mapping.header:
        if "." in target:
            relationship = target.split(".", 1)[0]
            if relationship not in relationships:
                problems.append(
                    f"{target}: {config.target_object} has no relationship {relationship!r} "
                    f"(known: {sorted(relationships)[:10]})"
                )
            continue
        spec = fields.get(target)
        if spec is None:
            problems.append(f"{target}: no such field on {config.target_object}")
        elif not spec.get(writable, False) and target != config.external_id_field:
            problems.append(f"{target}: field is not {writable} on {config.target_object}")
    ext = fields.get(config.external_id_field)
    if config.operation == "upsert":
        if ext is None:
            problems.append(f"{config.external_id_field}: no such field on {config.target_object}")
        elif not (ext.get("externalId") or config.external_id_field == "Id"):
            problems.append(
                f"{config.external_id_field}: not an External ID field on {config.target_object}; "
                "upsert needs one (mark it External ID in Setup, or use Id)"
            )
    return problems


def describe_target(config: LoadConfig, salesforce: SalesforceBulk2Hook) -> dict[str, Any]:
    """The target object's describe; an object the org does not have is a MappingInvalid."""
    try:
        return salesforce.describe(config.target_object)
    except SalesforceResourceNotFound:
        raise MappingInvalid(
            f"target object {config.target_object!r} does not exist in the org (describe "
            "answered NOT_FOUND); fix target_object (an API name such as 'Opportunity')"
        ) from None


def validate_against_org(config: LoadConfig, salesforce: SalesforceBulk2Hook) -> dict[str, Any]:
    """Describe the target and raise MappingInvalid listing every problem; returns the describe."""
    describe = describe_target(config, salesforce)
    problems = mapping_problems(config, describe)
    if problems:
        raise MappingInvalid(
            f"mapping does not fit {config.target_object}:\n  - " + "\n  - ".join(problems)
        )
    return describe


def field_lengths(describe: Mapping[str, Any]) -> dict[str, int]:
    """Each field's `length` as describe gives it; fields without a length (numbers, dates) are
    left out, so only text-like fields (string, textarea, picklist, reference, ...) get a bound."""
    return {
        str(f["name"]): int(f["length"])
        for f in describe.get("fields", [])
        if int(f.get("length") or 0) > 0
    }


def fit_to_target(config: LoadConfig, describe: Mapping[str, Any]) -> LoadConfig:
    """`config` with each mapped field's text limit lowered to the target field's length."""
    return dataclasses.replace(
        config, mapping=config.mapping.with_max_lengths(field_lengths(describe))
    )


def checked_config(config: LoadConfig, salesforce: SalesforceBulk2Hook) -> LoadConfig:
    """One describe: refuse a mapping that does not fit, and bound each field by its length."""
    return fit_to_target(config, validate_against_org(config, salesforce))
