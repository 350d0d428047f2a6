"""BulkJobsTrigger asks about the oldest job while it runs, then each ended job once."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from include.dc2sf.triggers import bulk_jobs


class ScriptedHook:
    """Stands in for SalesforceBulk2Hook: job ``j`` ends after ``asks[j]`` questions."""

    asks: ClassVar[dict[str, int]] = {}
    asked: ClassVar[list[str]] = []

    def __init__(self, conn_id: str) -> None:
        self.counter = type("Counter", (), {"calls": 0})()

    def job_info(self, job_id: str) -> dict[str, Any]:
        ScriptedHook.asked.append(job_id)
        self.counter.calls += 1
        ScriptedHook.asks[job_id] -= 1
        state = "JobComplete" if ScriptedHook.asks[job_id] <= 0 else "InProgress"
        return {"id": job_id, "state": state}


def _first_event(trigger: bulk_jobs.BulkJobsTrigger) -> Any:
    async def first() -> Any:
        async for event in trigger.run():
            return event

    return asyncio.run(first())


def test_polls_the_oldest_then_collects_ended_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_jobs, "SalesforceBulk2Hook", ScriptedHook)
    ScriptedHook.asks = {"a": 3, "b": 1, "c": 9}
    ScriptedHook.asked = []
    trigger = bulk_jobs.BulkJobsTrigger(
        salesforce_conn_id="sf", job_ids=["a", "b", "c"], poll_interval=0.001
    )
    event = _first_event(trigger)
    assert event.payload["status"] == "ready"
    assert [info["id"] for info in event.payload["infos"]] == ["a", "b"]
    assert ScriptedHook.asked == ["a", "a", "a", "b", "c"]
    assert event.payload["api_calls"] == 5
