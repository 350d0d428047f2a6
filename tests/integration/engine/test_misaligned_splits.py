"""An org that does not cut jobs where packing assumes: the loader notices and falls back.

The emulator cuts each job at a seeded random offset (``batch_split="offset"``) instead of every
``internal_batch_size`` records, so two internal batches of one multi-batch job can hold the same
Account. In the emulator's default org a transaction holds its locks for a fraction of the 10 s
lock wait, so such collisions only queue; here the org is *heavy* (a lock wait shorter than one
transaction, as when triggers and flows keep the parent locked), so every collision fails rows
with ``UNABLE_TO_LOCK_ROW``. Small sizes, simulated time run flat out (``time_scale=0``):
16,000 rows, batches of 400 records, transactions of 50, jobs of 1,600 (four batches), Zipf 1.0 over 100
Accounts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from emulator.bulk2.config import BulkProcessingConfig
from emulator.config import EmulatorConfig
from include.dc2sf.engine.loader import CHECKPOINT_KEY
from include.dc2sf.engine.outcomes import Done, Wait
from include.dc2sf.logic.job_shape import SUSPECT_JOBS_TO_FALL_BACK, JobShape, safe_shape
from tests.support.loading import DictStore, assert_exact, make_config, make_loader

pytestmark = pytest.mark.integration

ROWS = 16_000
BATCH = 400
JOB = 4 * BATCH
IN_FLIGHT = 2
FALLBACK = safe_shape(JobShape(JOB, IN_FLIGHT), BATCH)
#: The "sized" org's characters per batch: ~300 of these rows (~130 characters each as CSV), so
#: it cuts 400-record bins and one-batch jobs too unless the loader keeps jobs under it.
MAX_CHARS = 40_000
#: Jobs that can still lose rows once the guard is watching: the suspects it needs, plus the
#: multi-batch jobs of the round in flight when it decides (a round keeps the shape it began with).
LOSING_JOBS_BOUND = SUSPECT_JOBS_TO_FALL_BACK + IN_FLIGHT


def _heavy_org(emulator_factory: Any, split: str) -> Any:
    bulk = BulkProcessingConfig(
        internal_batch_size=BATCH,
        transaction_size=50,
        workers=3,
        # 50 records at 2,000/s hold their locks 25 ms; a waiter gives up after 10 ms.
        lock_wait_seconds=0.01,
        batch_split=split,
        split_seed=1,
        internal_batch_max_chars=MAX_CHARS,
    )
    return emulator_factory(
        EmulatorConfig(time_scale=0.0, bulk=bulk), rows=ROWS, accounts=100, skew=1.0
    )


def _config(tmp_path: Any) -> Any:
    return make_config(
        tmp_path,
        records_per_job=JOB,
        max_in_flight=IN_FLIGHT,
        internal_batch_size=BATCH,
        page_size=2_000,
        adaptive_in_flight=False,
        internal_batch_max_chars=MAX_CHARS,
    )


def _jobs(emu: Any) -> list[dict[str, Any]]:
    return emu.admin.get("/jobs").json()["jobs"]


def _jobs_that_lost_rows(emu: Any) -> list[dict[str, Any]]:
    return [j for j in _jobs(emu) if int(j["numberRecordsFailed"])]


def test_offset_splits_trigger_the_fallback_and_the_load_stays_exact(
    emulator_factory: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emu = _heavy_org(emulator_factory, "offset")
    loader = make_loader(_config(tmp_path))
    with caplog.at_level(logging.WARNING, logger="include.dc2sf.engine.loader"):
        summary = loader.run_blocking().summary
    fell_back = [r.getMessage() for r in caplog.records if "falls back" in r.getMessage()]
    assert len(fell_back) == 1, fell_back  # logged once, with the reason
    assert "shared no Account" in fell_back[0]
    assert assert_exact(emu) == ROWS  # every row once, field for field: 0 lost, 0 duplicated
    assert (summary["succeeded"], summary["dead_lettered"]) == (ROWS, 0)
    shape = summary["job_shape"]
    assert (shape["records_per_job"], shape["max_in_flight"]) == (BATCH, FALLBACK.max_in_flight)
    assert "multi-batch job(s) that shared no Account" in shape["fallback"]
    # Bounded: the lock failures are those of the multi-batch jobs before and while the guard
    # decided; single-batch jobs never share an Account with another job in flight, so none of
    # them lost a row to a lock.
    assert 0 < summary["retried"] < ROWS * 0.05
    single = [j for j in _jobs(emu) if int(j["numberRecordsProcessed"]) <= BATCH]
    assert len(single) > 5, "the fallback sent single-batch jobs"
    assert sum(int(j["numberRecordsFailed"]) for j in single) == 0
    assert len(_jobs_that_lost_rows(emu)) <= LOSING_JOBS_BOUND
    # The progress XCom said so while the load ran, not only at the end.
    assert any(p["job_shape"]["fallback"] for p in loader.published[:-1])


def test_without_the_fallback_the_same_org_keeps_failing_rows(
    emulator_factory: Any, tmp_path: Any
) -> None:
    """Control: the guard switched off, multi-batch jobs go on losing rows to their own batches
    for the whole load, well past the bound the guard keeps."""
    emu = _heavy_org(emulator_factory, "offset")
    loader = make_loader(_config(tmp_path))
    loader.shape.guard = None
    summary = loader.run_blocking().summary
    assert assert_exact(emu) == ROWS
    assert summary["job_shape"]["fallback"] is None
    assert len(_jobs_that_lost_rows(emu)) > LOSING_JOBS_BOUND


def test_aligned_splits_never_trigger_it(emulator_factory: Any, tmp_path: Any) -> None:
    emu = _heavy_org(emulator_factory, "aligned")
    summary = make_loader(_config(tmp_path)).run_blocking().summary
    assert assert_exact(emu) == ROWS
    assert (summary["retried"], summary["dead_lettered"]) == (0, 0)
    assert summary["job_shape"] == {
        "records_per_job": JOB,
        "max_in_flight": IN_FLIGHT,
        "fallback": None,
    }
    assert max(int(j["numberRecordsProcessed"]) for j in _jobs(emu)) > BATCH


def test_a_resumed_try_keeps_the_fallen_back_shape(emulator_factory: Any, tmp_path: Any) -> None:
    emu = _heavy_org(emulator_factory, "offset")
    store = DictStore()
    first = make_loader(_config(tmp_path), store)
    while not store.get(CHECKPOINT_KEY, {}).get("job_shape"):
        outcome = first.step()
        if isinstance(outcome, Wait):
            first.wait(outcome)
    assert store[CHECKPOINT_KEY]["chunk"] is not None, "fell back before the last chunk"
    # "Crash": a new try reads the checkpoint.
    second = make_loader(_config(tmp_path), store)
    assert (second.config.records_per_job, second.config.max_in_flight) == (
        BATCH,
        FALLBACK.max_in_flight,
    )
    assert second.shape.guard is None
    done = second.run_blocking()
    assert assert_exact(emu) == ROWS
    assert done.summary["succeeded"] == ROWS and done.summary["dead_lettered"] == 0
    assert done.summary["job_shape"]["fallback"] == store.get(CHECKPOINT_KEY, {}).get(
        "job_shape", {}
    ).get("reason", done.summary["job_shape"]["fallback"])


def test_the_evidence_adds_up_across_deferrals(emulator_factory: Any, tmp_path: Any) -> None:
    """Deferred, the operator builds a new loader at every resume: suspects must survive that.

    One job in flight, so every loader instance settles at most one job and no instance sees
    both suspects itself.
    """
    emu = _heavy_org(emulator_factory, "offset")
    store = DictStore()
    config = replace(_config(tmp_path), max_in_flight=1)
    resumes = 0
    while True:
        loader = make_loader(config, store)  # a resume reads only the checkpoint
        outcome = loader.step()
        if isinstance(outcome, Done):
            break
        if isinstance(outcome, Wait):
            loader.wait(outcome)
            resumes += 1
    assert resumes > 10
    assert assert_exact(emu) == ROWS
    assert outcome.summary["dead_lettered"] == 0
    assert outcome.summary["job_shape"]["fallback"], "the guard tripped although no loader saw both"
    assert len(_jobs_that_lost_rows(emu)) <= LOSING_JOBS_BOUND


def test_sized_splits_trigger_it_and_single_batch_jobs_fit_the_character_cap(
    emulator_factory: Any, tmp_path: Any
) -> None:
    """An org that also cuts by size (the documented 10,000,000 characters, scaled down here):
    bins of 400 records are cut at ~300, so multi-batch jobs collide; after the fall back the
    loader keeps every job under the cap, so single-batch jobs really are one batch."""
    emu = _heavy_org(emulator_factory, "sized")
    summary = make_loader(_config(tmp_path)).run_blocking().summary
    assert assert_exact(emu) == ROWS
    assert (summary["succeeded"], summary["dead_lettered"]) == (ROWS, 0)
    assert summary["job_shape"]["fallback"]
    small = [j for j in _jobs(emu) if int(j["numberRecordsProcessed"]) <= BATCH]
    assert len(small) > 5
    assert sum(int(j["numberRecordsFailed"]) for j in small) == 0
