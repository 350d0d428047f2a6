"""Bulk jobs that vanish (a Salesforce outage loses them): the chunk is sent again, nothing lost.

Found by the live crash suite (tests/e2e/test_crash_live.py, emulator restarted with jobs in
flight): before the fix, job info answered 404 NOT_FOUND for the lost jobs, the try failed, and
every retry resumed from the same checkpoint, asked for the same jobs and failed again, forever.
"""

from __future__ import annotations

import pytest

from emulator.config import EmulatorConfig
from include.dc2sf.engine.loader import CHECKPOINT_KEY
from include.dc2sf.engine.outcomes import Continue, Wait
from tests.support.loading import DictStore, assert_exact, make_config, make_loader

pytestmark = pytest.mark.integration


def _run_until_jobs_in_flight(loader, store: DictStore, *, chunks_done: int) -> list[str]:
    while True:
        outcome = loader.step()
        if isinstance(outcome, Wait) and outcome.job_ids:
            if store[CHECKPOINT_KEY]["chunks_done"] >= chunks_done:
                return list(store[CHECKPOINT_KEY]["chunk"]["jobs"].values())
            loader.wait(outcome)
        elif not isinstance(outcome, Continue | Wait):
            raise AssertionError("finished before jobs were in flight")


def _lose_every_job(emu) -> None:
    """What the org looks like after an outage that lost the Bulk queue: no job is known."""
    emu.state.services["bulk2"].reset()


@pytest.mark.parametrize("rebuilt", [False, True], ids=["same-loader", "retry-after-crash"])
def test_lost_jobs_make_the_chunk_go_again_and_the_load_stays_exact(
    emulator_factory, tmp_path, rebuilt: bool
) -> None:
    emu = emulator_factory(EmulatorConfig(time_scale=0.0), rows=3_000, accounts=40)
    store = DictStore()
    config = make_config(tmp_path, records_per_job=400, max_in_flight=2)
    loader = make_loader(config, store)
    lost = _run_until_jobs_in_flight(loader, store, chunks_done=1)
    assert lost
    _lose_every_job(emu)
    if rebuilt:
        loader = make_loader(config, store)  # the next try, from the task state store
    done = loader.run_blocking()
    assert assert_exact(emu) == 3_000
    summary = done.summary
    assert (summary["processed"], summary["succeeded"], summary["dead_lettered"]) == (
        3_000,
        3_000,
        0,
    )
    assert CHECKPOINT_KEY not in store
