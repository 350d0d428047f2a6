"""StaggerWaitSensor: ``DateTimeSensorAsync`` that does not defer for a target already (nearly) due.

Why: on Airflow 3.3 a deferrable sensor whose trigger fires at once can lose its resumed run.
The worker's exit after ``defer()`` and the resumed run share one executor key (same try number).
When the trigger fires before the scheduler has processed that exit's ``success`` event (seconds
under CPU contention, when the supervisor is slow to wrap up), the scheduler queues the resumed
run first; the late event then drops the key from the LocalExecutor's running set, the scheduler
sees "finished with state success, but the task instance's state attribute is running", fails the
try (moving it to TaskInstanceHistory), and the resumed run dies with "Failed to report terminal
task state to supervisor ... 404 Task Instance not found". Seen live in
tests/e2e/test_load_dag_live.py: partition 0's target is always "now", and with a short stagger
every target is past by the time a worker has parsed the DAG. Airflow guards only the case where
the trigger's TI is still ``scheduled`` (scheduler_job_runner.process_executor_events, case 3).

So a target within :data:`INLINE_WAIT_SECONDS` is waited for in the worker (a short sleep, no
trigger); a later one defers as before, and by the time its trigger fires the exit event is long
processed. Production staggers (90 min) still defer and hold no worker slot. The load operator's
own deferrals hit the same race (a Bulk job often finishes within a second); it keeps its triggers
from firing earlier than the same guard (``PartitionLoadOperator._drive``).
"""

from __future__ import annotations

import time
from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Context, timezone

from include.dc2sf.defaults import RESUME_RACE_GUARD_SECONDS

#: Targets closer than this are slept for in the worker instead of deferred: about three times the
#: longest delay seen (5.6 s on 2 busy cores) between a deferred run's exit and the scheduler
#: processing its event; short enough to hold a worker slot only briefly.
INLINE_WAIT_SECONDS = RESUME_RACE_GUARD_SECONDS


class StaggerWaitSensor(DateTimeSensorAsync):
    """Wait until ``target_time``; defer only when it is more than INLINE_WAIT_SECONDS away."""

    def execute(self, context: Context) -> Any:
        remaining = (self._moment - timezone.utcnow()).total_seconds()
        if remaining > INLINE_WAIT_SECONDS:
            return super().execute(context)
        if remaining > 0:
            self.log.info("Target %s is %.1f s away: waiting here", self._moment, remaining)
            time.sleep(remaining)
        else:
            self.log.info("Target %s already passed: releasing without deferring", self._moment)
        return None
