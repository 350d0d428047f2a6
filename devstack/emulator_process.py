"""The Salesforce emulator as a separate process (``python -m emulator serve``), for the demo.

Why not ``emulator.testing.EmulatorServer`` (a thread in the caller): the emulator's Bulk
processing and Data Cloud paging are CPU work, and in the demo the caller is also polling Airflow
and drawing progress; its own process keeps both responsive and lets the kernel spread them over
two cores. It is started the same way the README tells a user to (``python -m emulator serve``),
so the demo also exercises that documented command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from devstack.processes import STACK_ID_ENV, sigint_deferred, spawn, stop_all, tail

__all__ = ["FAULT_PROFILES", "EmulatorProcess", "resolve_faults"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_URL_LINE = re.compile(r"Salesforce emulator on (https?://\S+)")

#: Named fault profiles for the demo (``--faults light``). The engine must ride through all of
#: them: they are the transient failures a real org produces (the README of the emulator lists
#: the settings). A JSON string or a file path is passed through unchanged.
FAULT_PROFILES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "light": {
        "seed": 7,
        "groups": {
            "bulk2": {"error_5xx_rate": 0.02, "latency_seconds": 0.2, "latency_rate": 0.05},
            "datacloud": {"error_5xx_rate": 0.02, "throttle_429_rate": 0.02},
        },
    },
    # A group's settings replace "*" (they do not merge), so each group spells out its own.
    "heavy": {
        "seed": 11,
        "groups": {
            "*": {"error_5xx_rate": 0.05, "reset_rate": 0.01},
            "bulk2": {
                "error_5xx_rate": 0.05,
                "reset_rate": 0.01,
                "limit_burst_rate": 0.01,
                "limit_burst_length": 3,
                "session_expiry_rate": 0.01,
                "job_failed_rate": 0.02,
            },
            "datacloud": {"error_5xx_rate": 0.05, "reset_rate": 0.01, "throttle_429_rate": 0.05},
        },
    },
}


def resolve_faults(value: str | None) -> str | None:
    """A profile name, inline JSON or a file path -> what ``--faults`` takes (or ``None``)."""
    if not value:
        return None
    if value in FAULT_PROFILES:
        profile = FAULT_PROFILES[value]
        return json.dumps(profile) if profile else None
    if value.lstrip().startswith("{") or Path(value).is_file():
        return value
    raise ValueError(
        f"unknown fault profile {value!r}: use one of {sorted(FAULT_PROFILES)}, JSON or a file"
    )


class EmulatorProcess:
    """``python -m emulator serve`` on a free port with a throwaway CA; a context manager.

    ``base_url`` and ``ca_bundle`` are what the Airflow connections need; ``counts()`` reads the
    admin API (rows per table, API usage, faults injected).
    """

    def __init__(
        self,
        *,
        rows: int = 0,
        accounts: int = 100,
        time_scale: float = 1.0,
        faults: str | None = None,
        seed: int = 42,
        http: bool = False,
        workdir: str | Path | None = None,
        start_timeout: float = 300.0,
        stack_id: str | None = None,
    ) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sf-emulator-")).resolve()
        self.rows = rows
        self.accounts = accounts
        self.time_scale = time_scale
        self.faults = resolve_faults(faults)
        self.seed = seed
        self.http = http
        self.start_timeout = start_timeout
        self.stack_id = stack_id or uuid.uuid4().hex
        self.log_path = self.workdir / "emulator.log"
        self.base_url = ""
        self.ca_bundle: Path | None = None
        self._proc: Any = None
        self.pid: int | None = None
        self._log: IO[bytes] | None = None
        self._admin: httpx.Client | None = None

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "emulator", "serve", "--port", "0"]
        argv += ["--rows", str(self.rows), "--accounts", str(self.accounts)]
        argv += ["--seed", str(self.seed), "--time-scale", str(self.time_scale)]
        argv += ["--db", str(self.workdir / "emulator.sqlite3")]
        if self.http:
            argv.append("--http")
        else:
            argv += ["--tls-dir", str(self.workdir / "tls")]
        if self.faults:
            argv += ["--faults", self.faults]
        return argv

    def start(self) -> EmulatorProcess:
        """Start and wait for the URL line (printed after seeding, so the data is there)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        env[STACK_ID_ENV] = self.stack_id
        self._log = self.log_path.open("ab")
        try:
            self._proc = spawn(self.command(), env=env, log=self._log, cwd=REPO_ROOT)
            self.pid = self._proc.pid
            deadline = time.monotonic() + self.start_timeout
            while not self.base_url:
                if self._proc.poll() is not None:
                    raise RuntimeError(
                        f"emulator exited with {self._proc.returncode}:\n{tail(self.log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"emulator not up after {self.start_timeout:.0f}s")
                match = _URL_LINE.search(self.log_path.read_text(errors="replace"))
                if match:
                    self.base_url = match.group(1)
                else:
                    time.sleep(0.2)
            if not self.http:
                self.ca_bundle = self.workdir / "tls" / "ca.pem"
            self._admin = httpx.Client(
                base_url=f"{self.base_url}/__emulator__",
                verify=str(self.ca_bundle) if self.ca_bundle else True,
                timeout=30.0,
            )
            self._admin.get("/health").raise_for_status()
        except BaseException:
            self.stop()
            raise
        return self

    def counts(self) -> dict[str, Any]:
        """``GET /__emulator__/counts``: tables, sessions, api_usage, limits, faults_injected."""
        if self._admin is None:
            raise RuntimeError("emulator not started")
        response = self._admin.get("/counts")
        response.raise_for_status()
        return dict(response.json())

    def stop(self) -> None:
        with sigint_deferred():
            if self._admin is not None:
                self._admin.close()
                self._admin = None
            if self._proc is not None:
                stop_all([self._proc], stack_id=self.stack_id, grace=5.0)
                self._proc = None
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
