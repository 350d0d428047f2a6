"""Dead letters in headless Chromium, as a user reaches them from the progress page.

Logged in through Airflow's login form: the partition's dead-letter count links to its files, a
file opens as a table with ``sf__Error`` visible and the hostile values inert, the download saves
the file byte for byte, and the plan's NULL-key rows are reachable from their own line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import progress_browser as pb
import pytest
from conftest import PASSWORDS, REPO
from dead_letter_seeding import DAG_ID, FILE_RUN, FILE_RUN_Q, HOSTILE, DeadLetterScenario
from seeded_server import serve

from include.dc2sf.engine.dead_letters import safe_run_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
HOSTILE_FILE = "chunk-000000-round-01.csv"
PLAN_FILE = "chunk-000000-round-00.csv"


@pytest.fixture(scope="module")
def live_server(api_app: Any, dead_letters: DeadLetterScenario) -> Iterator[str]:
    with serve(api_app) as url:
        yield url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads: Path) -> Iterator[Any]:
    reason = pb.ensure_chromium()
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    web = pb.make_driver()
    web.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield web
    finally:
        web.quit()


def _click(driver: Any, selector: str) -> None:
    from selenium.webdriver.common.by import By

    pb.wait_until(lambda: driver.find_element(By.CSS_SELECTOR, selector)).click()


def _downloaded(folder: Path, name: str) -> Path | None:
    done = [p for p in folder.iterdir() if p.name.endswith(name)]
    partial = [p for p in folder.iterdir() if p.suffix == ".crdownload"]
    return done[0] if done and not partial else None


def test_from_the_count_to_the_table_and_the_download(
    driver: Any, live_server: str, dead_letters: DeadLetterScenario, downloads: Path
) -> None:
    pb.login(driver, live_server, "viewer", PASSWORDS["viewer"])
    pb.open_run_page(driver, live_server, DAG_ID, FILE_RUN)
    total = sum(dead_letters.rows["0"].values())
    assert pb.read_partitions(driver)[0]["Dead-lettered"] == f"{total:,}"

    # The count is the link.
    _click(driver, "tr[data-map-index='0'] a.dead-letters")
    pb.wait_until(lambda: driver.current_url.endswith(f"/{FILE_RUN_Q}/dead-letters/0"))
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('table.files tbody tr')).map("
        "tr => [tr.dataset.file, tr.cells[1].innerText])"
    )
    assert dict(rows) == {name: f"{n:,}" for name, n in dead_letters.rows["0"].items()}

    # A file as a table: the error column is there and visible, hostile values are inert text.
    _click(driver, f"tr[data-file='{HOSTILE_FILE}'] a.view")
    pb.wait_until(lambda: driver.execute_script("return !!document.getElementById('letters')"))
    error_header = driver.execute_script(
        "const th = document.querySelector('#letters th.err'); const r = th.getBoundingClientRect();"
        "return [th.innerText, r.width > 0 && r.height > 0 && r.right <= innerWidth,"
        " getComputedStyle(th).backgroundColor]"
    )
    assert error_header[0] == "sf__Error" and error_header[1] is True
    assert error_header[2] not in ("rgba(0, 0, 0, 0)", "transparent")  # its stylesheet loaded
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('#letters tbody tr')).map("
        "tr => [tr.cells[1].innerText, tr.cells[3].innerText])"
    )
    assert dict(shown)["k-script"] == HOSTILE["script"]
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.execute_script("return document.querySelectorAll('#letters img').length") == 0
    pb.save_screenshot(driver, ARTIFACTS / "dead-letters-table.png")

    # The download saves the file as written.
    _click(driver, "a#download")
    saved = pb.wait_until(lambda: _downloaded(downloads, HOSTILE_FILE))
    time.sleep(0.2)  # the rename from .crdownload is the end of the write
    assert saved.read_bytes() == dead_letters.files["0"][HOSTILE_FILE]
    assert saved.name == f"dead-letters_{safe_run_id(FILE_RUN)}_partition-000_{HOSTILE_FILE}"


def test_plan_null_key_rows_have_their_own_line(
    driver: Any, live_server: str, dead_letters: DeadLetterScenario
) -> None:
    pb.open_run_page(driver, live_server, DAG_ID, FILE_RUN)
    line = pb.wait_until(
        lambda: driver.execute_script(
            "return document.getElementById('dead-letters').innerText.trim()"
        )
    )
    assert f"Plan: {dead_letters.plan_rows} rows with a NULL key" in line
    pb.save_screenshot(driver, ARTIFACTS / "dead-letters-progress.png")
    _click(driver, "a#plan-dead-letters")
    pb.wait_until(lambda: driver.current_url.endswith(f"/{FILE_RUN_Q}/dead-letters/plan"))
    names = driver.execute_script(
        "return Array.from(document.querySelectorAll('table.files tbody tr')).map("
        "tr => tr.dataset.file)"
    )
    assert names == [PLAN_FILE]

    pb.open_run_page(driver, live_server, DAG_ID, FILE_RUN)
    _click(driver, "a#all-dead-letters")
    pb.wait_until(lambda: driver.current_url.endswith(f"/{FILE_RUN_Q}/dead-letters"))
    sections = driver.execute_script(
        "return Array.from(document.querySelectorAll('section.source')).map(s => s.id)"
    )
    assert sections == ["source-plan", "source-0", "source-1", "source-2"]
    pb.save_screenshot(driver, ARTIFACTS / "dead-letters-run.png")
