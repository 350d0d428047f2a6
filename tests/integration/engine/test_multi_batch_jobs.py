"""Jobs of several internal batches (``pack_jobs``) against the emulator's lock model.

Salesforce cuts a job every ``internal_batch_size`` records and runs the pieces in parallel. The
loader packs each piece as a parent-disjoint bin, so a multi-batch job must load with no worker
time spent waiting for a lock; the control shows that the same job size packed without the
alignment (the loader told the wrong batch size) does make batches of one job wait on each other.
Small sizes: batches of 400 records, transactions of 50, jobs of 1,600 (four batches).
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.bulk2.config import BulkProcessingConfig
from emulator.config import EmulatorConfig
from tests.support.loading import assert_exact, make_config, make_loader

pytestmark = pytest.mark.integration

ROWS = 8_000
BATCH = 400
JOB = 4 * BATCH
ROUNDING_MS = 50


def _org(emulator_factory: Any) -> Any:
    config = EmulatorConfig(
        time_scale=0.0,
        bulk=BulkProcessingConfig(internal_batch_size=BATCH, transaction_size=50),
    )
    # Zipf 1.0 over 40 Accounts: the largest has ~1,800 children, more than one batch holds.
    return emulator_factory(config, rows=ROWS, accounts=40, skew=1.0)


def _lock_wait_ms(emu: Any) -> tuple[int, list[dict[str, Any]]]:
    jobs = emu.admin.get("/jobs").json()["jobs"]
    waited = sum(int(j["totalProcessingTime"]) - int(j["apiActiveProcessingTime"]) for j in jobs)
    return waited, jobs


def test_multi_batch_jobs_load_exactly_and_never_wait_for_a_lock(
    emulator_factory: Any, tmp_path: Any
) -> None:
    emu = _org(emulator_factory)
    config = make_config(
        tmp_path, records_per_job=JOB, max_in_flight=2, internal_batch_size=BATCH, page_size=2_000
    )
    summary = make_loader(config).run_blocking().summary
    assert assert_exact(emu) == ROWS
    assert (summary["succeeded"], summary["retried"], summary["dead_lettered"]) == (ROWS, 0, 0)
    waited, jobs = _lock_wait_ms(emu)
    # Job times are whole milliseconds per batch, so sums may be off by a few ms either way.
    assert waited < ROUNDING_MS, (
        f"batches of one job waited {waited} simulated ms for each other's locks"
    )
    assert max(int(j["numberRecordsProcessed"]) for j in jobs) > BATCH, "no multi-batch job ran"
    assert len(jobs) < ROWS // BATCH, "multi-batch jobs should need fewer jobs than batches"


def test_control_the_same_jobs_unaligned_do_wait(emulator_factory: Any, tmp_path: Any) -> None:
    emu = _org(emulator_factory)
    # The loader believes a batch holds the whole job: bins of 1,600 that Salesforce cuts in four.
    config = make_config(
        tmp_path, records_per_job=JOB, max_in_flight=2, internal_batch_size=JOB, page_size=2_000
    )
    make_loader(config).run_blocking()
    assert assert_exact(emu) == ROWS
    waited, _ = _lock_wait_ms(emu)
    assert waited > 4 * ROUNDING_MS, (
        f"unaligned batches of one parent should have queued for its lock ({waited} ms)"
    )
