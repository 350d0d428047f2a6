"""``user_stack``'s pandas mapping writes the same CSV values as the product's mapping.

The frame is built the way the CDP connector's pandas path builds it (an Arrow table with the
emulator's Arrow types, then ``to_pandas``), with the values that differ in form: nulls in every
column, an empty text, quotes and commas, numbers whose ``str`` is not their plain decimal,
both booleans.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from bench.contenders.common import Partition
from bench.contenders.user_stack import BULK_NULL, map_frame, partition_sql
from include.dc2sf import defaults
from include.dc2sf.logic.mapping import MappingSpec, SourcePage

COLUMNS: dict[str, pa.DataType] = {
    "ExternalId__c": pa.string(),
    "Name__c": pa.string(),
    "StageName__c": pa.string(),
    "Amount__c": pa.float64(),
    "CloseDate__c": pa.string(),
    "AccountId__c": pa.string(),
    "Probability__c": pa.float64(),
    "Description__c": pa.string(),
    "IsPrivate__c": pa.bool_(),
}
ROWS: list[tuple[Any, ...]] = [
    ("k1", 'Deal, "big"', "Prospecting", 12345.67, "2026-01-02", "001A", 10.0, "", True),
    ("k2", "x", None, 1e-05, None, "001A", None, None, False),
    ("k3", "y", "Closed Won", None, "2025-12-31", "001B", 0.5, "multi\nline", None),
    ("k4", "z", "Qualification", 250000.0, "2026-06-30", "001C", 100.0, "plain", True),
]


def _frame() -> Any:
    columns = zip(*ROWS, strict=True)
    arrays = [pa.array(list(v), type=t) for v, t in zip(columns, COLUMNS.values(), strict=True)]
    return pa.table(arrays, names=list(COLUMNS)).to_pandas()


def test_pandas_mapping_equals_the_products_mapping() -> None:
    spec = MappingSpec.from_dict(defaults.OPPORTUNITY_MAPPING)
    ours = spec.apply_values(SourcePage(columns=tuple(COLUMNS), rows=ROWS))
    assert not ours.rejected
    expected = [dict(zip(spec.header, r.values, strict=True)) for r in ours.records]
    assert map_frame(_frame()) == expected


def test_nulls_become_bulk_nulls_and_empty_text_stays_empty() -> None:
    records = map_frame(_frame())
    assert records[1]["StageName"] == records[1]["Probability"] == BULK_NULL
    assert records[1]["IsPrivate"] == "false" and records[2]["IsPrivate"] == BULK_NULL
    assert records[0]["Description"] == ""
    assert records[1]["Amount"] == "0.00001"


@pytest.mark.parametrize(
    ("partition", "where"),
    [
        (Partition(0, None, "k'9"), "WHERE \"ExternalId__c\" <= 'k''9' ORDER"),
        (Partition(1, "k1", "k9"), "WHERE \"ExternalId__c\" > 'k1' AND \"ExternalId__c\" <= 'k9'"),
        (Partition(2, "k1", None, start_inclusive=True), "WHERE \"ExternalId__c\" >= 'k1' ORDER"),
        (Partition(3, None, None), '"Opportunity_Source__dlm" ORDER BY "ExternalId__c"'),
    ],
)
def test_partition_sql_selects_the_partition_range(partition: Partition, where: str) -> None:
    sql = partition_sql(partition)
    assert where in sql
    assert sql.startswith('SELECT "ExternalId__c", "Name__c", ')
    assert sql.endswith('ORDER BY "ExternalId__c"')
