"""Tiny DAGs with the load DAG's shape (plan → mapped group partition: wait → load).

The plugin reads task ids and XCom keys, not the operator, so a stand-in load task is enough; the
tests seed its task instances and `progress` XComs directly in the metadata DB. Two DAG ids of the
same shape keep the dead-letter tests' runs apart from the progress tests' run lists.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Param, dag, task, task_group

#: The load's retry delay (no backoff): the view shows when a killed try's retry starts.
LOAD_RETRY_SECONDS = 90


def progress_fixture() -> None:
    @task
    def plan() -> list[dict]:
        return []

    @task_group(group_id="partition")
    def partition(
        partition: int, range_start: str | None, range_end: str | None, start_inclusive: bool
    ) -> None:
        wait = DateTimeSensorAsync(
            task_id="wait",
            target_time=(
                "{{ (dag_run.start_date + macros.timedelta(minutes=params.stagger_minutes * ti.map_index)).isoformat() }}"
            ),
        )

        @task(task_id="load", retries=2, retry_delay=dt.timedelta(seconds=LOAD_RETRY_SECONDS))
        def load(
            partition: int, range_start: str | None, range_end: str | None, start_inclusive: bool
        ) -> int:
            return partition

        wait >> load(partition, range_start, range_end, start_inclusive)

    partition.expand_kwargs(plan())


STAGGER = {"stagger_minutes": Param(30, type="number", minimum=0)}
#: The dead-letter DAG's default root: a run without conf writes there (see dead_letter_seeding).
DEAD_LETTER_ROOT = {
    "dead_letter_root": Param("memory://dc2sf-param-default/root", type=["null", "string"])
}

for _dag_id, _params in (
    ("dc2sf_progress_fixture", STAGGER),
    ("dc2sf_dead_letters_fixture", {**STAGGER, **DEAD_LETTER_ROOT}),
):
    dag(
        dag_id=_dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params=_params,
    )(progress_fixture)()
