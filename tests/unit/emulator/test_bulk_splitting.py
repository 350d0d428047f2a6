"""Where the org cuts a job into internal batches (aligned / offset / sized), the engine using it,
and the admin and CLI knobs that set it."""

from __future__ import annotations

import itertools

import pytest

from emulator.__main__ import config_from, parse_args
from emulator.bulk2 import jobs as J
from emulator.bulk2.config import BulkProcessingConfig
from emulator.bulk2.models import attach
from emulator.bulk2.splitting import batch_bounds, job_offset, row_chars
from emulator.config import EmulatorConfig
from emulator.org.seed import create_accounts
from emulator.state import EmulatorState
from emulator.testing import in_process
from tests.unit.emulator.test_bulk_processing import rows_for, submit, together

ROW = [
    "k",
    "Deal",
    "2026-01-01",
]  # 18 characters as a CSV line (15 of values, 2 commas, 1 line break)


def _rows(n: int, row: list[str] = ROW) -> list[list[str]]:
    return [row] * n


def test_aligned_cuts_every_batch_size_in_file_order() -> None:
    assert batch_bounds(_rows(25), mode="aligned", size=10) == [(0, 10), (10, 20), (20, 25)]
    assert batch_bounds(_rows(10), mode="aligned", size=10) == [(0, 10)]
    assert batch_bounds([], mode="aligned", size=10) == []


def test_offset_starts_with_a_shorter_batch_then_cuts_every_batch_size() -> None:
    bounds = batch_bounds(_rows(40), mode="offset", size=10, job_id="750A", seed=7)
    first = job_offset("750A", 10, 7)
    assert 1 <= first < 10
    assert bounds[0] == (0, first)
    assert all(end - start == 10 for start, end in bounds[1:-1])
    assert bounds[-1][1] == 40 and bounds[-1][1] - bounds[-1][0] <= 10
    # Contiguous, in order, covering every row once.
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    # No cut falls where an aligned client expects one.
    assert not {start for start, _ in bounds[1:]} & {10, 20, 30}


def test_offset_is_reproducible_per_seed_and_differs_between_jobs() -> None:
    offsets = {job_offset(f"750{i:012d}", 10_000, seed=1) for i in range(50)}
    assert len(offsets) > 40, "each job draws its own offset"
    again = {job_offset(f"750{i:012d}", 10_000, seed=1) for i in range(50)}
    assert offsets == again
    assert offsets != {job_offset(f"750{i:012d}", 10_000, seed=2) for i in range(50)}


def test_offset_keeps_a_job_of_one_batch_whole() -> None:
    for job in ("750A", "750B", "750C"):
        assert batch_bounds(_rows(10), mode="offset", size=10, job_id=job) == [(0, 10)]


def test_sized_cuts_at_the_record_count_or_before_the_character_cap() -> None:
    assert row_chars(ROW) == 18
    # Narrow rows: the record count decides, as in the aligned mode.
    assert batch_bounds(_rows(25), mode="sized", size=10, max_chars=1_000) == [
        (0, 10),
        (10, 20),
        (20, 25),
    ]
    # 18-character rows under a 60-character cap: 3 rows per batch, even in a short job.
    assert batch_bounds(_rows(7), mode="sized", size=10, max_chars=60) == [(0, 3), (3, 6), (6, 7)]
    # A row wider than the cap is a batch of its own; the cut moves with the data.
    wide = ["x" * 100]
    rows = [ROW, ROW, wide, ROW]
    assert batch_bounds(rows, mode="sized", size=10, max_chars=60) == [(0, 2), (2, 3), (3, 4)]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="aligned, offset, sized"):
        batch_bounds(_rows(3), mode="random", size=10)
    with pytest.raises(ValueError, match="batch_split"):
        BulkProcessingConfig(batch_split="random")


def test_engine_runs_the_batches_of_the_configured_split() -> None:
    state = EmulatorState(
        EmulatorConfig(
            time_scale=0.0,
            bulk=BulkProcessingConfig(internal_batch_size=10, batch_split="offset", split_seed=3),
        )
    )
    try:
        create_accounts(state, 5, seed=1)
        service = attach(state)
        job = submit(service, rows_for("A", [1, 2, 3, 4, 5] * 4))
        assert service.engine.wait_idle(10)
        # 20 rows: two batches aligned; cut at the offset and 10 later, three.
        assert job.batches_total == 3
        assert job.state == J.JOB_COMPLETE and job.processed == 20
    finally:
        state.close()


def test_admin_reads_and_changes_the_bulk_model() -> None:
    with in_process(EmulatorConfig(time_scale=0)) as (state, client):
        assert client.get("/__emulator__/bulk").json()["batch_split"] == "aligned"
        changed = client.patch(
            "/__emulator__/bulk", json={"batch_split": "offset", "split_seed": 9, "workers": 4}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["batch_split"], changed.json()["workers"]) == ("offset", 4)
        assert state.config.bulk.batch_split == "offset"
        assert client.get("/__emulator__/config").json()["bulk"]["split_seed"] == 9
        assert client.patch("/__emulator__/bulk", json={"batch_split": "nope"}).status_code == 400
        assert client.patch("/__emulator__/bulk", json={"colour": 1}).status_code == 400
        assert state.config.bulk.batch_split == "offset"


def test_cli_serve_options_set_the_org_model() -> None:
    args = parse_args(
        [
            "serve",
            "--batch-split",
            "sized",
            "--batch-max-chars",
            "500000",
            "--workers",
            "16",
            "--rate",
            "500",
            "--lock-wait",
            "5",
            "--split-seed",
            "4",
            "--giant-share",
            "0.03",
        ]
    )
    config = config_from(args)
    bulk = config.bulk
    assert (bulk.batch_split, bulk.internal_batch_max_chars, bulk.split_seed) == (
        "sized",
        500_000,
        4,
    )
    assert (bulk.workers, bulk.records_per_second_per_worker, bulk.lock_wait_seconds) == (
        16,
        500,
        5,
    )
    assert config.seed.giant_share == 0.03
    assert config_from(parse_args(["serve"])).bulk == BulkProcessingConfig()


def test_reconfigured_workers_take_effect_on_the_running_engine() -> None:
    """8 one-batch jobs: 4 rounds on 2 workers (as configured), 2 rounds once raised to 4."""
    state = EmulatorState(EmulatorConfig(time_scale=0.0, bulk=BulkProcessingConfig(workers=2)))
    try:
        create_accounts(state, 20, seed=1)
        service = attach(state)
        service.engine.reconfigure(workers=4)
        start = service.engine.now
        jobs = together(service, *(rows_for(f"J{n}", [n + 1] * 200) for n in range(8)))
        assert all(j.state == J.JOB_COMPLETE for j in jobs)
        assert service.engine.now - start == pytest.approx(0.2, abs=0.01)
        with pytest.raises(ValueError, match="batch_split"):
            service.engine.reconfigure(batch_split="diagonal")
        assert state.config.bulk.workers == 4, "a refused change leaves the config as it was"
    finally:
        state.close()
