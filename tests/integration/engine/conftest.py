"""Fixtures for the load engine against a real emulator: connections point at it by environment.

Connections are `AIRFLOW_CONN_*` JSON, exactly what a deployment would set, so the hooks run
their real connection code (login URL, CA bundle, SOAP login, token exchange).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.config import EmulatorConfig
from emulator.testing import EmulatorServer


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
