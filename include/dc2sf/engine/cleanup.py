"""Remove what a test load put into Salesforce: Bulk 2.0 query (Ids) + Bulk 2.0 delete jobs.

The Airflow version of the seed's ``DeleteTest8OpportunitiesBatch`` (``SELECT Id FROM Opportunity
WHERE StageName = :stageName``, ``delete scope`` in batches of 10,000, then ``finish()`` reports the
remaining count). What changes and why:

* **Two filters, never none.** By the seed's marker (``StageName = '<marker>'``) and/or by the loaded
  external-id range (``range_start`` exclusive, ``range_end`` inclusive, like the load's
  partitions). Without a filter the run is refused unless ``confirm_all`` is true: a missing conf
  key must never mean "delete every Opportunity". ``max_delete`` optionally refuses a count larger
  than expected (a typo in a marker that matches production data).
* **Bulk 2.0 instead of Apex DML.** A Bulk 2.0 query job streams the Ids (no 50,000-row SOQL
  ceiling, no heap), and Bulk 2.0 delete jobs of at most ``ids_per_job`` (≤ 10,000) Ids run a few at
  a time. The seed's ``catch (Exception e)`` only logged a failed batch; here every job's counts
  are kept and reported.
* **Lock failures are retried.** Deleting an Opportunity locks its Account, so concurrent delete
  jobs hit ``UNABLE_TO_LOCK_ROW`` exactly like the load does. Those Ids are re-sent after an
  exponential backoff with jitter, then once more one job at a time (the serial sweep);
  permanent errors are counted with samples, and ``ENTITY_IS_DELETED`` counts as already gone.
* **Passes until nothing is left.** A job that ends ``Failed`` leaves Ids behind, and a query's
  snapshot may miss rows written while it ran. After each pass the filter is counted again; another
  pass runs while rows remain and the previous pass deleted something (bounded by ``max_passes``).
* **Idempotent.** Everything is re-derived from the org (query what still matches), so a task retry
  simply continues.

SOQL text is built only with :mod:`keyset_sql` (validated names, escaped literals).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from include.dc2sf import defaults
from include.dc2sf.logic.backoff import BackoffPolicy
from include.dc2sf.logic.classification import RecordVerdict, classify_record_error
from include.dc2sf.logic.identifiers import validate_field_name, validate_sobject_name
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.keyset_sql import soql_range_predicates, soql_string_literal

log = logging.getLogger(__name__)

MAX_IDS_PER_JOB = 10_000
"""One Bulk 2.0 delete job per 10,000 Ids: the internal batch size, and the seed's batch size."""

MAX_IN_FLIGHT = 10
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
ALREADY_GONE_CODES = frozenset({"ENTITY_IS_DELETED"})
ERROR_SAMPLES = 10


class CleanupRefused(ValueError):
    """The parameters would delete more than intended (no filter, or more rows than allowed)."""


class CleanupHook(Protocol):
    """What the engine needs from :class:`SalesforceBulk2Hook` (a fake in unit tests)."""

    def count(self, soql: str) -> int: ...

    def bulk_query_ids(self, soql: str) -> Iterator[list[str]]: ...

    def create_ingest_job(
        self, sobject: str, operation: str, external_id_field: str | None = None
    ) -> dict[str, Any]: ...

    def upload_job_data(self, job_id: str, csv_text: str) -> None: ...

    def close_job(self, job_id: str) -> dict[str, Any]: ...

    def job_info(self, job_id: str) -> dict[str, Any]: ...

    def job_results(self, job_id: str, kind: str) -> list[dict[str, str]]: ...


