"""Seeds DAG runs, mapped task instances, triggers and `progress` XComs straight into the DB.

Why not run the DAG: the view must be checked in states a finished `dag.test()` never leaves
behind (a sensor deferred until a given time, a load mid-run, a retry), at exact, known numbers.
The rows are the ones the scheduler, triggerer and Execution API would write: TIs of the serialized
DAG's tasks, a `DateTimeTrigger` with its `moment`, XComs stored the way the Task SDK pushes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.models.dagrun import DagRun
from airflow.models.serialized_dag import SerializedDagModel
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from airflow.utils.types import DagRunTriggeredByType, DagRunType
from sqlalchemy import delete, select

FIXTURE_DAG_ID = "dc2sf_progress_fixture"
#: Same shape, own runs: the dead-letter tests' runs stay out of the progress tests' run lists.
DEAD_LETTERS_DAG_ID = "dc2sf_dead_letters_fixture"
FIXTURE_DAGS = Path(__file__).resolve().parent / "fixture_dags"
WAIT, LOAD = "partition.wait", "partition.load"


def sync_fixture_dag() -> None:
    """Parse the fixture DAG folder and write the serialized DAG, as the dag-processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(FIXTURE_DAGS))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)


def create_run(
    run_id: str,
    *,
    start: dt.datetime,
    plan: list[dict[str, Any]],
    state: DagRunState = DagRunState.RUNNING,
    conf: Mapping[str, Any] | None = None,
    end: dt.datetime | None = None,
    dag_id: str = FIXTURE_DAG_ID,
) -> None:
    """A run whose mapped group is expanded to ``len(plan)`` partitions, all TIs without state."""
    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        assert dag is not None
        dag_run = dag.create_dagrun(
            run_id=run_id,
            run_after=start,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=state,
            start_date=start,
            conf=dict(conf or {}),
            session=session,
        )
        if end is not None:
            dag_run.end_date = end
        version_id = dag_run.created_dag_version_id
        session.execute(
            delete(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id.in_([WAIT, LOAD]),
            )
        )
        for task_id in (WAIT, LOAD):
            task = dag.get_task(task_id)
            for index in range(len(plan)):
                session.add(
                    TaskInstance(task, dag_version_id=version_id, run_id=run_id, map_index=index)
                )
        plan_ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == "plan",
            )
        )
        plan_ti.state = "success"
    push_xcom(run_id, "plan", -1, "return_value", plan, dag_id=dag_id)


def set_ti(
    run_id: str,
    task_id: str,
    map_index: int,
    state: str | None,
    *,
    dag_id: str = FIXTURE_DAG_ID,
    try_number: int = 1,
    rendered_map_index: str | None = None,
    trigger_moment: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
) -> None:
    """Give one mapped TI a state (and, for a deferred sensor, its DateTimeTrigger)."""
    with create_session() as session:
        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        )
        assert ti is not None, (run_id, task_id, map_index)
        ti.state = state
        ti.try_number = try_number
        if end_date is not None:
            ti.start_date = end_date - dt.timedelta(minutes=5)
            ti.end_date = end_date
        if rendered_map_index is not None:
            ti._rendered_map_index = rendered_map_index
        if trigger_moment is not None:
            trigger = Trigger(
                classpath="airflow.providers.standard.triggers.temporal.DateTimeTrigger",
                kwargs={"moment": trigger_moment, "end_from_trigger": False},
            )
            session.add(trigger)
            session.flush()
            ti.trigger_id = trigger.id


def push_xcom(
    run_id: str,
    task_id: str,
    map_index: int,
    key: str,
    value: Any,
    *,
    dag_id: str = FIXTURE_DAG_ID,
) -> None:
    """Store an XCom as the Task SDK does (JSON text, overwriting the previous value)."""
    with create_session() as session:
        XComModel.set(
            key=key,
            value=value,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            map_index=map_index,
            session=session,
        )


def push_progress(
    run_id: str, map_index: int, value: Mapping[str, Any], *, dag_id: str = FIXTURE_DAG_ID
) -> None:
    push_xcom(run_id, LOAD, map_index, "progress", dict(value), dag_id=dag_id)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def progress_value(
    partition: int,
    *,
    started: dt.datetime,
    updated: dt.datetime,
    state: str = "running",
    epoch: bool = False,
    **counters: Any,
) -> dict[str, Any]:
    """A `progress` XCom as the operator pushes it (ISO times, or epoch seconds if ``epoch``)."""
    value: dict[str, Any] = {
        "partition": partition,
        "range_start": f"k{partition:02d}000",
        "range_end": f"k{partition + 1:02d}000",
        "watermark": counters.pop("watermark", None),
        "processed": 0,
        "succeeded": 0,
        "failed": 0,
        "retried": 0,
        "dead_lettered": 0,
        "api_calls": 0,
        "jobs_total": 0,
        "jobs_in_flight": 0,
        "state": state,
        "started_at": started.timestamp() if epoch else iso(started),
        "updated_at": updated.timestamp() if epoch else iso(updated),
        "try_number": counters.pop("try_number", 1),
        "dead_letter_files": counters.pop("dead_letter_files", []),
        "dead_letter_folder": counters.pop("dead_letter_folder", None),
    }
    value.update(counters)
    return value


def run_exists(run_id: str) -> bool:
    with create_session() as session:
        return (
            session.scalar(
                select(DagRun.id).where(DagRun.dag_id == FIXTURE_DAG_ID, DagRun.run_id == run_id)
            )
            is not None
        )
