"""Ctrl-C must stop everything the harness started, wherever it lands: while Airflow is still
starting (the user gives up waiting) and once it is up (the normal end of a demo).

The harness runs as ``python -m devstack.airflow_stack`` in its own session, as it would under a
terminal; SIGINT goes to it alone (in a terminal the whole foreground group gets it, but the
components run in their own sessions, so the harness is the one that must clean up). Leftovers
are looked up by the components' session ids (the harness logs each pid, which is also its
session id) and by the ``DEVSTACK_STACK_ID`` tag, so renamed processes and orphans count too.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
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

STARTED = re.compile(r"\[devstack\] started (\S+) pid=(\d+)")


@dataclass
class Harness:
    proc: subprocess.Popen[str]
    stack_id: str
    home: Path
    sessions: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def read_until(self, predicate: Callable[[str], bool], timeout: float = 150.0) -> str:
        """Read output lines (noting component pids) until one satisfies ``predicate``."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.lines.append(line)
            if match := STARTED.search(line):
                self.sessions[match.group(1)] = int(match.group(2))
            if predicate(line):
                return line
            assert time.monotonic() < deadline, "".join(self.lines)
        pytest.fail("harness exited early:\n" + "".join(self.lines))

    def leftovers(self) -> list[psutil.Process]:
        return stack_processes(self.stack_id, self.sessions.values())


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "idle.py").write_text(DAG)
    (tmp_path / "settings.yaml").write_text("airflow: {}\n")
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
    harness = Harness(proc, fields["stack_id"], Path(fields["home"]))
    try:
        yield harness
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for leftover in harness.leftovers():
            leftover.kill()


def _interrupt_and_check(harness: Harness) -> str:
    harness.proc.send_signal(signal.SIGINT)
    rest, _ = harness.proc.communicate(timeout=60)
    output = "".join(harness.lines) + rest
    assert harness.proc.returncode == 0, output
    assert harness.leftovers() == [], output
    assert not harness.home.exists(), "an interrupted (not failed) stack removes its home"
    return output


def test_ctrl_c_during_start_up_leaves_nothing_behind(harness: Harness) -> None:
    # All four components spawned, but Airflow not yet healthy (that takes ~15-30 s).
    harness.read_until(lambda line: "started triggerer" in line)
    assert set(harness.sessions) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    time.sleep(3)
    assert harness.proc.poll() is None
    _interrupt_and_check(harness)


def test_ctrl_c_after_start_up_leaves_nothing_behind(harness: Harness) -> None:
    line = harness.read_until(lambda text: text.startswith("READY"))
    assert line.split()[1].startswith("http://127.0.0.1:")
    assert len(harness.leftovers()) >= 4
    output = _interrupt_and_check(harness)
    assert "stopped" in output
