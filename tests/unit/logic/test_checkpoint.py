"""Watermark tracking (hypothesis: never past an unsettled key, never back) and the Checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.dc2sf.logic.checkpoint import (
    Checkpoint,
    CheckpointMismatch,
    InFlightJob,
    LoadCounters,
    WatermarkTracker,
    config_fingerprint,
)
from include.dc2sf.logic.key_range import KeyRange


def test_out_of_order_settle_does_not_pass_an_unsettled_key() -> None:
    tracker = WatermarkTracker()
    tracker.register_segment("k05", ["k01", "k03", "k05"])
    tracker.register_segment("k09", ["k06", "k09"])
    assert tracker.settle(["k06", "k09"]) is None, "second segment done, first still pending"
    assert tracker.settle(["k01", "k05"]) is None
    assert tracker.smallest_unsettled_key() == "k03"
    assert tracker.settle(["k03"]) == "k09", "both segments settled: jump to the second upper"
    assert tracker.pending_count == 0 and tracker.open_segments() == []


def test_segment_without_pending_keys_advances_at_once() -> None:
    tracker = WatermarkTracker("k00")
    tracker.register_segment("k10", [])
    assert tracker.watermark == "k10"
    assert tracker.settle(["k03"]) == "k10", "settling an already-covered key is harmless"


def test_segment_validation() -> None:
    tracker = WatermarkTracker()
    tracker.register_segment("k05", ["k05"])
    with pytest.raises(ValueError, match="key order"):
        tracker.register_segment("k05", [])
    with pytest.raises(ValueError, match="outside the segment"):
        tracker.register_segment("k09", ["k04"])
    with pytest.raises(ValueError, match="outside the segment"):
        tracker.register_segment("k09", ["k10"])
    with pytest.raises(ValueError, match="never registered"):
        tracker.settle(["k99"])
    assert tracker.last_registered_key == "k05"
    assert tracker.open_segments() == [{"upper": "k05", "pending": 1}]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_watermark_never_exceeds_smallest_unsettled_key_and_never_goes_back(
    data: st.DataObject,
) -> None:
    keys = sorted(data.draw(st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=60)))
    cut_points = sorted(data.draw(st.sets(st.integers(1, len(keys)), max_size=8)) | {len(keys)})
    tracker = WatermarkTracker()
    unsettled: set[str] = set()
    start = 0
    registered: list[str] = []
    for cut in cut_points:
        segment = keys[start:cut]
        dead_on_arrival = set(data.draw(st.sets(st.sampled_from(segment), max_size=2)))
        tracker.register_segment(
            segment[-1], [key for key in segment if key not in dead_on_arrival]
        )
        unsettled.update(key for key in segment if key not in dead_on_arrival)
        registered.extend(segment)
        start = cut
    order = data.draw(st.permutations(sorted(unsettled)))
    previous = tracker.watermark
    for key in order:
        batch = [key, key] if data.draw(st.booleans()) else [key]
        unsettled.discard(key)
        watermark = tracker.settle(batch)
        if previous is not None:
            assert watermark is not None and watermark >= previous, "never goes back"
        if unsettled and watermark is not None:
            assert watermark < min(unsettled), "never past an unsettled key"
        if watermark is not None:
            assert all(k not in unsettled for k in registered if k <= watermark)
        previous = watermark
    assert tracker.watermark == keys[-1]


FINGERPRINT = config_fingerprint(
    {"dmo": "Opp__dlm", "key": "ExternalId__c", "fields": {"Name": "N__c"}}
)
RANGE = KeyRange.seed_bounds("externalOpp0000001", "externalOpp0400001")


def make_checkpoint() -> Checkpoint:
    return Checkpoint(
        partition=0,
        key_range=RANGE,
        config_fingerprint=FINGERPRINT,
        watermark="externalOpp0001000",
        counters=LoadCounters(processed=1500, succeeded=1000, api_calls=12, jobs_submitted=2),
        in_flight_jobs=[
            InFlightJob("750x0001", 1, "externalOpp0001001", "externalOpp0001500", 500)
        ],
        retry_queue={"records": 3, "max_attempt": 1},
        next_job_number=2,
        updated_at="2026-01-01T00:00:00Z",
    )


def test_checkpoint_round_trips_through_json() -> None:
    checkpoint = make_checkpoint()
    restored = Checkpoint.from_dict(json.loads(json.dumps(checkpoint.to_dict())))
    assert restored == checkpoint
    assert restored.resume_after() == "externalOpp0001000"


def test_fingerprint_is_stable_and_sensitive() -> None:
    assert config_fingerprint({"b": 1, "a": [1, 2]}) == config_fingerprint({"a": [1, 2], "b": 1})
    assert config_fingerprint({"a": 1}) != config_fingerprint({"a": 2})
    assert FINGERPRINT.startswith("sha256:")


def test_checkpoint_from_another_task_is_refused_with_reasons() -> None:
    checkpoint = make_checkpoint()
    checkpoint.validate_for(partition=0, key_range=RANGE, config_fingerprint=FINGERPRINT)
    other_range = KeyRange.seed_bounds("externalOpp0400001", "externalOpp0800001")
    with pytest.raises(CheckpointMismatch) as raised:
        checkpoint.validate_for(partition=1, key_range=other_range, config_fingerprint="sha256:x")
    message = str(raised.value)
    assert "partition 0, not 1" in message
    assert "(externalOpp0400001, externalOpp0800001]" in message
    assert "configuration" in message and "Clear the task state" in message


def test_watermark_moves_forward_only_and_stays_in_range() -> None:
    checkpoint = make_checkpoint()
    checkpoint.advance("externalOpp0002000")
    checkpoint.advance(None)
    assert checkpoint.watermark == "externalOpp0002000"
    with pytest.raises(ValueError, match="move back"):
        checkpoint.advance("externalOpp0001999")
    with pytest.raises(CheckpointMismatch, match="beyond the end"):
        checkpoint.advance("externalOpp0400002")
    with pytest.raises(CheckpointMismatch, match="below the start"):
        Checkpoint(0, RANGE, FINGERPRINT, watermark="a")


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d.update(version=2), "version 2 is not supported"),
        (lambda d: d.update(extra=1), "unknown fields"),
        (lambda d: d.pop("key_range"), "'key_range' is missing"),
        (lambda d: d.update(watermark=5), "watermark must be a string"),
        (lambda d: d["counters"].update(succeeded=-1), "non-negative"),
        (lambda d: d["counters"].update(bogus=1), "unknown fields"),
        (lambda d: d["in_flight_jobs"][0].pop("job_id"), "incomplete"),
        (lambda d: d.update(retry_queue=[1]), "retry_queue"),
        (lambda d: d.update(partition=-1), "partition index"),
    ],
)
def test_checkpoint_from_dict_validation(
    mutate: Callable[[dict[str, Any]], object], error: str
) -> None:
    data = make_checkpoint().to_dict()
    mutate(data)
    with pytest.raises(ValueError, match=error):
        Checkpoint.from_dict(data)


def test_in_flight_job_key_order_validated() -> None:
    with pytest.raises(ValueError, match="min_key is above max_key"):
        InFlightJob.from_dict(
            {"job_id": "j", "job_number": 1, "min_key": "b", "max_key": "a", "records": 1}
        )
