"""Adaptive in-flight job limit (AIMD), driven by the lock-failure rate of settled jobs.

Why: lock contention grows with the number of jobs running at once (more jobs, more parent rows
locked at the same time). Packing by parent removes most of it, but not contention from other
integrations or triggers that lock shared rows. Like TCP congestion control, the limit is cut
multiplicatively when lock failures rise above ``high_threshold`` (a fast, decisive back-off),
and raised by one when they fall below ``low_threshold`` (a slow probe back up). Between the two
thresholds it holds (hysteresis, so it does not oscillate on noise).

Decisions are made on a sliding window of the last ``window_jobs`` settled jobs, weighted by
records (a 10-record retry job does not outvote a 10,000-record job). After each change the
window restarts, so one bad spell causes one cut, not one cut per job that settles afterwards.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LimitChange:
    previous: int
    current: int
    lock_failure_rate: float
    reason: str


class AdaptiveInFlightLimit:
    """The number of jobs allowed in flight, bounded by ``[1, max_in_flight]``."""

    def __init__(
        self,
        max_in_flight: int,
        *,
        initial: int | None = None,
        window_jobs: int = 4,
        high_threshold: float = 0.05,
        low_threshold: float = 0.01,
        decrease_factor: float = 0.5,
        increase_step: int = 1,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if not 0 <= low_threshold < high_threshold <= 1:
            raise ValueError("thresholds must satisfy 0 <= low_threshold < high_threshold <= 1")
        if not 0 < decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1 (exclusive)")
        if window_jobs < 1 or increase_step < 1:
            raise ValueError("window_jobs and increase_step must be at least 1")
        start = max_in_flight if initial is None else initial
        if not 1 <= start <= max_in_flight:
            raise ValueError(f"initial limit must be from 1 to max_in_flight ({max_in_flight})")
        self.max_in_flight = max_in_flight
        self.window_jobs = window_jobs
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.decrease_factor = decrease_factor
        self.increase_step = increase_step
        self._limit = start
        # (records, lock-failed records) per settled job; floats so a bare rate can be fed too.
        self._window: deque[tuple[float, float]] = deque(maxlen=window_jobs)

    @property
    def limit(self) -> int:
        return self._limit

    def lock_failure_rate(self) -> float | None:
        """Lock-failed records / records over the window (``None`` with no records yet)."""
        records = sum(total for total, _ in self._window)
        if records == 0:
            return None
        return sum(failed for _, failed in self._window) / records

    def record_job(self, records: int, lock_failures: int) -> LimitChange | None:
        """Feed one settled job; returns the change to the limit, if any.

        A job with no records carries no evidence and is ignored.
        """
        if records < 0 or not 0 <= lock_failures <= records:
            raise ValueError(f"need 0 <= lock_failures ({lock_failures}) <= records ({records})")
        if records == 0:
            return None
        return self.observe(lock_failures / records, weight=records)

    def observe(self, lock_failure_rate: float, *, weight: float = 1.0) -> LimitChange | None:
        """Feed the lock-failure rate of one settled job (or round), weighted by its records."""
        if not 0 <= lock_failure_rate <= 1 or math.isnan(lock_failure_rate):
            raise ValueError(f"lock_failure_rate must be from 0 to 1, got {lock_failure_rate!r}")
        if weight <= 0:
            raise ValueError(f"weight must be positive, got {weight!r}")
        self._window.append((weight, weight * lock_failure_rate))
        if len(self._window) < self.window_jobs:
            return None
        rate = self.lock_failure_rate()
        if rate is None:
            return None
        previous = self._limit
        if rate > self.high_threshold:
            self._limit = max(1, math.floor(self._limit * self.decrease_factor))
            reason = f"lock failures {rate:.1%} above {self.high_threshold:.1%}: backing off"
        elif rate < self.low_threshold:
            self._limit = min(self.max_in_flight, self._limit + self.increase_step)
            reason = f"lock failures {rate:.1%} below {self.low_threshold:.1%}: recovering"
        else:
            return None
        if self._limit == previous:
            return None
        self._window.clear()
        return LimitChange(previous, self._limit, rate, reason)


AdaptiveInFlight = AdaptiveInFlightLimit
"""Short name used by ``include/dc2sf/engine/loader.py``."""
