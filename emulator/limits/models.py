"""Rolling-24 h usage counters behind ``/limits``, ``Sforce-Limit-Info`` and Bulk quotas."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import TYPE_CHECKING

from emulator.exceptions import RequestLimitExceeded

if TYPE_CHECKING:
    from emulator.clock import Clock
    from emulator.config import EmulatorConfig

WINDOW_SECONDS = 86_400.0
_BUCKET_SECONDS = 60.0


class RollingCounter:
    """A sum over the last 24 h, kept in one-minute buckets so memory stays bounded."""

    def __init__(self, clock: Clock, window: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self._buckets: deque[list[float]] = deque()  # [bucket_start, count]
        self._total = 0

    def _expire(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - self._window:
            self._total -= int(self._buckets.popleft()[1])

    def add(self, n: int) -> None:
        now = self._clock.time()
        self._expire(now)
        start = now - (now % _BUCKET_SECONDS)
        if self._buckets and self._buckets[-1][0] == start:
            self._buckets[-1][1] += n
        else:
            self._buckets.append([start, n])
        self._total += n

    def value(self) -> int:
        self._expire(self._clock.time())
        return self._total

    def reset(self) -> None:
        self._buckets.clear()
        self._total = 0


class UsageCounters:
    """The org's daily allocations and what has been used of them (rolling 24 h).

    ``count_api_request`` is called once per authenticated core REST request (by
    ``require_core_session``); the Bulk side calls ``count_bulk_batches``/``count_bulk_records``
    as it processes, and ``count_bulk_query_job`` per query job created.
    """

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self.api_requests = RollingCounter(clock)
        self.bulk_batches = RollingCounter(clock)
        self.bulk_records = RollingCounter(clock)
        self.bulk_query_jobs = RollingCounter(clock)
        self.bulk_query_storage_mb = RollingCounter(clock)
        # Plain totals since the last reset of what no daily allocation counts (logins, Data Cloud
        # token exchanges and queries): benchmarks report them per row loaded, server-side.
        self._events: Counter[str] = Counter()

    @property
    def api_max(self) -> int:
        return self._config.api_daily_request_max

    def count_api_request(self) -> tuple[int, int]:
        """Count one API request; ``(used, max)`` after it.

        Raises ``RequestLimitExceeded`` (403) when the allocation is already used up; a refused
        request is not counted.
        """
        with self._lock:
            used = self.api_requests.value()
            if used >= self.api_max:
                raise RequestLimitExceeded()
            self.api_requests.add(1)
            return used + 1, self.api_max

    def api_usage(self) -> tuple[int, int]:
        with self._lock:
            return self.api_requests.value(), self.api_max

    def _grant(self, counter: RollingCounter, n: int, cap: int) -> int:
        with self._lock:
            granted = max(0, min(n, cap - counter.value()))
            if granted:
                counter.add(granted)
            return granted

    def count_bulk_batches(self, n: int) -> int:
        """Consume up to ``n`` of the 15,000 daily batches; returns how many were granted."""
        return self._grant(self.bulk_batches, n, self._config.bulk_daily_batch_max)

    def count_bulk_records(self, n: int) -> int:
        """Consume up to ``n`` of the 150M daily records; the rest must fail (Salesforce
        Developer Limits and Allocations Quick Reference, "Bulk API and Bulk API 2.0 Limits")."""
        return self._grant(self.bulk_records, n, self._config.bulk_daily_record_max)

    def count_bulk_query_job(self) -> bool:
        """Consume one of the daily Bulk 2.0 query jobs; False when none is left."""
        return self._grant(self.bulk_query_jobs, 1, self._config.bulk_query_daily_job_max) == 1

    def count_bulk_query_storage_mb(self, mb: int) -> int:
        return self._grant(
            self.bulk_query_storage_mb, mb, self._config.bulk_query_daily_storage_mb_max
        )

    def count_event(self, name: str) -> None:
        """Count one ``name`` event (``login``, ``token_exchange``, ``datacloud_query``, ...)."""
        with self._lock:
            self._events[name] += 1

    def events(self) -> dict[str, int]:
        """Every event counted since the last reset."""
        with self._lock:
            return dict(self._events)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """``name -> (max, remaining)`` for the ``/limits`` resource."""
        c = self._config
        with self._lock:
            pairs = {
                "DailyApiRequests": (c.api_daily_request_max, self.api_requests.value()),
                "DailyBulkApiBatches": (c.bulk_daily_batch_max, self.bulk_batches.value()),
                "DailyBulkApiRequests": (c.bulk_daily_batch_max, self.bulk_batches.value()),
                "DailyBulkV2QueryJobs": (c.bulk_query_daily_job_max, self.bulk_query_jobs.value()),
                "DailyBulkV2QueryFileStorageMB": (
                    c.bulk_query_daily_storage_mb_max,
                    self.bulk_query_storage_mb.value(),
                ),
            }
        return {k: (mx, max(0, mx - used)) for k, (mx, used) in pairs.items()}

    def reset(self) -> None:
        with self._lock:
            for counter in (
                self.api_requests,
                self.bulk_batches,
                self.bulk_records,
                self.bulk_query_jobs,
                self.bulk_query_storage_mb,
            ):
                counter.reset()
            self._events.clear()
