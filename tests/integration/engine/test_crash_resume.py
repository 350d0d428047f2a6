"""Crash and resume: the process running a partition is killed (SIGKILL) with jobs in flight after
some chunks settled; a new process resumes from the checkpoint, re-sends at most the in-flight
window, and the final state is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.config import EmulatorConfig
from include.dc2sf.engine.loader import CHECKPOINT_KEY
from tests.conftest import REPO_ROOT
from tests.support.loading import assert_exact

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS, PER_JOB, IN_FLIGHT = 6_000, 500, 2


def _start(store: Path, dead: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.run_partition",
            str(store),
            str(dead),
            str(PER_JOB),
            str(IN_FLIGHT),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _checkpoint(store: Path) -> dict | None:
    try:
        return json.loads(store.read_text()).get(CHECKPOINT_KEY)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_killed_process_resumes_exactly(emulator_factory, tmp_path: Path) -> None:
    # A little simulated processing time so jobs are still in flight when the process dies.
    config = EmulatorConfig(time_scale=0.05)
    config.bulk.records_per_second_per_worker = 20_000
    emu = emulator_factory(config, rows=ROWS, accounts=60)
    store, dead = tmp_path / "state.json", tmp_path / "dead"
    first = _start(store, dead)
    deadline = time.monotonic() + 120
    checkpoint = None
    while time.monotonic() < deadline:
        checkpoint = _checkpoint(store)
        if (
            checkpoint
            and checkpoint["chunks_done"] >= 1
            and checkpoint["chunk"]
            and checkpoint["chunk"]["jobs"]
        ):
            break
        assert first.poll() is None, "the load finished before it could be killed"
        time.sleep(0.005)
    else:
        first.kill()
        raise AssertionError("never reached a point with jobs in flight after a settled chunk")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    in_flight = list(checkpoint["chunk"]["jobs"].values())
    settled_before = checkpoint["totals"]["succeeded"]
    assert settled_before > 0 and in_flight
    jobs_before = {j["id"] for j in emu.admin.get("/jobs").json()["jobs"]}

    second = _start(store, dead)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["processed"], summary["succeeded"], summary["dead_lettered"]) == (ROWS, ROWS, 0)
    assert assert_exact(emu) == ROWS
    # Re-attached, not re-sent: the new process created jobs only for what was not yet submitted,
    # and across both processes no more than one in-flight window was sent twice.
    all_jobs = emu.admin.get("/jobs").json()["jobs"]
    new_jobs = [j for j in all_jobs if j["id"] not in jobs_before]
    assert sum(j.get("numberRecordsProcessed", 0) for j in new_jobs) <= ROWS - settled_before
    sent = sum(j.get("numberRecordsProcessed", 0) for j in all_jobs)
    assert sent - ROWS - summary["retried"] <= PER_JOB * IN_FLIGHT
    assert _checkpoint(store) is None  # cleared on success
