"""Everything one emulator instance knows, shared by all API packages."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from emulator.auth.models import SessionStore
from emulator.clock import Clock
from emulator.config import EmulatorConfig
from emulator.db import Database
from emulator.faults import FaultInjector
from emulator.limits.models import UsageCounters


@runtime_checkable
class Service(Protocol):
    """What an API package registers in ``state.services``.

    ``reset()`` is required. Optional, found with ``getattr`` by the admin API:
    ``counts() -> dict[str, int]`` (rows per table), ``list_jobs() -> list[dict]``,
    ``close()`` (stop worker threads).
    """

    def reset(self) -> None: ...


class EmulatorState:
    """Config, database, clock, sessions, usage counters, faults and the API services.

    API packages register their model with ``state.register(name, service)`` from their
    ``models.attach(state)``; ``reset()`` resets usage counters and every service (sessions
    survive so connected clients stay logged in).
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock(self.config.time_scale)
        self._tmpdir: str | None = None
        db_path = self.config.db_path
        if db_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="sf-emulator-")
            db_path = Path(self._tmpdir) / "emulator.sqlite3"
        self.db = Database(Path(db_path))
        self.sessions = SessionStore(self.clock, self.config)
        self.usage = UsageCounters(self.clock, self.config)
        self.faults = FaultInjector(self.config.faults)
        self.services: dict[str, Any] = {}

    def connect(self) -> sqlite3.Connection:
        """This thread's SQLite connection."""
        return self.db.connect()

    def register(self, name: str, service: Any) -> None:
        if not isinstance(service, Service):
            raise TypeError(f"service {name!r} has no reset()")
        self.services[name] = service

    # Counters the Bulk side and the auth dependency use (see UsageCounters for semantics).
    def count_api_request(self) -> tuple[int, int]:
        return self.usage.count_api_request()

    def count_bulk_batches(self, n: int) -> int:
        return self.usage.count_bulk_batches(n)

    def count_bulk_records(self, n: int) -> int:
        return self.usage.count_bulk_records(n)

    def reset(self) -> None:
        self.usage.reset()
        for service in self.services.values():
            service.reset()

    def close(self) -> None:
        for service in self.services.values():
            close = getattr(service, "close", None)
            if close is not None:
                close()
        self.db.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