# -- what to delete ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanupSpec:
    """A validated cleanup request (built from the DAG's Params by :meth:`from_params`)."""

    target_object: str = defaults.TARGET_OBJECT
    marker_field: str = "StageName"
    marker: str | None = None
    external_id_field: str = defaults.EXTERNAL_ID_FIELD
    range_start: str | None = None
    range_end: str | None = None
    confirm_all: bool = False
    dry_run: bool = False
    hard_delete: bool = False
    max_delete: int | None = None
    ids_per_job: int = MAX_IDS_PER_JOB
    max_in_flight: int = 3
    lock_retries: int = 5
    max_passes: int = 3
    poll_interval_seconds: float = 2.0
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 60.0

    def __post_init__(self) -> None:
        validate_sobject_name(self.target_object)
        validate_field_name(self.marker_field)
        validate_field_name(self.external_id_field)
        if self.marker is not None:
            soql_string_literal(self.marker)  # refuses what SOQL cannot carry, before any call
        for name, value in (("range_start", self.range_start), ("range_end", self.range_end)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or null, got {value!r}")
        self.key_range  # noqa: B018  (start must be below end: fail before any call)
        if not 1 <= self.ids_per_job <= MAX_IDS_PER_JOB:
            raise ValueError(f"ids_per_job must be from 1 to {MAX_IDS_PER_JOB}")
        if not 1 <= self.max_in_flight <= MAX_IN_FLIGHT:
            raise ValueError(f"max_in_flight must be from 1 to {MAX_IN_FLIGHT}")
        if self.lock_retries < 0 or self.max_passes < 1:
            raise ValueError("lock_retries must be ≥ 0 and max_passes ≥ 1")
        if self.max_delete is not None and self.max_delete < 0:
            raise ValueError("max_delete must be ≥ 0 or null")
        if self.poll_interval_seconds <= 0:
            raise ValueError("poll_interval_seconds must be positive")
        if not self.has_filter and not self.confirm_all:
            raise CleanupRefused(
                f"refusing to delete: no filter given. Set 'marker' (deletes {self.target_object} "
                f"rows with {self.marker_field} = marker, like the seed's cleanup batch) and/or "
                f"'range_start'/'range_end' (the loaded {self.external_id_field} range: start "
                "exclusive, end inclusive). To delete every record of the object, set "
                "'confirm_all': true explicitly."
            )

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CleanupSpec:
        """Take the known keys of the DAG's Params (empty strings mean "not set")."""

        def text(name: str) -> str | None:
            value = params.get(name)
            return None if value is None or value == "" else value

        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in params.items() if k in known and v is not None}
        for name in ("marker", "range_start", "range_end"):
            values[name] = text(name)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def has_filter(self) -> bool:
        return self.marker is not None or self.range_start is not None or self.range_end is not None

    @property
    def key_range(self) -> KeyRange:
        return KeyRange(start=self.range_start, end=self.range_end)

    @property
    def operation(self) -> str:
        return "hardDelete" if self.hard_delete else "delete"

    def predicates(self) -> list[str]:
        where: list[str] = []
        if self.marker is not None:
            where.append(f"{self.marker_field} = {soql_string_literal(self.marker)}")
        where.extend(soql_range_predicates(self.external_id_field, self.key_range))
        return where

    def _soql(self, select: str) -> str:
        where = self.predicates()
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return f"SELECT {select} FROM {self.target_object}{clause}"

    @property
    def count_soql(self) -> str:
        return self._soql("COUNT()")

    @property
    def ids_soql(self) -> str:
        return self._soql("Id")

    def describe(self) -> str:
        """Human words for logs and reports, e.g. ``Opportunity where StageName = 'Test8'``."""
        where = self.predicates()
        return (
            f"{self.target_object} where {' AND '.join(where)}"
            if where
            else (f"ALL {self.target_object} records (confirm_all)")
        )


# -- the delete jobs -----------------------------------------------------------------------------


@dataclass
class JobOutcome:
    """One delete job's counts, as reported (and kept in the XCom report)."""

    job_id: str
    ids: int
    state: str = "Open"
    deleted: int = 0
    already_gone: int = 0
    lock_failed: int = 0
    failed: int = 0
    unprocessed: int = 0
    attempt: int = 0


@dataclass
class DeleteStats:
    """Totals over every job of a cleanup run."""

    jobs: list[JobOutcome] = field(default_factory=list)
    deleted: int = 0
    already_gone: int = 0
    failed: int = 0
    lock_failed_final: int = 0
    retried: int = 0
    passes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[dict[str, str]] = field(default_factory=list)

    def add(self, outcome: JobOutcome) -> None:
        self.jobs.append(outcome)
        self.deleted += outcome.deleted
        self.already_gone += outcome.already_gone
        self.failed += outcome.failed


def csv_of_ids(ids: Iterable[str]) -> str:
    """The delete job's upload: an ``Id`` column (record Ids never need quoting)."""
    return "Id\n" + "".join(f"{record_id}\n" for record_id in ids)


