"""Fault injection: per endpoint group, seeded, off by default.

A profile maps an endpoint group (``auth``, ``datacloud``, ``bulk2``, ``soql``, ``limits``,
``rest``; ``"*"`` for all) to a ``FaultSpec`` of probabilities. The same seed and the same
request sequence give the same faults, so a failing test replays.
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

GROUPS = ("auth", "datacloud", "bulk2", "soql", "limits", "rest")

_VERSIONED = re.compile(r"^/services/data/v\d+\.\d+/(?P<rest>.*)$")


def endpoint_group(path: str) -> str | None:
    """The fault/endpoint group of a request path, None for paths faults never touch."""
    if path.startswith("/__emulator__"):
        return None
    if path.startswith(("/services/oauth2/", "/services/Soap/", "/services/a360/")):
        return "auth"
    if path.startswith("/api/"):
        return "datacloud"
    match = _VERSIONED.match(path)
    if match is None:
        return "rest" if path.startswith("/services/") else None
    rest = match.group("rest")
    if rest.startswith("ssot/"):
        return "datacloud"
    if rest.startswith("jobs/"):
        return "bulk2"
    if rest.startswith(("query", "queryAll")):
        return "soql"
    if rest.startswith("limits"):
        return "limits"
    return "rest"


@dataclass
class FaultSpec:
    """Probabilities (0..1) of each fault for one request of the group.

    ``latency_seconds`` is real time (a network delay, not simulated work), added with
    probability ``latency_rate``. ``limit_burst_length`` requests in a row get 403
    ``REQUEST_LIMIT_EXCEEDED`` once a burst starts. ``job_failed_rate`` is read by the Bulk
    side: the chance a job ends ``Failed`` mid-way.
    """

    latency_seconds: float = 0.0
    latency_rate: float = 0.0
    error_5xx_rate: float = 0.0
    reset_rate: float = 0.0
    limit_burst_rate: float = 0.0
    limit_burst_length: int = 5
    session_expiry_rate: float = 0.0
    throttle_429_rate: float = 0.0
    job_failed_rate: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


@dataclass
class FaultProfile:
    """Seed + per-group specs. Empty ``groups`` means no faults at all."""

    seed: int = 0
    groups: dict[str, FaultSpec] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultProfile:
        groups_raw = data.get("groups", {})
        for name in groups_raw:
            if name != "*" and name not in GROUPS:
                raise ValueError(f"unknown endpoint group {name!r}; known: {[*GROUPS, '*']}")
        return cls(
            seed=int(data.get("seed", 0)),
            groups={k: FaultSpec.from_dict(v) for k, v in groups_raw.items()},
        )

    @classmethod
    def load(cls, text_or_path: str) -> FaultProfile:
        """From inline JSON or a path to a JSON file (the CLI's ``--faults``)."""
        text = text_or_path.strip()
        if not text.startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "groups": {k: asdict(v) for k, v in self.groups.items()}}

    def spec_for(self, group: str) -> FaultSpec | None:
        return self.groups.get(group) or self.groups.get("*")


@dataclass(frozen=True)
class FaultDecision:
    """What the middleware must do to one request (at most one failure kind)."""

    latency_seconds: float = 0.0
    failure: str | None = None  # "5xx" | "reset" | "limit" | "session_expiry" | "429"


class FaultInjector:
    """Draws faults from a seeded generator; thread-safe."""

    def __init__(self, profile: FaultProfile | None = None) -> None:
        self._lock = threading.Lock()
        self.set_profile(profile or FaultProfile())

    def set_profile(self, profile: FaultProfile) -> None:
        with self._lock:
            self.profile = profile
            self._rng = random.Random(profile.seed)
            self._bursts: dict[str, int] = {}
            self.injected: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.profile.groups)

    def decide(self, group: str | None) -> FaultDecision:
        """The faults for one request of ``group`` (no draw at all when disabled)."""
        if group is None or not self.profile.groups:
            return FaultDecision()
        spec = self.profile.spec_for(group)
        if spec is None:
            return FaultDecision()
        with self._lock:
            latency = 0.0
            if spec.latency_seconds > 0 and self._rng.random() < spec.latency_rate:
                latency = spec.latency_seconds
            failure: str | None = None
            if self._bursts.get(group, 0) > 0:
                self._bursts[group] -= 1
                failure = "limit"
            else:
                for kind, rate in (
                    ("reset", spec.reset_rate),
                    ("5xx", spec.error_5xx_rate),
                    ("limit", spec.limit_burst_rate),
                    ("session_expiry", spec.session_expiry_rate),
                    ("429", spec.throttle_429_rate),
                ):
                    if rate > 0 and self._rng.random() < rate:
                        failure = kind
                        break
                if failure == "limit":
                    self._bursts[group] = max(0, spec.limit_burst_length - 1)
            if failure:
                self.injected[failure] = self.injected.get(failure, 0) + 1
            return FaultDecision(latency_seconds=latency, failure=failure)

    def roll(self, group: str, kind: str) -> bool:
        """One draw for a fault the API model applies itself, e.g. ``roll("bulk2", "job_failed")``."""
        spec = self.profile.spec_for(group)
        rate = getattr(spec, f"{kind}_rate", 0.0) if spec else 0.0
        if rate <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < rate
            if hit:
                self.injected[kind] = self.injected.get(kind, 0) + 1
            return hit
