"""Watermark rules and the resumable checkpoint of one partition.

**Watermark**: the largest key K such that every source record with key ≤ K is settled (loaded,
or dead-lettered with its error). A new task try resumes with ``key > K``; since upserts are
idempotent, re-sending what was in flight after K is harmless, and nothing at or below K is lost.

Jobs are packed by parent, not by key, so a job holds keys scattered over a stretch of the source,
and jobs settle in any order. The tracker therefore follows *segments*: each flush of the packing
buffer covers a contiguous key interval ``(previous upper, upper]`` of the source (every page read
in that stretch), and holds the keys still unsettled in it. The watermark is the upper bound of
the longest prefix of segments with nothing pending, so a job settling early never moves the
watermark past a key that is still in flight or waiting in the retry queue, and the watermark
never moves back.

The :class:`Checkpoint` is what the operator persists in the task state store after each settle:
JSON-safe, versioned, and bound to its partition (index, key range and a fingerprint of the load
configuration), so a checkpoint written for another range or another mapping is refused instead
of silently skipping keys.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from include.dc2sf.logic.key_range import KeyRange

CHECKPOINT_VERSION = 1


class CheckpointMismatch(ValueError):
    """The stored checkpoint belongs to another partition, range or configuration."""


@dataclass(slots=True)
class _Segment:
    upper: str
    pending: set[str]


class WatermarkTracker:
    """Key-interval bookkeeping that yields the watermark (see module docstring)."""

    def __init__(self, watermark: str | None = None) -> None:
        self._watermark = watermark
        self._segments: list[_Segment] = []
        self._uppers: list[str] = []  # parallel to _segments, for bisect

    @property
    def watermark(self) -> str | None:
        return self._watermark

    @property
    def last_registered_key(self) -> str | None:
        """Upper bound of the newest segment (or the watermark): the next page starts after it."""
        return self._uppers[-1] if self._uppers else self._watermark

    @property
    def pending_count(self) -> int:
        return sum(len(segment.pending) for segment in self._segments)

    def smallest_unsettled_key(self) -> str | None:
        for segment in self._segments:
            if segment.pending:
                return min(segment.pending)
        return None

    def register_segment(self, upper_key: str, keys: Iterable[str]) -> None:
        """Record that every source key up to ``upper_key`` has been read; ``keys`` are in flight.

        Keys of the stretch that are already settled (e.g. rows rejected by the mapping and
        dead-lettered at once) are simply left out of ``keys``.
        """
        lower = self.last_registered_key
        if lower is not None and upper_key <= lower:
            raise ValueError(
                f"segment upper key {upper_key!r} must be above the previous one {lower!r}: "
                "segments are registered in key order"
            )
        pending = set(keys)
        for key in pending:
            if key > upper_key or (lower is not None and key <= lower):
                raise ValueError(f"key {key!r} is outside the segment ({lower!r}, {upper_key!r}]")
        self._segments.append(_Segment(upper_key, pending))
        self._uppers.append(upper_key)
        self._advance()

    def settle(self, keys: Iterable[str]) -> str | None:
        """Mark keys settled (loaded or dead-lettered); returns the watermark afterwards.

        Settling a key twice is harmless (a re-attached job reports again). A key above every
        registered segment is a bug in the caller and raises.
        """
        for key in keys:
            index = bisect.bisect_left(self._uppers, key)
            if index == len(self._uppers):
                if self._watermark is not None and key <= self._watermark:
                    continue
                raise ValueError(f"key {key!r} was never registered; register its segment first")
            self._segments[index].pending.discard(key)
        self._advance()
        return self._watermark

    def _advance(self) -> None:
        settled = 0
        while settled < len(self._segments) and not self._segments[settled].pending:
            settled += 1
        if settled:
            self._watermark = self._uppers[settled - 1]
            del self._segments[:settled]
            del self._uppers[:settled]

    def open_segments(self) -> list[dict[str, Any]]:
        """JSON-safe view of unsettled segments (for progress and debugging)."""
        return [{"upper": s.upper, "pending": len(s.pending)} for s in self._segments]


# --- checkpoint ---------------------------------------------------------------------------------


def config_fingerprint(config: Mapping[str, Any]) -> str:
    """Stable hash of the load configuration that decides which rows go where.

    Include the source object, key column, mapping, target object and external id field; leave
    out tuning knobs (page size, in-flight limit) so they can change between tries.
    """
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class LoadCounters:
    """Running totals of a partition, shared by the checkpoint and the progress XCom."""

    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    api_calls: int = 0
    jobs_submitted: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadCounters:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"counters: unknown fields {sorted(unknown)}")
        values = {}
        for name in names:
            value = data.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"counters: {name} must be a non-negative integer, got {value!r}")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True, slots=True)
class InFlightJob:
    """A submitted Bulk job: enough to re-attach to it after a restart, or to re-send its range."""

    job_id: str
    job_number: int
    min_key: str
    max_key: str
    records: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InFlightJob:
        try:
            job = cls(
                job_id=str(data["job_id"]),
                job_number=int(data["job_number"]),
                min_key=str(data["min_key"]),
                max_key=str(data["max_key"]),
                records=int(data["records"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"in-flight job entry {dict(data)!r} is incomplete: {error}") from None
        if job.min_key > job.max_key:
            raise ValueError(f"in-flight job {job.job_id}: min_key is above max_key")
        return job


@dataclass(slots=True)
class Checkpoint:
    """Resumable state of one partition (persisted as JSON in the task state store)."""

    partition: int
    key_range: KeyRange
    config_fingerprint: str
    watermark: str | None = None
    counters: LoadCounters = field(default_factory=LoadCounters)
    in_flight_jobs: list[InFlightJob] = field(default_factory=list)
    retry_queue: dict[str, Any] = field(default_factory=dict)
    next_job_number: int = 0
    updated_at: str | None = None
    version: int = CHECKPOINT_VERSION

    def __post_init__(self) -> None:
        if self.partition < 0:
            raise ValueError(f"partition index must be >= 0, got {self.partition}")
        self._check_watermark_in_range(self.watermark)

    def _check_watermark_in_range(self, watermark: str | None) -> None:
        if watermark is None:
            return
        end = self.key_range.end
        if end is not None and watermark > end:
            raise CheckpointMismatch(
                f"watermark {watermark!r} is beyond the end {end!r} of partition {self.partition} "
                f"{self.key_range.describe()}; clear the checkpoint if the range changed"
            )
        if self.key_range.start is not None and watermark < self.key_range.start:
            raise CheckpointMismatch(
                f"watermark {watermark!r} is below the start of partition {self.partition} "
                f"{self.key_range.describe()}; clear the checkpoint if the range changed"
            )

    def advance(self, watermark: str | None) -> None:
        """Move the watermark forward (never back: that would re-send settled rows or hide a bug)."""
        if watermark is None or watermark == self.watermark:
            return
        if self.watermark is not None and watermark < self.watermark:
            raise ValueError(
                f"partition {self.partition}: watermark would move back from {self.watermark!r} "
                f"to {watermark!r}; refusing"
            )
        self._check_watermark_in_range(watermark)
        self.watermark = watermark

    def resume_after(self) -> str | None:
        """The key the next page must start strictly after (``None``: from the range start)."""
        return self.watermark

    def validate_for(self, *, partition: int, key_range: KeyRange, config_fingerprint: str) -> None:
        """Refuse a checkpoint written for another partition, range or configuration."""
        problems = []
        if self.partition != partition:
            problems.append(f"it is for partition {self.partition}, not {partition}")
        if self.key_range != key_range:
            problems.append(
                f"it covers {self.key_range.describe()}, this task covers {key_range.describe()}"
            )
        if self.config_fingerprint != config_fingerprint:
            problems.append("the load configuration (source, key, mapping or target) changed since")
        if problems:
            raise CheckpointMismatch(
                "stored checkpoint does not match this task: "
                + "; ".join(problems)
                + ". Clear the task state (or restore the old configuration) before resuming."
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "partition": self.partition,
            "key_range": self.key_range.to_dict(),
            "config_fingerprint": self.config_fingerprint,
            "watermark": self.watermark,
            "counters": asdict(self.counters),
            "in_flight_jobs": [asdict(job) for job in self.in_flight_jobs],
            "retry_queue": dict(self.retry_queue),
            "next_job_number": self.next_job_number,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        if not isinstance(data, Mapping):
            raise ValueError(f"checkpoint must be an object, got {type(data).__name__}")
        version = data.get("version")
        if version != CHECKPOINT_VERSION:
            raise CheckpointMismatch(
                f"checkpoint version {version!r} is not supported (expected {CHECKPOINT_VERSION}); "
                "clear the task state to start the partition again"
            )
        allowed = {
            "version",
            "partition",
            "key_range",
            "config_fingerprint",
            "watermark",
            "counters",
            "in_flight_jobs",
            "retry_queue",
            "next_job_number",
            "updated_at",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"checkpoint: unknown fields {sorted(unknown)}")
        for required in ("partition", "key_range", "config_fingerprint"):
            if required not in data:
                raise ValueError(f"checkpoint: field {required!r} is missing")
        watermark = data.get("watermark")
        if watermark is not None and not isinstance(watermark, str):
            raise ValueError(f"checkpoint: watermark must be a string or null, got {watermark!r}")
        retry_queue = data.get("retry_queue") or {}
        if not isinstance(retry_queue, Mapping):
            raise ValueError("checkpoint: retry_queue must be an object")
        return cls(
            partition=int(data["partition"]),
            key_range=KeyRange.from_dict(data["key_range"]),
            config_fingerprint=str(data["config_fingerprint"]),
            watermark=watermark,
            counters=LoadCounters.from_dict(data.get("counters") or {}),
            in_flight_jobs=[InFlightJob.from_dict(job) for job in data.get("in_flight_jobs") or []],
            retry_queue=dict(retry_queue),
            next_job_number=int(data.get("next_job_number", 0)),
            updated_at=data.get("updated_at"),
        )
