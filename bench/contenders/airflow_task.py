"""``airflow_task``: ours as users run it — the load DAG in a real Airflow, one task per partition.

Scenario C's memory target is about the process that runs a partition in Airflow, not about a
benchmark child doing the same work. This contender starts a throwaway Airflow stack
(``devstack.airflow_stack``: scheduler, dag-processor, triggerer, api-server, LocalExecutor on
SQLite) pointed at the harness's emulator, triggers the load DAG with as many partitions as the
harness planned, ``stagger_minutes`` 0 and ``deferrable`` "no" (one process per partition from
start to end), and reads what each load task reported about its own process
(``process.peak_rss_mb`` and ``process.cpu_seconds`` in the task's return value, measured by
``include/dc2sf/engine/process_cost.py``: ``VmHWM`` of the task process).

Reported: peak RSS = the largest load task's, CPU = the load tasks' sum, wall = trigger to the
run's end (the stack's start-up is not the load's). The DAG plans its own partition bounds from
the source's key distribution, so they can differ from the harness's plan; the row count is the
same.
"""

from __future__ import annotations

import time
from typing import Any

from bench.contenders.common import ContenderSpec, sum_parts

DAG_ID = "datacloud_to_salesforce"
LOAD_TASK = "partition.load"
#: Longest a run may take before the contender gives up (10M rows on a zero-cost org, 2 cores).
RUN_TIMEOUT_SECONDS = 4 * 3600


def run_airflow_task(spec: ContenderSpec) -> dict[str, Any]:
    from devstack.airflow_stack import AirflowStack

    conf = {"partitions": len(spec.partitions), "stagger_minutes": 0, "deferrable": "no"}
    with AirflowStack(
        emulator_url=spec.base_url,
        emulator_ca=spec.ca_bundle or None,
        dag_ids=[DAG_ID],
        start_timeout=600,
        quiet=True,
    ) as stack:
        client = stack.client
        began = time.perf_counter()
        run_id = client.trigger(DAG_ID, conf)["dag_run_id"]
        run = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT_SECONDS, poll=5.0)
        wall = time.perf_counter() - began
        if run["state"] != "success":
            stack.print_log_tails()
            raise RuntimeError(f"the load DAG run {run_id} ended {run['state']}")
        summaries = [
            client.xcom(DAG_ID, run_id, LOAD_TASK, map_index=ti["map_index"])
            for ti in client.mapped_task_instances(DAG_ID, run_id, LOAD_TASK)
        ]
    missing = [i for i, s in enumerate(summaries) if not s or "process" not in s]
    if missing or not summaries:
        raise RuntimeError(f"load tasks {missing or 'all'} reported no summary with process cost")
    parts = [
        {
            "processed": int(s["processed"]),
            "succeeded": int(s["succeeded"]),
            "dead_lettered": int(s["dead_lettered"]),
            "retried": int(s["retried"]),
            "first_pass_failed": 0,
            "jobs": int(s["jobs_total"]),
            "client_calls": int(s["api_calls"]),
        }
        for s in summaries
    ]
    processes = [s["process"] for s in summaries]
    return {
        **sum_parts(parts),
        "wall_seconds": wall,
        "cpu_seconds": sum(float(p["cpu_seconds"]) for p in processes),
        "peak_rss_mb": max(float(p["peak_rss_mb"]) for p in processes),
        # A task process's start-up is Airflow's, not the load's: no separate baseline here.
        "baseline_rss_mb": None,
        "settings": {"tasks": len(processes), "conf": conf},
        "per_process": processes,
    }
