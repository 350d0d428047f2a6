"""Progress arithmetic, JSON round trip, totals over partitions and formatting."""

from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest

from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.progress import (
    LoadState,
    Progress,
    format_count,
    format_duration,
    format_percent,
    format_rate,
    iso,
    parse_time,
    total_progress,
)

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def running(**changes: object) -> Progress:
    start = Progress.start(
        partition=2,
        key_range=KeyRange.seed_bounds("externalOpp0800001", "externalOpp1200001"),
        now=T0,
        source_count=400_000,
    )
    return start.updated(now=T0 + dt.timedelta(seconds=100), **changes)


def test_rate_eta_success_rate_and_projection() -> None:
    progress = running(
        processed=12_000, succeeded=9_000, dead_lettered=1_000, failed=1_500, retried=500
    )
    assert progress.settled == 10_000
    assert progress.rate_per_second == 100.0
    assert progress.success_rate == 0.9
    assert progress.remaining == 390_000
    assert progress.percent_complete == 2.5
    assert progress.eta_seconds == 3_900.0
    assert progress.projected_finish == T0 + dt.timedelta(seconds=100 + 3_900)


def test_unknowns_stay_unknown() -> None:
    fresh = Progress.start(partition=0, key_range=KeyRange(), now=T0)
    assert fresh.rate_per_second is None and fresh.success_rate is None
    assert (
        fresh.eta_seconds is None
        and fresh.projected_finish is None
        and fresh.percent_complete is None
    )
    stalled = running()
    assert stalled.eta_seconds is None, "no rate yet: no ETA rather than infinity"
    done = running(succeeded=400_000)
    assert done.eta_seconds == 0.0 and done.percent_complete == 100.0
    assert (
        running(succeeded=1)
        .updated(now=T0 + dt.timedelta(seconds=100), source_count=0)
        .percent_complete
        == 100.0
    )


def test_to_dict_is_json_safe_and_round_trips() -> None:
    progress = running(
        processed=10, succeeded=10, api_calls=4, jobs_total=1, watermark="externalOpp0800011"
    )
    data = json.loads(json.dumps(progress.to_dict()))
    assert data["started_at"] == "2026-01-01T12:00:00Z"
    assert data["updated_at"] == "2026-01-01T12:01:40Z"
    assert data["state"] == "running"
    assert data["rate_per_second"] == 0.1 and data["success_rate"] == 1.0
    assert data["range_start"] == "externalOpp0800001" and data["watermark"] == "externalOpp0800011"
    assert Progress.from_dict(data) == progress


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"succeeded": -1}, "non-negative"),
        ({"failed": 1.5}, "non-negative integer"),
        ({"processed": True}, "non-negative integer"),
    ],
)
def test_invalid_figures_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        running(**change)


def test_timestamps_validated() -> None:
    with pytest.raises(ValueError, match="before started_at"):
        Progress(0, None, None, T0, T0 - dt.timedelta(seconds=1))
    with pytest.raises(ValueError, match="missing"):
        Progress.from_dict({"partition": 0})
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        Progress(0, None, None, started_at="soon", updated_at=T0)
    with pytest.raises(ValueError, match="is required"):
        Progress(0, None, None, started_at=None, updated_at=T0)  # type: ignore[arg-type]


def test_naive_timestamps_are_utc_like_airflow_stores_them() -> None:
    """One time model: naive values (text or datetime) mean UTC; the result is always aware."""
    naive = Progress.from_dict(
        {
            "partition": 0,
            "range_start": None,
            "range_end": None,
            "started_at": "2026-01-01T12:00:00",
            "updated_at": dt.datetime(2026, 1, 1, 12, 0, 10),
            "succeeded": 20,
        }
    )
    assert naive.started_at == T0 and naive.started_at.tzinfo is dt.UTC
    assert naive.rate_per_second == 2.0
    assert naive.to_dict()["updated_at"] == "2026-01-01T12:00:10Z"


