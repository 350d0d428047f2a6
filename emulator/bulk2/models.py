"""Bulk API 2.0 ingest jobs: create, upload once, close/abort, results, delete, list.

No HTTP here: ``urls.py`` maps requests onto these methods, so unit tests and benchmarks can
drive the whole job life cycle in-process. State transitions follow reference §3.4; error
strings follow §3.2 and §3.8.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from emulator.bulk2 import csvio
from emulator.bulk2 import exceptions as exc
from emulator.bulk2 import jobs as J
from emulator.bulk2.jobs import IngestJob
from emulator.bulk2.processing import INJECTED_FAILURE, ProcessingEngine, Quota
from emulator.bulk2.query_jobs import QueryJobService
from emulator.exceptions import JsonParserError, UnsupportedMediaType
from emulator.ids import salesforce_id
from emulator.org.dml import OPERATIONS, ColumnPlan, DmlExecutor, HeaderError
from emulator.org.models import org_of
from emulator.org.schema import sobject

if TYPE_CHECKING:
    from emulator.state import EmulatorState

SERVICE_NAME = "bulk2"


class BulkService:
    """All ingest jobs of the org, and the processing engine they run on."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.config = state.config.bulk
        self.org = org_of(state)
        self.engine = ProcessingEngine(
            state.clock, self.config, Quota(state.count_bulk_batches, state.count_bulk_records)
        )
        self.engine.add_listener(self._on_terminal)
        self._jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()
        self._terminal = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self.queries = QueryJobService(state, self.engine, self._new_id)

    def _new_id(self) -> str:
        """Ingest and query jobs share the ``750`` id space."""
        return salesforce_id("750", next(self._ids))

    # ------------------------------------------------------------ lookups
    def get(self, job_id: str) -> IngestJob:
        with self._lock:
            job = self._jobs.get(job_id) or self._jobs.get(self._by_prefix(job_id))
        if job is None:
            raise exc.JobNotFound()
        return job

    def _by_prefix(self, job_id: str) -> str:
        """15-character ids name the same job as their 18-character form."""
        if len(job_id) == 15:
            for known in self._jobs:
                if known[:15] == job_id:
                    return known
        return ""

    # ------------------------------------------------------------- create
    def create_job(self, body: Any, api_version: str) -> IngestJob:
        if not isinstance(body, dict):
            raise JsonParserError()
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise exc.ApiError(f"Invalid value: '{operation}' supplied for property: 'operation'")
        name = body.get("object")
        obj = sobject(str(name)) if name else None
        if obj is None:
            raise exc.InvalidJob(f"InvalidJob : Unable to find object: {name}")
        delimiter = exc.check_enum(body, "columnDelimiter", tuple(csvio.DELIMITERS), "COMMA")
        line_ending = exc.check_enum(body, "lineEnding", tuple(csvio.LINE_ENDINGS), "LF")
        exc.check_enum(body, "contentType", ("CSV",), "CSV")
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external_id:
                raise exc.InvalidJob(
                    f"InvalidJob : External ID was blank for {obj.name}. An External ID must be "
                    "specified for upsert."
                )
            f = obj.field(str(external_id))
            if f is None or not (f.external_id or f.name == "Id"):
                raise exc.InvalidJob(
                    f"InvalidJob : Field name provided, {external_id} does not match an External "
                    f"ID for {obj.name}"
                )
        else:
            external_id = None
        job = IngestJob(
            id=self._new_id(),
            object=obj.name,
            operation=str(operation),
            external_id_field=str(external_id) if external_id else None,
            column_delimiter=delimiter,
            line_ending=line_ending,
            api_version=api_version,
            created_by=self.state.config.user_id,
            created=self.state.clock.now(),
        )
        with self._lock:
            self._jobs[job.id] = job
        return job

    # ------------------------------------------------------------- upload
    def upload(self, job_id: str, data: bytes, content_type: str | None) -> None:
        """The one PUT of a job. Header problems fail the job later, as Salesforce does."""
        job = self.get(job_id)
        if content_type is not None and not content_type.lower().startswith("text/csv"):
            raise UnsupportedMediaType(f"Unsupported content type: {content_type}")
        with job.lock:
            if job.uploaded:
                raise exc.second_upload(job.id)
            if job.state != J.OPEN:
                raise exc.InvalidJobState(f"Job {job.id} is not Open; its state is {job.state}")
            if len(data) > self.config.max_upload_bytes:
                raise exc.ClientInputError(
                    "ClientInputError : Upload exceeds the maximum size of "
                    f"{self.config.max_upload_bytes // (1024 * 1024)} MB; split the data into "
                    "several jobs"
                )
            job.uploaded = True
        obj = sobject(job.object)
        assert obj is not None
        try:
            header, rows = csvio.parse(data, job.column_delimiter, job.line_ending)
        except csvio.CsvFormatError as error:
            job.upload_error = str(error)
            return
        job.header, job.rows = header, rows
        try:
            job.plan = ColumnPlan.build(obj, job.operation, job.external_id_field, header)
        except HeaderError as error:
            job.upload_error = str(error)
            return
        job.duplicate_keys = self._duplicate_keys(job)

    @staticmethod
    def _duplicate_keys(job: IngestJob) -> frozenset[str]:
        """Upsert keys that occur more than once in the job: every occurrence fails."""
        plan = job.plan
        if plan is None or job.operation != "upsert":
            return frozenset()
        by_id = (job.external_id_field or "").lower() == "id"
        index = plan.id_index if by_id else plan.key_index
        if index is None:
            return frozenset()
        counts = Counter(row[index] for row in job.rows if len(row) > index and row[index])
        return frozenset(key for key, n in counts.items() if n > 1)

    # -------------------------------------------------------------- state
    def set_state(self, job_id: str, body: Any) -> dict[str, Any]:
        """PATCH: close or abort; returns the short JobInfo as of the change (before processing
        starts, so the client sees ``UploadComplete`` even when processing is instant)."""
        if not isinstance(body, dict):
            raise JsonParserError()
        job = self.get(job_id)
        wanted = body.get("state")
        if wanted not in (J.UPLOAD_COMPLETE, J.ABORTED):
            if wanted in (J.OPEN, J.IN_PROGRESS, J.JOB_COMPLETE, J.FAILED):
                raise exc.InvalidJobState(f"Invalid state transition from {job.state} to {wanted}")
            raise exc.ApiError(f"Invalid value: '{wanted}' supplied for property: 'state'")
        with job.lock:
            current = job.state
            if wanted == J.UPLOAD_COMPLETE:
                if current != J.OPEN:
                    raise exc.InvalidJobState(
                        f"Invalid state transition from {current} to {wanted}"
                    )
                if not job.uploaded:
                    raise exc.InvalidJobState(
                        "Job has no data: upload the CSV with PUT before UploadComplete"
                    )
            elif current not in (J.OPEN, J.UPLOAD_COMPLETE, J.IN_PROGRESS):
                raise exc.InvalidJobState(f"Invalid state transition from {current} to {wanted}")
            job.state = wanted
            job.modified = self.state.clock.now()
            view = job.patch_view()
        if wanted == J.ABORTED:
            self._on_terminal(job)
            return view
        if self.state.faults.roll(SERVICE_NAME, "job_failed"):
            self.fail_job_midway(job.id)
        if job.upload_error is not None or job.plan is None:
            message = job.upload_error or "InvalidBatch : no data"
            self.engine.schedule(0.0, self.engine.fail_job, job, message)
        else:
            self.engine.submit(job, DmlExecutor(self.org, job.plan, job.duplicate_keys))
        return view

    def fail_job_midway(self, job_id: str, after_records: int | None = None) -> None:
        """Fault hook: the job ends ``Failed`` once ``after_records`` (default: half) are done.

        The rest of its records stay unprocessed and show in ``unprocessedrecords``. Called by
        the core fault injector (``job_failed_rate`` of the ``bulk2`` group) or by tests.
        """
        job = self.get(job_id)
        total = len(job.rows)
        job.fail_after_records = (
            after_records if after_records is not None else (total // 2 // 200) * 200
        )

    def _on_terminal(self, job: IngestJob) -> None:
        with self._terminal:
            self._terminal.notify_all()

    def wait(self, job_id: str, timeout: float = 30.0) -> IngestJob:
        """Block until the job is terminal (tests, benchmarks); returns it either way."""
        job = self.get(job_id)
        with self._terminal:
            self._terminal.wait_for(lambda: job.state in J.TERMINAL, timeout)
        return job

    # ------------------------------------------------------------ results
    def results(self, job_id: str, kind: str) -> str:
        job = self.get(job_id)
        if kind == "unprocessed":
            if job.state not in J.TERMINAL:
                raise exc.InvalidJobState(
                    f"Unprocessed records are available once the job has stopped; state is {job.state}"
                )
            return job.unprocessed_csv()
        if job.state not in J.TERMINAL:
            raise exc.InvalidJobState(
                f"Results are available once the job has finished; state is {job.state}"
            )
        return job.successful_csv() if kind == "successful" else job.failed_csv()

    # ------------------------------------------------------------- delete
    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with job.lock:
            if job.state not in J.DELETABLE:
                raise exc.InvalidJobState(
                    f"Job {job.id} cannot be deleted in state {job.state}; close or abort it first"
                )
            job.deleted = True
        with self._lock:
            self._jobs.pop(job.id, None)

    # --------------------------------------------------------------- list
    def page_jobs(
        self, api_version: str, locator: str | None, job_type: str | None
    ) -> dict[str, Any]:
        """``GET /jobs/ingest``: at most ``list_page_size`` jobs per page, oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        if job_type and job_type != "V2Ingest":
            jobs = []
        views = []
        for job in jobs:
            view = job.patch_view()
            view["jobType"] = "V2Ingest"
            view["lineEnding"] = job.line_ending
            view["columnDelimiter"] = job.column_delimiter
            views.append(view)
        url = f"/services/data/v{api_version}/jobs/ingest"
        return J.list_page(views, locator, self.config.list_page_size, url)

    # ---------------------------------------------------------- service
    def list_jobs(self) -> list[dict[str, Any]]:
        """Admin API: every job's full info."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [job.info_view() for job in jobs]

    def counts(self) -> dict[str, int]:
        with self._lock:
            jobs = list(self._jobs.values())
        return {
            f"bulk2_jobs_{state}": sum(j.state == state for j in jobs)
            for state in (
                J.OPEN,
                J.UPLOAD_COMPLETE,
                J.IN_PROGRESS,
                J.JOB_COMPLETE,
                J.FAILED,
                J.ABORTED,
            )
        }

    def reset(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.deleted = True
            self._jobs.clear()
        self.queries.reset()
        self.engine.reset()

    def close(self) -> None:
        self.engine.close()


def attach(state: EmulatorState) -> BulkService:
    """Register the Bulk API 2.0 service as ``state.services["bulk2"]`` (idempotent)."""
    existing = state.services.get(SERVICE_NAME)
    if isinstance(existing, BulkService):
        return existing
    service = BulkService(state)
    state.register(SERVICE_NAME, service)
    return service


__all__ = ["INJECTED_FAILURE", "BulkService", "attach"]
