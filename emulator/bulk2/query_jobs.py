"""Bulk API 2.0 query jobs: create, info, results pages with locators, abort, delete, list.

A job runs its SOQL on the processing thread right after creation (state ``UploadComplete`` →
``InProgress`` → ``JobComplete``), keeps the result as CSV lines, and serves them in pages of
``maxRecords`` with ``Sforce-Locator`` (``"null"`` on the last page) and
``Sforce-NumberOfRecords`` headers, as simple-salesforce's ``bulk2.query`` reads them.
Aggregates such as ``COUNT()`` are refused at create time [inferred: Bulk 2.0 query does not
support them; the REST query resource does].
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator.bulk2 import csvio
from emulator.bulk2 import exceptions as exc
from emulator.bulk2 import jobs as J
from emulator.exceptions import JsonParserError, SalesforceError
from emulator.org.values import format_datetime
from emulator.soql.models import compile_text, json_value

if TYPE_CHECKING:
    from emulator.bulk2.processing import ProcessingEngine
    from emulator.state import EmulatorState

DEFAULT_MAX_RECORDS = 50_000


def encode_locator(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as error:
        raise exc.InvalidJob(f"InvalidJob : Invalid locator: {locator}") from error


def _csv_value(value: Any, field_type: str) -> str | None:
    value = json_value(value, field_type)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class QueryJob:
    id: str
    operation: str
    object: str
    query: str
    column_delimiter: str
    line_ending: str
    api_version: str
    created_by: str
    created: datetime
    state: str = J.UPLOAD_COMPLETE
    modified: datetime | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    error_message: str | None = None
    processing_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def short_view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modified or self.created),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }

    def info_view(self) -> dict[str, Any]:
        with self.lock:
            body = self.short_view()
            body["jobType"] = "V2Query"
            body["numberRecordsProcessed"] = len(self.rows)
            body["retries"] = 0
            body["totalProcessingTime"] = int(self.processing_ms)
            body["isPkChunkingSupported"] = True
            if self.state == J.FAILED and self.error_message:
                body["errorMessage"] = self.error_message
            return body


class QueryJobService:
    """The org's Bulk 2.0 query jobs."""

    def __init__(
        self, state: EmulatorState, engine: ProcessingEngine, new_id: Callable[[], str]
    ) -> None:
        self.state = state
        self.engine = engine
        self.new_id = new_id
        self._jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise exc.JobNotFound()
        return job

    def create(self, body: Any, api_version: str) -> dict[str, Any]:
        """Create and queue a query job; returns its JobInfo as created (``UploadComplete``)."""
        if not isinstance(body, dict):
            raise JsonParserError()
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise exc.ApiError(f"Invalid value: '{operation}' supplied for property: 'operation'")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise exc.InvalidJob("InvalidJob : Query is required")
        delimiter = str(body.get("columnDelimiter", "COMMA"))
        line_ending = str(body.get("lineEnding", "LF"))
        if delimiter not in csvio.DELIMITERS:
            raise exc.ApiError(
                f"Invalid value: '{delimiter}' supplied for property: 'columnDelimiter'"
            )
        if line_ending not in csvio.LINE_ENDINGS:
            raise exc.ApiError(
                f"Invalid value: '{line_ending}' supplied for property: 'lineEnding'"
            )
        compiled = compile_text(text, operation == "queryAll")
        if not self.state.usage.count_bulk_query_job():
            raise exc.ExceededQuota(
                "ExceededQuota : Exceeded max number of Bulk API 2.0 query jobs in rolling 24 hours"
            )
        if compiled.count_only:
            raise exc.InvalidJob(
                "InvalidJob : Aggregate queries such as COUNT() are not supported by Bulk API 2.0 "
                "query; use the REST query resource"
            )
        job = QueryJob(
            id=self.new_id(),
            operation=operation,
            object=compiled.obj.name,
            query=text,
            column_delimiter=delimiter,
            line_ending=line_ending,
            api_version=api_version,
            created_by=self.state.config.user_id,
            created=self.state.clock.now(),
        )
        with self._lock:
            self._jobs[job.id] = job
        view = job.short_view()
        self.engine.schedule(0.0, self._run, job)
        return view

    def _run(self, job: QueryJob) -> None:
        """Execute the query on the processing thread (it runs after earlier queued work)."""
        if job.state != J.UPLOAD_COMPLETE:
            return
        with job.lock:
            job.state = J.IN_PROGRESS
        from emulator.soql.models import attach as soql_attach

        try:
            compiled, rows = soql_attach(self.state).rows(job.query, job.operation == "queryAll")
            types = [c.field.type for c in compiled.columns]
            out = [
                [_csv_value(v, t) for v, t in zip(row[1 : 1 + len(types)], types, strict=True)]
                for row in rows
            ]
        except SalesforceError as error:
            with job.lock:
                job.state = J.FAILED
                job.error_message = error.message
            return
        with job.lock:
            if job.state != J.IN_PROGRESS:
                return  # aborted meanwhile
            job.header = [c.path for c in compiled.columns]
            job.rows = out
            job.state = J.JOB_COMPLETE
            job.modified = self.state.clock.now()

    def results(
        self, job_id: str, locator: str | None, max_records: int | None
    ) -> tuple[str, str, int]:
        """``(csv, next locator or "null", rows in this page)``."""
        job = self.get(job_id)
        if job.state != J.JOB_COMPLETE:
            raise exc.InvalidJobState(f"Results are not available: the job is {job.state}")
        offset = decode_locator(locator) if locator else 0
        size = DEFAULT_MAX_RECORDS if not max_records or max_records <= 0 else max_records
        page = job.rows[offset : offset + size]
        end = offset + len(page)
        nxt = encode_locator(end) if end < len(job.rows) else "null"
        text = csvio.write_table(job.header, page, job.column_delimiter, job.line_ending)
        return text, nxt, len(page)

    def abort(self, job_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise JsonParserError()
        job = self.get(job_id)
        if body.get("state") != J.ABORTED:
            raise exc.InvalidJobState(
                f"Invalid state transition from {job.state} to {body.get('state')}"
            )
        with job.lock:
            if job.state not in (J.UPLOAD_COMPLETE, J.IN_PROGRESS):
                raise exc.InvalidJobState(f"Invalid state transition from {job.state} to Aborted")
            job.state = J.ABORTED
            job.modified = self.state.clock.now()
            return job.short_view()

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state not in J.TERMINAL:
            raise exc.InvalidJobState(f"Job {job.id} cannot be deleted in state {job.state}")
        with self._lock:
            self._jobs.pop(job.id, None)

    def page(self, api_version: str, locator: str | None) -> dict[str, Any]:
        with self._lock:
            jobs = list(self._jobs.values())
        views = [{**job.short_view(), "jobType": "V2Query"} for job in jobs]
        url = f"/services/data/v{api_version}/jobs/query"
        return J.list_page(views, locator, self.state.config.bulk.list_page_size, url)

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