def test_totals_over_partitions() -> None:
    first = running(succeeded=9_000, dead_lettered=1_000, api_calls=10)
    second = Progress(
        partition=3,
        range_start="b",
        range_end="c",
        started_at=T0 + dt.timedelta(seconds=50),
        updated_at=T0 + dt.timedelta(seconds=200),
        succeeded=10_000,
        state=LoadState.SUCCESS,
        source_count=10_000,
        api_calls=5,
    )
    totals = total_progress([first, second])
    assert totals.partitions == 2
    assert totals.counters["succeeded"] == 19_000 and totals.counters["api_calls"] == 15
    assert totals.settled == 20_000
    assert totals.source_count == 410_000
    assert totals.rate_per_second == 100.0, "20,000 settled over the 200 s span"
    assert totals.success_rate == 0.95
    assert totals.eta_seconds == 3_900.0
    assert totals.state is LoadState.RUNNING
    assert totals.to_dict()["states"] == {"running": 1, "success": 1}
    assert total_progress([second]).state is LoadState.SUCCESS
    assert (
        total_progress([first.updated(now=first.updated_at, state="failed"), second]).state
        is LoadState.FAILED
    )
    unknown = total_progress([first, second.updated(now=second.updated_at, source_count=None)])
    assert unknown.source_count is None and unknown.eta_seconds is None
    empty = total_progress([])
    assert empty.state is LoadState.QUEUED and empty.rate_per_second is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0, "0s"),
        (59.4, "59s"),
        (61, "1m 01s"),
        (3725, "1h 02m 05s"),
        (90061, "1d 01h 01m"),
        (float("inf"), "–"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_number_formatting() -> None:
    assert format_count(1_234_567) == "1,234,567" and format_count(None) == "–"
    assert (
        format_rate(1234.4) == "1,234/s"
        and format_rate(0.2) == "12.0/min"
        and format_rate(None) == "–"
    )
    assert format_percent(0.9016) == "90.2%" and format_percent(None) == "–"


def test_epoch_seconds_are_accepted_as_utc() -> None:
    epoch = T0.timestamp()
    progress = Progress(
        0, None, None, started_at=epoch, updated_at=epoch + 10, succeeded=20, state="running"
    )
    assert progress.started_at == T0
    assert progress.rate_per_second == 2.0
    assert progress.to_dict()["updated_at"] == "2026-01-01T12:00:10Z"
    with pytest.raises(ValueError, match="not a timestamp"):
        Progress(0, None, None, started_at=True, updated_at=epoch)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T12:00:00",
        "2026-01-01T12:00:00+00:00",
        "2026-01-01T13:00:00+01:00",
        "2026-01-01T12:00:00Z",
        "2026-01-01T12:00:00.000000Z",
        T0.timestamp(),
        int(T0.timestamp()),
        dt.datetime(2026, 1, 1, 12, 0),
        T0,
        pendulum.datetime(2026, 1, 1, 12, 0, tz="UTC"),
        pendulum.datetime(2026, 1, 1, 7, 0, tz="America/New_York"),
        dt.datetime(2026, 1, 1, 12, 0, tzinfo=pendulum.timezone("UTC")),
    ],
    ids=repr,
)
def test_parse_time_gives_one_aware_stdlib_utc_datetime(value: object) -> None:
    moment = parse_time(value)  # type: ignore[arg-type]
    assert type(moment) is dt.datetime, "a pendulum subclass would not mix with stdlib datetimes"
    assert moment == T0 and moment.tzinfo is dt.UTC
    # Arithmetic with a stdlib aware datetime, both ways round (pendulum refused this).
    assert (moment - T0).total_seconds() == 0 and (T0 - moment).total_seconds() == 0
    assert iso(value) == "2026-01-01T12:00:00Z"  # type: ignore[arg-type]


def test_parse_time_keeps_unknown_unknown_and_refuses_garbage() -> None:
    assert parse_time(None) is None and parse_time("") is None and iso(None) is None
    for bad in ("tomorrow", [2026], False):
        with pytest.raises(ValueError, match="timestamp"):
            parse_time(bad)  # type: ignore[arg-type]
