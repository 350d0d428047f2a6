"""The local stack harness against a real Airflow 3.3: one stack for the module, a tiny DAG of our
own (the load DAG has its own e2e tests), a real HTTPS emulator its connection points at.

What it proves: a DAG in a given folder is parsed and unpaused; a run triggered over REST with
``logical_date: null`` succeeds through the scheduler, LocalExecutor and the execution API; the
connection, pool and variable come from an ``airflow_settings.yaml``; mapped XComs are readable per
map index; conf that breaks a Param's ``minimum`` is refused over REST and by ``airflow dags
trigger`` with the schema's words; and leaving the ``with`` block leaves no process behind.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import airflow_stack
from devstack.airflow_stack import AirflowStack, free_port, stack_processes
from emulator.config import EmulatorConfig
from emulator.testing import EmulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DAG_ID = "devstack_e2e"

# Reads its connection, its variable and calls the emulator through the connection's own
# login_url + ca_bundle: proof that the env connection (with emulator overrides) reached the task.
DAG_SOURCE = """
from __future__ import annotations

import pendulum
from airflow.sdk import BaseHook, Param, Variable, dag, task


@dag(
    dag_id="devstack_e2e",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"n": Param(3, type="integer", minimum=1, maximum=20)},
)
def devstack_e2e():
    @task
    def plan(params=None) -> list[int]:
        return list(range(params["n"]))

    @task(pool="devstack_pool")
    def work(i: int, ti=None) -> int:
        ti.xcom_push(key="progress", value={"partition": i, "state": "done"})
        return i * i

    @task
    def check(squares: list[int]) -> dict:
        import requests

        conn = BaseHook.get_connection("salesforce_default")
        extra = conn.extra_dejson
        health = requests.get(
            extra["login_url"] + "/__emulator__/health", verify=extra["ca_bundle"], timeout=10
        )
        return {
            "squares": sorted(squares),
            "emulator": health.status_code,
            "login": conn.login,
            "greeting": Variable.get("devstack_greeting"),
        }

    check(work.expand(i=plan()))


devstack_e2e()
"""

SETTINGS_YAML = """
airflow:
  connections:
    - conn_id: salesforce_default
      conn_type: salesforce
      conn_login: e2e@example.com
      conn_password: e2e-password
      conn_extra:
        security_token: e2e-token
        login_url: https://placeholder.invalid
  pools:
    - pool_name: devstack_pool
      pool_slot: 2
      pool_description: e2e pool
  variables:
    - variable_name: devstack_greeting
      variable_value: hello from airflow_settings.yaml
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(time_scale=0.0)) as server:
        yield server


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorServer
) -> Iterator[AirflowStack]:
    root = tmp_path_factory.mktemp("devstack")
    dags = root / "dags"
    dags.mkdir()
    (dags / "devstack_e2e.py").write_text(DAG_SOURCE)
    settings = root / "airflow_settings.yaml"
    settings.write_text(SETTINGS_YAML)
    # The port the stack picks first is taken before the api-server binds it, as another
    # stack starting on the same machine does: start-up must move to another port.
    with socket.socket() as squatter, pytest.MonkeyPatch.context() as patch:
        squatter.bind(("127.0.0.1", 0))
        picks = iter([squatter.getsockname()[1]])
        patch.setattr(airflow_stack, "free_port", lambda: next(picks, None) or free_port())
        stack = AirflowStack(
            dags_folder=dags,
            plugins_folder=root / "no-plugins",
            settings=settings,
            emulator_url=emulator.base_url,
            emulator_ca=emulator.ca_bundle,
            dag_ids=[DAG_ID],
        )
        assert stack.api_port == squatter.getsockname()[1]
        stack.squatted_port = squatter.getsockname()[1]  # type: ignore[attr-defined]
        with stack:
            yield stack
    # Leaving the block must leave nothing running and remove the throwaway home.
    assert stack_processes(stack.stack_id, stack.sessions) == []
    assert not stack.home.exists()


