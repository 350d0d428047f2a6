"""Acceptance: the load DAG's Trigger form, in headless Chromium, against the real Airflow of the
shared live stack (tests/e2e/conftest.py: api-server with the repo's DAGs, scheduler, triggerer,
and the emulator), the way a user meets it:

* log in through Airflow's own login page and open the DAG's Trigger form;
* the Params are grouped in the four sections, in order, each field with its help text;
* a `0` typed into `partitions` stays `0` (the form once clamped it to 1 without a word), and
  submitting it is refused with the schema's message, creating no run;
* `partitions` 2, `stagger_minutes` 0, a custom key range and `deferrable` "no" are filled in and
  submitted; the REST API then shows the new run with exactly that conf (every other Param at its
  default), and the run succeeds: a 2,000-row load, both partitions starting at once.

Screenshots of the form go to test-artifacts/ (trigger-form-*.png).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DAG_ID, LIVE_ROWS, LiveEnv
from tests.integration.plugin import progress_browser as pb

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ["Source & target", "Partitions & schedule", "Bulk tuning", "Safety"]
#: The last 2,000 keys of the live seed (externalOpp0000001..LIVE_ROWS): a tiny load.
RANGE_START = f"externalOpp{LIVE_ROWS - 2_000:07d}"
RANGE_END = f"externalOpp{LIVE_ROWS:07d}"
TYPED = {
    "partitions": "2",
    "stagger_minutes": "0",
    "range_start": RANGE_START,
    "range_end": RANGE_END,
    "records_per_job": "500",
}
EXPECTED_CHANGES: dict[str, Any] = {
    "partitions": 2,
    "stagger_minutes": 0,
    "range_start": RANGE_START,
    "range_end": RANGE_END,
    "records_per_job": 500,
    "deferrable": "no",
}


# --- the form, as a user drives it --------------------------------------------------------------


def open_trigger_form(driver: Any, base_url: str, dag_id: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url.rstrip('/')}/dags/{dag_id}")
    pb.wait_until(
        lambda: driver.find_element(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']"),
        timeout=60,
    ).click()
    pb.wait_until(lambda: section_titles(driver), timeout=60)


def section_titles(driver: Any) -> list[str]:
    """The form's accordion headings, top to bottom."""
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'.chakra-dialog__content [data-scope=accordion][data-part=item-trigger]'))"
            ".map(b => b.innerText.trim()).filter(t => t);"
        )
    )


def click_when_uncovered(driver: Any, element: Any, timeout: float = 30) -> None:
    """Scroll an element to the middle of the view and click it once nothing lies over it.

    An accordion section that is still expanding moves the fields under the pointer, and a toast
    of an earlier refusal can cover a button for a few seconds: a user waits until the target is
    still and visible, so the test does too (a click that lands on a neighbour while the layout
    settles is retried)."""
    from selenium.common.exceptions import ElementClickInterceptedException

    def clicked() -> bool:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        uncovered = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
            "return top !== null && arguments[0].contains(top);",
            element,
        )
        if not uncovered:
            return False
        try:
            element.click()
        except ElementClickInterceptedException:
            return False
        return True

    pb.wait_until(clicked, timeout=timeout)


def open_section(driver: Any, title: str) -> None:
    from selenium.webdriver.common.by import By

    trigger = driver.find_element(
        By.XPATH,
        f"//*[@data-scope='accordion' and @data-part='item-trigger'][normalize-space(.)='{title}']",
    )
    if trigger.get_attribute("aria-expanded") != "true":
        click_when_uncovered(driver, trigger)
    pb.wait_until(lambda: trigger.get_attribute("aria-expanded") == "true")


def field(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"input[name='element_{name}']")


def type_into(driver: Any, name: str, text: str) -> str:
    """Replace a field's text as a user does (select all, type), leave it, return what it shows."""
    from selenium.webdriver.common.keys import Keys

    box = field(driver, name)
    click_when_uncovered(driver, box)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text)
    box.send_keys(Keys.TAB)
    time.sleep(0.3)  # the number input reformats on blur: read what it settled on
    return str(field(driver, name).get_attribute("value"))


