"""Running SOQL on the org: REST ``query``/``queryAll`` pages with server-side cursors.

A query opens its own SQLite connection and read transaction, so every page of one query sees
the same snapshot (as a Salesforce query locator does) while Bulk jobs keep writing. Cursors
expire after 15 idle minutes and at most ``MAX_CURSORS`` stay open (the oldest is dropped, its
locator then answers ``INVALID_QUERY_LOCATOR``), mirroring the platform's open-cursor limits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from emulator.ids import salesforce_id
from emulator.org.models import org_of
from emulator.soql import exceptions as exc
from emulator.soql.compiler import Compiled, compile_query
from emulator.soql.parser import parse

if TYPE_CHECKING:
    from emulator.state import EmulatorState

SERVICE_NAME = "soql"
DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_CURSORS = 100
CURSOR_IDLE_SECONDS = 900.0


def json_value(value: Any, field_type: str) -> Any:
    """SQLite value -> the JSON value REST returns for that field type."""
    if value is None:
        return None
    if field_type == "boolean":
        return bool(value)
    if field_type == "int":
        return int(value)
    return value


def build_record(compiled: Compiled, row: tuple[Any, ...], version: str) -> dict[str, Any]:
    """One REST record: ``attributes``, then the selected fields (nested for relationships)."""
    obj = compiled.obj
    record: dict[str, Any] = {
        "attributes": {
            "type": obj.name,
            "url": f"/services/data/v{version}/sobjects/{obj.name}/{row[0]}",
        }
    }
    for index, column in enumerate(compiled.columns, start=1):
        value = json_value(row[index], column.field.type)
        if column.relationship is None:
            record[column.field.name] = value
            continue
        target, id_index = compiled.relations[column.relationship]
        parent_id = row[id_index]
        if parent_id is None:
            record[column.relationship] = None
            continue
        nested = record.get(column.relationship)
        if nested is None:
            nested = {
                "attributes": {
                    "type": target.name,
                    "url": f"/services/data/v{version}/sobjects/{target.name}/{parent_id}",
                }
            }
            record[column.relationship] = nested
        nested[column.field.name] = value
    return record


def compile_text(text: str, include_deleted: bool) -> Compiled:
    if not text or not text.strip():
        raise exc.MalformedQuery("A query string has to be specified")
    return compile_query(parse(text), include_deleted=include_deleted)


def count_of(compiled: Compiled, text: str, include_deleted: bool) -> Compiled:
    """The COUNT() form of a query (same filter, limit and offset) for ``totalSize``."""
    query = dataclasses.replace(parse(text), count_only=True, order=())
    return compile_query(query, include_deleted=include_deleted)


class _Cursor:
    def __init__(self, conn: sqlite3.Connection, compiled: Compiled, total: int, version: str):
        self.conn = conn
        self.compiled = compiled
        self.total = total
        self.version = version
        self.rows = conn.execute(compiled.sql, compiled.params)
        self.offset = 0
        self.lock = threading.Lock()
        self.last_used = 0.0

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("COMMIT")
        self.conn.close()


class SoqlService:
    """Query cursors of the org."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        org_of(state)  # the tables must exist
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def rows(self, text: str, include_deleted: bool) -> tuple[Compiled, Iterator[tuple[Any, ...]]]:
        """All result rows of a query (Bulk query jobs), on this thread's connection."""
        compiled = compile_text(text, include_deleted)
        return compiled, iter(self.state.connect().execute(compiled.sql, compiled.params))

    def query(
        self, text: str, *, include_deleted: bool, version: str, batch_size: int | None = None
    ) -> dict[str, Any]:
        """First page of a REST query."""
        compiled = compile_text(text, include_deleted)
        counter = count_of(compiled, text, include_deleted)
        conn = self.state.db.new_connection(check_same_thread=False)
        conn.execute("BEGIN")
        try:
            total = int(conn.execute(counter.sql, counter.params).fetchone()[0])
            if compiled.count_only:
                return {"totalSize": total, "done": True, "records": []}
            cursor = _Cursor(conn, compiled, total, version)
        except BaseException:
            conn.close()
            raise
        locator = salesforce_id("01g", next(self._ids))
        return self._page(locator, cursor, batch_size, fresh=True)

    def more(
        self, locator_text: str, *, version: str, batch_size: int | None = None
    ) -> dict[str, Any]:
        """A later page: ``<locator>-<offset>`` from the previous page's ``nextRecordsUrl``."""
        locator, _, offset = locator_text.partition("-")
        self._expire()
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None or not offset.isdigit() or int(offset) != cursor.offset:
            raise exc.InvalidQueryLocator()
        return self._page(locator, cursor, batch_size, fresh=False)

    def _page(
        self, locator: str, cursor: _Cursor, batch_size: int | None, *, fresh: bool
    ) -> dict[str, Any]:
        size = (
            DEFAULT_BATCH if batch_size is None else max(MIN_BATCH, min(DEFAULT_BATCH, batch_size))
        )
        with cursor.lock:
            rows = cursor.rows.fetchmany(size)
            cursor.offset += len(rows)
            done = cursor.offset >= cursor.total or len(rows) < size
            records = [build_record(cursor.compiled, row, cursor.version) for row in rows]
            cursor.last_used = self.state.clock.monotonic()
        body: dict[str, Any] = {"totalSize": cursor.total, "done": done}
        if done:
            self._close(locator, cursor)
        else:
            with self._lock:
                if fresh:
                    self._cursors[locator] = cursor
                    while len(self._cursors) > MAX_CURSORS:
                        _, oldest = self._cursors.popitem(last=False)
                        oldest.close()
                self._cursors.move_to_end(locator)
            body["nextRecordsUrl"] = (
                f"/services/data/v{cursor.version}/query/{locator}-{cursor.offset}"
            )
        body["records"] = records
        return body

    def _close(self, locator: str, cursor: _Cursor) -> None:
        with self._lock:
            self._cursors.pop(locator, None)
        cursor.close()

    def _expire(self) -> None:
        now = self.state.clock.monotonic()
        with self._lock:
            stale = [k for k, c in self._cursors.items() if now - c.last_used > CURSOR_IDLE_SECONDS]
            cursors = [self._cursors.pop(k) for k in stale]
        for cursor in cursors:
            cursor.close()

    def reset(self) -> None:
        with self._lock:
            cursors = list(self._cursors.values())
            self._cursors.clear()
        for cursor in cursors:
            cursor.close()

    def close(self) -> None:
        self.reset()


def attach(state: EmulatorState) -> SoqlService:
    """Register the SOQL service as ``state.services["soql"]`` (idempotent)."""
    existing = state.services.get(SERVICE_NAME)
    if isinstance(existing, SoqlService):
        return existing
    service = SoqlService(state)
    state.register(SERVICE_NAME, service)
    return service
