"""Backoff schedules (seed's and jittered), budgets and the retry queue's timing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.logic.backoff import (
    SEED_RETRY_DELAYS_SECONDS,
    BackoffPolicy,
)


def test_seed_schedule_is_reproduced_exactly() -> None:
    policy = BackoffPolicy.seed_schedule()
    assert policy.delays(3) == [2.0, 5.0, 10.0] == list(SEED_RETRY_DELAYS_SECONDS)
    assert policy.delay(7) == 10.0, "the last delay repeats"


def test_exponential_ceiling_and_cap() -> None:
    policy = BackoffPolicy(base=1.0, multiplier=2.0, cap=30.0, jitter=False)
    assert policy.delays(7) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay(10_000) == 30.0, "no overflow for huge attempt numbers"
    assert BackoffPolicy(base=3.0, multiplier=1.0, jitter=False).delays(3) == [3.0, 3.0, 3.0]


def test_jitter_is_seeded_and_reproducible() -> None:
    policy = BackoffPolicy(base=2.0, cap=60.0)
    first = policy.delays(6, random.Random(42))
    assert first == policy.delays(6, random.Random(42))
    assert first != policy.delays(6, random.Random(43))


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(0.01, 10),
    multiplier=st.floats(1, 4),
    cap=st.floats(0.01, 1000),
    attempt=st.integers(1, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_full_jitter_stays_within_zero_and_ceiling(
    base: float, multiplier: float, cap: float, attempt: int, seed: int
) -> None:
    policy = BackoffPolicy(base=base, multiplier=multiplier, cap=cap)
    ceiling = policy.ceiling(attempt)
    assert 0 < ceiling <= cap
    assert ceiling <= policy.ceiling(attempt + 1), "ceilings never shrink"
    assert 0.0 <= policy.delay(attempt, random.Random(seed)) <= ceiling


def test_full_jitter_spreads_delays() -> None:
    rng = random.Random(1)
    samples = [BackoffPolicy(base=8.0, cap=8.0).delay(1, rng) for _ in range(2000)]
    assert 3.5 < sum(samples) / len(samples) < 4.5, "uniform over [0, 8] averages 4"
    assert min(samples) < 0.5 and max(samples) > 7.5


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        BackoffPolicy(base=0)
    with pytest.raises(ValueError, match="multiplier"):
        BackoffPolicy(multiplier=0.5)
    with pytest.raises(ValueError, match="schedule"):
        BackoffPolicy(schedule=(1.0, -1.0))
    with pytest.raises(ValueError, match="start at 1"):
        BackoffPolicy().delay(0)
