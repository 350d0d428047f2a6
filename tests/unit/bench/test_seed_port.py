"""The seed port's pacing and calls, with the reader, the Bulk client and ``sleep`` faked.

What makes it the seed's and not a polling port: one job per 500-row page, submitted and never
asked about until the chain has ended; a 20-30 s (× time scale) Queueable delay after every
execution, empty ones too; 3 empty results in a row end the chain; each job's status read once at
the end, again only while it is still running.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest

from bench.contenders import seed
from bench.contenders.common import ContenderSpec, Partition

PAGE_ROWS = {0: [500, 500, 120], 1: [500]}  # rows per page of each partition


class FakeClient:
    """Records every call; a job reads 'InProgress' the first ``running_reads`` times."""

    instances: ClassVar[list[FakeClient]] = []
    running_reads = 0

    def __init__(self, spec: ContenderSpec) -> None:
        self.calls = 0
        self.log: list[tuple[str, str]] = []
        self.reads: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        FakeClient.instances.append(self)

    def submit_with_retry(self, csv_text: str) -> str:
        self.calls += 3
        job_id = f"job-{id(self)}-{len(self.log)}"
        self.log.append(("submit", job_id))
        self.sizes[job_id] = csv_text.count("\n") - 1  # minus the header line
        return job_id

    def job_info(self, job_id: str) -> dict[str, Any]:
        self.calls += 1
        self.log.append(("info", job_id))
        self.reads[job_id] = self.reads.get(job_id, 0) + 1
        if self.reads[job_id] <= FakeClient.running_reads:
            return {"state": "InProgress"}
        size = self.sizes[job_id]
        return {"state": "JobComplete", "numberRecordsProcessed": size, "numberRecordsFailed": 1}


@pytest.fixture()
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    FakeClient.instances = []
    FakeClient.running_reads = 0
    recorded: list[tuple[str, float]] = []

    def read_page(datacloud: Any, partition: Partition, after: str | None, limit: int) -> Any:
        assert limit == seed.SEED_PAGE
        done = int(after or 0)
        pages = PAGE_ROWS[partition.index]
        if done >= len(pages):
            return ("ExternalId__c",), [], 0, after
        rows = [(f"k{partition.index}-{done}-{i}",) for i in range(pages[done])]
        return ("ExternalId__c",), rows, len(rows), str(done + 1)

    monkeypatch.setattr(seed, "hooks", lambda: (None, None))
    monkeypatch.setattr(seed, "read_page", read_page)
    monkeypatch.setattr(seed, "SeedBulkClient", FakeClient)
    monkeypatch.setattr(
        seed.time, "sleep", lambda s: recorded.append((threading.current_thread().name, s))
    )
    return recorded


def _spec(**settings: Any) -> ContenderSpec:
    return ContenderSpec(
        contender="seed",
        base_url="https://127.0.0.1:1",
        ca_bundle="ca.pem",
        partitions=[Partition(0, None, "k1"), Partition(1, "k1", None)],
        time_scale=0.5,
        workdir="unused",
        settings=settings,
    )


def test_one_job_per_page_chained_by_the_queueable_delay(sleeps: list[tuple[str, float]]) -> None:
    result = seed.run_seed(_spec(stagger_seconds=0))
    assert result["processed"] == 1620 and result["jobs"] == 4
    assert result["succeeded"] == 1620 - 4  # the fake fails one record per job
    assert result["status_rereads"] == 0
    # Per partition: an execution per page plus 3 empty ones; a delay after each but the last.
    delays = {name: [s for n, s in sleeps if n == name] for name in ("partition-0", "partition-1")}
    assert len(delays["partition-0"]) == 3 + 2 and len(delays["partition-1"]) == 1 + 2
    assert all(10.0 <= s <= 15.0 for d in delays.values() for s in d)  # 20-30 s × 0.5
    # create + upload + close per job, then exactly one status read per job, all after the chain.
    assert result["client_calls"] == 4 * 4
    for client in FakeClient.instances:
        kinds = [kind for kind, _ in client.log]
        assert kinds == sorted(kinds, key=lambda k: k == "info")  # every submit before any read
        assert all(count == 1 for count in client.reads.values())


def test_a_job_still_running_at_the_end_is_read_again_a_delay_later(
    sleeps: list[tuple[str, float]],
) -> None:
    FakeClient.running_reads = 1
    result = seed.run_seed(_spec(stagger_seconds=0))
    assert result["status_rereads"] == 4
    assert result["client_calls"] == 4 * 4 + 4
    assert result["succeeded"] == 1620 - 4


def test_stagger_starts_each_partition_later(sleeps: list[tuple[str, float]]) -> None:
    seed.run_seed(_spec(stagger_seconds=100.0))
    first = next(s for n, s in sleeps if n == "partition-1")
    assert first == 50.0  # position 1 × 100 simulated s × 0.5
    assert all(s <= 15.0 for n, s in sleeps if n == "partition-0")


def test_partitions_start_out_of_phase_by_default(sleeps: list[tuple[str, float]]) -> None:
    result = seed.run_seed(_spec())
    assert result["settings"]["stagger_seconds"] == seed.SEED_START_STAGGER_SECONDS > 0
    first = next(s for n, s in sleeps if n == "partition-1")
    assert first == seed.SEED_START_STAGGER_SECONDS * 0.5
