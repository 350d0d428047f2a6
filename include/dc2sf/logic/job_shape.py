"""Noticing that the org does not cut jobs where packing assumes, and the safe shape to fall to.

Why: multi-batch jobs (``pack_jobs``) are made of parent-disjoint 10,000-record bins on the
assumption that Salesforce cuts a job's data exactly every 10,000 records, so its internal
batches, which run in parallel, never share a parent. Salesforce documents "a separate batch for
every 10,000 records" (Bulk API 2.0 Developer Guide, "Understanding Bulk API 2.0 Ingest") but not
where the cuts fall, and Bulk batches are also capped by size (10,000,000 characters, Bulk API
"Limits"). If the cuts fall elsewhere, two batches of one job can hold the same Account and fight
over its lock.

The evidence is in the job's own results: the loader never runs two jobs that share a parent at
the same time, so a row-lock failure in a multi-batch job that shared no parent with any other
job of this load in flight means something else held the lock: the job's own batches, or a
writer outside this load (another partition, another integration). One such job can be an
outsider; :data:`SUSPECT_JOBS_TO_FALL_BACK` independent ones are treated as the org's cuts, and
the load falls back to :func:`safe_shape`: jobs of at most one internal batch (the shape
Salesforce's own Data Processing Engine uses so that each job is processed by one thread,
Salesforce Help, "Related Record Writeback"), still packed by parent and never in flight with a
job sharing a parent. The batches in flight stay the same (more, smaller jobs), so the org's
capacity is still used; the cost is API calls (create, upload, close, status per job), never
correctness. A wrong guess therefore costs calls; a missed one costs lock retries on every job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SUSPECT_JOBS_TO_FALL_BACK = 2
"""Multi-batch jobs with lock failures and no shared parent before the load changes shape."""


@dataclass(frozen=True, slots=True)
class JobLockEvidence:
    """What one settled job says about the org's cuts."""

    job_id: str
    records: int
    row_lock_failures: int
    #: Internal batches the job spans if Salesforce cuts every ``batch_size`` records.
    batches: int
    #: Whether a job of this load sharing one of its parents was in flight at the same time.
    shared_parent: bool

    @property
    def suspect(self) -> bool:
        """Lock failures that only the job's own batches (or an outside writer) can explain."""
        return self.batches > 1 and self.row_lock_failures > 0 and not self.shared_parent


@dataclass(frozen=True, slots=True)
class JobShape:
    """How a load packs its jobs: records per job and jobs in flight."""

    records_per_job: int
    max_in_flight: int


def batches_spanned(records: int, batch_size: int) -> int:
    """Internal batches of a job of ``records`` if the org cuts every ``batch_size`` records."""
    return max(1, math.ceil(records / batch_size))


def safe_shape(current: JobShape, batch_size: int) -> JobShape:
    """Single-batch jobs with the same internal batches in flight as ``current``.

    ``current`` with jobs of 40,000 records and 2 in flight keeps up to 8 batches busy; the safe
    shape is 10,000-record jobs, 8 in flight (still parent-disjoint, so the org's capacity is
    used the same way, only the jobs are smaller).
    """
    per_job = batches_spanned(current.records_per_job, batch_size)
    return JobShape(
        records_per_job=min(current.records_per_job, batch_size),
        max_in_flight=current.max_in_flight * per_job,
    )


class SplitGuard:
    """Watches settled jobs and says once when to fall back to :func:`safe_shape`.

    ``suspects`` seen by an earlier instance (a try or a deferral before this one) carry over,
    so the evidence adds up across the whole load, not per process.
    """

    def __init__(
        self,
        suspects_needed: int = SUSPECT_JOBS_TO_FALL_BACK,
        *,
        suspects: list[JobLockEvidence] | None = None,
    ) -> None:
        if suspects_needed < 1:
            raise ValueError("suspects_needed must be at least 1")
        self.suspects_needed = suspects_needed
        self.suspects: list[JobLockEvidence] = list(suspects or [])
        self.tripped = False

    def observe(self, evidence: JobLockEvidence) -> str | None:
        """Feed one settled job; returns the reason to fall back the first time it is decided."""
        if self.tripped or not evidence.suspect:
            return None
        if any(seen.job_id == evidence.job_id for seen in self.suspects):
            return None
        self.suspects.append(evidence)
        if len(self.suspects) < self.suspects_needed:
            return None
        self.tripped = True
        failures = sum(s.row_lock_failures for s in self.suspects)
        jobs = ", ".join(s.job_id for s in self.suspects)
        return (
            f"{failures} row-lock failure(s) in {len(self.suspects)} multi-batch job(s) that "
            f"shared no Account with any other job of this load ({jobs}): the org does not cut "
            "jobs into internal batches where the loader packs them, so batches of one job "
            "contend for the same Account"
        )
