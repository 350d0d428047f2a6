"""``user_stack``: the pipeline a data engineer writes without this project, end to end.

Per partition, in a thread of its own:

1. **Read** the DMO with Salesforce's CDP Python connector (``salesforce-cdp-connector``), its
   pandas path: one ``SELECT`` of the partition's key range, ``get_pandas_dataframe`` following
   ``nextBatchId`` to the end (Arrow batches, concatenated into one frame).
2. **Map** with pandas: rename the DMO columns to the Opportunity fields and write each value
   the way Bulk API 2.0 reads it (numbers as plain decimals, booleans ``true``/``false``, dates
   as ISO text, nulls as ``#N/A``), column by column; the same CSV values as the product's
   mapping (``tests/bench`` checks it), so the org receives the same records.
3. **Upload** as ``ss_sorted`` does: sort by parent, one simple-salesforce bulk2 upsert.

This is the contender for client CPU and memory end to end: its reader and mapping are its own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.contenders.common import ContenderSpec, Partition, in_threads, no_retry_counts, sum_parts
from bench.contenders.simple_sf import sorted_settings, sorted_upsert

if TYPE_CHECKING:
    import pandas

#: What Bulk API 2.0 reads as "set this field to null" in a CSV cell.
BULK_NULL = "#N/A"


def _literal(key: str) -> str:
    return "'" + key.replace("'", "''") + "'"


def partition_sql(partition: Partition) -> str:
    """The partition's rows, in key order, with the columns the Opportunity mapping reads."""
    from include.dc2sf import defaults

    columns = ", ".join(f'"{source}"' for source, _ in _fields().values())
    key = f'"{defaults.KEY_COLUMN}"'
    where = []
    if partition.start is not None:
        where.append(
            f"{key} {'>=' if partition.start_inclusive else '>'} {_literal(partition.start)}"
        )
    if partition.end is not None:
        where.append(f"{key} <= {_literal(partition.end)}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f'SELECT {columns} FROM "{defaults.SOURCE_DMO}"{clause} ORDER BY {key}'


def _fields() -> dict[str, tuple[str, str]]:
    """Opportunity field → (DMO column, kind): the fields the product's default mapping loads."""
    from include.dc2sf import defaults

    fields: dict[str, tuple[str, str]] = {}
    for target, source in defaults.OPPORTUNITY_MAPPING["fields"].items():
        if isinstance(source, str):
            fields[target] = (source, "text")
        else:
            fields[target] = (source["source"], source.get("type", "text"))
    return fields


def _number(value: float) -> str:
    return np.format_float_positional(value, trim="0")


_BOOLEANS = {True: "true", False: "false"}


def map_frame(frame: pandas.DataFrame) -> list[dict[str, str]]:
    """The frame as Bulk-ready records (one dict per row, Opportunity field → CSV value)."""
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for target, (source, kind) in _fields().items():
        column = frame[source]
        if kind == "number":
            values = column.map(_number, na_action="ignore")
        elif kind == "boolean":
            values = column.map(_BOOLEANS, na_action="ignore")
        else:  # text, and dates the DMO already holds as ISO text
            values = column
        out[target] = values.astype(object).where(column.notna(), BULK_NULL)
    return out.to_dict("records")


def _connection(spec: ContenderSpec) -> Any:
    from salesforcecdpconnector.connection import SalesforceCDPConnection

    return SalesforceCDPConnection(
        spec.base_url,
        username="bench@example.com",
        password="bench-password",
        client_id="user-stack",
        client_secret="user-stack",
    )


def run_user_stack(spec: ContenderSpec) -> dict[str, Any]:
    """CDP connector → pandas → simple-salesforce bulk2 (sorted by parent), per partition."""
    # The connector's token calls use a requests session of their own: trust the org's CA.
    os.environ["REQUESTS_CA_BUNDLE"] = spec.ca_bundle

    def work(partition: Partition) -> dict[str, Any]:
        frame = _connection(spec).get_pandas_dataframe(partition_sql(partition))
        if frame is None or frame.empty:
            return no_retry_counts(0, 0, 0)
        records = map_frame(frame)
        del frame
        saved, jobs = sorted_upsert(spec, records)
        return no_retry_counts(len(records), saved, jobs)

    parts = in_threads(spec.partitions, work)
    return {**sum_parts(parts), "settings": sorted_settings(spec)}
