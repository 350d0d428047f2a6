"""Query V2 batches as Arrow: the body a client gets when it sends ``enable-arrow-stream: true``.

The Salesforce CDP Python connector's pandas path (``SalesforceCDPConnection.
get_pandas_dataframe``) asks for this form: every field of the JSON body stays, but the rows travel
as ``arrowStream``, a base64 Arrow IPC stream (schema, then one record batch), instead of ``data``.

Salesforce does not document the Arrow type of each SQL type, so the emulator picks the plainest
that round-trips the JSON form: text, dates and timestamps as UTF-8 strings (their ISO text, as in
``data``), ``DECIMAL`` and the other fractional types as float64 (the connector casts ``DECIMAL``
columns to float after decoding anyway), integers as int64 and ``BOOLEAN`` as bool. Column names
are the metadata's names, so the connector's per-column type fix-ups find their columns.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow

    from emulator.datacloud.models import Batch

#: Header (and value) with which a Query V2 client asks for the Arrow form.
ARROW_HEADER = "enable-arrow-stream"

_FLOATS = frozenset({"DECIMAL", "DOUBLE", "REAL", "FLOAT"})
_INTEGERS = frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT"})

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode


def wants_arrow(headers: Any) -> bool:
    """True when the request carries ``enable-arrow-stream: true`` (case-insensitive value)."""
    return str(headers.get(ARROW_HEADER, "")).strip().lower() == "true"


def _arrow_type(sql_type: str) -> pyarrow.DataType:
    import pyarrow as pa

    if sql_type in _FLOATS:
        return pa.float64()
    if sql_type in _INTEGERS:
        return pa.int64()
    if sql_type == "BOOLEAN":
        return pa.bool_()
    return pa.string()


def arrow_stream(batch: Batch) -> str:
    """The batch's rows as a base64 Arrow IPC stream (a zero-row stream when the batch is empty)."""
    import pyarrow as pa

    names = list(batch.metadata())
    rows = json.loads("[" + ",".join(batch.rows_json) + "]")
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    schema = pa.schema(
        [
            pa.field(name, _arrow_type(column.type))
            for name, column in zip(names, batch.columns, strict=True)
        ]
    )
    arrays = [
        pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)
    ]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch(arrays, schema=schema))
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def to_arrow_json(batch: Batch) -> str:
    """The V2 body with ``arrowStream`` in place of ``data``."""
    return _encode({"arrowStream": arrow_stream(batch), **batch.tail()})
