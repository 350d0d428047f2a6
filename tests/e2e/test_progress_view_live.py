"""The partition progress page in headless Chromium against a REAL running load.

The shared stack (tests/e2e/conftest.py: scheduler, dag-processor, triggerer, api-server with the
repo's plugins, and the emulator) runs the load DAG over 20,000 rows in 5 staggered partitions
while the browser, logged in through Airflow's own login form, watches the run's page:

* every partition is listed from the first refresh on (the plan names them before they start),
  and the page works **while partitions wait for their start time** (deferred sensors: the trigger
  fire times that once made the report answer 500), with a table that fits a 1400 px window;
* the numbers move on their own while the run is active (the page refreshes itself);
* at the end the page's totals equal what the emulator's org holds, row for row;
* a screenshot of the live page goes to ``test-artifacts/`` and refreshes ``docs/progress-view.png``
  (the README shows it);
* ``python -m include.dc2sf.report --run-id ...`` prints exactly what the JSON endpoint says;
* throughout, the browser logs no console error and no 5xx answer (Chrome's logs).

The page-level details (narrow layout, links, 401/403/404) are covered against seeded runs in
tests/integration/plugin/; this file proves the whole chain with real tasks pushing real XComs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DAG_ID, LiveEnv
from tests.integration.plugin import progress_browser as pb  # shared with the seeded tests

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "test-artifacts" / "progress-view-live.png"
ARTIFACT_END = REPO / "test-artifacts" / "progress-view-live-end.png"
ARTIFACT_WAITING = REPO / "test-artifacts" / "progress-view-live-waiting.png"
DOC_COPY = REPO / "docs" / "progress-view.png"
PARTITIONS = 5
CONF: dict[str, Any] = {
    "partitions": PARTITIONS,
    # 30 s apart: partitions 2-4 are deferred (their targets are past the sensor's inline-wait
    # guard) for tens of seconds after the plan names them, long enough to look at the page.
    "stagger_minutes": 0.5,
    "records_per_job": 500,
    "max_in_flight": 2,
    "page_size": 1_000,
}
RUN_TIMEOUT = 480.0


def _count(text: str) -> int:
    """A displayed count ("20,000") as an int."""
    return int(text.replace(",", "").strip())


def _run_state(driver: Any) -> str:
    return str(driver.execute_script("return document.getElementById('run-state').textContent"))


def test_progress_view_follows_a_live_load(live_env: LiveEnv, driver: Any, tmp_path: Path) -> None:
    live_env.fresh_org()
    stack = live_env.stack
    base = stack.api_url
    # Through the real login form: the page works with the UI's own session cookie.
    pb.login(driver, base, stack.username, stack.password)
    errors = pb.BrowserErrors(driver).collect()
    errors.console.clear()  # the login page's own messages are not the progress view's

    client = stack.client
    run_id = client.trigger(DAG_ID, {**CONF, "dead_letter_root": f"file://{tmp_path}/dead"})[
        "dag_run_id"
    ]
    pb.open_run_page(driver, base, DAG_ID, run_id)

    # Every partition, as soon as the plan has named them.
    rows = pb.wait_until(
        lambda: (r := pb.read_partitions(driver)) and len(r) == PARTITIONS and r, timeout=240
    )
    assert sorted(rows) == list(range(PARTITIONS))
    _while_partitions_wait(live_env, driver, run_id, errors)

    # Watch the page (never reloading it) while the run is active.
    loaded_seen: list[int] = []
    stamps: set[str] = set()
    states_seen: set[str] = set()
    screenshot_taken = False
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run_state = client.run_state(DAG_ID, run_id)
        if run_state in ("success", "failed"):
            break
        try:
            totals = pb.read_totals(driver)
            parts = pb.read_partitions(driver)
        except Exception:  # the page re-renders between the two calls: read again next time
            time.sleep(1)
            continue
        stamps.add(pb.generated_at(driver))
        if "succeeded" in totals:
            loaded_seen.append(_count(totals["succeeded"]))
        states = {cells.get("State", "").split(" ")[0] for cells in parts.values()}
        states_seen |= states
        errors.collect()
        # The README picture: partitions in different states at once (waiting/running/success).
        if not screenshot_taken and len(states) >= 2 and 0 < loaded_seen[-1] < live_env.rows:
            pb.save_screenshot(driver, ARTIFACT, DOC_COPY)
            driver.set_window_size(1400, 1000)
            screenshot_taken = True
        time.sleep(2)
    assert client.run_state(DAG_ID, run_id) == "success"

    distinct = sorted(set(loaded_seen))
    assert len(distinct) >= 3, f"the page's Loaded total never moved: {loaded_seen}"
    assert loaded_seen == sorted(loaded_seen), "the Loaded total went backwards"
    assert len(stamps) >= 3, "the page did not refresh itself"
    assert "waiting" in states_seen or "running" in states_seen, states_seen

    # The end: the page notices the run ended and shows what the org holds.
    pb.wait_until(lambda: _run_state(driver) == "success", timeout=60)
    counts = live_env.counts()["tables"]
    in_org = int(counts["Opportunity"])
    assert in_org == int(counts["Opportunity_Source__dlm"]) == live_env.rows
    totals = pb.wait_until(
        lambda: (t := pb.read_totals(driver)) and _count(t["succeeded"]) == in_org and t,
        timeout=60,
    )
    assert _count(totals["processed"]) == in_org
    assert _count(totals["dead_lettered"]) == 0
    assert totals["success_rate"].startswith("100")
    final_rows = pb.read_partitions(driver)
    assert sorted(final_rows) == list(range(PARTITIONS))
    assert all(cells["State"].startswith("success") for cells in final_rows.values()), final_rows
    assert sum(_count(cells["Loaded"]) for cells in final_rows.values()) == in_org
    assert all(n >= 2 for n in pb.chart_series(driver).values())  # a line per partition
    assert pb.table_overflow(driver) <= 0, "full-length watermarks make the table scroll sideways"
    pb.save_screenshot(driver, ARTIFACT_END)
    if not screenshot_taken:  # the run outpaced the polling: the finished page is still true
        pb.save_screenshot(driver, ARTIFACT, DOC_COPY)
    assert ARTIFACT.stat().st_size > 10_000
    live_env.notes.append(
        f"progress view: Loaded total seen {len(distinct)} distinct values "
        f"({distinct[:3]}...{distinct[-1:]}), {len(stamps)} page refreshes, final {in_org:,}"
    )

    assert errors.problems() == [], errors.problems()

    _terminal_report_matches_the_endpoint(live_env, run_id)


def _while_partitions_wait(live_env: LiveEnv, driver: Any, run_id: str, errors: Any) -> None:
    """The page while partitions >= 1 wait for their start time behind a deferred sensor (the
    fire time then comes from the trigger's ``moment``: the path that made the report 500)."""
    stack = live_env.stack

    def deferred_and_shown(http: httpx.Client) -> list[int] | None:
        response = http.get(f"/dc2sf/api/runs/{DAG_ID}/{run_id}")
        assert response.status_code == 200, response.text[:500]
        deferred = {
            p["map_index"]
            for p in response.json()["partitions"]
            if p["map_index"] >= 1 and p["wait_state"] == "deferred" and p["waiting_until"]
        }
        rows = pb.read_partitions(driver)
        shown = [
            i for i in sorted(deferred) if rows[i].get("State", "").startswith("waiting until ")
        ]
        return shown or None

    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {stack.client.token()}"
        waiting = pb.wait_until(lambda: deferred_and_shown(http), timeout=150, interval=1.0)
    assert "error" not in (driver.find_element("id", "status").get_attribute("class") or "")
    assert pb.table_overflow(driver) <= 0, "the partition table scrolls sideways at 1400 px"
    pb.save_screenshot(driver, ARTIFACT_WAITING)
    driver.set_window_size(1400, 1000)
    assert errors.problems() == [], errors.problems()
    live_env.notes.append(
        f"progress view while waiting: partitions {waiting} shown waiting behind a deferred sensor"
    )


def _terminal_report_matches_the_endpoint(live_env: LiveEnv, run_id: str) -> None:
    """``python -m include.dc2sf.report`` (a separate process, password from the environment)
    prints the same report the plugin's JSON endpoint returns for the finished run."""
    from include.dc2sf.progress_report import render_text

    stack = live_env.stack
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {stack.client.token()}"
        response = http.get(f"/dc2sf/api/runs/{DAG_ID}/{run_id}")
        assert response.status_code == 200, response.text[:500]
        endpoint = response.json()

    def report(*extra: str) -> str:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "include.dc2sf.report",
                "--url",
                stack.api_url,
                "--user",
                stack.username,
                "--run-id",
                run_id,
                *extra,
            ],
            env={**os.environ, "AIRFLOW_PASSWORD": stack.password, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert stack.password not in result.stdout + result.stderr
        return result.stdout

    as_json = json.loads(report("--json"))
    # generated_at is the only field that depends on when it was asked.
    assert {**as_json, "generated_at": None} == {**endpoint, "generated_at": None}
    assert as_json["source"] == endpoint["source"]

    text = report()
    expected = render_text(endpoint, server_url=stack.api_url)

    def stable(lines: str) -> list[str]:
        return [line for line in lines.strip().splitlines() if "as of" not in line]

    assert stable(text) == stable(expected)
    assert f"Total Loaded: {live_env.rows:,} records" in text
    assert "Run state: success" in text
