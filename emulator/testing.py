"""``EmulatorServer``: a real emulator on a free port for a test, started and stopped by it.

    with EmulatorServer(EmulatorConfig(query_batch_max_rows=1000), rows=5000) as emu:
        emu.base_url      # "https://127.0.0.1:54321"
        emu.tenant_host   # "127.0.0.1:54321" (what /services/a360/token returns)
        emu.ca_bundle     # path of the throwaway CA (None with tls=False)
        emu.admin         # httpx.Client on the admin API, e.g. emu.admin.post("/reset")
        emu.state         # the EmulatorState itself (in-process, thread mode)
        emu.requests_session()  # requests.Session trusting the CA

uvicorn runs in a background thread of the test process: start-up is ~0.2 s and the test can
reach into ``state`` (clock, faults, counters) directly.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import requests
import uvicorn
from fastapi.testclient import TestClient

from emulator.app import create_app
from emulator.client_support import emulator_session
from emulator.config import EmulatorConfig
from emulator.server import bind_socket, build, uvicorn_config
from emulator.state import EmulatorState
from emulator.tls import make_tls

__all__ = ["EmulatorServer", "core_login", "in_process"]


@contextlib.contextmanager
def in_process(
    config: EmulatorConfig | None = None, *, raise_server_exceptions: bool = True
) -> Iterator[tuple[EmulatorState, TestClient]]:
    """State + in-process ``TestClient`` (no socket, no TLS): for fast unit tests."""
    state = EmulatorState(config or EmulatorConfig(time_scale=0.0))
    try:
        with TestClient(
            create_app(state), raise_server_exceptions=raise_server_exceptions
        ) as client:
            yield state, client
    finally:
        state.close()


def core_login(client: Any, username: str = "user@example.com") -> str:
    """A core access token from the password grant (any credentials when none are configured)."""
    response = client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "username": username,
            "password": "password+token",
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


class EmulatorServer:
    """Context manager around one emulator instance on ``127.0.0.1:<free port>``."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        rows: int = 0,
        accounts: int = 100,
        skew: float = 0.0,
        seed: int = 42,
        hostile: bool = False,
        start_timeout: float = 20.0,
    ) -> None:
        self.config = config or EmulatorConfig(time_scale=0.0)
        self.config.host = "127.0.0.1"
        self.config.port = 0
        if rows:
            self.config.seed.rows = rows
            self.config.seed.accounts = accounts
            self.config.seed.skew = skew
            self.config.seed.seed = seed
            self.config.seed.hostile = hostile
        self.start_timeout = start_timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="sf-emulator-test-")
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.state: EmulatorState
        self.ca_bundle: Path | None = None
        self.base_url = ""
        self.tenant_host = ""
        self.port = 0
        self.admin: httpx.Client

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What to pass as httpx ``verify=``."""
        if self.ca_bundle is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def requests_verify(self) -> str | bool:
        """What to pass as requests ``verify=``."""
        return str(self.ca_bundle) if self.ca_bundle else True

    def requests_session(self) -> requests.Session:
        """A session that reaches this emulator (and ``*.salesforce.com``, rewritten to it)."""
        return emulator_session(self.base_url, self.ca_bundle)

    def start(self) -> EmulatorServer:
        self.state, app = build(self.config)
        tls = make_tls(Path(self._tmp.name), "127.0.0.1") if self.config.tls else None
        self.ca_bundle = tls.ca_pem if tls else None
        sock = bind_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self.tenant_host = f"127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn_config(app, self.config, tls, quiet=True))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="emulator", daemon=True
        )
        self._thread.start()
        self.admin = httpx.Client(
            base_url=f"{self.base_url}/__emulator__", verify=self.verify, timeout=60.0
        )
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the server. Idle TLS keep-alive connections of clients the test still holds
        would stall uvicorn's graceful shutdown, so it is forced after a moment."""
        if hasattr(self, "admin"):
            self.admin.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=0.3)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout=10)
        if hasattr(self, "state"):
            self.state.close()
        self._tmp.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
