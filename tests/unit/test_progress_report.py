"""The run report's one time model: a partition waiting for its start time, in every form Airflow
stores that time, gives the same report and the same ETA.

The page answered 500 during the stagger when the sensor trigger's ``moment`` (a pendulum
``DateTime`` once Airflow deserialises the trigger kwargs) met the stdlib UTC ``now`` in the ETA
arithmetic. Expected values here are written out by hand from the scenario, not computed with the
code under test.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
import pytest

from include.dc2sf.progress_report import (
    LOAD_TASK_ID,
    WAIT_TASK_ID,
    RunSnapshot,
    TaskSnapshot,
    build_report,
    parse_time,
    render_text,
)

NOW = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=dt.UTC)
RUN_START = NOW - dt.timedelta(seconds=100)
FIRE_AT = NOW + dt.timedelta(seconds=300)  # partition 1 starts in 5 minutes

#: Every form in which Airflow hands out partition 1's fire time.
FIRE_TIME_FORMS: dict[str, Any] = {
    "naive ISO (rendered target_time of a naive start_date)": "2026-03-01T10:05:00",
    "aware ISO (rendered target_time)": "2026-03-01T10:05:00+00:00",
    "ISO with another offset": "2026-03-01T11:05:00+01:00",
    "ISO with Z (REST API)": "2026-03-01T10:05:00Z",
    "ISO with microseconds": "2026-03-01T10:05:00.000000+00:00",
    "epoch seconds": FIRE_AT.timestamp(),
    "naive datetime": dt.datetime(2026, 3, 1, 10, 5, 0),
    "aware stdlib datetime": FIRE_AT,
    "pendulum DateTime (trigger kwargs 'moment')": pendulum.datetime(2026, 3, 1, 10, 5, 0),
    "pendulum DateTime in another zone": pendulum.datetime(2026, 3, 1, 5, 5, 0, tz="America/Lima"),
    "datetime with pendulum's UTC (metadata DB columns)": dt.datetime(
        2026, 3, 1, 10, 5, 0, tzinfo=pendulum.timezone("UTC")
    ),
}

PLAN = [
    {"partition": 0, "range_start": None, "range_end": "k5", "estimated_rows": 2_000},
    {"partition": 1, "range_start": "k5", "range_end": None, "estimated_rows": 3_000},
]
#: Partition 0: 1,000 records settled in the 100 s since it started = 10 records/s.
PROGRESS_0 = {
    "partition": 0,
    "range_start": None,
    "range_end": "k5",
    "started_at": "2026-03-01T09:58:20Z",
    "updated_at": "2026-03-01T10:00:00Z",
    "processed": 1_500,
    "succeeded": 1_000,
    "state": "running",
    "source_count": 2_000,
}


def _snapshot(fire_at: Any, **times: Any) -> RunSnapshot:
    return RunSnapshot(
        dag_id="datacloud_to_salesforce",
        run_id="manual__1",
        state="running",
        start_date=times.get("start_date", RUN_START),
        end_date=None,
        now=times.get("now", NOW),
        plan=PLAN,
        tasks=[
            TaskSnapshot(WAIT_TASK_ID, 0, "success", 1, start_date=RUN_START, end_date=RUN_START),
            TaskSnapshot(LOAD_TASK_ID, 0, "running", 1, start_date=times.get("load_start")),
            TaskSnapshot(WAIT_TASK_ID, 1, "deferred", 1, fire_at=fire_at),
        ],
        progress={0: PROGRESS_0},
        stagger_minutes=5,
    )


def _check_waiting_report(report: dict[str, Any]) -> None:
    running, waiting = report["partitions"]
    assert running["state"] == "running"
    assert running["rate_per_second"] == 10.0
    assert running["eta_seconds"] == 100.0, "1,000 left at 10/s"
    assert running["projected_finish"] == "2026-03-01T10:01:40Z"
    assert waiting["state"] == "waiting"
    assert waiting["waiting_until"] == "2026-03-01T10:05:00Z"
    assert waiting["state_label"] == "waiting until 10:05:00 UTC"
    # Starts in 300 s, then 3,000 rows at the others' 10/s: 300 s more.
    assert waiting["projected_finish"] == "2026-03-01T10:10:00Z"
    assert waiting["eta_seconds"] == 600.0
    totals = report["totals"]
    assert totals["waiting"] == 1
    assert totals["projected_finish"] == "2026-03-01T10:10:00Z"
    assert totals["eta_seconds"] == 600.0
    assert totals["display"]["eta"] == "10m 00s"
    text = render_text(report)
    assert "partition 1: 10:05:00 UTC (WAITING)" in text
    assert "Projected Finish: 10:10:00 UTC (in 10m 00s)" in text


@pytest.mark.parametrize("fire_at", FIRE_TIME_FORMS.values(), ids=FIRE_TIME_FORMS.keys())
def test_waiting_partition_fire_time_in_any_form(fire_at: Any) -> None:
    """Handed over as stored, and read the way the plugin and the REST client read it."""
    _check_waiting_report(build_report(_snapshot(fire_at)))
    _check_waiting_report(build_report(_snapshot(parse_time(fire_at))))


@pytest.mark.parametrize(
    "times",
    [
        {"now": pendulum.instance(NOW)},
        {"start_date": pendulum.instance(RUN_START), "load_start": pendulum.instance(RUN_START)},
        {"start_date": RUN_START.replace(tzinfo=None), "now": NOW.replace(tzinfo=None)},
        {"start_date": RUN_START.isoformat(), "now": NOW.timestamp()},
    ],
    ids=["pendulum now", "pendulum DB dates", "naive dates", "text and epoch"],
)
def test_run_times_in_any_form(times: dict[str, Any]) -> None:
    """The run's own dates and the clock mix with a pendulum fire time without a TypeError."""
    _check_waiting_report(build_report(_snapshot(pendulum.instance(FIRE_AT), **times)))


