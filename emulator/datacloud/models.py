"""Query API V2 behaviour: run SQL on the DMO tables and hand results out in capped batches.

A query keeps its own SQLite connection and cursor open, so a 2M-row result is streamed batch by
batch instead of materialised. Batches stop at ``query_batch_max_rows`` rows or
``query_batch_max_bytes`` bytes of row JSON, whichever comes first. A batch that *fills* a cap
says ``done: false`` without peeking further, so a result whose size is an exact multiple of the
cap ends with an empty ``done: true`` batch, the edge case Help 002780536 describes. Every
``nextBatchId`` works once, for at most ``query_batch_ttl_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.datacloud.exceptions import BatchNotFound, SqlError
from emulator.datacloud.schema import DMOS, create_tables
from emulator.datacloud.sql import OutputColumn, Translator

if TYPE_CHECKING:
    from emulator.state import EmulatorState

SERVICE_NAME = "datacloud"
MAX_OPEN_QUERIES = 64
_FETCH = 2000

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row_converter(columns: tuple[OutputColumn, ...]) -> Callable[[tuple[Any, ...]], Any] | None:
    """SQLite stores BOOLEAN as 0/1; Query V2 sends JSON booleans. None when nothing to convert."""
    flags = [i for i, c in enumerate(columns) if c.type == "BOOLEAN"]
    if not flags:
        return None

    def convert(row: tuple[Any, ...]) -> list[Any]:
        out = list(row)
        for i in flags:
            if out[i] is not None:
                out[i] = bool(out[i])
        return out

    return convert


@dataclass
class Batch:
    """One page of a query, already serialised: ``rows_json`` are JSON arrays, one per row."""

    query_id: str
    rows_json: list[str]
    columns: tuple[OutputColumn, ...]
    done: bool
    next_batch_id: str | None
    start_time: float
    end_time: float

    @property
    def row_count(self) -> int:
        return len(self.rows_json)

    def metadata(self) -> dict[str, dict[str, Any]]:
        meta: dict[str, dict[str, Any]] = {}
        for place, column in enumerate(self.columns):
            name = column.name if column.name not in meta else f"{column.name}_{place}"
            meta[name] = {"type": column.type, "placeInOrder": place, "typeCode": column.type_code}
        return meta

    def tail(self) -> dict[str, Any]:
        """Every field of the V2 body but the rows, in the order Data Cloud sends them."""
        tail: dict[str, Any] = {
            "startTime": _iso(self.start_time),
            "endTime": _iso(self.end_time),
            "rowCount": self.row_count,
            "queryId": self.query_id,
        }
        if self.next_batch_id is not None:
            tail["nextBatchId"] = self.next_batch_id
        tail["done"] = self.done
        tail["metadata"] = self.metadata()
        return tail

    def to_json(self) -> str:
        """The exact V2 body, built around the pre-serialised rows (no second encoding pass)."""
        return '{"data":[' + ",".join(self.rows_json) + "]," + _encode(self.tail())[1:]


class QueryCursor:
    """An open query: its connection, row iterator and the row held over from the last batch."""

    def __init__(
        self,
        query_id: str,
        conn: sqlite3.Connection,
        rows: Iterator[tuple[Any, ...]],
        columns: tuple[OutputColumn, ...],
        created: float,
    ) -> None:
        self.query_id = query_id
        self.conn = conn
        self.rows = rows
        self.columns = columns
        self.created = created
        self.pending: str | None = None
        self.convert = _row_converter(columns)
        self.lock = threading.Lock()

    def take(self, max_rows: int, max_bytes: int) -> tuple[list[str], bool]:
        """Up to the caps of serialised rows; ``exhausted`` when the result has no more rows."""
        out: list[str] = []
        size = 0
        if self.pending is not None:
            out.append(self.pending)
            size = len(self.pending) + 1
            self.pending = None
        convert = self.convert
        while len(out) < max_rows:
            row = next(self.rows, None)
            if row is None:
                return out, True
            text = _encode(convert(row) if convert else row)
            size += len(text) + 1
            if size > max_bytes and out:
                self.pending = text
                return out, False
            out.append(text)
        return out, False

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


def _iter_rows(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while True:
        chunk = cursor.fetchmany(_FETCH)
        if not chunk:
            return
        yield from chunk


class DataCloudService:
    """The DMO tables and the open Query V2 cursors."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.translator = Translator()
        self._lock = threading.Lock()
        self._cursors: OrderedDict[str, QueryCursor] = OrderedDict()  # batch id -> cursor
        self._serial = 0
        create_tables(state.connect())

    # -- Service protocol -------------------------------------------------------------------
    def reset(self) -> None:
        """Drop every open query and empty the DMO tables."""
        self._close_all()
        conn = self.state.connect()
        for name in DMOS:
            conn.execute(f'DELETE FROM "{name}"')

    def close(self) -> None:
        self._close_all()

    def counts(self) -> dict[str, int]:
        conn = self.state.connect()
        return {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in DMOS}

    # -- Query V2 ---------------------------------------------------------------------------
    def _query_id(self, now: float) -> str:
        from datetime import UTC, datetime

        with self._lock:
            self._serial += 1
            serial = self._serial
        stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%d_%H%M%S")
        suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
        return f"{stamp}_{serial:05d}_{suffix}"

    def submit(self, sql: str) -> Batch:
        """Run ``sql`` and return its first batch."""
        self.state.usage.count_event("datacloud_query")
        started = self.state.clock.time()
        translated = self.translator.translate(sql)
        conn = self.state.db.new_connection(check_same_thread=False)
        try:
            cursor = conn.execute(translated.sqlite_sql)
        except sqlite3.Error as exc:
            conn.close()
            raise SqlError(f"Query failed: {exc}") from exc
        query = QueryCursor(
            self._query_id(started), conn, _iter_rows(cursor), translated.columns, started
        )
        return self._next(query, started)

    def next_batch(self, batch_id: str) -> Batch:
        """The batch behind a ``nextBatchId``; each id works once."""
        self.state.usage.count_event("datacloud_query_batch")
        started = self.state.clock.time()
        self._expire(started)
        with self._lock:
            query = self._cursors.pop(batch_id, None)
        if query is None:
            raise BatchNotFound()
        return self._next(query, started)

    def _next(self, query: QueryCursor, started: float) -> Batch:
        config = self.state.config
        with query.lock:
            try:
                rows, exhausted = query.take(
                    config.query_batch_max_rows, config.query_batch_max_bytes
                )
            except sqlite3.Error as exc:
                query.close()
                raise SqlError(f"Query failed: {exc}") from exc
        next_id: str | None = None
        if exhausted:
            query.close()
        else:
            next_id = str(uuid.uuid4())
            self._park(next_id, query)
        return Batch(
            query.query_id,
            rows,
            query.columns,
            exhausted,
            next_id,
            started,
            self.state.clock.time(),
        )

    def _park(self, batch_id: str, query: QueryCursor) -> None:
        evicted: list[QueryCursor] = []
        with self._lock:
            self._cursors[batch_id] = query
            while len(self._cursors) > MAX_OPEN_QUERIES:
                evicted.append(self._cursors.popitem(last=False)[1])
        for old in evicted:
            old.close()

    def _expire(self, now: float) -> None:
        ttl = self.state.config.query_batch_ttl_seconds
        with self._lock:
            stale = [k for k, q in self._cursors.items() if now - q.created > ttl]
            dropped = [self._cursors.pop(k) for k in stale]
        for query in dropped:
            query.close()

    def _close_all(self) -> None:
        with self._lock:
            dropped = list(self._cursors.values())
            self._cursors.clear()
        for query in dropped:
            query.close()

    def open_queries(self) -> int:
        with self._lock:
            return len(self._cursors)


def attach(state: EmulatorState) -> DataCloudService:
    service = DataCloudService(state)
    state.register(SERVICE_NAME, service)
    return service


def service_of(state: EmulatorState) -> DataCloudService:
    return state.services[SERVICE_NAME]  # type: ignore[no-any-return]
