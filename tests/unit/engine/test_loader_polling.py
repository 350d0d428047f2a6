"""How the blocking loader waits: one status call per job when it ends, and staggered chunks."""

from __future__ import annotations

from typing import Any

from include.dc2sf.engine.outcomes import Wait
from tests.support.loading import make_config, make_loader


class ScriptedJobs:
    """Stands in for the Bulk hook's ``job_info``: each job ends after a given number of asks."""

    def __init__(self, asks_until_done: dict[str, int]) -> None:
        self.remaining = dict(asks_until_done)
        self.asked: list[str] = []

    def job_info(self, job_id: str) -> dict[str, Any]:
        self.asked.append(job_id)
        self.remaining[job_id] -= 1
        state = "JobComplete" if self.remaining[job_id] <= 0 else "InProgress"
        return {"id": job_id, "state": state}


def _loader_with(jobs: ScriptedJobs, tmp_path: Any, **overrides: Any) -> Any:
    loader = make_loader(make_config(tmp_path, **overrides))
    loader.sf = jobs  # type: ignore[assignment]
    return loader


def test_wait_watches_the_oldest_job_then_collects_the_ended_ones(tmp_path: Any) -> None:
    # a ends on the 3rd ask, b is already done by then, c still runs.
    jobs = ScriptedJobs({"a": 3, "b": 1, "c": 5})
    loader = _loader_with(jobs, tmp_path)
    sleeps: list[float] = []
    assert loader.wait(Wait(("a", "b", "c"), None), sleeps.append) is True
    assert jobs.asked == ["a", "a", "a", "b", "c"], "only the oldest is polled while it runs"
    assert len(sleeps) == 2
    assert set(loader._known_infos) == {"a", "b"}, "ended jobs are kept; c is asked again later"


def test_wait_gives_up_at_its_timeout(tmp_path: Any) -> None:
    jobs = ScriptedJobs({"a": 100})
    clock = [0.0]
    loader = _loader_with(jobs, tmp_path, poll_interval_seconds=1.0)
    loader.clock = lambda: clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    assert loader.wait(Wait(("a",), None), sleep, timeout=3.5) is False
    assert jobs.asked == ["a"] * 4, "asked at 0, 1, 2 and 3 s; a 5th ask would be past 3.5 s"


def test_first_chunks_differ_by_partition_so_barriers_fall_apart(tmp_path: Any) -> None:
    limits = [
        make_loader(
            make_config(tmp_path, partition=p, records_per_job=1_000, max_in_flight=4)
        )._chunk_limit()
        for p in range(8)
    ]
    assert limits[0] == 4_000, "partition 0 starts with a full chunk"
    assert all(1_000 <= limit <= 4_000 for limit in limits)
    assert len(set(limits)) == len(limits), f"first chunks should all differ: {limits}"


def test_only_a_fresh_partition_gets_a_short_first_chunk(tmp_path: Any) -> None:
    loader = make_loader(make_config(tmp_path, partition=3, records_per_job=1_000, max_in_flight=4))
    assert loader._chunk_limit() < 4_000
    loader.cp["watermark"] = "k000123"  # resumed mid-range: chunks are full again
    assert loader._chunk_limit() == 4_000
