"""The product's Data Cloud reader, shared by ``ours``, ``ss_naive``, ``ss_sorted`` and ``seed``.

``DataCloudHook`` + keyset pages + ``MappingSpec``: the same reading for every contender that
does not bring its own (``user_stack`` reads with the CDP connector and pandas), so their
differences are in how each writes to Bulk API 2.0.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from bench.contenders.common import Partition


def hooks() -> tuple[Any, Any]:
    """Our two hooks on the connections from the environment (``AIRFLOW_CONN_*``)."""
    from include.dc2sf.hooks.datacloud import DataCloudHook
    from include.dc2sf.hooks.retry import CallCounter
    from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook

    counter = CallCounter()
    salesforce = SalesforceBulk2Hook(counter=counter)
    return salesforce, DataCloudHook(salesforce_hook=salesforce, counter=counter)


def key_range(partition: Partition) -> Any:
    from include.dc2sf.logic.key_range import KeyRange

    return KeyRange(partition.start, partition.end, partition.start_inclusive)


@functools.cache
def reader_spec() -> Any:
    """The Opportunity mapping, built once per process as a loader builds it once per partition
    (so its compiled page mapper is reused)."""
    from include.dc2sf import defaults
    from include.dc2sf.logic.mapping import MappingSpec

    return MappingSpec.from_dict(defaults.OPPORTUNITY_MAPPING)


def read_page(
    datacloud: Any, partition: Partition, after: str | None, limit: int
) -> tuple[tuple[str, ...], list[tuple[str, ...]], int, str | None]:
    """One keyset page after ``after``: (header, mapped value tuples, source rows, last key).

    The values come from ``MappingSpec.apply_values``: the product's conversions and rejections,
    in the form a values-taking writer needs.
    """
    from include.dc2sf import defaults
    from include.dc2sf.logic.keyset_sql import build_page_query
    from include.dc2sf.logic.mapping import SourcePage

    spec = reader_spec()
    sql = build_page_query(
        dmo=defaults.SOURCE_DMO,
        columns=spec.source_columns,
        key_column=spec.key_column,
        key_range=key_range(partition),
        after_key=after,
        limit=limit,
    )
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = []
    for batch in datacloud.query(sql):
        columns = batch.column_names or columns
        rows.extend(batch.rows)
    if not rows:
        return tuple(spec.header), [], 0, after
    page = spec.apply_values(SourcePage(columns=columns, rows=rows))
    return tuple(spec.header), [r.values for r in page.records], len(rows), page.last_key


def read_pages(
    datacloud: Any, partition: Partition, page_size: int
) -> Iterator[tuple[tuple[str, ...], list[tuple[str, ...]], str | None]]:
    """Keyset pages of mapped rows until a short page: the loader's reading, without checkpoints."""
    last: str | None = None
    while True:
        header, values, count, last = read_page(datacloud, partition, last, page_size)
        if not count:
            return
        yield header, values, last
        if count < page_size:
            return
