"""Everything one partition load needs to know, validated once, before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from include.dc2sf import defaults
from include.dc2sf.logic.identifiers import (
    validate_dmo_name,
    validate_field_name,
    validate_sobject_name,
)
from include.dc2sf.logic.key_range import KeyRange
from include.dc2sf.logic.mapping import MappingSpec
from include.dc2sf.logic.packing import INTERNAL_BATCH_SIZE, MAX_BATCH_CHARS, MAX_RECORDS_PER_JOB

#: Data Cloud caps a Query V2 batch at 50,000 rows; a page never asks for more.
MAX_PAGE_SIZE = 50_000
OPERATIONS = ("upsert", "insert", "update")


@dataclass(frozen=True)
class RetrySettings:
    """Record-level retries: rounds of re-sending lock-failed records, then one serial sweep."""

    record_retries: int = 5
    initial_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 60.0
    serial_sweep: bool = True

    def __post_init__(self) -> None:
        if self.record_retries < 0:
            raise ValueError(f"record_retries must be >= 0, got {self.record_retries}")
        if (
            self.initial_backoff_seconds < 0
            or self.max_backoff_seconds < self.initial_backoff_seconds
        ):
            raise ValueError("backoff: need 0 <= initial_backoff_seconds <= max_backoff_seconds")


@dataclass(frozen=True)
class LoadConfig:
    """One partition's load: source, target, job shape and failure policy."""

    partition: int
    key_range: KeyRange
    source_dmo: str
    mapping: MappingSpec
    target_object: str
    external_id_field: str
    operation: str = "upsert"
    page_size: int = 10_000
    records_per_job: int = defaults.RECORDS_PER_JOB
    max_in_flight: int = defaults.MAX_IN_FLIGHT
    group_by_parent: bool = True
    retry: RetrySettings = field(default_factory=RetrySettings)
    failure_threshold: float = 0.0
    poll_interval_seconds: float = 5.0
    submit_pause_seconds: float = 0.0
    dead_letter_root: str = ""
    adaptive_in_flight: bool = True
    #: Records per Bulk internal batch: Salesforce's fixed 10,000. Only an emulator configured
    #: otherwise (tests at small sizes) has a reason to change it; jobs are packed to match.
    internal_batch_size: int = INTERNAL_BATCH_SIZE
    #: Characters per Bulk batch: Salesforce's documented 10,000,000 (jobs of one batch are cut
    #: below it); like ``internal_batch_size``, only an emulator set otherwise needs another.
    internal_batch_max_chars: int = MAX_BATCH_CHARS
    #: Rows the planner expects in the range (progress and ETA before the load has counted any).
    expected_rows: int | None = None

    def __post_init__(self) -> None:
        validate_dmo_name(self.source_dmo)
        validate_sobject_name(self.target_object)
        validate_field_name(self.external_id_field)
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, got {self.operation!r}")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {self.page_size}")
        if not 1 <= self.records_per_job <= MAX_RECORDS_PER_JOB:
            raise ValueError(
                f"records_per_job must be 1..{MAX_RECORDS_PER_JOB:,}, got {self.records_per_job}"
            )
        if self.internal_batch_size < 1 or self.internal_batch_max_chars < 1:
            raise ValueError(
                "internal_batch_size and internal_batch_max_chars must be >= 1, got "
                f"{self.internal_batch_size} and {self.internal_batch_max_chars}"
            )
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        if not 0.0 <= self.failure_threshold <= 1.0:
            raise ValueError(f"failure_threshold is a fraction 0..1, got {self.failure_threshold}")
        if self.operation == "upsert" and self.external_id_field not in self.mapping.header:
            raise ValueError(
                f"upsert by {self.external_id_field!r} needs that field in the mapping; "
                f"mapped fields are {list(self.mapping.header)}"
            )
        if not self.dead_letter_root:
            raise ValueError(
                "dead_letter_root is required: where permanently failed rows are written"
            )

    @property
    def chunk_size(self) -> int:
        """Rows read from the source per chunk: enough to fill every in-flight job once."""
        return self.records_per_job * self.max_in_flight

    def fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed (a changed range or target refuses it)."""
        return {
            "partition": self.partition,
            "key_range": self.key_range.to_dict(),
            "source_dmo": self.source_dmo,
            "target_object": self.target_object,
            "external_id_field": self.external_id_field,
            "operation": self.operation,
        }
