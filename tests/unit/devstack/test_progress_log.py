"""The demo's output for a log reader (``devstack.progress_log``): state changes as they are seen,
summaries only while counts move and at most every ``every`` seconds, a heartbeat while idle.

The reports are real ones: built by :func:`include.dc2sf.progress_report.build_report` from
snapshots of a two-partition run, so the test breaks when the report's shape moves away from what
the log reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from devstack.progress_log import ProgressLog
from include.dc2sf.progress_report import RunSnapshot, TaskSnapshot, build_report

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
PLAN = [
    {"partition": 0, "range_start": None, "range_end": "k2000", "estimated_rows": 2000},
    {"partition": 1, "range_start": "k2000", "range_end": None, "estimated_rows": 2000},
]


def _progress(index: int, succeeded: int, seconds: float, state: str = "running") -> dict[str, Any]:
    return {
        "partition": index,
        "range_start": PLAN[index]["range_start"],
        "range_end": PLAN[index]["range_end"],
        "started_at": T0.isoformat(),
        "updated_at": (T0 + dt.timedelta(seconds=seconds)).isoformat(),
        "processed": succeeded,
        "succeeded": succeeded,
        "source_count": 2000,
        "state": state,
    }


def report(
    seconds: float,
    loads: dict[int, tuple[str | None, int]],
    *,
    run_state: str = "running",
    try_number: int = 1,
) -> dict[str, Any]:
    """The run at ``seconds``: ``loads`` maps partition → (load TI state, rows loaded); a
    partition without a load state is still waiting (its sensor deferred)."""
    now = T0 + dt.timedelta(seconds=seconds)
    tasks: list[TaskSnapshot] = []
    progress: dict[int, dict[str, Any]] = {}
    for index in (0, 1):
        state, loaded = loads.get(index, (None, 0))
        started = state is not None
        tasks.append(
            TaskSnapshot(
                "partition.wait",
                index,
                "success" if started else "deferred",
                fire_at=T0 + dt.timedelta(minutes=90 * index),
            )
        )
        tasks.append(TaskSnapshot("partition.load", index, state, try_number=try_number))
        if started and loaded:
            done = state == "success"
            progress[index] = _progress(index, loaded, seconds, "success" if done else "running")
    return build_report(
        RunSnapshot(
            dag_id="datacloud_to_salesforce",
            run_id="manual__demo",
            state=run_state,
            start_date=T0,
            end_date=now if run_state == "success" else None,
            now=now,
            plan=PLAN,
            tasks=tasks,
            progress=progress,
            stagger_minutes=90,
        )
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_run_reads_as_events_and_periodic_summaries() -> None:
    clock = Clock()
    log = ProgressLog(every=15, quiet_every=300, clock=clock)

    first = log.lines(report(0, {0: ("running", 0)}), extra="org: 0")
    assert first == [
        "[00:00] run manual__demo: running",
        "[00:00] planned 2 partitions, 4,000 source rows",
        "[00:00] p0 (-inf, k2000]: running",
        "[00:00] p1 (k2000, +inf): waiting until 11:30:00 UTC",
        "[00:00]   p0 (-inf, k2000]: – / ~2,000 loaded (– settled), rate –, ETA –",
        "[00:00] total: 0 / 4,000 loaded (0.0% settled), rate –, ETA –; "
        "partitions 1 running, 1 waiting; org: 0",
    ]

    clock.now += 5  # counts moved, but the last summary is only 5 s old: nothing to say
    assert log.lines(report(5, {0: ("running", 500)})) == []

    clock.now += 10  # 15 s: a summary, one line per active partition and the total
    lines = log.lines(report(15, {0: ("running", 1500)}))
    assert lines[0] == (
        "[00:15]   p0 (-inf, k2000]: 1,500 / 2,000 loaded (75.0% settled), rate 100/s, ETA 5s"
    )
    assert lines[1].startswith("[00:15] total: 1,500 / 4,000 loaded")
    assert lines[1].endswith("partitions 1 running, 1 waiting")
    assert len(lines) == 2

    clock.now += 1  # a state change is printed at once, with the partition's outcome
    lines = log.lines(report(16, {0: ("success", 2000)}))
    assert lines == ["[00:16] p0 (-inf, k2000]: success: 2,000 / 2,000 loaded, 0 dead-lettered"]


def test_idle_partitions_give_a_heartbeat_not_a_line_per_poll() -> None:
    clock = Clock()
    log = ProgressLog(every=15, quiet_every=300, clock=clock)
    waiting = {0: ("success", 2000)}
    assert log.lines(report(0, waiting))  # the first report always says where things stand
    for _ in range(99):  # 297 s of polls with nothing new
        clock.now += 3
        assert log.lines(report(0, waiting)) == []
    clock.now += 3
    heartbeat = log.lines(report(0, waiting))
    assert len(heartbeat) == 1
    assert heartbeat[0].startswith("[05:00] total: 2,000 / 4,000 loaded")
    assert heartbeat[0].endswith("; next start 11:30:00 UTC")


def test_a_retry_and_the_run_s_end_are_events() -> None:
    clock = Clock()
    log = ProgressLog(every=15, clock=clock)
    log.lines(report(0, {0: ("running", 100), 1: ("running", 100)}))
    clock.now += 3
    retry = log.lines(report(3, {0: ("up_for_retry", 100), 1: ("running", 100)}, try_number=1))
    assert retry == ["[00:03] p0 (-inf, k2000]: up for retry"]
    clock.now += 3
    end = log.lines(
        report(6, {0: ("success", 2000), 1: ("success", 2000)}, run_state="success", try_number=2)
    )
    assert end[0] == "[00:06] run manual__demo: success"
    assert "[00:06] p1 (k2000, +inf): success: 2,000 / 2,000 loaded, 0 dead-lettered" in end
    # The last summary was 6 s ago (< every), but a run that ended gets its final one at once.
    assert end[-1].startswith("[00:06] total: 4,000 / 4,000 loaded (100.0% settled)")
    assert end[-1].endswith("partitions 2 success")
