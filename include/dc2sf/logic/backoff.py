"""Retry timing for failed records: backoff schedules, budgets and the retry queue.

Exponential backoff with *full jitter* (delay drawn uniformly from ``[0, min(cap, base ×
multiplier^(attempt-1))]``) is used because lock failures come in waves: records that failed
together on one Account would, with a fixed delay, come back together and collide again; spreading
them out is what clears the contention. The random generator is injectable so a test or a replay
gets the same delays from the same seed. The seed's fixed schedule (2 s, 5 s, 10 s, no jitter) is
available as :meth:`BackoffPolicy.seed_schedule` to reproduce its behaviour.

HTTP-call retries live in the hooks (tenacity); this module times the *record-level* retry queue.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

SEED_RETRY_DELAYS_SECONDS = (2.0, 5.0, 10.0)
"""The Apex seed's ``RETRY_DELAYS = [2000, 5000, 10000]`` ms, with ``MAX_RETRIES = 3``."""


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delay before retry number ``attempt`` (1 = first retry).

    With ``schedule`` set, the delays are taken from it (the last one repeats) and jitter is
    applied only if ``jitter`` is true; otherwise the delay is exponential, capped at ``cap``.
    """

    base: float = 2.0
    multiplier: float = 2.0
    cap: float = 300.0
    jitter: bool = True
    schedule: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap <= 0:
            raise ValueError("backoff base and cap must be positive seconds")
        if self.multiplier < 1:
            raise ValueError("backoff multiplier must be at least 1 (delays never shrink)")
        if any(delay < 0 for delay in self.schedule):
            raise ValueError("backoff schedule delays must be zero or positive seconds")

    @classmethod
    def seed_schedule(cls) -> BackoffPolicy:
        """The seed's 2 s / 5 s / 10 s, deterministic (use with ``RetryBudget(max_attempts=3)``)."""
        return cls(
            schedule=SEED_RETRY_DELAYS_SECONDS, jitter=False, cap=max(SEED_RETRY_DELAYS_SECONDS)
        )

    def ceiling(self, attempt: int) -> float:
        """The largest delay retry ``attempt`` can get (the exact delay when there is no jitter)."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        if self.schedule:
            return min(self.cap, self.schedule[min(attempt, len(self.schedule)) - 1])
        # Compare exponents instead of computing a float that could overflow for large attempts.
        exponent = attempt - 1
        if self.multiplier > 1 and exponent > 0:
            limit = self.cap / self.base
            growth = 1.0
            for _ in range(exponent):
                growth *= self.multiplier
                if growth >= limit:
                    return self.cap
            return min(self.cap, self.base * growth)
        return min(self.cap, self.base)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``attempt``: full jitter over ``[0, ceiling]`` if enabled."""
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        return (rng or random.Random()).uniform(0.0, ceiling)

    def delays(self, attempts: int, rng: random.Random | None = None) -> list[float]:
        """The first ``attempts`` delays (for logs, docs and tests)."""
        generator = rng or random.Random()
        return [self.delay(attempt, generator) for attempt in range(1, attempts + 1)]


@dataclass(slots=True)
class RetryBudget:
    """How much retrying is allowed: per record, and in total for the partition.

    The total cap stops a systematically failing load from retrying forever; records refused by
    the budget go to the final serial pass (lock failures) or to the dead letter.
    """

    max_attempts: int = 5
    max_total_retries: int | None = None
    used: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError("max_attempts must be zero or more")
        if self.max_total_retries is not None and self.max_total_retries < 0:
            raise ValueError("max_total_retries must be zero or more, or None for no total cap")

    def allows(self, attempt: int) -> bool:
        """May a record be retried for the ``attempt``-th time (1 = first retry)?"""
        if attempt > self.max_attempts:
            return False
        return self.max_total_retries is None or self.used < self.max_total_retries

    def consume(self) -> None:
        self.used += 1

    @property
    def remaining_total(self) -> int | None:
        return (
            None if self.max_total_retries is None else max(0, self.max_total_retries - self.used)
        )


ItemT = TypeVar("ItemT")


@dataclass(order=True, slots=True)
class _Entry(Generic[ItemT]):
    due_at: float
    sequence: int
    attempt: int = field(compare=False)
    item: ItemT = field(compare=False)
    last_error: str = field(compare=False, default="")


@dataclass(frozen=True, slots=True)
class RetryItem(Generic[ItemT]):
    item: ItemT
    attempt: int
    due_at: float
    last_error: str


class RetryQueue(Generic[ItemT]):
    """Failed records waiting for their next attempt, released when due (time is injected).

    Memory is bounded by the records that failed in the in-flight window: it holds only those.
    """

    def __init__(
        self, policy: BackoffPolicy, budget: RetryBudget, rng: random.Random | None = None
    ) -> None:
        self.policy = policy
        self.budget = budget
        self._rng = rng or random.Random()
        self._heap: list[_Entry[ItemT]] = []
        self._sequence = 0

    def push(self, item: ItemT, *, attempt: int, now: float, last_error: str = "") -> bool:
        """Queue retry ``attempt`` of ``item``; ``False`` when the budget refuses it."""
        if not self.budget.allows(attempt):
            return False
        self.budget.consume()
        due = now + self.policy.delay(attempt, self._rng)
        heapq.heappush(self._heap, _Entry(due, self._sequence, attempt, item, last_error))
        self._sequence += 1
        return True

    def pop_due(self, now: float, limit: int | None = None) -> list[RetryItem[ItemT]]:
        """Everything due at ``now`` (oldest due first), at most ``limit`` items."""
        released: list[RetryItem[ItemT]] = []
        while (
            self._heap and self._heap[0].due_at <= now and (limit is None or len(released) < limit)
        ):
            entry = heapq.heappop(self._heap)
            released.append(RetryItem(entry.item, entry.attempt, entry.due_at, entry.last_error))
        return released

    def drain(self) -> list[RetryItem[ItemT]]:
        """Everything still queued, due or not (final serial pass, or shutdown)."""
        entries = sorted(self._heap)
        self._heap.clear()
        return [RetryItem(e.item, e.attempt, e.due_at, e.last_error) for e in entries]

    def next_due_at(self) -> float | None:
        return self._heap[0].due_at if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def summary(self, key_of: Callable[[ItemT], str] | None = None) -> dict[str, Any]:
        """JSON-safe summary for the checkpoint and progress: size, attempts, next due, key span."""
        keys: Sequence[str] = [key_of(e.item) for e in self._heap] if key_of is not None else []
        attempts: Iterable[int] = (e.attempt for e in self._heap)
        return {
            "records": len(self._heap),
            "max_attempt": max(attempts, default=0),
            "next_due_at": self.next_due_at(),
            "min_key": min(keys, default=None),
            "max_key": max(keys, default=None),
            "retries_used": self.budget.used,
        }
