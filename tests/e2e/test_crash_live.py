"""Crash suite in a real Airflow: kill -9 at several points, nothing lost.

One LocalExecutor stack and one emulator process for the module. Every scenario loads its own
slice of the seeded keys (``range_start``/``range_end`` conf), so each proves exactness on rows no
earlier scenario touched. The victim is the task process of ``partition.load`` map index 0, found
with psutil by its title: Airflow 3's task runner renames itself ``airflow worker -- <TI id>``
and the TI id (new per try) comes from the REST API. Its supervisor survives, reports the failure,
and the try is retried (3 s later: the cluster policy of ``tests.support.live``).

The kill points are approximations driven by what the task publishes, since a test cannot pause
the task at an exact line:

* ``mid_page``: the task is running and no checkpoint exists yet: it is reading or packing its
  first page (Data Cloud query in progress) or creating its first jobs.
* ``after_upload``: the first Bulk job id has just appeared in the checkpoint; the next jobs of
  the same round are being created/uploaded/closed when the kill lands.
* ``jobs_in_flight``: at least one chunk settled (watermark set) and the current chunk has jobs
  submitted and not settled.
* ``checkpoint_write``: the state store's ``updated_at`` is polled every 50 ms and the task is
  killed the moment it changes, i.e. in the burst of writes around a settle.

In the ``jobs_in_flight`` scenario a headless Chromium also looks at the partition progress page
while the killed try waits for its retry: the partition must say it is up for retry and when the
next try starts (the killed try's end + the retry delay), and show the records it had loaded and
the ones still pending instead of "Loaded 0"; and after the run, with no console error or 5xx.

Plus: the scheduler killed (-9, its LocalExecutor and the running task with it) and restarted
mid-run (the new scheduler resets the orphaned TI, which then runs again and resumes); the emulator
killed while jobs are in flight and restarted 5 s later on the same port with the same org (its
Bulk jobs and sessions are gone, as they can be after a Salesforce incident). Each scenario ends
with the run ``success`` and every row of its slice in Salesforce exactly once, field for field.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.airflow_stack import AirflowStack
from tests.integration.plugin import progress_browser as pb
from tests.support.live import (
    DAG_ID,
    LOAD_TASK,
    RestartableEmulator,
    checkpoint,
    install_fast_retries,
    load_ti,
    state_store,
    task_process,
    tries,
    wait_until,
)
from tests.support.loading import assert_exact, source_rows

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

SCENARIOS = [
    "mid_page",
    "after_upload",
    "jobs_in_flight",
    "checkpoint_write",
    "scheduler_restart",
    "emulator_restart",
]
ROWS_PER_SCENARIO = 8_000
#: Retry delay of the load task in this stack: long enough for the browser to see the partition
#: up for retry after a kill (a page load under load takes a few seconds), short for the suite.
RETRY_SECONDS = 12
#: The scenario whose killed partition the browser looks at: some records loaded, some pending.
BROWSER_POINT = "jobs_in_flight"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableEmulator]:
    # time_scale 10: the simulated org runs 10x slower than real time, so one 8,000-row
    # partition takes tens of seconds and each kill point has room to land.
    with RestartableEmulator(
        workdir=tmp_path_factory.mktemp("emulator"),
        rows=ROWS_PER_SCENARIO * len(SCENARIOS),
        accounts=400,
        time_scale=10.0,
    ) as emu:
        yield emu


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, emulator: RestartableEmulator
) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("crash") / "home"
    install_fast_retries(home, seconds=RETRY_SECONDS, retries=4)
    with AirflowStack(
        home=home,
        emulator_url=emulator.base_url,
        emulator_ca=emulator.ca_bundle,
        dag_ids=[DAG_ID],
        config={
            # Tasks orphaned by a scheduler kill stop heartbeating: fail them after 20 s.
            "scheduler.task_instance_heartbeat_timeout": "20",
            "scheduler.task_instance_heartbeat_timeout_detection_interval": "5",
            # A restarted scheduler only fails TIs it queued itself; a dead scheduler's running
            # TIs are first adopted/reset by `adopt_or_reset_orphaned_tasks`, every
            # orphaned_tasks_check_interval (default 300 s) once the old job missed
            # scheduler_health_check_threshold (default 30 s). Shortened so the test takes
            # seconds; with the defaults the same recovery takes ~5 min.
            "scheduler.orphaned_tasks_check_interval": "15",
            "scheduler.scheduler_health_check_threshold": "10",
        },
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser(stack: AirflowStack) -> Iterator[Any]:
    """Headless Chromium logged in to the crash stack through Airflow's login form."""
    reason = pb.ensure_chromium()
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    web = pb.make_driver()
    try:
        pb.login(web, stack.api_url, stack.username, stack.password)
        yield web
    finally:
        web.quit()


