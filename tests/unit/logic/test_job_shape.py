"""When a load decides the org cuts its jobs elsewhere, and the shape it falls back to."""

from __future__ import annotations

import pytest

from include.dc2sf.logic.job_shape import (
    JobLockEvidence,
    JobShape,
    SplitGuard,
    batches_spanned,
    safe_shape,
)


def _job(
    job_id: str,
    *,
    records: int = 40_000,
    locks: int = 3,
    shared: bool = False,
    batch: int = 10_000,
) -> JobLockEvidence:
    return JobLockEvidence(job_id, records, locks, batches_spanned(records, batch), shared)


def test_two_self_contained_multi_batch_jobs_with_lock_failures_trip_it_once() -> None:
    guard = SplitGuard()
    assert guard.observe(_job("750A")) is None, "one job can be an outside writer"
    reason = guard.observe(_job("750B", locks=5))
    assert reason is not None
    assert "8 row-lock failure(s) in 2 multi-batch job(s)" in reason and "750A, 750B" in reason
    assert guard.tripped
    assert guard.observe(_job("750C")) is None, "decided once"


def test_the_same_job_seen_again_is_not_new_evidence() -> None:
    guard = SplitGuard()
    guard.observe(_job("750A"))
    assert guard.observe(_job("750A")) is None and not guard.tripped


@pytest.mark.parametrize(
    "evidence",
    [
        _job("750X", records=10_000),  # one batch: its batches cannot collide
        _job("750X", records=9_000),
        _job("750X", locks=0),  # no lock failure
        _job("750X", shared=True),  # another job of the load held the parent
    ],
)
def test_jobs_that_prove_nothing_about_the_cuts_never_trip_it(evidence: JobLockEvidence) -> None:
    guard = SplitGuard(suspects_needed=1)
    assert not evidence.suspect
    assert guard.observe(evidence) is None and not guard.tripped


def test_batches_spanned_counts_partial_batches() -> None:
    assert [batches_spanned(n, 10_000) for n in (1, 10_000, 10_001, 40_000)] == [1, 1, 2, 4]


def test_safe_shape_keeps_the_batches_in_flight_with_single_batch_jobs() -> None:
    assert safe_shape(JobShape(40_000, 2), 10_000) == JobShape(10_000, 8)
    assert safe_shape(JobShape(25_000, 3), 10_000) == JobShape(10_000, 9)
    assert safe_shape(JobShape(10_000, 2), 10_000) == JobShape(10_000, 2)
    assert safe_shape(JobShape(1_600, 2), 400) == JobShape(400, 8)


def test_guard_needs_at_least_one_suspect() -> None:
    with pytest.raises(ValueError):
        SplitGuard(0)


def test_suspects_of_an_earlier_instance_count_toward_the_decision() -> None:
    """A deferred load is a new loader at every resume: the evidence must add up across them."""
    earlier = SplitGuard()
    earlier.observe(_job("750A"))
    resumed = SplitGuard(suspects=list(earlier.suspects))
    assert resumed.observe(_job("750A")) is None, "the same job again is not new evidence"
    assert resumed.observe(_job("750B")) is not None
