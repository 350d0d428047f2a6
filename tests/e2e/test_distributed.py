"""The load DAG on the distributed profile (issue 9): Postgres, CeleryExecutor on Redis, two workers.

A 5-partition load runs on two Celery workers; once a partition running on ``worker-1`` has
checkpointed (watermark in the task state store), ``worker-1`` is killed with SIGKILL, all of it,
as a lost machine would be. The scheduler notices the missing heartbeat, the partition's retry runs
on ``worker-2``, reads the checkpoint from the state store (the metadata DB, not the dead worker's
disk) and resumes; the run ends with every source row in Salesforce exactly once.

Dead letters go to ``file://<stack home>/dead_letters``: one folder both workers see because they
share a machine. Through ``ObjectStoragePath`` an ``s3://``/``gs://`` root takes the same code path
(``include.dc2sf.engine.dead_letters``), which is what a multi-machine deployment sets.

Retry delay: the DAG's 2 min with exponential backoff becomes 3 s through a cluster policy in the
stack's ``airflow_local_settings.py`` (``tests.support.live.install_fast_retries``); the DAG file
is the real one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devstack.distributed import DistributedStack, missing_services
from tests.support.live import (
    DAG_ID,
    LOAD_TASK,
    RestartableEmulator,
    checkpoint,
    install_fast_retries,
    load_tis,
    tries,
    wait_until,
)
from tests.support.loading import assert_exact

_MISSING = missing_services()

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.distributed,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(_MISSING is not None, reason=f"distributed profile unavailable: {_MISSING}"),
]

ROWS = 60_000
PARTITIONS = 5


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableEmulator]:
    # time_scale > 1 slows the simulated org so the load lasts long enough to kill a worker in
    # the middle of it (tens of seconds instead of a few).
    with RestartableEmulator(
        workdir=tmp_path_factory.mktemp("emulator"), rows=ROWS, accounts=600, time_scale=6.0
    ) as emu:
        yield emu


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, emulator: RestartableEmulator
) -> Iterator[DistributedStack]:
    home = tmp_path_factory.mktemp("distributed") / "home"
    install_fast_retries(home)
    stack = DistributedStack(
        home=home,
        workers=2,
        worker_concurrency=2,
        emulator_url=emulator.base_url,
        emulator_ca=emulator.ca_bundle,
        dag_ids=[DAG_ID],
        start_timeout=420,
        config={
            # A killed worker's tasks stop heartbeating: fail them after 20 s, not 5 min.
            "scheduler.task_instance_heartbeat_timeout": "20",
            "scheduler.task_instance_heartbeat_timeout_detection_interval": "5",
        },
    )
    with stack:
        yield stack


def test_worker_killed_mid_run_the_load_completes_exactly(
    stack: DistributedStack, emulator: RestartableEmulator
) -> None:
    client = stack.client
    began = time.monotonic()
    run = client.trigger(
        DAG_ID,
        {
            "partitions": PARTITIONS,
            "stagger_minutes": 0,
            "page_size": 1000,
            "records_per_job": 1000,
            "max_in_flight": 2,
            "deferrable": "no",
            "dead_letter_root": f"file://{stack.home / 'dead_letters'}",
        },
    )
    run_id = run["dag_run_id"]

    def checkpointed_on_worker_1() -> list[int]:
        ready = []
        for ti in load_tis(client, run_id):
            if ti.state == "running" and (ti.hostname or "").startswith("worker-1@"):
                cp = checkpoint(client, run_id, ti.map_index)
                if cp and cp.get("watermark"):
                    ready.append(ti.map_index)
        return ready

    victims = wait_until(
        checkpointed_on_worker_1, timeout=400, poll=1.0, what="a checkpoint on worker-1"
    )
    watermarks = {i: checkpoint(client, run_id, i)["watermark"] for i in victims}  # type: ignore[index]
    running_on_1 = [
        ti.map_index
        for ti in load_tis(client, run_id)
        if ti.state == "running" and (ti.hostname or "").startswith("worker-1@")
    ]
    killed = stack.kill_worker("worker-1")
    assert killed, "worker-1 had no processes to kill"
    killed_at = time.monotonic() - began

    finished = client.wait_for_run(DAG_ID, run_id, timeout=900, poll=3.0)
    elapsed = time.monotonic() - began
    assert finished["state"] == "success", stack.log_tail("scheduler", 60)

    # Exactly once, field for field, every source row.
    assert assert_exact(emulator) == ROWS

    final = load_tis(client, run_id)
    assert [ti.state for ti in final] == ["success"] * PARTITIONS
    hosts = {
        (t.get("hostname") or "").split("@")[0]
        for i in range(PARTITIONS)
        for t in tries(client, run_id, i)
    }
    assert {"worker-1", "worker-2"} <= hosts, hosts

    for index in running_on_1:
        history = tries(client, run_id, index)
        first, last = history[0], history[-1]
        assert first["hostname"].startswith("worker-1@"), history
        assert last["state"] == "success" and last["hostname"].startswith("worker-2@"), history
        log = "\n".join(
            client.task_log(DAG_ID, run_id, LOAD_TASK, last["try_number"], map_index=index)
        )
        if index in watermarks:
            # The retry on the other worker read the checkpoint worker-1 had written.
            assert "Resuming partition" in log, log[-2000:]
            assert repr(watermarks[index]) in log or str(watermarks[index]) in log
    # The checkpoint is cleared when a partition succeeds (a later clear starts over).
    assert all(checkpoint(client, run_id, i) is None for i in range(PARTITIONS))
    report = client.xcom(DAG_ID, run_id, "reconcile")
    print(
        f"distributed: {ROWS} rows, {PARTITIONS} partitions, worker-1 killed at {killed_at:.0f}s "
        f"with partitions {running_on_1} running (checkpointed: {watermarks}); run done in "
        f"{elapsed:.0f}s; reconcile={report}"
    )