@pytest.fixture(scope="module")
def slices(emulator: RestartableEmulator) -> dict[str, list[str]]:
    """Scenario -> its keys (consecutive, disjoint)."""
    keys = sorted(source_rows(emulator))
    n = ROWS_PER_SCENARIO
    return {name: keys[i * n : (i + 1) * n] for i, name in enumerate(SCENARIOS)}


@dataclass
class Run:
    stack: AirflowStack
    run_id: str

    def ti(self) -> dict[str, Any]:
        return load_ti(self.stack.client, self.run_id, 0)

    def checkpoint(self) -> dict[str, Any] | None:
        return checkpoint(self.stack.client, self.run_id, 0)

    def running_ti(self) -> dict[str, Any] | None:
        ti = self.ti()
        return ti if ti.get("state") == "running" else None


def _trigger(stack: AirflowStack, all_keys: list[str], keys: list[str]) -> Run:
    first = all_keys.index(keys[0])
    conf = {
        "partitions": 1,
        "stagger_minutes": 0,
        "page_size": 500,
        "records_per_job": 500,
        "max_in_flight": 2,
        "deferrable": "no",
        "range_start": all_keys[first - 1] if first else None,
        "range_end": keys[-1],
        "dead_letter_root": f"file://{stack.home / 'dead_letters'}",
    }
    run = stack.client.trigger(DAG_ID, conf)
    return Run(stack, run["dag_run_id"])


def _kill_task(run: Run) -> dict[str, Any]:
    ti = run.running_ti()
    assert ti is not None, "the load is not running at the kill point"
    proc = wait_until(lambda: task_process(ti["id"]), timeout=30, poll=0.1, what="task process")
    proc.send_signal(signal.SIGKILL)
    return ti


def _wait_mid_page(run: Run) -> None:
    wait_until(
        lambda: (ti := run.running_ti()) is not None and task_process(ti["id"]) is not None,
        timeout=300,
        poll=0.2,
        what="load running",
    )
    assert run.checkpoint() is None or not run.checkpoint().get("chunk", {}).get("jobs")


def _wait_after_upload(run: Run) -> None:
    wait_until(
        lambda: (run.checkpoint() or {}).get("chunk") and run.checkpoint()["chunk"].get("jobs"),
        timeout=300,
        poll=0.1,
        what="first job in the checkpoint",
    )


def _jobs_in_flight(run: Run) -> bool:
    cp = run.checkpoint() or {}
    chunk = cp.get("chunk") or {}
    return bool(cp.get("watermark") and chunk.get("jobs"))


def _wait_jobs_in_flight(run: Run) -> None:
    wait_until(lambda: _jobs_in_flight(run), timeout=300, poll=0.2, what="jobs in flight")


def _wait_checkpoint_write(run: Run) -> None:
    client = run.stack.client
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run.run_id}/taskInstances/{LOAD_TASK}/state-store"

    def stamp() -> str | None:
        body = client.request("GET", path, params={"map_index": 0}, expect=(404,)).json()
        entries = body.get("task_state_store") or []
        return max((e.get("updated_at") or "" for e in entries), default=None)

    # Past the first chunk, so the write being interrupted is a mid-partition one.
    wait_until(lambda: (run.checkpoint() or {}).get("watermark"), timeout=300, poll=0.2)
    first = stamp()
    wait_until(lambda: stamp() != first, timeout=120, poll=0.05, what="a checkpoint write")