def chunked(pages: Iterable[list[str]], size: int) -> Iterator[list[str]]:
    """Re-cut query pages (up to 50,000 Ids each) into jobs of at most ``size`` Ids."""
    buffer: list[str] = []
    for page in pages:
        buffer.extend(page)
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield buffer


class DeleteRunner:
    """Keeps up to ``max_in_flight`` delete jobs running, settles them, collects lock failures."""

    def __init__(
        self,
        spec: CleanupSpec,
        hook: CleanupHook,
        stats: DeleteStats,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.hook = hook
        self.stats = stats
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.backoff = BackoffPolicy(
            base=spec.backoff_base_seconds, cap=spec.backoff_cap_seconds, jitter=True
        )

    def delete_all(self, id_pages: Iterable[list[str]]) -> None:
        """Delete every Id from ``id_pages``; retry lock failures; serial sweep at the end."""
        retry = self._run(chunked(id_pages, self.spec.ids_per_job), self.spec.max_in_flight, 0)
        for attempt in range(1, self.spec.lock_retries + 1):
            if not retry:
                return
            delay = self.backoff.delay(attempt, self.rng)
            log.info(
                "%d Ids failed on a row lock; retry %d of %d in %.1f s",
                len(retry),
                attempt,
                self.spec.lock_retries,
                delay,
            )
            self.sleep(delay)
            self.stats.retried += len(retry)
            retry = self._run(
                chunked([retry], self.spec.ids_per_job), self.spec.max_in_flight, attempt
            )
        if retry:
            # One job at a time cannot contend with itself: the seed's batches were serial too.
            log.info("Serial sweep: %d Ids still lock-failed, one job at a time", len(retry))
            self.stats.retried += len(retry)
            retry = self._run(
                chunked([retry], self.spec.ids_per_job), 1, self.spec.lock_retries + 1
            )
        self.stats.lock_failed_final += len(retry)

    def _run(self, batches: Iterable[list[str]], in_flight_limit: int, attempt: int) -> list[str]:
        in_flight: dict[str, tuple[JobOutcome, list[str]]] = {}
        retry: list[str] = []
        for batch in batches:
            while len(in_flight) >= in_flight_limit:
                retry.extend(self._settle_some(in_flight))
            outcome = self._submit(batch, attempt)
            in_flight[outcome.job_id] = (outcome, batch)
        while in_flight:
            retry.extend(self._settle_some(in_flight))
        return retry

    def _submit(self, ids: list[str], attempt: int) -> JobOutcome:
        job = self.hook.create_ingest_job(self.spec.target_object, self.spec.operation)
        job_id = str(job["id"])
        self.hook.upload_job_data(job_id, csv_of_ids(ids))
        self.hook.close_job(job_id)
        return JobOutcome(job_id=job_id, ids=len(ids), state="UploadComplete", attempt=attempt)

    def _settle_some(self, in_flight: dict[str, tuple[JobOutcome, list[str]]]) -> list[str]:
        """Settle every finished job (sleeping one poll interval if none is); return lock-failed Ids."""
        finished = []
        for job_id in list(in_flight):
            info = self.hook.job_info(job_id)
            if info.get("state") in TERMINAL_STATES:
                finished.append((job_id, info))
        if not finished:
            self.sleep(self.spec.poll_interval_seconds)
            return []
        retry: list[str] = []
        for job_id, info in finished:
            outcome, ids = in_flight.pop(job_id)
            retry.extend(self._settle(outcome, ids, info))
        return retry

    def _settle(self, outcome: JobOutcome, ids: list[str], info: dict[str, Any]) -> list[str]:
        outcome.state = str(info.get("state"))
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        outcome.deleted = processed - failed
        outcome.unprocessed = max(0, outcome.ids - processed)
        retry: list[str] = []
        if failed:
            for row in self.hook.job_results(outcome.job_id, "failedResults"):
                record_id = row.get("sf__Id") or row.get("Id") or ""
                error = row.get("sf__Error", "")
                verdict = classify_record_error(error)
                if verdict.code in ALREADY_GONE_CODES:
                    outcome.already_gone += 1
                elif verdict.verdict is RecordVerdict.RETRY:
                    outcome.lock_failed += 1
                    retry.append(record_id)
                else:
                    outcome.failed += 1
                    code = verdict.code or "UNKNOWN"
                    self.stats.errors[code] = self.stats.errors.get(code, 0) + 1
                    if len(self.stats.error_samples) < ERROR_SAMPLES:
                        self.stats.error_samples.append({"id": record_id, "error": error[:300]})
        self.stats.add(outcome)
        log.info(
            "Delete job %s (%s, try %d): %d Ids, %d deleted, %d already gone, %d lock-failed, "
            "%d failed, %d unprocessed",
            outcome.job_id,
            outcome.state,
            outcome.attempt + 1,
            outcome.ids,
            outcome.deleted,
            outcome.already_gone,
            outcome.lock_failed,
            outcome.failed,
            outcome.unprocessed,
        )
        return retry


# -- the task bodies -----------------------------------------------------------------------------


def plan_cleanup(spec: CleanupSpec, hook: CleanupHook) -> dict[str, Any]:
    """Count what the filter matches and apply ``max_delete``: the first task, and the dry run."""
    matched = hook.count(spec.count_soql)
    log.info("Cleanup of %s: %d records match", spec.describe(), matched)
    if spec.max_delete is not None and matched > spec.max_delete and not spec.dry_run:
        raise CleanupRefused(
            f"refusing to delete {matched} records of {spec.describe()}: more than max_delete="
            f"{spec.max_delete}. Check the filter, or raise max_delete if this is intended."
        )
    return {"spec": spec.to_dict(), "filter": spec.describe(), "matched": matched}


def delete_matching(
    spec: CleanupSpec,
    hook: CleanupHook,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Query the Ids the filter matches and delete them in passes; return the counts."""
    started = time.monotonic()
    stats = DeleteStats()
    if spec.dry_run:
        log.info("Dry run: nothing deleted (%s)", spec.describe())
        return {"dry_run": True, "deleted": 0, "jobs": [], "passes": 0}
    runner = DeleteRunner(spec, hook, stats, sleep=sleep, rng=rng)
    remaining = None
    for number in range(1, spec.max_passes + 1):
        before = stats.deleted
        stats.passes = number
        runner.delete_all(hook.bulk_query_ids(spec.ids_soql))
        remaining = hook.count(spec.count_soql)
        log.info(
            "Pass %d: %d deleted in this pass, %d still match",
            number,
            stats.deleted - before,
            remaining,
        )
        if remaining == 0 or stats.deleted == before:
            break
    return {
        "dry_run": False,
        "operation": spec.operation,
        "deleted": stats.deleted,
        "already_gone": stats.already_gone,
        "failed": stats.failed,
        "lock_failed_final": stats.lock_failed_final,
        "retried": stats.retried,
        "passes": stats.passes,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "remaining_after_delete": remaining,
        "jobs": [asdict(job) for job in stats.jobs],
        "seconds": round(time.monotonic() - started, 3),
    }


def final_report(
    spec: CleanupSpec, plan: dict[str, Any], result: dict[str, Any], remaining: int
) -> dict[str, Any]:
    """The seed's ``finish()``: what matched, what was deleted, and what is left."""
    return {
        "filter": spec.describe(),
        "target_object": spec.target_object,
        "dry_run": spec.dry_run,
        "matched_before": plan["matched"],
        "deleted": result.get("deleted", 0),
        "failed": result.get("failed", 0),
        "lock_failed_final": result.get("lock_failed_final", 0),
        "jobs": len(result.get("jobs", [])),
        "remaining": remaining,
        "ok": spec.dry_run or remaining == 0,
    }


def format_report(report: dict[str, Any]) -> str:
    """The banner the seed printed, with the counts this run has."""
    rule = "=" * 64
    title = "DRY RUN (nothing deleted)" if report["dry_run"] else "DELETION COMPLETE"
    lines = [
        rule,
        f"{title}: {report['filter']}",
        rule,
        f"Matched before: {report['matched_before']}",
        f"Deleted:        {report['deleted']} in {report['jobs']} Bulk 2.0 job(s)",
        f"Failed:         {report['failed']} (+ {report['lock_failed_final']} still locked)",
        f"Remaining:      {report['remaining']}",
    ]
    if report["dry_run"]:
        lines.append(f"A real run would delete {report['remaining']} records.")
    elif report["remaining"] == 0:
        lines.append("Ready to start the next test load.")
    else:
        lines.append(
            "Some records remain: see the delete task's log for the failed jobs and errors."
        )
    lines.append(rule)
    return "\n".join(lines)
