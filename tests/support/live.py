"""Helpers for the e2e tests that run the load DAG in a real Airflow (distributed and crash suites).

Shared here because both suites need the same four things: an emulator that runs in its own
process (so it can be restarted, and so a killed task cannot take it down), a view of its SQLite
file that ``tests.support.loading.assert_exact`` can read, short retries for the real DAG without
editing it, and a poll of the task state store over REST.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from devstack.emulator_process import EmulatorProcess
from devstack.processes import free_port
from devstack.rest import AirflowClient

DAG_ID = "datacloud_to_salesforce"
LOAD_TASK = "partition.load"

#: Cluster policy for the test stacks: the DAG's retry_delay is 2 min with exponential backoff, a
#: test wants the retry in seconds. Conf cannot change retry_delay and the DAG file is the product,
#: so the stack's ``$AIRFLOW_HOME/config/airflow_local_settings.py`` (on sys.path of every
#: component) shortens it at parse time: the real DAG, unchanged, with test retries.
FAST_RETRY_POLICY = '''
from __future__ import annotations

from datetime import timedelta


def task_policy(task):
    """Test stacks only: retry after {seconds} s instead of minutes."""
    if task.dag_id == "datacloud_to_salesforce" and task.task_id == "partition.load":
        task.retry_delay = timedelta(seconds={seconds})
        task.retry_exponential_backoff = 0
        task.retries = max(task.retries or 0, {retries})
'''


def install_fast_retries(home: Path, *, seconds: int = 3, retries: int = 4) -> None:
    """Write the test cluster policy into ``home/config`` (before the stack starts)."""
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "airflow_local_settings.py").write_text(
        FAST_RETRY_POLICY.format(seconds=seconds, retries=retries)
    )


class _SqliteState:
    """``emu.state.connect()`` over the emulator process's database file (what assert_exact
    reads): a fresh read-only connection per call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            yield conn
        finally:
            conn.close()


class RestartableEmulator(EmulatorProcess):
    """An emulator process on a fixed port whose org survives a restart (same SQLite file, same
    CA path): what a Salesforce outage looks like to the client. In-memory state (Bulk jobs,
    sessions) is lost on restart, as jobs and sessions can be on a real incident."""

    def __init__(self, *, workdir: Path, port: int | None = None, **kwargs: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir=workdir, **kwargs)
        self.port = port or free_port()
        self.state = _SqliteState(self.workdir / "emulator.sqlite3")

    def command(self) -> list[str]:
        argv = super().command()
        argv[argv.index("--port") + 1] = str(self.port)
        return argv

    def restart(self, *, down_seconds: float = 0.0) -> None:
        """Kill -9 (no graceful shutdown: jobs in flight vanish), optionally stay down, start
        again without re-seeding (the org and the Data Cloud rows stay)."""
        if self._proc is not None:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(self._proc.pid).children(recursive=True):
                    child.kill()
            self._proc.kill()
            self._proc.wait(timeout=30)
        self.stop()
        time.sleep(down_seconds)
        # start() waits for the URL line in the log: keep the old run's log aside so the new
        # server's line is the only one.
        if self.log_path.exists():
            self.log_path.rename(self.log_path.with_suffix(f".{int(time.time())}.log"))
        self.rows = 0  # keep the seeded data
        self.base_url = ""
        self.start()


def state_store(
    client: AirflowClient, run_id: str, map_index: int, task_id: str = LOAD_TASK
) -> dict[str, Any]:
    """The task state store of one mapped TI over REST (``{key: value}``; empty when none)."""
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/state-store"
    response = client.request("GET", path, params={"map_index": map_index}, expect=(404,))
    if response.status_code == 404:
        return {}
    body = response.json()
    entries = body.get("entries") or body.get("task_state_store") or body.get("items")
    if isinstance(entries, list):
        return {e.get("key"): e.get("value") for e in entries}
    return dict(body)


def checkpoint(client: AirflowClient, run_id: str, map_index: int) -> dict[str, Any] | None:
    """The loader's checkpoint (``include.dc2sf.engine.loader.CHECKPOINT_KEY``) or None."""
    from include.dc2sf.engine.loader import CHECKPOINT_KEY

    value = state_store(client, run_id, map_index).get(CHECKPOINT_KEY)
    if isinstance(value, str):
        import json

        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return value if isinstance(value, dict) else None


@dataclass
class LoadTi:
    map_index: int
    state: str | None
    try_number: int
    hostname: str | None


def load_tis(client: AirflowClient, run_id: str) -> list[LoadTi]:
    return [
        LoadTi(ti["map_index"], ti.get("state"), int(ti.get("try_number") or 0), ti.get("hostname"))
        for ti in client.mapped_task_instances(DAG_ID, run_id, LOAD_TASK)
    ]


def tries(client: AirflowClient, run_id: str, map_index: int) -> list[dict[str, Any]]:
    """Every try of one load TI (``/tries``): state and hostname of each."""
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{LOAD_TASK}/{map_index}/tries"
    return list(client.request("GET", path).json().get("task_instances", []))


def wait_until(
    condition: Callable[[], Any], *, timeout: float, poll: float = 1.0, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def task_process(ti_id: str) -> psutil.Process | None:
    """The process running one try of a task: Airflow 3's task runner retitles itself
    ``airflow worker -- <task instance id>`` (``task_runner.startup``, setproctitle), and the id is
    the TI's ``id`` in the REST API (new for every try). Its parent is the supervisor, which
    survives a kill of the task and reports the failure."""
    wanted = f"-- {ti_id}"
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if wanted in " ".join(proc.info.get("cmdline") or []):
                return proc
    return None


def load_ti(client: AirflowClient, run_id: str, map_index: int) -> dict[str, Any]:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{LOAD_TASK}/{map_index}"
    response = client.request("GET", path, expect=(404,))
    # 404 until `plan` has run and the mapped group is expanded.
    return {} if response.status_code == 404 else dict(response.json())