WAITS: dict[str, Callable[[Run], None]] = {
    "mid_page": _wait_mid_page,
    "after_upload": _wait_after_upload,
    "jobs_in_flight": _wait_jobs_in_flight,
    "checkpoint_write": _wait_checkpoint_write,
}


@pytest.mark.parametrize("point", list(WAITS))
def test_task_killed_at_a_point_resumes_exactly(
    point: str,
    stack: AirflowStack,
    emulator: RestartableEmulator,
    slices: dict[str, list[str]],
    request: pytest.FixtureRequest,
) -> None:
    all_keys = sorted(k for s in slices.values() for k in s)
    browser = request.getfixturevalue("browser") if point == BROWSER_POINT else None
    errors = pb.BrowserErrors(browser).collect() if browser else None
    if errors:
        errors.console.clear()  # the login page's own messages are not the progress view's
    began = time.monotonic()
    run = _trigger(stack, all_keys, slices[point])
    WAITS[point](run)
    state_before = run.checkpoint()
    killed = _kill_task(run)
    if browser:
        _page_while_up_for_retry(run, browser)
    finished = stack.client.wait_for_run(DAG_ID, run.run_id, timeout=600, poll=2.0)
    assert finished["state"] == "success", stack.log_tail("scheduler", 60)
    assert assert_exact(emulator, slices[point]) == ROWS_PER_SCENARIO

    history = tries(stack.client, run.run_id, 0)
    assert [t["state"] for t in history][-1] == "success"
    assert len(history) >= 2, f"{point}: the kill did not cost a try: {history}"
    assert history[0]["try_number"] == killed["try_number"]
    last = history[-1]
    log = "\n".join(
        stack.client.task_log(DAG_ID, run.run_id, LOAD_TASK, last["try_number"], map_index=0)
    )
    if state_before and state_before.get("watermark"):
        assert "Resuming partition" in log, log[-2000:]
    # Cleared on success: a later clear of this partition starts over, not at the end.
    assert state_store(stack.client, run.run_id, 0).get("checkpoint") is None
    if browser and errors:
        pb.open_run_page(browser, stack.api_url, DAG_ID, run.run_id)
        after = pb.read_partitions(browser)[0]
        assert after["State"].startswith("success"), after
        pb.save_screenshot(browser, ARTIFACTS / "progress-crash-after.png")
        browser.set_window_size(1400, 1000)
        assert errors.problems() == [], errors.problems()
    print(
        f"crash {point}: killed try {killed['try_number']} at watermark "
        f"{(state_before or {}).get('watermark')!r}; {len(history)} tries; "
        f"{time.monotonic() - began:.0f}s"
    )


