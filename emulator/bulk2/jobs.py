"""One Bulk API 2.0 ingest job: its JobInfo fields, data, per-record outcomes and views.

The JobInfo field sets per call follow the traces in reference §3.3: create returns the short set
plus ``contentUrl``; PATCH the short set; GET everything that applies (``jobType``, counters,
times, ``errorMessage`` when Failed). Counters are absent before an upload and 0 after it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.bulk2 import csvio
from emulator.org.dml import ColumnPlan
from emulator.org.values import format_datetime

OPEN = "Open"
UPLOAD_COMPLETE = "UploadComplete"
IN_PROGRESS = "InProgress"
JOB_COMPLETE = "JobComplete"
FAILED = "Failed"
ABORTED = "Aborted"
TERMINAL = frozenset({JOB_COMPLETE, FAILED, ABORTED})
DELETABLE = frozenset({UPLOAD_COMPLETE, JOB_COMPLETE, ABORTED, FAILED})


@dataclass
class IngestJob:
    """State of one job. Mutated by the request threads (until UploadComplete) and then only by
    the processing thread; ``lock`` guards reads of the counters against half-written updates."""

    id: str
    object: str
    operation: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    api_version: str
    created_by: str
    created: datetime
    state: str = OPEN
    modified: datetime | None = None
    error_message: str | None = None
    uploaded: bool = False
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    plan: ColumnPlan | None = None
    duplicate_keys: frozenset[str] = frozenset()
    upload_error: str | None = None
    # Outcomes, by row index: successes as parallel lists, failures as a dict.
    success_rows: list[int] = field(default_factory=list)
    success_ids: list[str] = field(default_factory=list)
    success_created: list[bool] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)
    failure_ids: dict[int, str] = field(default_factory=dict)
    retries: int = 0
    total_processing_ms: float = 0.0
    api_active_ms: float = 0.0
    batches_total: int = 0
    batches_done: int = 0
    fail_after_records: int | None = None
    deleted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------- counters
    @property
    def processed(self) -> int:
        return len(self.success_rows) + len(self.failures)

    def record(
        self,
        offset: int,
        successes: list[tuple[int, str, bool]],
        errors: dict[int, str],
        error_ids: dict[int, str] | None = None,
    ) -> None:
        """Add one transaction's outcomes; ``successes`` positions are relative to ``offset``."""
        with self.lock:
            if successes:
                rows, ids, created = zip(*successes, strict=True)
                self.success_rows.extend(offset + p for p in rows)
                self.success_ids.extend(ids)
                self.success_created.extend(created)
            self.failures.update(errors)
            if error_ids:
                self.failure_ids.update(error_ids)

    # ---------------------------------------------------------------- views
    def _base(self, api_version: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modified or self.created),
            "state": self.state,
        }
        if self.external_id_field is not None:
            body["externalIdFieldName"] = self.external_id_field
        body["concurrencyMode"] = "Parallel"
        body["contentType"] = "CSV"
        body["apiVersion"] = float(api_version)
        return body

    def content_url(self) -> str:
        """Relative, no leading slash, as the traces show (reference §3.1)."""
        return f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"

    def create_view(self) -> dict[str, Any]:
        body = self._base(self.api_version)
        body["contentUrl"] = self.content_url()
        body["lineEnding"] = self.line_ending
        body["columnDelimiter"] = self.column_delimiter
        return body

    def patch_view(self) -> dict[str, Any]:
        return self._base(self.api_version)

    def info_view(self) -> dict[str, Any]:
        with self.lock:
            body = self._base(self.api_version)
            body["jobType"] = "V2Ingest"
            if self.state == OPEN:
                body["contentUrl"] = self.content_url()
            body["lineEnding"] = self.line_ending
            body["columnDelimiter"] = self.column_delimiter
            if self.uploaded:
                body["numberRecordsProcessed"] = self.processed
                body["numberRecordsFailed"] = len(self.failures)
            body["retries"] = self.retries
            body["totalProcessingTime"] = int(self.total_processing_ms)
            body["apiActiveProcessingTime"] = int(self.api_active_ms)
            body["apexProcessingTime"] = 0
            if self.state == FAILED and self.error_message:
                body["errorMessage"] = self.error_message
            return body

    # -------------------------------------------------------------- results
    def _echo_header(self) -> list[str]:
        return [
            h if not any(c in h for c in ',"\n\r') else '"' + h.replace('"', '""') + '"'
            for h in self.header
        ]

    def _original_rows(self) -> list[list[str]]:
        return self.rows

    def successful_csv(self) -> str:
        with self.lock:
            order = sorted(range(len(self.success_rows)), key=self.success_rows.__getitem__)
            rows = self._original_rows()
            out = (
                [
                    self.success_ids[i],
                    "true" if self.success_created[i] else "false",
                    *rows[self.success_rows[i]],
                ]
                for i in order
            )
            return csvio.write_results(("sf__Id", "sf__Created"), self._echo_header(), out)

    def failed_csv(self) -> str:
        """``sf__Id`` is the record's id when one exists (update/delete/upsert-update), else ''."""
        with self.lock:
            rows = self._original_rows()
            ids = self.failure_ids
            id_index = self.plan.id_index if self.plan is not None else None
            out = (
                [
                    ids.get(i) or (rows[i][id_index] if id_index is not None else ""),
                    self.failures[i],
                    *rows[i],
                ]
                for i in sorted(self.failures)
            )
            return csvio.write_results(("sf__Id", "sf__Error"), self._echo_header(), out)

    def unprocessed_csv(self) -> str:
        """Rows neither succeeded nor failed; only once the job has stopped processing."""
        with self.lock:
            done = set(self.success_rows)
            done.update(self.failures)
            rows = self._original_rows()
            pending = (
                (rows[i] for i in range(len(rows)) if i not in done)
                if self.state in (FAILED, ABORTED)
                else iter(())
            )
            return csvio.write_results((), self._echo_header(), pending)


def list_page(
    views: list[dict[str, Any]], locator: str | None, size: int, url: str
) -> dict[str, Any]:
    """One page of ``GET /jobs/ingest`` or ``/jobs/query``: ``done``, ``records`` and
    ``nextRecordsUrl`` (``url?queryLocator=<next offset>``, null on the last page)."""
    offset = int(locator) if locator and locator.isdigit() else 0
    done = offset + size >= len(views)
    return {
        "done": done,
        "records": views[offset : offset + size],
        "nextRecordsUrl": None if done else f"{url}?queryLocator={offset + size}",
    }
