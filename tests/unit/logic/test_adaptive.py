"""AIMD in-flight limit: cuts on lock failures, recovers slowly, stays within [1, max]."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.logic.adaptive import AdaptiveInFlightLimit


def test_backs_off_multiplicatively_and_recovers_additively() -> None:
    limiter = AdaptiveInFlightLimit(8, window_jobs=2, high_threshold=0.05, low_threshold=0.01)
    assert limiter.limit == 8
    assert limiter.record_job(10_000, 2_000) is None, "window not full yet"
    change = limiter.record_job(10_000, 1_000)
    assert change is not None and (change.previous, change.current) == (8, 4)
    assert "above 5.0%" in change.reason and change.lock_failure_rate == 0.15
    assert limiter.lock_failure_rate() is None, "window restarts after a change"
    limiter.record_job(10_000, 900)
    assert limiter.record_job(10_000, 900).current == 2  # type: ignore[union-attr]
    limiter.record_job(10_000, 5_000)
    assert limiter.record_job(10_000, 5_000).current == 1  # type: ignore[union-attr]
    limiter.record_job(10_000, 5_000)
    assert limiter.record_job(10_000, 5_000) is None, "already at the floor of 1"
    assert limiter.limit == 1
    for expected in (2, 3):
        limiter.record_job(10_000, 0)
        change = limiter.record_job(10_000, 0)
        assert change is not None and change.current == expected and "recovering" in change.reason


def test_holds_between_thresholds_and_weights_by_records() -> None:
    limiter = AdaptiveInFlightLimit(
        4, initial=2, window_jobs=2, high_threshold=0.05, low_threshold=0.01
    )
    limiter.record_job(10_000, 200)
    assert limiter.record_job(10_000, 300) is None and limiter.limit == 2, "2.5%: hold"
    limiter.record_job(10, 10)
    assert limiter.lock_failure_rate() == pytest.approx(310 / 10_010), (
        "a tiny job barely moves the rate"
    )


@settings(max_examples=150, deadline=None)
@given(
    max_in_flight=st.integers(1, 12),
    window=st.integers(1, 5),
    jobs=st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1)), max_size=60),
)
def test_limit_always_within_bounds(
    max_in_flight: int, window: int, jobs: list[tuple[int, float]]
) -> None:
    limiter = AdaptiveInFlightLimit(max_in_flight, window_jobs=window)
    for records, share in jobs:
        limiter.record_job(records, int(records * share))
        assert 1 <= limiter.limit <= max_in_flight


def test_sustained_contention_converges_to_one_and_clean_runs_reach_max() -> None:
    rng = random.Random(3)
    limiter = AdaptiveInFlightLimit(10)
    for _ in range(40):
        limiter.record_job(10_000, rng.randint(1_000, 3_000))
    assert limiter.limit == 1
    for _ in range(200):
        limiter.record_job(10_000, 0)
    assert limiter.limit == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_in_flight": 0},
        {"max_in_flight": 4, "initial": 5},
        {"max_in_flight": 4, "low_threshold": 0.1, "high_threshold": 0.05},
        {"max_in_flight": 4, "decrease_factor": 1.0},
        {"max_in_flight": 4, "window_jobs": 0},
    ],
)
def test_configuration_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveInFlightLimit(**kwargs)  # type: ignore[arg-type]


def test_feed_validated() -> None:
    with pytest.raises(ValueError, match="lock_failures"):
        AdaptiveInFlightLimit(3).record_job(10, 11)


def test_observe_takes_bare_rates_and_the_short_alias_is_the_same_class() -> None:
    from include.dc2sf.logic.adaptive import AdaptiveInFlight

    assert AdaptiveInFlight is AdaptiveInFlightLimit
    limiter = AdaptiveInFlight(max_in_flight=6, window_jobs=2)
    limiter.observe(0.2)
    change = limiter.observe(0.1)
    assert (
        change is not None
        and change.current == 3
        and change.lock_failure_rate == pytest.approx(0.15)
    )
    assert limiter.record_job(0, 0) is None, "an empty job carries no evidence"
    with pytest.raises(ValueError, match="from 0 to 1"):
        limiter.observe(1.5)
    with pytest.raises(ValueError, match="weight"):
        limiter.observe(0.1, weight=0)
