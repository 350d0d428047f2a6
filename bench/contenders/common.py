"""The child-process interface (spec in, JSON result out) and what every contender shares.

The harness writes a :class:`ContenderSpec` as JSON; the child runs one contender and writes a
result dict. Every contender runs its partitions at once (stagger 0), one thread each, and
returns the per-partition counts :func:`sum_parts` adds up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Shortest real sleep of a client-side wait, so a zero-cost run (time scale 0) does not spin.
POLL_FLOOR_SECONDS = 0.05
#: The counts every contender reports per partition (and :func:`sum_parts` totals).
COUNT_KEYS = ("processed", "succeeded", "dead_lettered", "retried", "first_pass_failed", "jobs")


@dataclass
class Partition:
    index: int
    start: str | None
    end: str | None
    start_inclusive: bool = False


@dataclass
class ContenderSpec:
    """What the child process needs; JSON on disk between harness and child.

    ``ours`` overrides the loader's settings and ``settings`` the other contenders' (e.g.
    ``{"batch_size": 50000}`` for the simple-salesforce ones): for experiments only, a published
    table uses each contender's defaults, and the result records the settings it ran with.
    """

    contender: str
    base_url: str
    ca_bundle: str
    partitions: list[Partition]
    time_scale: float
    workdir: str
    ours: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> ContenderSpec:
        data = json.loads(text)
        data["partitions"] = [Partition(**p) for p in data["partitions"]]
        return cls(**data)


def scaled(simulated_seconds: float, time_scale: float) -> float:
    """A client-side wait in real seconds for a duration meant in the org's simulated time.

    A scaled run keeps each client's waits (polls, ``wait=``, the seed's chain delay) in
    proportion to the org's processing.
    """
    return max(simulated_seconds * time_scale, POLL_FLOOR_SECONDS)


def in_threads(
    partitions: list[Partition], work: Callable[[Partition], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run ``work`` for every partition at once (stagger 0); re-raise the first failure.

    One partition runs in the calling thread, so a profiler that samples only the main thread
    (pyinstrument) sees it (``bench.profile_contender``).
    """
    if len(partitions) == 1:
        return [work(partitions[0])]
    results: list[dict[str, Any] | None] = [None] * len(partitions)
    errors: list[BaseException] = []

    def run(i: int, partition: Partition) -> None:
        try:
            results[i] = work(partition)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(i, p), name=f"partition-{p.index}")
        for i, p in enumerate(partitions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def sum_parts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over partitions, plus each partition's counts."""
    total: dict[str, Any] = {
        k: sum(int(p[k]) for p in parts) for k in (*COUNT_KEYS, "client_calls")
    }
    total["per_partition"] = [{k: p[k] for k in COUNT_KEYS} for p in parts]
    return total


def no_retry_counts(read: int, succeeded: int, jobs: int, client_calls: int = 0) -> dict[str, Any]:
    """Counts of a contender that never retries a record: first pass = final."""
    return {
        "processed": read,
        "succeeded": succeeded,
        "dead_lettered": read - succeeded,
        "retried": 0,
        "first_pass_failed": read - succeeded,
        "jobs": jobs,
        "client_calls": client_calls,
    }
