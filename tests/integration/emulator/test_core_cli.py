"""The documented command starts a working emulator (plain HTTP and HTTPS with a throwaway CA)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if "admin API" in line and ("--http" in args or any("CA bundle" in x for x in lines)):
            break
        if "REQUESTS_CA_BUNDLE" in line:
            break
    return proc, lines


def _wait(url: str, verify: str | bool) -> requests.Response:
    for _ in range(100):
        try:
            return requests.get(url, verify=verify, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_serve_http_with_seed_rows() -> None:
    proc, lines = _start("--http", "--rows", "300", "--accounts", "5")
    try:
        base = lines[0].split(" on ")[1]
        assert base.startswith("http://127.0.0.1:")
        counts = _wait(f"{base}/__emulator__/counts", True).json()
        assert counts["tables"]["Opportunity_Source__dlm"] == 300
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_https_prints_ca_bundle_that_verifies() -> None:
    proc, lines = _start()
    try:
        base = lines[0].split(" on ")[1]
        ca = next(x.split(": ", 1)[1] for x in lines if x.startswith("CA bundle"))
        assert base.startswith("https://") and Path(ca).is_file()
        assert any(x == f"export REQUESTS_CA_BUNDLE={ca}" for x in lines)
        assert _wait(f"{base}/__emulator__/health", ca).json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_seed_command_writes_a_database(tmp_path: Path) -> None:
    db = tmp_path / "emu.sqlite3"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "seed",
            "--rows",
            "200",
            "--accounts",
            "4",
            "--db",
            str(db),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "'Opportunity_Source__dlm': 200" in out.stdout
    assert db.is_file()
