"""The processing/lock model: deadlocks from lock order, the exact UNABLE_TO_LOCK_ROW string,
partial-save attempts, timing fields, batch timeouts/retries, and the calibration."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from emulator.bulk2 import jobs as J
from emulator.bulk2.calibration import Scenario, run
from emulator.bulk2.config import BulkProcessingConfig
from emulator.bulk2.models import BulkService, attach
from emulator.config import EmulatorConfig
from emulator.ids import salesforce_id
from emulator.org.seed import create_accounts
from emulator.state import EmulatorState

HEADER = "ExternalId__c,Name,StageName,CloseDate,AccountId\n"
UPSERT = {"object": "Opportunity", "operation": "upsert", "externalIdFieldName": "ExternalId__c"}


def make_state(time_scale: float = 0.0, **bulk: object) -> EmulatorState:
    return EmulatorState(EmulatorConfig(time_scale=time_scale, bulk=BulkProcessingConfig(**bulk)))  # type: ignore[arg-type]


@pytest.fixture
def state() -> Iterator[EmulatorState]:
    st = make_state()
    create_accounts(st, 10, seed=1)
    yield st
    st.close()


def rows_for(prefix: str, parents: list[int]) -> str:
    return "".join(
        f"{prefix}{i},Deal,Prospecting,2026-01-01,{salesforce_id('001', p)}\n"
        for i, p in enumerate(parents)
    )


def submit(service: BulkService, csv: str) -> J.IngestJob:
    job = service.create_job(dict(UPSERT), "59.0")
    service.upload(job.id, (HEADER + csv).encode(), "text/csv")
    service.set_state(job.id, {"state": J.UPLOAD_COMPLETE})
    return job


def together(service: BulkService, *csvs: str) -> list[J.IngestJob]:
    """Submit jobs at one simulated instant (from the processing thread), so the test does not
    depend on how far the engine got between two submissions."""
    jobs: list[J.IngestJob] = []
    service.engine.schedule(0.0, lambda: jobs.extend(submit(service, c) for c in csvs))
    assert service.engine.wait_idle(10)
    return jobs


def test_opposite_lock_order_deadlocks_until_the_lock_wait(state: EmulatorState) -> None:
    """Two transactions needing parents 1..3 in opposite orders: one waits 10 s and loses."""
    service = attach(state)
    a, b = together(service, rows_for("A", [1, 2, 3]), rows_for("B", [3, 2, 1]))
    failures = list(a.failures.values()) + list(b.failures.values())
    assert failures, "a deadlock must cost records"
    pattern = (
        r"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: "
        r"001EM\w{13}:--"
    )
    assert all(re.fullmatch(pattern, f) for f in failures)
    # The loser waited the full lock wait (10 s simulated) before failing.
    assert max(a.total_processing_ms, b.total_processing_ms) >= 10_000
    assert a.state == b.state == J.JOB_COMPLETE


def test_same_lock_order_only_waits(state: EmulatorState) -> None:
    service = attach(state)
    a, b = together(service, rows_for("A", [1, 2, 3]), rows_for("B", [1, 2, 3]))
    assert a.failures == {} and b.failures == {}
    assert a.processed == b.processed == 3


def test_disjoint_parents_never_wait(state: EmulatorState) -> None:
    service = attach(state)
    jobs = together(service, *(rows_for(f"J{n}", [n * 2 + 1, n * 2 + 2] * 100) for n in range(4)))
    for job in jobs:
        assert job.failures == {}
        # 200 records at 2,000/s = 0.1 s, no lock wait.
        assert job.total_processing_ms == pytest.approx(100, abs=1)
        assert job.api_active_ms == pytest.approx(100, abs=1)


def test_partial_save_gives_up_after_the_last_attempt() -> None:
    """With one attempt, a lock timeout fails the whole transaction (all remaining rows)."""
    st = make_state(partial_save_attempts=1)
    create_accounts(st, 5, seed=1)
    try:
        service = attach(st)
        a, b = together(service, rows_for("A", [1, 2, 3, 4]), rows_for("B", [4, 3, 2, 1]))
        lost = len(a.failures) + len(b.failures)
        assert lost == 4  # one transaction rolled back entirely
    finally:
        st.close()


def test_internal_batches_run_on_a_limited_worker_pool() -> None:
    """8 one-batch jobs on 2 workers take 4 rounds of simulated time."""
    st = make_state(workers=2)
    create_accounts(st, 20, seed=1)
    try:
        service = attach(st)
        start = service.engine.now
        jobs = together(service, *(rows_for(f"J{n}", [n + 1] * 200) for n in range(8)))
        assert all(j.state == J.JOB_COMPLETE for j in jobs)
        assert service.engine.now - start == pytest.approx(0.4, abs=0.01)
        assert st.usage.bulk_batches.value() == 8
        assert st.usage.bulk_records.value() == 1600
    finally:
        st.close()


def test_job_is_split_into_internal_batches() -> None:
    st = make_state(internal_batch_size=300)
    create_accounts(st, 5, seed=1)
    try:
        service = attach(st)
        job = submit(service, rows_for("K", [1, 2, 3, 4, 5] * 200))
        assert service.engine.wait_idle(10)
        assert job.batches_total == 4 and job.batches_done == 4
        assert st.usage.bulk_batches.value() == 4
    finally:
        st.close()


def test_batch_over_the_time_limit_is_retried_then_fails_the_job() -> None:
    st = make_state(batch_timeout_seconds=0.05, max_batch_retries=2)
    create_accounts(st, 5, seed=1)
    try:
        service = attach(st)
        job = submit(service, rows_for("K", [1] * 1000))  # 5 transactions of 0.1 s each
        assert service.engine.wait_idle(10)
        assert job.state == J.FAILED
        assert job.retries == 3
        assert "retried more than 2 times" in (job.error_message or "")
        assert 0 < job.processed < 1000  # committed transactions stay; the rest is unprocessed
    finally:
        st.close()


def test_abort_stops_processing_at_the_next_transaction() -> None:
    st = make_state(time_scale=0.05)  # 0.1 s simulated per transaction = 5 ms real
    create_accounts(st, 5, seed=1)
    try:
        service = attach(st)
        job = submit(service, rows_for("K", [1, 2] * 2500))
        service.set_state(job.id, {"state": J.ABORTED})
        assert service.engine.wait_idle(10)
        assert job.state == J.ABORTED
        assert job.processed < 5000
        unprocessed = job.unprocessed_csv().splitlines()
        assert len(unprocessed) - 1 == 5000 - job.processed
    finally:
        st.close()


def test_time_scale_paces_processing_in_real_time() -> None:
    import time

    st = make_state(time_scale=0.5)  # 2,000 records on one worker = 1 s simulated = 0.5 s real
    create_accounts(st, 5, seed=1)
    try:
        service = attach(st)
        started = time.monotonic()
        job = submit(service, rows_for("K", [1] * 2000))
        service.wait(job.id, 10)
        elapsed = time.monotonic() - started
        assert job.state == J.JOB_COMPLETE
        assert 0.45 <= elapsed < 2.0
    finally:
        st.close()


def test_injected_job_failed_fault_from_the_profile() -> None:
    from emulator.faults import FaultProfile, FaultSpec

    st = make_state()
    st.faults.set_profile(FaultProfile(seed=1, groups={"bulk2": FaultSpec(job_failed_rate=1.0)}))
    create_accounts(st, 5, seed=1)
    try:
        service = attach(st)
        job = submit(service, rows_for("K", [1, 2] * 500))
        service.wait(job.id, 10)
        assert job.state == J.FAILED and job.processed == 400
        assert st.faults.injected["job_failed"] == 1
    finally:
        st.close()


# ------------------------------------------------------------- calibration
def _calibrate(pattern: str, records: int, time_scale: float = 0.0) -> float:
    st = make_state(time_scale=time_scale)
    try:
        outcome = run(st, Scenario(records=records, accounts=20_000, pattern=pattern), timeout=120)
        assert outcome.other_failed == 0
        assert outcome.succeeded + outcome.lock_failed == records
        return outcome.lock_loss
    finally:
        st.close()


def test_calibration_seed_pattern_loses_5_to_15_percent() -> None:
    """Reduced scale: the full 20,000-Account parent population, 10 jobs per stream."""
    loss = _calibrate("seed", 50_000)
    assert 0.05 <= loss <= 0.15, loss


def test_calibration_sorted_disjoint_jobs_lose_under_a_tenth_of_a_percent() -> None:
    loss = _calibrate("sorted", 50_000)
    assert loss < 0.001, loss


def test_calibration_does_not_depend_on_the_time_scale() -> None:
    """The timeline is simulated: a paced run (time_scale > 0) loses exactly the same records."""
    assert _calibrate("seed", 5_000, time_scale=0.0) == _calibrate("seed", 5_000, time_scale=1e-3)
