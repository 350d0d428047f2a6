"""The lock-contention calibration scenario (issue 3 item 6), driven in-process.

Two ways to load the same Opportunities (about 100 per Account in the full-scale data):
* ``seed``: like the seed, five streams each take a contiguous ExternalId range and send it as
  500-record upsert jobs, one at a time, waiting for each job to finish. ExternalId order is
  unrelated to the parent, so each job touches parents at random;
* ``sorted``: the same rows sorted by parent and packed into parent-disjoint jobs of at most
  10,000 records (no parent split across jobs), sent by five streams the same way.

Streams are simulated on the processing thread's timeline (``engine.schedule``), with a client
delay between one job's end and the next job's start (a poll interval plus create/upload/close
calls), so the result does not depend on how fast this machine runs and can be computed at
``time_scale = 0``. Loss = records whose first-pass error is ``UNABLE_TO_LOCK_ROW``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.bulk2 import jobs as J
from emulator.bulk2.models import attach
from emulator.org.seed import account_external_id, create_accounts

if TYPE_CHECKING:
    from emulator.bulk2.jobs import IngestJob
    from emulator.bulk2.models import BulkService
    from emulator.state import EmulatorState

HEADER = "ExternalId__c,Name,StageName,CloseDate,Amount,Account.ExternalId__c\n"


@dataclass
class Scenario:
    """One calibration run. ``records`` rows over ``accounts`` parents (uniformly at random)."""

    records: int
    accounts: int
    pattern: str = "seed"  # "seed" | "sorted"
    streams: int = 5
    job_size: int = 500
    sorted_job_size: int = 10_000
    client_delay: float = 1.0  # simulated seconds between a job's end and the next job's start
    seed: int = 1


@dataclass
class Outcome:
    records: int
    succeeded: int
    lock_failed: int
    other_failed: int
    jobs: int
    simulated_seconds: float
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def lock_loss(self) -> float:
        return self.lock_failed / self.records if self.records else 0.0


def make_rows(records: int, accounts: int, seed: int) -> list[tuple[str, int]]:
    """``(csv line, parent number)`` in ExternalId order; parents drawn at random."""
    rng = random.Random(seed)
    rows = []
    for i in range(records):
        parent = rng.randrange(1, accounts + 1)
        line = (
            f"OPP-{i:09d},Opportunity {i},Prospecting,2026-0{1 + i % 9}-15,"
            f"{(i % 997) * 10}.50,{account_external_id(parent)}\n"
        )
        rows.append((line, parent))
    return rows


def plan_jobs(rows: list[tuple[str, int]], scenario: Scenario) -> list[list[list[str]]]:
    """Per stream, the list of jobs (each a list of CSV lines) it sends in order."""
    streams: list[list[list[str]]] = [[] for _ in range(scenario.streams)]
    if scenario.pattern == "seed":
        share = -(-len(rows) // scenario.streams)
        for s in range(scenario.streams):
            part = rows[s * share : (s + 1) * share]
            for i in range(0, len(part), scenario.job_size):
                streams[s].append([line for line, _ in part[i : i + scenario.job_size]])
        return streams
    by_parent = sorted(rows, key=lambda r: r[1])
    jobs: list[list[str]] = []
    current: list[str] = []
    i = 0
    while i < len(by_parent):
        j = i
        while j < len(by_parent) and by_parent[j][1] == by_parent[i][1]:
            j += 1
        group = [line for line, _ in by_parent[i:j]]
        if current and len(current) + len(group) > scenario.sorted_job_size:
            jobs.append(current)
            current = []
        current.extend(group)
        i = j
    if current:
        jobs.append(current)
    for n, job in enumerate(jobs):
        streams[n % scenario.streams].append(job)
    return streams


class _Driver:
    """Sends each stream's jobs one after another on the processing thread's timeline."""

    def __init__(self, service: BulkService, streams: list[list[list[str]]], delay: float):
        self.service = service
        self.pending = [list(reversed(s)) for s in streams]
        self.delay = delay
        self.owner: dict[str, int] = {}
        self.finished: list[IngestJob] = []
        self.active = sum(1 for s in streams if s)
        self.done = threading.Event()
        if not self.active:
            self.done.set()

    def start(self) -> None:
        """All streams start at the same simulated instant."""
        self.service.engine.add_listener(self.on_terminal)
        self.service.engine.schedule(0.0, self._start_all)

    def _start_all(self) -> None:
        for stream in range(len(self.pending)):
            if self.pending[stream]:
                self.submit(stream)

    def submit(self, stream: int) -> None:
        lines = self.pending[stream].pop()
        job = self.service.create_job(
            {
                "object": "Opportunity",
                "operation": "upsert",
                "externalIdFieldName": "ExternalId__c",
            },
            "59.0",
        )
        self.owner[job.id] = stream
        self.service.upload(job.id, (HEADER + "".join(lines)).encode(), "text/csv")
        self.service.set_state(job.id, {"state": J.UPLOAD_COMPLETE})

    def on_terminal(self, job: IngestJob) -> None:
        stream = self.owner.pop(job.id, None)
        if stream is None:
            return
        self.finished.append(job)
        if self.pending[stream]:
            self.service.engine.schedule(self.delay, self.submit, stream)
            return
        self.active -= 1
        if self.active == 0:
            self.done.set()


def run(state: EmulatorState, scenario: Scenario, timeout: float = 600.0) -> Outcome:
    """Seed the Accounts, run the scenario to the end, and count first-pass outcomes."""
    create_accounts(state, scenario.accounts, seed=scenario.seed)
    service = attach(state)
    rows = make_rows(scenario.records, scenario.accounts, scenario.seed)
    driver = _Driver(service, plan_jobs(rows, scenario), scenario.client_delay)
    started = service.engine.now
    driver.start()
    if not driver.done.wait(timeout):
        raise TimeoutError(f"calibration did not finish within {timeout} s")
    service.engine.wait_idle(timeout)
    succeeded = lock = other = 0
    errors: dict[str, int] = {}
    for job in driver.finished:
        succeeded += len(job.success_rows)
        for message in job.failures.values():
            code = message.split(":", 1)[0]
            errors[code] = errors.get(code, 0) + 1
            if code == "UNABLE_TO_LOCK_ROW":
                lock += 1
            else:
                other += 1
    return Outcome(
        records=scenario.records,
        succeeded=succeeded,
        lock_failed=lock,
        other_failed=other,
        jobs=len(driver.finished),
        simulated_seconds=service.engine.now - started,
        errors=errors,
    )