def test_stack_is_isolated_from_the_repo(stack: AirflowStack) -> None:
    repo_home = (Path(__file__).resolve().parents[2] / ".airflow").resolve()
    assert stack.home != repo_home
    assert stack.env["AIRFLOW_HOME"] == str(stack.home)
    assert stack.env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    # api-server, scheduler, dag-processor, triggerer (+ children), found although Airflow
    # renames some of them with setproctitle.
    pids = {p.pid for p in stack.processes()}
    assert set(stack.sessions) <= pids and len(stack.sessions) == 4
    assert stack.started_in is not None and stack.started_in < 180


def test_a_port_taken_during_start_up_is_replaced(stack: AirflowStack) -> None:
    assert stack.api_port != stack.squatted_port  # type: ignore[attr-defined]
    assert stack.client.health()["scheduler"]["status"] == "healthy"


def test_cli_env_points_a_shell_at_the_stack(stack: AirflowStack) -> None:
    """What ``source <home>/cli.env`` gives a terminal: this stack's home, URL and login even
    when the shell has another ``AIRFLOW_HOME`` (the Makefile's), and the venv's ``airflow``."""
    assert stack.cli_env_path.stat().st_mode & 0o077 == 0  # holds the password: owner only
    shell = subprocess.run(
        [
            "bash",
            "-c",
            f'source "{stack.cli_env_path}" && echo "$AIRFLOW_HOME" "$AIRFLOW_URL" '
            '"$AIRFLOW_USER" "$AIRFLOW__CORE__DAGS_FOLDER" "${AIRFLOW_STRAY-unset}" '
            '"$(command -v airflow)"',
        ],
        env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": "/elsewhere", "AIRFLOW_STRAY": "1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert shell.stdout.split() == [
        str(stack.home),
        stack.api_url,
        stack.username,
        str(stack.dags_folder),
        "unset",
        str(stack.bin_dir / "airflow"),
    ]


def test_pool_and_variable_come_from_the_settings_file(stack: AirflowStack) -> None:
    assert stack.client.get_pool("devstack_pool")["slots"] == 2
    assert stack.client.get_variable("devstack_greeting") == "hello from airflow_settings.yaml"
    dag = stack.client.get_dag(DAG_ID)
    assert dag is not None and dag["is_paused"] is False


def test_rest_trigger_runs_to_success_and_xcoms_are_readable(
    stack: AirflowStack, emulator: EmulatorServer
) -> None:
    client = stack.client
    run = client.trigger(DAG_ID, {"n": 4})
    assert run["logical_date"] is None
    finished = client.wait_for_run(DAG_ID, run["dag_run_id"], timeout=150, poll=1.0)
    assert finished["state"] == "success", stack.log_tail("scheduler")

    mapped = client.mapped_task_instances(DAG_ID, run["dag_run_id"], "work")
    assert [ti["map_index"] for ti in mapped] == [0, 1, 2, 3]
    assert {ti["state"] for ti in mapped} == {"success"}
    assert {ti["pool"] for ti in mapped} == {"devstack_pool"}

    progress = [
        client.xcom(DAG_ID, run["dag_run_id"], "work", "progress", map_index=i) for i in range(4)
    ]
    assert progress == [{"partition": i, "state": "done"} for i in range(4)]
    assert client.xcom(DAG_ID, run["dag_run_id"], "work", map_index=3) == 9
    assert client.xcom(DAG_ID, run["dag_run_id"], "work", "missing", default="none") == "none"

    result = client.xcom(DAG_ID, run["dag_run_id"], "check")
    assert result == {
        "squares": [0, 1, 4, 9],
        "emulator": 200,
        "login": "e2e@example.com",
        "greeting": "hello from airflow_settings.yaml",
    }
    assert {ti["task_id"] for ti in client.task_instances(DAG_ID, run["dag_run_id"])} == {
        "plan",
        "work",
        "check",
    }


def test_invalid_conf_is_refused_over_rest_with_the_schema_message(stack: AirflowStack) -> None:
    message = stack.client.trigger_error(DAG_ID, {"n": 0})
    assert "0 is less than the minimum of 1" in message
    assert "param n" in message.lower()


def test_invalid_conf_is_refused_by_the_cli(stack: AirflowStack) -> None:
    result = stack.cli("dags", "trigger", DAG_ID, "--conf", '{"n": 0}', check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "0 is less than the minimum of 1" in output
