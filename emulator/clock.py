"""The emulator's notion of time: wall clock plus a test offset, and scaled simulated waits."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Time source for everything in the emulator.

    ``now()``/``time()`` are the wall clock plus an offset that tests move with ``advance()`` (to
    expire sessions or roll 24 h windows without waiting). ``sleep(s)`` waits ``s`` *simulated*
    seconds, i.e. ``s * time_scale`` real seconds; ``time_scale=0`` makes simulated work free.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = time_scale
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Epoch seconds (wall clock + offset)."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """Aware UTC datetime of ``time()``."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def monotonic(self) -> float:
        """Monotonic seconds that also move with ``advance()``."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Jump the clock forward (tests only; never backwards)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def real_seconds(self, simulated_seconds: float) -> float:
        """How long ``simulated_seconds`` of work really takes at this time scale."""
        return max(0.0, simulated_seconds) * self.time_scale

    def sleep(self, simulated_seconds: float) -> None:
        """Block for ``simulated_seconds`` of simulated time."""
        real = self.real_seconds(simulated_seconds)
        if real > 0:
            time.sleep(real)

    async def asleep(self, simulated_seconds: float) -> None:
        """Async form of ``sleep`` for the event loop."""
        import asyncio

        real = self.real_seconds(simulated_seconds)
        if real > 0:
            await asyncio.sleep(real)
