"""What one step of the loader asks its driver to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Wait:
    """Nothing to do until one of `job_ids` reaches a terminal state, and not before `not_before`.

    `job_ids` may be empty when the loader only waits out a backoff before a retry round.
    """

    job_ids: tuple[str, ...]
    not_before: float | None = None


@dataclass(frozen=True)
class Continue:
    """Progress was made; call `step()` again at once."""


@dataclass(frozen=True)
class Done:
    """The partition is settled: every source row loaded or dead-lettered."""

    summary: dict[str, Any] = field(default_factory=dict)


Outcome = Wait | Continue | Done