def choose(driver: Any, name: str, label_start: str) -> None:
    """Pick an option of a dropdown Param by the start of its label."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#element_{name} input[role='combobox']")
    click_when_uncovered(driver, box)
    box.send_keys(label_start)
    box.send_keys(Keys.ENTER)
    pb.wait_until(
        lambda: driver.find_element(By.ID, f"element_{name}").text.startswith(label_start)
    )


def help_text(driver: Any, name: str) -> str:
    """The description shown under a field (the text of its row minus the field's own)."""
    return str(
        driver.execute_script(
            "const el = document.querySelector(`[name='element_${arguments[0]}'], "
            "#element_${arguments[0]}`);"
            "let row = el; while (row && !row.innerText.includes(arguments[0])) "
            "row = row.parentElement;"
            "return row ? row.innerText : '';",
            name,
        )
    )


def submit(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    button = driver.find_element(
        By.XPATH,
        "//*[contains(@class,'chakra-dialog__content')]//button[normalize-space(.)='Trigger']",
    )
    click_when_uncovered(driver, button)


def form_error(driver: Any) -> str:
    return str(
        driver.execute_script(
            "const d = document.querySelector('.chakra-dialog__content');"
            "return d ? Array.from(d.querySelectorAll('[role=alert], .chakra-alert__root'))"
            ".map(e => e.innerText).join('\\n') : '';"
        )
    )


def shot(driver: Any, name: str) -> Path:
    """A screenshot of the whole dialog (the window grown to its height), for a person to look at."""
    height = int(
        driver.execute_script(
            "const d = document.querySelector('.chakra-dialog__content');"
            "return d ? d.scrollHeight + 200 : document.documentElement.scrollHeight;"
        )
    )
    driver.set_window_size(1400, max(1000, min(height, 4000)))
    time.sleep(0.5)
    path = ARTIFACTS / f"trigger-form-{name}.png"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(driver.get_screenshot_as_png())
    driver.set_window_size(1400, 1000)
    return path


# --- the test -----------------------------------------------------------------------------------


def _run_ids(client: Any) -> set[str]:
    body = client.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100}).json()
    return {run["dag_run_id"] for run in body["dag_runs"]}


def test_trigger_form_sections_fill_and_submit(live_env: LiveEnv, driver: Any) -> None:
    stack = live_env.stack
    client = stack.client
    client.unpause(DAG_ID)
    defaults = {
        name: spec["value"]
        for name, spec in client.request("GET", f"/api/v2/dags/{DAG_ID}/details")
        .json()["params"]
        .items()
    }
    began = time.monotonic()
    pb.login(driver, stack.api_url, stack.username, stack.password)
    open_trigger_form(driver, stack.api_url, DAG_ID)

    titles = section_titles(driver)
    assert titles[: len(SECTIONS)] == SECTIONS, titles
    assert "Run Parameters" not in titles  # no Param left outside a section
    shot(driver, "sections")

    open_section(driver, "Partitions & schedule")
    assert "0 starts them all at once" in help_text(driver, "stagger_minutes")
    # A typed 0 stays 0 (no silent clamp to the minimum) ...
    assert type_into(driver, "partitions", "0") == "0"
    assert type_into(driver, "stagger_minutes", "0") == "0"
    assert type_into(driver, "range_start", RANGE_START) == RANGE_START
    assert type_into(driver, "range_end", RANGE_END) == RANGE_END
    shot(driver, "partitions-and-schedule")

    # ... and is refused with the schema's message when submitted, creating no run. (This, not
    # the displayed value read above, is what proves the form kept the 0: a clamped 1 would have
    # been accepted and created a run.)
    before = _run_ids(client)
    submit(driver)
    message = pb.wait_until(
        lambda: (text := form_error(driver)) and "partitions" in text and text, timeout=30
    )
    assert "Invalid input for param partitions: 0 is less than the minimum of 1" in message
    shot(driver, "refused")
    assert _run_ids(client) == before

    open_section(driver, "Partitions & schedule")
    # The refusal kept what was typed (stagger_minutes did not go back to its default 90).
    assert field(driver, "stagger_minutes").get_attribute("value") == "0"
    assert field(driver, "range_end").get_attribute("value") == RANGE_END
    assert type_into(driver, "partitions", TYPED["partitions"]) == "2"
    open_section(driver, "Bulk tuning")
    assert "Rows per Data Cloud query page" in help_text(driver, "page_size")
    assert type_into(driver, "records_per_job", TYPED["records_per_job"]) == "500"
    choose(driver, "deferrable", "no:")
    shot(driver, "bulk-tuning")
    submit(driver)

    new = pb.wait_until(lambda: _run_ids(client) - before, timeout=60)
    (run_id,) = new
    run = client.get_run(DAG_ID, run_id)
    assert run["conf"] == {**defaults, **EXPECTED_CHANGES}
    submitted_in = time.monotonic() - began

    # The conf is real: a 2,000-row load in two partitions that both start at once.
    finished = client.wait_for_run(DAG_ID, run_id, timeout=420)
    assert finished["state"] == "success", finished
    loads = client.mapped_task_instances(DAG_ID, run_id, "partition.load")
    assert len(loads) == 2 and all(ti["state"] == "success" for ti in loads), loads
    live_env.notes.append(
        f"trigger form: filled and submitted in {submitted_in:.0f}s (refused 0 partitions first); "
        f"run {run_id} with the typed conf succeeded"
    )
