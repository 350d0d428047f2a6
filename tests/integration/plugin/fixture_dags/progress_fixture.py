"""Tiny DAGs with the load DAG's shape (plan → mapped group partition: wait → load).

The plugin reads task ids and XCom keys, not the operator, so a stand-in load task is enough; the
tests seed its task instances and `progress` XComs directly in the metadata DB. Two DAG ids of the
same shape keep the dead-letter tests' runs apart from the progress tests' run lists.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Param, dag, task, task_group


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

        @task(task_id="load", retries=2)
        def load(
            partition: int, range_start: str | None, range_end: str | None, start_inclusive: bool
        ) -> int:
            return partition

        wait >> load(partition, range_start, range_end, start_inclusive)

    partition.expand_kwargs(plan())


for _dag_id in ("dc2sf_progress_fixture", "dc2sf_dead_letters_fixture"):
    dag(
        dag_id=_dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"stagger_minutes": Param(30, type="number", minimum=0)},
    )(progress_fixture)()