def _page_while_up_for_retry(run: Run, browser: Any) -> None:
    """The progress page of the killed partition while Airflow waits to start its next try."""
    ti = wait_until(
        lambda: (t := run.ti()).get("state") == "up_for_retry" and t,
        timeout=60,
        poll=0.2,
        what="the killed try to be up for retry",
    )
    stack = run.stack
    pb.open_run_page(browser, stack.api_url, DAG_ID, run.run_id)
    row = pb.read_partitions(browser)[0]
    ended = dt.datetime.fromisoformat(ti["end_date"].replace("Z", "+00:00"))
    retry_at = ended + dt.timedelta(seconds=RETRY_SECONDS)  # retry_delay, no backoff here
    assert row["State"].startswith(f"up for retry at {retry_at:%H:%M:%S} UTC"), row
    assert "resumes from the checkpoint" in row["State"], row
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {stack.client.token()}"
        report = http.get(f"/dc2sf/api/runs/{DAG_ID}/{run.run_id}").json()
    part = report["partitions"][0]
    # What the killed try had settled, not "Loaded 0"; and what it had sent, still pending.
    assert part["succeeded"] > 0, part
    loaded, *pending = row["Loaded"].split("\n")
    assert loaded == f"{part['succeeded']:,}", row
    if part["unsettled"]:
        assert pending == [f"+{part['unsettled']:,} pending"], row
    pb.save_screenshot(browser, ARTIFACTS / "progress-crash-up-for-retry.png")
    browser.set_window_size(1400, 1000)

    # The next try: running (or already done), never back to "Loaded 0" below what was settled.
    wait_until(
        lambda: (
            (t := run.ti()).get("try_number", 0) > ti["try_number"]
            and t.get("state") in ("running", "success")
        ),
        timeout=120,
        poll=0.5,
        what="the next try to start",
    )
    pb.open_run_page(browser, stack.api_url, DAG_ID, run.run_id)
    retried = pb.read_partitions(browser)[0]
    assert retried["State"].startswith(
        (
            f"running (try {ti['try_number'] + 1})",
            f"retrying (try {ti['try_number'] + 1})",
            "success",
        )
    ), retried
    shown = retried["Loaded"].split("\n")[0]
    assert shown == "–" or int(shown.replace(",", "")) >= part["succeeded"], retried
    print(
        f"crash {BROWSER_POINT}: page showed {row['State'].splitlines()[0]!r}, "
        f"Loaded {row['Loaded']!r}; then {retried['State'].splitlines()[0]!r}, "
        f"Loaded {retried['Loaded']!r}"
    )


def test_scheduler_restarted_mid_run(
    stack: AirflowStack, emulator: RestartableEmulator, slices: dict[str, list[str]]
) -> None:
    all_keys = sorted(k for s in slices.values() for k in s)
    began = time.monotonic()
    run = _trigger(stack, all_keys, slices["scheduler_restart"])
    _wait_jobs_in_flight(run)
    scheduler = next(c for c in stack.components() if c.name == "scheduler")
    stack.kill_component("scheduler", signal.SIGKILL)
    time.sleep(3)
    stack.start_component(scheduler)
    finished = stack.client.wait_for_run(DAG_ID, run.run_id, timeout=600, poll=2.0)
    assert finished["state"] == "success", stack.log_tail("scheduler", 60)
    assert assert_exact(emulator, slices["scheduler_restart"]) == ROWS_PER_SCENARIO
    history = tries(stack.client, run.run_id, 0)
    print(
        f"crash scheduler_restart: {len(history)} tries "
        f"({[t['state'] for t in history]}); {time.monotonic() - began:.0f}s"
    )


def test_emulator_restarted_with_jobs_in_flight(
    stack: AirflowStack, emulator: RestartableEmulator, slices: dict[str, list[str]]
) -> None:
    all_keys = sorted(k for s in slices.values() for k in s)
    began = time.monotonic()
    run = _trigger(stack, all_keys, slices["emulator_restart"])
    _wait_jobs_in_flight(run)
    in_flight = list(((run.checkpoint() or {}).get("chunk") or {}).get("jobs") or [])
    emulator.restart(down_seconds=5.0)
    finished = stack.client.wait_for_run(DAG_ID, run.run_id, timeout=600, poll=2.0)
    assert finished["state"] == "success", stack.log_tail("scheduler", 60)
    assert assert_exact(emulator, slices["emulator_restart"]) == ROWS_PER_SCENARIO
    history = tries(stack.client, run.run_id, 0)
    logs = "\n".join(
        line
        for t in history
        for line in stack.client.task_log(
            DAG_ID, run.run_id, LOAD_TASK, t["try_number"], map_index=0
        )
    )
    # The lost jobs were noticed (404) and their chunk sent again, not waited on forever.
    assert "no longer exists in Salesforce" in logs, logs[-3000:]
    print(
        f"crash emulator_restart: jobs in flight {len(in_flight)} lost with the emulator; "
        f"{len(history)} tries ({[t['state'] for t in history]}); "
        f"{time.monotonic() - began:.0f}s"
    )