def test_stagger_rule_when_the_sensor_has_not_said_yet() -> None:
    """No trigger yet (sensor still scheduled): the fire time is run start + i × stagger."""
    snapshot = _snapshot(None, start_date=pendulum.instance(NOW))
    report = build_report(snapshot)
    waiting = report["partitions"][1]
    assert waiting["waiting_until"] == "2026-03-01T10:05:00Z"  # start (now) + 1 × 5 min
    assert waiting["eta_seconds"] == 600.0


def test_snapshot_times_are_stored_as_aware_stdlib_utc() -> None:
    snapshot = _snapshot(pendulum.datetime(2026, 3, 1, 10, 5, 0), now=NOW.timestamp())
    wait = snapshot.tasks[2]
    for moment in (snapshot.now, snapshot.start_date, wait.fire_at):
        assert type(moment) is dt.datetime and moment.tzinfo is dt.UTC


def test_a_finished_run_has_no_projection_in_the_text() -> None:
    """Nothing left to project: the text says "–", not "– (in 0s)"."""
    done = {**PROGRESS_0, "processed": 2_000, "succeeded": 2_000, "state": "success"}
    report = build_report(
        RunSnapshot(
            dag_id="datacloud_to_salesforce",
            run_id="manual__1",
            state="success",
            start_date=RUN_START,
            end_date=NOW,
            now=NOW,
            plan=PLAN[:1],
            tasks=[
                TaskSnapshot(
                    WAIT_TASK_ID, 0, "success", 1, start_date=RUN_START, end_date=RUN_START
                ),
                TaskSnapshot(LOAD_TASK_ID, 0, "success", 1, start_date=RUN_START, end_date=NOW),
            ],
            progress={0: done},
            stagger_minutes=5,
        )
    )
    assert report["totals"]["projected_finish"] is None
    lines = render_text(report).splitlines()
    assert "Projected Finish: –" in lines
