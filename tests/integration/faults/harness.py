"""Run a multi-partition load against a faulty emulator and collect what the product reported.

Why a harness of its own: every fault class runs the same scenario (N partitions in threads, as
test_acceptance_locks does, each with its own hooks and call counter) and must be judged the same
way: exact rows in Salesforce, reconciled counters, zero dead letters, and the retries the hooks
and the loader report. The soak (`make soak`) reuses it with larger numbers from the environment.

Scale knobs (environment, read at import):
- `DC2SF_FAULT_ROWS_PER_PARTITION` (default 1,500), `DC2SF_FAULT_PARTITIONS` (default 3)
- `DC2SF_FAULT_SEED` (default 7): the fault injector's seed, so a failure replays.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.faults import FaultProfile, FaultSpec
from emulator.testing import EmulatorServer
from include.dc2sf.engine.config import RetrySettings
from include.dc2sf.logic.planner import plan_seed_pattern
from tests.support.loading import make_config, make_loader, read_dead_letters

ROWS_PER_PARTITION = int(os.environ.get("DC2SF_FAULT_ROWS_PER_PARTITION", "1500"))
PARTITIONS = int(os.environ.get("DC2SF_FAULT_PARTITIONS", "3"))
SEED = int(os.environ.get("DC2SF_FAULT_SEED", "7"))
ROWS = ROWS_PER_PARTITION * PARTITIONS


@dataclass
class LoadOutcome:
    """What one multi-partition load reported, summed over its partitions."""

    summaries: list[dict[str, Any]]
    http_retries: int
    relogins: int
    calls: int
    injected: dict[str, int]
    dead_letters: list[dict[str, str]]
    seconds: float
    per_partition: list[dict[str, int]] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(s[name]) for s in self.summaries)

    def line(self) -> dict[str, Any]:
        """One row of the fault-class table (printed by each test, collected in the report)."""
        return {
            "rows": self.total("processed"),
            "succeeded": self.total("succeeded"),
            "dead_lettered": self.total("dead_lettered"),
            "record_retries": self.total("retried"),
            "http_retries": self.http_retries,
            "relogins": self.relogins,
            "api_calls": self.total("api_calls"),
            "jobs": self.total("jobs_total"),
            "injected": self.injected,
            "seconds": round(self.seconds, 1),
        }


def profile(seed: int = SEED, **groups: FaultSpec) -> FaultProfile:
    """A fault profile; `all_=` stands for the `"*"` group (every endpoint)."""
    named = {("*" if name == "all_" else name): spec for name, spec in groups.items()}
    return FaultProfile(seed=seed, groups=named)


def clear_org(emu: EmulatorServer) -> None:
    """Forget earlier loads (Opportunities) and counters so each fault class starts clean."""
    with emu.state.connect() as conn:
        conn.execute("DELETE FROM sobject_opportunity")
        conn.commit()


def run_load(
    emu: EmulatorServer,
    tmp_path: Path,
    faults: FaultProfile,
    *,
    partitions: int = PARTITIONS,
    rows: int = ROWS,
    run_id: str = "faults",
    **overrides: Any,
) -> LoadOutcome:
    """Load `rows` in `partitions` concurrent partitions with `faults` on; faults off afterwards."""
    plan = plan_seed_pattern(rows, partitions)
    settings: dict[str, Any] = {
        "records_per_job": 400,
        "max_in_flight": 3,
        "page_size": 300,
        "retry": RetrySettings(
            record_retries=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.1
        ),
    }
    settings.update(overrides)
    loaders = [
        make_loader(
            make_config(tmp_path, partition=p.index, key_range=p.key_range, **settings),
            run_id=run_id,
        )
        for p in plan
    ]
    emu.state.faults.set_profile(faults)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(partitions) as pool:
            summaries = [
                done.summary for done in pool.map(lambda loader: loader.run_blocking(), loaders)
            ]
    finally:
        injected = dict(emu.state.faults.injected)
        emu.state.faults.set_profile(FaultProfile())
    seconds = time.monotonic() - started
    letters = read_dead_letters(f for loader in loaders for f in loader.dead_letters.files())
    return LoadOutcome(
        summaries=summaries,
        http_retries=sum(loader.sf.counter.retries for loader in loaders),
        relogins=sum(loader.sf.counter.relogins for loader in loaders),
        calls=sum(loader.sf.counter.calls for loader in loaders),
        injected=injected,
        dead_letters=letters,
        seconds=seconds,
        per_partition=[
            {"processed": s["processed"], "succeeded": s["succeeded"]} for s in summaries
        ],
    )


def expected_per_partition(rows: int = ROWS, partitions: int = PARTITIONS) -> list[int]:
    return [int(p.estimated_rows or 0) for p in plan_seed_pattern(rows, partitions)]
