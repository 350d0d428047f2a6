"""Dry run: check a load's configuration against the real org and source, writing nothing.

It describes the target object, checks every mapped field exists and can be written by the
operation, checks the external id field is one (`target_fit`), reads one page of the partition and
maps it with the fields' real lengths.
The report says what would happen and what to fix.
"""

from __future__ import annotations

from typing import Any

from include.dc2sf.engine.config import LoadConfig
from include.dc2sf.engine.target_fit import describe_target, fit_to_target, mapping_problems
from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from include.dc2sf.logic.keyset_sql import build_page_query
from include.dc2sf.logic.mapping import SourcePage


def dry_run_report(
    config: LoadConfig, *, salesforce: SalesforceBulk2Hook, datacloud: DataCloudHook
) -> dict[str, Any]:
    describe = describe_target(config, salesforce)
    problems = mapping_problems(config, describe)
    # The same text limits as a real load (each field's describe length), so a sample row that
    # is too long for its field shows up here as it would be dead-lettered.
    config = fit_to_target(config, describe)
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
