"""Shared test setup: a repo-local Airflow home, so running `pytest` by hand behaves like `make test`.

The environment must be set before anything imports airflow, which is why it happens at conftest
import time and only with `setdefault` (the Makefile's values win).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from emulator.config import EmulatorConfig  # noqa: E402  (after the Airflow environment)
from emulator.testing import EmulatorServer  # noqa: E402

# --- the emulator, with the product's connections pointed at it ------------------------------


def connection_env(emu: EmulatorServer) -> dict[str, str]:
    """The two connections the product uses, pointed at `emu`."""
    salesforce = {
        "conn_type": "salesforce",
        "login": "loader@example.com",
        "password": "emulator-password",
        "extra": {
            "security_token": "emulator-token",
            "login_url": emu.base_url,
            "ca_bundle": str(emu.ca_bundle),
        },
    }
    datacloud = {
        "conn_type": "http",
        "extra": {"salesforce_conn_id": "salesforce_default", "ca_bundle": str(emu.ca_bundle)},
    }
    return {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce),
        "AIRFLOW_CONN_DATACLOUD_DEFAULT": json.dumps(datacloud),
    }


@contextlib.contextmanager
def connections_pointed_at(emu: EmulatorServer) -> Iterator[EmulatorServer]:
    """Set the product's connections to `emu` for a block (module-scoped fixtures), then restore."""
    saved = {key: os.environ.get(key) for key in connection_env(emu)}
    os.environ.update(connection_env(emu))
    try:
        yield emu
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def emulator_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start emulators with given config/data; connections are set for the last one started."""
    started: list[EmulatorServer] = []

    def start(config: EmulatorConfig | None = None, **seed: object) -> EmulatorServer:
        emu = EmulatorServer(config or EmulatorConfig(time_scale=0.0), **seed).start()  # type: ignore[arg-type]
        started.append(emu)
        for name, value in connection_env(emu).items():
            monkeypatch.setenv(name, value)
        return emu

    yield start
    for emu in reversed(started):
        emu.stop()
