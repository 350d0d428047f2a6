"""The progress page in headless Chromium, served by a real uvicorn with the seeded DB.

It logs in through Airflow's login form, sees every partition, sees the numbers move when the
`progress` XComs change, checks the narrow-window layout, and saves the screenshot used by the
README. The helpers in progress_browser.py take a base URL and credentials, so the end-to-end test
against a live `airflow standalone` load reuses them unchanged.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import progress_browser as pb
import progress_seeding as s
import pytest
from conftest import ACTIVE_RUN, JOB_SHAPE_FALLBACK, PASSWORDS, REPO, RETRY_RUN, Scenario
from fixture_dags.progress_fixture import LOAD_RETRY_SECONDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACT = REPO / "test-artifacts" / "progress-view.png"


@pytest.fixture(scope="module")
def chromium() -> None:
    reason = pb.ensure_chromium()
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")


@pytest.fixture(scope="module")
def live_server(api_app: Any, scenario: Scenario) -> Iterator[str]:
    """The same api-server app on a real port (the browser needs a socket, not a TestClient)."""
    from seeded_server import serve

    with serve(api_app) as url:
        yield url


@pytest.fixture(scope="module")
def driver(chromium: None) -> Iterator[Any]:
    web = pb.make_driver()
    try:
        yield web
    finally:
        web.quit()


def test_page_in_chromium(driver: Any, live_server: str, scenario: Scenario) -> None:
    dag_id = s.FIXTURE_DAG_ID
    pb.login(driver, live_server, "viewer", PASSWORDS["viewer"])
    errors = pb.BrowserErrors(driver).collect()  # the login page's own messages are not ours
    errors.console.clear()
    pb.open_run_page(driver, live_server, dag_id, ACTIVE_RUN)

    rows = pb.read_partitions(driver)
    assert sorted(rows) == [0, 1, 2, 3, 4]
    assert rows[1]["State"].startswith("running")
    assert rows[3]["State"].startswith(f"waiting until {scenario.fire_at[3]:%H:%M:%S} UTC")
    assert rows[1]["Processed"] == "25,000"
    assert rows[1]["Loaded"] == "22,500\n+2,400 pending"  # 25,000 read - 22,600 settled
    # Name and range once each: Airflow's rendered label (which repeats the range) is the tooltip.
    assert rows[0]["Partition"] == "p0\n(k00000, k01000]"
    assert "Range" not in rows[0] and "Failed attempts" in rows[0]
    # A normal window: every column fits, no sideways scrolling.
    assert driver.get_window_size()["width"] == 1400
    assert pb.table_overflow(driver) <= 0
    # A partition that fell back to single-batch jobs says so, with the reason.
    assert (
        f"Single-batch jobs (10,000 records, 8 in flight): {JOB_SHAPE_FALLBACK}" in rows[2]["State"]
    )
    assert "Single-batch jobs" not in rows[1]["State"]
    totals = pb.read_totals(driver)
    assert totals["succeeded"] == f"{sum(p['succeeded'] for p in scenario.progress.values()):,}"
    first = pb.generated_at(driver)

    # The load moves on: the page must pick the new XCom up on its own.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    moved = dict(scenario.progress[1])
    moved.update(processed=31_000, succeeded=28_400, updated_at=now.timestamp(), jobs_in_flight=3)
    s.push_progress(ACTIVE_RUN, 1, moved)
    pb.wait_until(
        lambda: pb.read_partitions(driver)[1]["Loaded"].startswith("28,400\n"), timeout=20
    )
    assert pb.generated_at(driver) != first
    assert pb.read_partitions(driver)[1]["Processed"] == "31,000"
    assert pb.chart_series(driver)[1] >= 2  # started_at origin + samples
    # The README's screenshot comes from the live run (tests/e2e/test_progress_view_live.py);
    # this seeded page only leaves an artifact.
    pb.save_screenshot(driver, ARTIFACT)
    assert ARTIFACT.stat().st_size > 10_000

    # Log links go to the Airflow UI, relative to wherever Airflow is served.
    link = driver.execute_script(
        "return document.querySelector('tr[data-map-index=\"1\"] .links a').href"
    )
    assert link == (
        f"{live_server}/dags/{dag_id}/runs/{ACTIVE_RUN}/tasks/partition.load/mapped/1?try_number=1"
    )

    # Narrow window: rows become labelled cards, nothing needs horizontal scrolling.
    driver.set_window_size(420, 900)
    pb.wait_until(
        lambda: (
            driver.execute_script(
                "return getComputedStyle(document.querySelector('#partitions thead')).display"
            )
            == "none"
        )
    )
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1
    pb.save_screenshot(driver, ARTIFACT.with_name("progress-view-narrow.png"))
    driver.set_window_size(1400, 1000)
    assert errors.problems() == []


def test_partition_up_for_retry_in_chromium(
    driver: Any, live_server: str, scenario: Scenario
) -> None:
    """After a kill: the settled count, the records still pending, and when the retry starts."""
    errors = pb.BrowserErrors(driver).collect()
    errors.console.clear()
    pb.open_run_page(driver, live_server, s.FIXTURE_DAG_ID, RETRY_RUN)
    rows = pb.read_partitions(driver)
    assert scenario.killed_at is not None
    retry_at = scenario.killed_at + dt.timedelta(seconds=LOAD_RETRY_SECONDS)
    state = rows[0]["State"]
    assert state.startswith(f"up for retry at {retry_at:%H:%M:%S} UTC"), state
    assert "try 1 ended; the next starts in " in state and "resumes from the checkpoint" in state
    assert rows[0]["Loaded"] == "10,000\n+30,000 pending"
    assert rows[1]["Loaded"] == "–" and "has not reported progress yet" in rows[1]["State"]
    assert pb.table_overflow(driver) <= 0
    pb.save_screenshot(driver, ARTIFACT.with_name("progress-view-retry.png"))
    assert errors.problems() == []


def test_run_list_in_chromium(driver: Any, live_server: str, scenario: Scenario) -> None:
    driver.get(f"{live_server}/dc2sf/runs?dag_id={s.FIXTURE_DAG_ID}")
    pb.wait_until(
        lambda: (
            driver.execute_script(
                "return document.querySelectorAll('#runs tr[data-run-id]').length"
            )
            == 3
        )
    )
    driver.execute_script("document.querySelector('#runs tr[data-run-id] a').click()")
    pb.wait_until(lambda: pb.generated_at(driver))
    assert driver.current_url.endswith(f"/dc2sf/runs/{s.FIXTURE_DAG_ID}/{ACTIVE_RUN}")


def test_anonymous_browser_lands_on_the_login_page(live_server: str, chromium: None) -> None:
    web = pb.make_driver()
    try:
        web.get(pb.run_page_url(live_server, s.FIXTURE_DAG_ID, ACTIVE_RUN))
        pb.wait_until(lambda: "/auth/login" in web.current_url)
        assert "next=" in web.current_url
    finally:
        web.quit()


def test_cli_over_real_http(live_server: str, scenario: Scenario) -> None:
    """`python -m include.dc2sf.report` as a user runs it, password from the environment."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "include.dc2sf.report",
            "--url",
            live_server,
            "--user",
            "admin",
            "--dag-id",
            s.FIXTURE_DAG_ID,
            "--latest",
        ],
        env={"AIRFLOW_PASSWORD": PASSWORDS["admin"], "PYTHONPATH": str(REPO), "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(REPO)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Scheduled Partitions: 2" in result.stdout
    assert PASSWORDS["admin"] not in result.stdout + result.stderr
