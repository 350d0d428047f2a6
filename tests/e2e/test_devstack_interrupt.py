"""Ctrl-C must stop everything the harness started, wherever it lands: while Airflow is still
starting (the user gives up waiting) and once it is up (the normal end of a demo).

The harness runs as ``python -m devstack.airflow_stack`` in its own session, as it would under a
terminal; SIGINT goes to it alone (in a terminal the whole foreground group gets it, but the
components run in their own sessions, so the harness is the one that must clean up). Processes
are found by the ``DEVSTACK_STACK_ID`` tag in their environment, so orphans count too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.airflow_stack import REPO_ROOT, stack_processes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DAG = """
from __future__ import annotations
import pendulum
from airflow.sdk import dag, task

@dag(dag_id="devstack_idle", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def devstack_idle():
    @task
    def noop() -> None:
        return None
    noop()

devstack_idle()
"""

SETTINGS = "airflow:\n  connections: []\n  pools: []\n  variables: []\n"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "idle.py").write_text(DAG)
    (tmp_path / "settings.yaml").write_text(SETTINGS)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.airflow_stack",
            "--dags-folder",
            str(dags),
            "--settings",
            str(tmp_path / "settings.yaml"),
            "--dag-id",
            "devstack_idle",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("STARTING"), first
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    try:
        yield proc, fields["stack_id"], Path(fields["home"])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for leftover in stack_processes(fields["stack_id"]):
            leftover.kill()


def _interrupt_and_check(proc: subprocess.Popen[str], stack_id: str, home: Path) -> str:
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert stack_processes(stack_id) == [], output
    assert not home.exists(), "an interrupted (not failed) stack removes its home"
    return output


def test_ctrl_c_during_start_up_leaves_nothing_behind(
    harness: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, stack_id, home = harness
    deadline = time.monotonic() + 90
    # All four components spawned (plus, usually, some of their children) but not yet healthy.
    while len(stack_processes(stack_id)) < 4:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "components never started"
        time.sleep(0.2)
    time.sleep(2)
    _interrupt_and_check(proc, stack_id, home)


def test_ctrl_c_after_start_up_leaves_nothing_behind(
    harness: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, stack_id, home = harness
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("READY"):
            break
    else:
        pytest.fail("".join(lines))
    assert line.split()[1].startswith("http://127.0.0.1:")
    assert len(stack_processes(stack_id)) >= 4
    output = _interrupt_and_check(proc, stack_id, home)
    assert "stopped" in output
