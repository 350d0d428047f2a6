"""Dry run: check a load's configuration against the real org and source, writing nothing.

It describes the target object, checks every mapped field exists and can be written by the
operation, checks the external id field is one, reads one page of the partition and maps it.
The report says what would happen and what to fix.
"""

from __future__ import annotations

from typing import Any

from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.keyset_sql import build_page_query
from include.dc2sf.logic.mapping import SourcePage


class MappingInvalid(ValueError):
    """The mapping does not fit the target object; the message lists every problem."""


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


def validate_against_org(config: LoadConfig, salesforce: SalesforceBulk2Hook) -> dict[str, Any]:
    """Describe the target and raise MappingInvalid listing every problem; returns the describe."""
    describe = salesforce.describe(config.target_object)
    problems = mapping_problems(config, describe)
    if problems:
        raise MappingInvalid(
            f"mapping does not fit {config.target_object}:\n  - " + "\n  - ".join(problems)
        )
    return describe


def dry_run_report(
    config: LoadConfig, *, salesforce: SalesforceBulk2Hook, datacloud: DataCloudHook
) -> dict[str, Any]:
    describe = salesforce.describe(config.target_object)
    problems = mapping_problems(config, describe)
    sql = build_page_query(
        dmo=config.source_dmo,
        columns=config.mapping.source_columns,
        key_column=config.mapping.key_column,
        key_range=config.key_range,
        after_key=None,
        limit=min(config.page_size, 1_000),
    )
    columns, rows = datacloud.query_all(sql)
    page = config.mapping.apply(SourcePage(columns=[c.name for c in columns], rows=rows))
    return {
        "partition": config.partition,
        "range": config.key_range.describe(),
        "target_object": config.target_object,
        "mapping_problems": problems,
        "sample_rows_read": len(rows),
        "sample_rows_mapped": len(page.records),
        "sample_rows_rejected": [
            {"key": r.key, "field": r.field, "reason": r.reason} for r in page.rejected[:20]
        ],
        "ok": not problems and not page.rejected,
        "written": 0,
    }
