"""Headless Chromium helpers for the progress view, reusable against any running Airflow.

Everything takes a base URL and credentials, nothing assumes the test server: the lead's
devstack end-to-end test (a real ``airflow standalone`` running the load on the emulator) uses
the same :func:`login`, :func:`open_run_page`, :func:`read_partitions` and :func:`save_screenshot`.

Chromium comes from Debian (``chromium`` + ``chromium-driver``); :func:`ensure_chromium` installs
them with apt-get when they are missing (the acceptance asks for the test setup to do it, not a
person), and returns a reason instead when that is impossible (no root, offline mirror).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
APT_TIMEOUT_SECONDS = 900


def ensure_chromium() -> str | None:
    """Install Debian's chromium + chromium-driver if absent; None when ready, else why not."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return "chromium is not installed and apt-get is not available"
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            return "chromium is not installed and installing it needs root (no sudo)"
        prefix = [sudo, "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [*prefix, apt, "update"],
        [*prefix, apt, "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
    ):
        try:
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"installing chromium failed: {exc}"
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            return f"`{' '.join(command[-3:])}` failed: {' | '.join(tail)}"
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return "apt-get succeeded but chromium/chromedriver are still missing"
    return None


def make_driver(width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium WebDriver (caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    # Console messages and network events, for BrowserErrors (console errors and 5xx answers).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class BrowserErrors:
    """Console errors and HTTP 5xx answers the page met, read from the driver's Chrome logs.

    The logs are drained on every read, so :meth:`collect` keeps everything seen so far; a test
    calls it while it watches the page and asserts :meth:`problems` is empty at the end. Only
    the favicon (which Airflow does not serve under the plugin path) is ignored.
    """

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.console: list[str] = []
        self.server_errors: list[str] = []

    def collect(self) -> BrowserErrors:
        for entry in self.driver.get_log("browser"):
            message = str(entry.get("message", ""))
            if entry.get("level") == "SEVERE" and "favicon.ico" not in message:
                self.console.append(message)
        for entry in self.driver.get_log("performance"):
            event = json.loads(entry["message"])["message"]
            if event.get("method") != "Network.responseReceived":
                continue
            response = event["params"]["response"]
            if int(response.get("status", 0)) >= 500:
                self.server_errors.append(f"{response['status']} {response.get('url')}")
        return self

    def problems(self) -> list[str]:
        self.collect()
        return self.console + self.server_errors


def table_overflow(driver: Any) -> int:
    """Pixels the partition table needs beyond its box (0 = no sideways scrolling)."""
    return int(
        driver.execute_script(
            "const w = document.querySelector('#partitions').closest('.table-wrap');"
            "return w.scrollWidth - w.clientWidth;"
        )
    )


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll until ``predicate`` returns something truthy (returned), or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # stale elements while the page re-renders
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last error: {last_error})")


def login(driver: Any, base_url: str, username: str, password: str, *, next_path: str = "") -> None:
    """Log in through Airflow's own login page (SimpleAuthManager), which sets the ``_token`` cookie.

    Going through the real form (not injecting a cookie) proves the page works with the UI's
    session exactly as a user gets it.
    """
    from selenium.webdriver.common.by import By

    base = base_url.rstrip("/")
    target = f"{base}/{next_path.lstrip('/')}" if next_path else f"{base}/"
    driver.get(f"{base}/auth/login?next={quote(target, safe='')}")
    user_box = wait_until(lambda: driver.find_element(By.CSS_SELECTOR, "input[name='username']"))
    user_box.send_keys(username)
    driver.find_element(By.CSS_SELECTOR, "input[name='password']").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    wait_until(lambda: driver.get_cookie("_token"), timeout=20)


def run_page_url(base_url: str, dag_id: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/dc2sf/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def open_run_page(driver: Any, base_url: str, dag_id: str, run_id: str) -> None:
    """Open the run's progress page and wait for the first report to be rendered."""
    driver.get(run_page_url(base_url, dag_id, run_id))
    wait_until(lambda: driver.execute_script("return document.body.dataset.generatedAt || ''"))


def generated_at(driver: Any) -> str:
    return str(driver.execute_script("return document.body.dataset.generatedAt || ''"))


def read_partitions(driver: Any) -> dict[int, dict[str, str]]:
    """Partition rows as shown: map index → {column label: visible text}."""
    rows = driver.execute_script(
        """
        return Array.from(document.querySelectorAll('#partitions tbody tr[data-map-index]')).map(
          tr => [tr.dataset.mapIndex, Object.fromEntries(Array.from(tr.cells).map(
            td => [td.dataset.label, td.innerText.trim()]))]);
        """
    )
    return {int(index): cells for index, cells in rows}


def read_totals(driver: Any) -> dict[str, str]:
    """Summary cards as shown: total key → visible value."""
    return dict(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#summary .card')).map("
            "c => [c.dataset.total, c.querySelector('.v').innerText.trim()]);"
        )
    )


def chart_series(driver: Any) -> dict[int, int]:
    """Map index → number of points of its line in the chart."""
    return {
        int(k): int(v)
        for k, v in driver.execute_script(
            "return Array.from(document.querySelectorAll('#chart polyline')).map("
            "l => [l.dataset.mapIndex, l.getAttribute('points').split(' ').length]);"
        )
    }


def save_screenshot(driver: Any, *paths: Path) -> None:
    """Full-page PNG (the window is grown to the document height first) to every path given."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = int(driver.execute_script("return window.outerWidth")) or 1400
    driver.set_window_size(width, max(600, min(height + 120, 4000)))
    png = driver.get_screenshot_as_png()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
