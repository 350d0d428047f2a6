"""Retry timing for failed records: exponential backoff with full jitter, or the seed's schedule.

Exponential backoff with *full jitter* (delay drawn uniformly from ``[0, min(cap, base ×
multiplier^(attempt-1))]``) is used because lock failures come in waves: records that failed
together on one Account would, with a fixed delay, come back together and collide again; spreading
them out is what clears the contention. The random generator is injectable so a test or a replay
gets the same delays from the same seed. The seed's fixed schedule (2 s, 5 s, 10 s, no jitter) is
available as :meth:`BackoffPolicy.seed_schedule` to reproduce its behaviour.

HTTP-call retries live in the hooks (tenacity); this module times the *record-level* retry rounds of the loader.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
